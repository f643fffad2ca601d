"""The only place mercury's backup commands talk to a cluster: `kubectl ... -o json`.

Kept thin on purpose: everything that decides anything works on the dicts this
returns, so it is tested without an API server. Any failure to reach the cluster
becomes one ClusterError line (exit 2).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from mercury.errors import ClusterError, ToolError
from mercury.exec import Command, resolve_tool

_UNREACHABLE = ("connection refused", "was refused", "no configuration has been provided",
                "unable to connect", "i/o timeout", "no such host", "current-context",
                "the server has asked for the client to provide credentials")
# kubectl prints the API's Status reason verbatim: `Error from server (Forbidden): ...`.
_SERVER_REASON = re.compile(r"Error from server \((\w+)\)")
# kubectl's own discovery answer for a kind the server does not serve (no CRD): the
# server's equivalent is a 404 NotFound.
_NO_TYPE = "the server doesn't have a resource type"


@dataclass(frozen=True)
class Kube:
    """kubectl with an optional context; every call returns parsed JSON."""

    context: str | None = None
    timeout: float = 60

    def _run(self, args: list[str], stdin: str | None = None) -> dict[str, Any]:
        argv = [resolve_tool("kubectl"), *(["--context", self.context] if self.context else []),
                *args]
        try:
            out = Command(argv, timeout=self.timeout, input=stdin).run().stdout
        except ToolError as exc:
            raise ClusterError(_one_line(exc), reason=_reason(exc)) from None
        try:
            data = json.loads(out) if out.strip() else {}
        except json.JSONDecodeError as exc:
            raise ClusterError(f"kubectl returned something that is not JSON: {exc}") from None
        return data if isinstance(data, dict) else {}

    def get(self, resource: str, namespace: str, name: str | None = None) -> dict[str, Any]:
        """One object, or a List (`items`) when name is None."""
        return self._run(["get", resource, *([name] if name else []), "-n", namespace,
                          "-o", "json"])

    def list_items(self, resource: str, namespace: str) -> list[dict[str, Any]]:
        items = self.get(resource, namespace).get("items")
        return items if isinstance(items, list) else []

    def get_all(self, resource: str, *, namespace: str | None = None,
                selector: str | None = None) -> list[dict[str, Any]]:
        """Items of `resource` in one namespace, or across all (or cluster-scoped)."""
        args = ["get", resource, *(["-n", namespace] if namespace else ["-A"]),
                *(["-l", selector] if selector else []), "-o", "json"]
        items = self._run(args).get("items")
        return items if isinstance(items, list) else []

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._run(["create", "-f", "-", "-o", "json"], stdin=json.dumps(obj))

    def apply(self, objects: list[dict[str, Any]]) -> dict[str, Any]:
        """Server-side apply as `mercury`, taking over fields Flux set (the n8n DB host):
        the user asked for it, and the committed overlay makes Flux agree afterwards."""
        stream = yaml.safe_dump_all(objects, sort_keys=False)
        return self._run(["apply", "--server-side", "--force-conflicts",
                          "--field-manager", "mercury", "-f", "-", "-o", "json"], stdin=stream)


def _reason(exc: ToolError) -> str | None:
    """The typed cause of a failed kubectl call (see ClusterError.reason)."""
    text = exc.stderr or exc.stdout
    match = _SERVER_REASON.search(text)
    if match:
        return match.group(1)
    if _NO_TYPE in text:
        return "NotFound"
    if any(marker in text.lower() for marker in _UNREACHABLE):
        return "Unreachable"
    return None


def _one_line(exc: ToolError) -> str:
    text = (exc.stderr or exc.stdout).strip()
    last = text.splitlines()[-1] if text else f"kubectl exited {exc.returncode}"
    if any(marker in text.lower() for marker in _UNREACHABLE):
        return f"cannot reach the cluster (check KUBECONFIG / --context): {last}"
    return f"kubectl: {last}"
