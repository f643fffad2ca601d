"""The kubeconfig a client (kubectl, mercury's own ops code, tests) uses for the server."""

from __future__ import annotations

from pathlib import Path

import yaml

CONTEXT = "mercury-ephemeral"


def write_kubeconfig(path: Path, *, server: str, ca_cert: Path, client_cert: Path,
                     client_key: Path, user: str) -> None:
    """Write a one-cluster, one-user kubeconfig that refers to the PEM files by path."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT,
                      "cluster": {"server": server, "certificate-authority": str(ca_cert)}}],
        "users": [{"name": user,
                   "user": {"client-certificate": str(client_cert),
                            "client-key": str(client_key)}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": user}}],
        "current-context": CONTEXT,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
