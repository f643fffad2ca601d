"""Play the controllers against a real API server: apply objects, then patch their /status.

A snapshot fixture (tests/snapshots/*.json) holds what controllers wrote; a real server
needs more (required spec fields) and sets some itself (creationTimestamp, uid,
defaults). `load_fixture` creates each object from the repository's built manifests when
the build has it, else from the fixture completed with the fields the API requires,
and then writes the fixture's status through the status subresource.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from mercury.apiserver import ApiServer
from mercury.apiserver.resources import Discovery, Resource

Obj = dict[str, Any]
TAKEN = datetime(2026, 5, 10, 12, tzinfo=UTC)  # tests/snapshots/generate.py
_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# What reset() empties between tests (namespaced, then cluster-scoped).
RESET = [("v1", "Pod"), ("v1", "Event"), ("apps/v1", "Deployment"), ("v1", "Service"),
         ("v1", "Endpoints"), ("networking.k8s.io/v1", "Ingress"),
         ("cert-manager.io/v1", "Certificate"), ("acme.cert-manager.io/v1", "Challenge"),
         ("postgresql.cnpg.io/v1", "Cluster"), ("postgresql.cnpg.io/v1", "Backup"),
         ("postgresql.cnpg.io/v1", "ScheduledBackup"), ("barmancloud.cnpg.io/v1", "ObjectStore"),
         ("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass"), ("v1", "Secret"),
         ("networking.k8s.io/v1", "NetworkPolicy"), ("v1", "PersistentVolumeClaim"),
         ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
         ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
         ("networking.k8s.io/v1", "IngressClass")]
_RESTRICTED = {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
               "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def shift_times(node: Any, delta: timedelta) -> Any:
    """Every RFC 3339 stamp moved by `delta`: the fixture's ages, as of now."""
    if isinstance(node, dict):
        return {k: shift_times(v, delta) for k, v in node.items()}
    if isinstance(node, list):
        return [shift_times(v, delta) for v in node]
    if isinstance(node, str) and _STAMP.match(node):
        moment = datetime.strptime(node, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + delta
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return node


def fixture_objects(data: dict[str, Any]) -> list[Obj]:
    return [o for key, value in data.items() if isinstance(value, list) for o in value]


def _complete(obj: Obj) -> Obj:
    """The fixture object plus the spec fields the API server requires of its kind."""
    out = copy.deepcopy(obj)
    kind, spec = out["kind"], out.setdefault("spec", {})
    meta = out["metadata"]
    for key in ("creationTimestamp", "resourceVersion", "uid"):
        meta.pop(key, None)
    if kind == "Pod":
        statuses = (out.get("status") or {}).get("containerStatuses") or [
            {"name": "main", "image": "busybox"}]
        spec["containers"] = [{"name": c["name"], "image": c.get("image") or "busybox",
                               "securityContext": _RESTRICTED} for c in statuses]
    elif kind == "Deployment":
        labels = spec["selector"]["matchLabels"]
        spec.setdefault("template", {"metadata": {"labels": labels}, "spec": {
            "containers": [{"name": meta["name"], "image": "busybox",
                            "securityContext": _RESTRICTED}]}})
    elif kind == "Cluster":
        spec.setdefault("instances", 3)
        spec.setdefault("storage", {"size": "1Gi"})
    elif kind == "HelmRelease":
        chart = spec.setdefault("chart", {}).setdefault("spec", {})
        chart.setdefault("sourceRef", {"kind": "HelmRepository", "name": meta["name"]})
    elif kind == "ScheduledBackup":
        spec.setdefault("schedule", "0 0 2 * * *")
        spec.setdefault("cluster", {"name": "n8n-db"})
    elif kind == "Challenge":
        spec.setdefault("authorizationURL", "https://acme-staging-v02.api.letsencrypt.org/authz/1")
        spec.setdefault("url", "https://acme-staging-v02.api.letsencrypt.org/chall/1")
        spec.setdefault("key", "key")
        spec.setdefault("token", "token")
        spec.setdefault("type", "HTTP-01")
        spec.setdefault("issuerRef", {"kind": "ClusterIssuer", "name": "letsencrypt-staging"})
    elif kind == "SecretProviderClass":
        spec.setdefault("provider", "azure")
    elif kind == "Event" or (kind in ("Secret", "Endpoints", "Namespace", "Node") and not spec):
        out.pop("spec")
    return out


def _complete_status(obj: Obj) -> Obj:
    """The fixture's status plus what the CRD's schema requires (the fixture's
    HelmRelease history lacks fields helm-controller always writes)."""
    status = copy.deepcopy(obj["status"])
    if obj["kind"] == "HelmRelease":
        meta = obj["metadata"]
        when = meta.get("creationTimestamp") or "2026-01-01T00:00:00Z"
        for entry in status.get("history") or []:
            entry.setdefault("name", meta["name"])
            entry.setdefault("namespace", meta["namespace"])
            entry.setdefault("digest", "sha256:" + "0" * 64)
            entry.setdefault("configDigest", "sha256:" + "1" * 64)
            entry.setdefault("firstDeployed", when)
            entry.setdefault("lastDeployed", when)
    return status


class Cluster:
    """The live server with an admin client, its discovery, and the fixture loader."""

    def __init__(self, server: ApiServer) -> None:
        self.server = server
        self.client = server.client()
        self.discovery = Discovery(self.client)

    def close(self) -> None:
        self.client.close()

    def resource(self, obj: Obj) -> Resource:
        res = self.discovery.resource(obj["apiVersion"], obj["kind"])
        assert res is not None, f"{obj['apiVersion']} {obj['kind']} not served"
        return res

    def path(self, obj: Obj) -> str:
        meta = obj["metadata"]
        return self.resource(obj).path(meta["name"], meta.get("namespace"))

    def apply(self, obj: Obj) -> Obj:
        """Server-side apply for real (as Flux does); the server's answer is returned."""
        if obj["kind"] == "Namespace":
            from mercury.apiserver.resources import ensure_namespace

            ensure_namespace(self.client, obj)
            return obj
        answer = self.client.apply(self.path(obj), obj, field_manager="kustomize-controller")
        assert answer.ok, f"{obj['kind']}/{obj['metadata']['name']}: {answer.body}"
        return answer.body

    def patch_status(self, obj: Obj, status: Obj) -> Obj:
        """What a controller does: a merge patch of /status (the main resource ignores it)."""
        body = json.dumps({"status": status}).encode()
        answer = self.client.request("PATCH", self.path(obj) + "/status", body,
                                     content_type="application/merge-patch+json")
        if answer.status == 404:  # a kind without a status subresource takes it inline
            answer = self.client.request("PATCH", self.path(obj), body,
                                         content_type="application/merge-patch+json")
        assert answer.ok, f"{obj['kind']}/{obj['metadata']['name']} status: {answer.body}"
        return answer.body

    def load_fixture(self, data: dict[str, Any], built: list[Obj] = (), *,  # type: ignore[assignment]
                     now: datetime | None = None) -> datetime:
        """Apply the built objects, then every fixture object and its status; the
        fixture's times are moved so that its takenAt is `now`. Returns that moment."""
        now = now or datetime.now(UTC).replace(microsecond=0)
        fixture = shift_times(fixture_objects(data), now - TAKEN)
        by_id = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
                 for o in built}
        from mercury.apiserver.resources import ensure_namespace, namespace_object

        for ns in sorted({o["metadata"]["namespace"] for o in [*built, *fixture]
                          if o["metadata"].get("namespace")}):
            ensure_namespace(self.client, namespace_object(ns))
        for obj in sorted(built, key=lambda o: o["kind"] != "Namespace"):
            if self.discovery.resource(obj["apiVersion"], obj["kind"]) is not None:
                self.apply(obj)
        for obj in sorted(fixture, key=lambda o: o["kind"] != "Namespace"):
            key = (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
            if key not in by_id:
                self.apply(_complete(obj))
            if obj.get("status") and obj["kind"] != "Namespace":
                self.patch_status(obj, _complete_status(obj))
        return now

    def reset(self) -> None:
        """Delete what a previous test loaded (no controllers: delete immediately)."""
        for api_version, kind in RESET:
            res = self.discovery.resource(api_version, kind)
            if res is None:
                continue
            prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            namespaces = [""] if not res.namespaced else [
                n["metadata"]["name"] for n in
                self.client.get("/api/v1/namespaces").body.get("items", [])]
            for ns in namespaces:
                where = f"/namespaces/{ns}" if ns else ""
                if kind in ("Secret", "Endpoints") and ns in ("default", "kube-system",
                                                              "kube-public"):
                    continue
                self.client.request(
                    "DELETE", f"{prefix}{where}/{res.plural}?gracePeriodSeconds=0")
