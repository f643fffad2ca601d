"""What the server serves (kind → resource path), CRD installation and namespaces.

Discovery is read once after the CRDs are Established; a kind the server does not know
is a `None` path, which the dry-run reports as "not installed" rather than a rejection.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mercury.errors import InputError, ToolError

if TYPE_CHECKING:
    from mercury.apiserver.client import Client
    from mercury.apiserver.launch import ApiServer

ESTABLISH_TIMEOUT = 60.0


@dataclass(frozen=True)
class Resource:
    """One served resource: the URL prefix of its collection, and whether it is namespaced."""

    group_version: str
    plural: str
    namespaced: bool

    def path(self, name: str, namespace: str | None) -> str:
        prefix = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if self.namespaced:
            return f"{prefix}/namespaces/{namespace or 'default'}/{self.plural}/{name}"
        return f"{prefix}/{self.plural}/{name}"


class Discovery:
    """(apiVersion, kind) → Resource for every resource the server serves."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._map: dict[tuple[str, str], Resource] = {}
        self.refresh()

    def refresh(self) -> None:
        mapping: dict[tuple[str, str], Resource] = {}
        versions = ["v1"]
        groups = self._client.get("/apis")
        for group in groups.body.get("groups", []):
            versions += [v["groupVersion"] for v in group.get("versions", [])]
        for gv in versions:
            path = "/api/v1" if gv == "v1" else f"/apis/{gv}"
            answer = self._client.get(path)
            if not answer.ok:
                continue
            for res in answer.body.get("resources", []):
                if "/" in res["name"]:  # subresources (status, scale, ...)
                    continue
                mapping[(gv, res["kind"])] = Resource(gv, res["name"], bool(res["namespaced"]))
        self._map = mapping

    def resource(self, api_version: str, kind: str) -> Resource | None:
        return self._map.get((api_version, kind))

    def kinds(self) -> set[tuple[str, str]]:
        return set(self._map)


def _crd_documents(source: Path | Iterable[Path]) -> list[tuple[Path, dict[str, Any]]]:
    files: list[Path] = []
    for item in [source] if isinstance(source, Path) else list(source):
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix in (".yaml", ".yml"))
        elif item.is_file():
            files.append(item)
        else:
            raise InputError(f"CRD source not found: {item}")
    docs: list[tuple[Path, dict[str, Any]]] = []
    for path in files:
        try:
            loaded = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: not valid YAML: {exc}") from exc
        docs += [(path, d) for d in loaded
                 if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
    return docs


def apply_crds(client: Client, docs: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    """Server-side apply each CRD (for real); returns their names. Rejections raise."""
    names: list[str] = []
    for origin, doc in docs:
        name = str(doc.get("metadata", {}).get("name", ""))
        answer = client.apply(
            f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}", doc
        )
        if not answer.ok:
            message = answer.body.get("message", f"HTTP {answer.status}")
            raise InputError(f"{origin}: CRD {name} rejected by the API server: {message}")
        names.append(name)
    return names


def wait_established(client: Client, names: Iterable[str],
                     timeout: float = ESTABLISH_TIMEOUT) -> None:
    """Poll each CRD until its Established condition is True."""
    pending = set(names)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            answer = client.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
            status = answer.body.get("status") or {} if answer.ok else {}
            conditions = status.get("conditions") or []
            if any(c.get("type") == "Established" and c.get("status") == "True"
                   for c in conditions):
                pending.discard(name)
        if pending:
            time.sleep(0.05)
    if pending:
        raise ToolError("kube-apiserver", -1, "",
                        f"CRDs not Established after {timeout:.0f}s: {', '.join(sorted(pending))}")


def install_crds(server: ApiServer, source: Path | Iterable[Path]) -> list[str]:
    """Create the CRDs found under `source` and wait until they are served."""
    client = server.client()
    try:
        names = apply_crds(client, [(str(p), d) for p, d in _crd_documents(source)])
        wait_established(client, names)
        return names
    finally:
        client.close()


def namespace_object(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def create_namespaces(server: ApiServer,
                      namespaces: Mapping[str, Mapping[str, str]] | Iterable[str]) -> None:
    """Apply the namespaces for real, with a `default` ServiceAccount in each.

    There is no controller-manager, so nothing else would create that ServiceAccount,
    and the ServiceAccount admission plugin refuses a Pod that runs as a missing one.
    """
    items: Iterable[tuple[str, Mapping[str, str]]] = (
        namespaces.items() if isinstance(namespaces, Mapping) else ((n, {}) for n in namespaces)
    )
    client = server.client()
    try:
        for name, labels in items:
            ensure_namespace(client, namespace_object(name, labels))
    finally:
        client.close()


def ensure_namespace(client: Client, obj: dict[str, Any]) -> None:
    """Apply one Namespace object for real plus its `default` ServiceAccount."""
    name = obj["metadata"]["name"]
    answer = client.apply(f"/api/v1/namespaces/{name}", obj)
    if not answer.ok:
        raise InputError(f"namespace {name} rejected: {answer.body.get('message', answer.status)}")
    sa = {"apiVersion": "v1", "kind": "ServiceAccount",
          "metadata": {"name": "default", "namespace": name}}
    client.apply(f"/api/v1/namespaces/{name}/serviceaccounts/default", sa)
