"""The tenant's declared backup settings, read from the repository's own manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mercury.exec import Command, resolve_tool
from mercury.ops.backups import barman_plugin, plugin_server_name

from .source import StoreSettings


def tenant_manifests(repo: Path, env: str = "staging", tenant: str = "customer1"
                     ) -> list[dict[str, Any]]:
    """The tenant overlay if rendered, else the base template (kustomize, no substitution)."""
    path = repo / "apps" / env / tenant
    if not (path / "kustomization.yaml").is_file():
        path = repo / "apps" / "base" / "n8n-tenant"
    out = Command([resolve_tool("kubectl"), "kustomize", str(path)]).run().stdout
    return [d for d in yaml.safe_load_all(out) if isinstance(d, dict)]


def declared_settings(objects: list[dict[str, Any]]) -> tuple[StoreSettings, str]:
    """(barman settings, destinationPath) of the Cluster n8n-db and the store it names."""
    cluster = next(o for o in objects if o["kind"] == "Cluster"
                   and o["metadata"]["name"] == "n8n-db")
    store_name = (barman_plugin(cluster) or {})["parameters"]["barmanObjectName"]
    store = next(o for o in objects if o["kind"] == "ObjectStore"
                 and o["metadata"]["name"] == store_name)
    conf = store["spec"]["configuration"]
    settings = StoreSettings(
        wal_compression=(conf.get("wal") or {}).get("compression"),
        data_compression=(conf.get("data") or {}).get("compression"),
        server_name=plugin_server_name(cluster),
    )
    return settings, conf["destinationPath"]
