"""The flows the platform needs, each evaluated against the policies: the flow matrix.

Required flows (each must be allowed on both ends):

- ingress: Traefik -> every pod behind an Ingress of its class (Ingress backend ->
  Service port -> targetPort, by number or name, resolved on each selected pod);
- acme: Traefik -> cert-manager's HTTP-01 solver pod (8089) where an issuer solves HTTP-01;
- reference (database when it reaches a CNPG instance): a pod -> the Service an env
  value names (`svc`, `svc.ns[.svc[.cluster.local]]`, URLs; hosts.py), e.g. n8n ->
  `n8n-db-rw` 5432 -> the CNPG primary;
- replication: CNPG primary <-> replica on 5432;
- operator: the CNPG operator -> every instance on 8000 (status) and 5432;
- storage: CNPG instances with backups -> object storage (443 to a public address);
- dns: every pod -> CoreDNS (kube-system, k8s-app=kube-dns) on UDP 53 and TCP 53.

Forbidden flows are in isolation.py. Everything is computed once per run (`analyze`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.network.charts import chart_pods, release_name
from mercury.verify.network.evaluate import Endpoint, External, Network, Verdict
from mercury.verify.network.hosts import env_host_refs, parse_host
from mercury.verify.network.pods import (
    Pod,
    cnpg_pods,
    dns_pod,
    namespace_labels,
    solver_pods,
    workload_pods,
)
from mercury.verify.network.policy import PortDecl, selector_matches
from mercury.verify.rules.index import dig

CNPG_SERVICES = {"rw": "primary", "ro": "replica", "r": None}
CNPG_OPERATOR_NAMESPACE = "cnpg-system"
STORAGE_SAMPLE = ipaddress.ip_address("20.60.0.1")  # shown only; any public address counts


@dataclass
class Flow:
    purpose: str  # the finding's sub-id: ingress, acme, reference, replication, ...
    source: Endpoint
    dest: Endpoint
    port: int
    protocol: str
    via: str  # why the flow exists: "Ingress customer1/n8n -> Service n8n:http"
    anchor: K8sObject | None  # the object that declares the need
    required: bool = True
    verdict: Verdict | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is not None and self.verdict.allowed

    def as_json(self) -> dict[str, Any]:
        assert self.verdict is not None
        return {"purpose": self.purpose, "source": str(self.source),
                "destination": str(self.dest), "port": f"{self.protocol}/{self.port}",
                "required": self.required, "allowed": self.verdict.allowed,
                "blocked_by": [s.direction for s in self.verdict.blocked_by],
                "policies": self.verdict.policies, "via": self.via}


@dataclass
class Analysis:
    network: Network
    flows: list[Flow] = field(default_factory=list)  # required ones
    forbidden: list[Flow] = field(default_factory=list)  # forbidden flows found possible
    forbidden_checked: int = 0
    tenants: list[str] = field(default_factory=list)
    cilium_policies: bool = False

    @property
    def broken(self) -> list[Flow]:
        return [f for f in self.flows if not f.allowed]

    def as_json(self) -> dict[str, Any]:
        return {"flows_checked": len(self.flows), "broken": len(self.broken),
                "forbidden_checked": self.forbidden_checked,
                "forbidden_possible": len(self.forbidden), "tenants": len(self.tenants),
                "cilium_policies_not_evaluated": self.cilium_policies,
                "flows": [f.as_json() for f in [*self.flows, *self.forbidden]]}


def analyze(ctx: VerifyContext) -> Analysis:
    """The network of the build and its flow matrix, computed once per context."""
    cached = ctx.cache.get("network")
    if isinstance(cached, Analysis):
        return cached
    from mercury.verify.network.isolation import forbidden_flows, tenant_namespaces

    pods = [*workload_pods(ctx), *cnpg_pods(ctx)]
    solvers = list(solver_pods(ctx))
    pods += [p for p, _ in solvers]
    charts = [(hr, p) for hr in ctx.of_kind("HelmRelease") for p in chart_pods(hr)]
    pods += [p for _, p in charts]
    clusters = [p for p in pods if p.role == "cnpg-instance"]
    if clusters and not any(p.role == "cnpg-operator" for p in pods):
        pods.append(_default_operator())
    dns = dns_pod()
    pods.append(dns)
    net = Network.of(ctx.of_kind("NetworkPolicy"), pods, namespace_labels(ctx))
    result = Analysis(net, cilium_policies=bool(ctx.of_kind(
        "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy")))
    flows: list[Flow] = []
    traefik = _traefik_classes(ctx, charts)
    flows += _ingress_flows(ctx, net, traefik)
    flows += _acme_flows(solvers, traefik)
    flows += _reference_flows(ctx, net, pods)
    flows += _cnpg_flows(ctx, net, pods)
    flows += [Flow("dns", p, dns, 53, proto, "every pod resolves names through CoreDNS", None)
              for p in pods if p.role not in {"kube-dns", "acme-solver"}
              and p.namespace != "kube-system" for proto in ("UDP", "TCP")]
    for flow in flows:
        flow.verdict = net.verdict(flow.source, flow.dest, flow.port, flow.protocol)
    result.flows = flows
    result.tenants = tenant_namespaces(ctx)
    result.forbidden, result.forbidden_checked = forbidden_flows(net, result.tenants)
    ctx.cache["network"] = result
    return result


def _default_operator() -> Pod:
    """The CNPG operator when no HelmRelease of it is in the build: the documented
    install (namespace cnpg-system, app.kubernetes.io/name=cloudnative-pg)."""
    return Pod(CNPG_OPERATOR_NAMESPACE, {"app.kubernetes.io/name": "cloudnative-pg"},
               (PortDecl(9443, "TCP", "webhook-server"),),
               f"CNPG operator ({CNPG_OPERATOR_NAMESPACE})", "cnpg-operator")


def _traefik_classes(ctx: VerifyContext,
                     charts: list[tuple[K8sObject, Pod]]) -> list[tuple[Pod, set[str], bool]]:
    """(Traefik pod, the IngressClass names it serves, whether it is the default class)."""
    out = []
    for hr, pod in charts:
        if pod.role != "traefik":
            continue
        values = hr.spec.get("values") if isinstance(hr.spec.get("values"), dict) else {}
        klass = dig(values, "ingressClass")
        klass = klass if isinstance(klass, dict) else {}
        name = str(klass.get("name") or release_name(hr))
        out.append((pod, {name}, klass.get("isDefaultClass", True) is not False))
    return out


def _serving(traefik: list[tuple[Pod, set[str], bool]], klass: str | None) -> list[Pod]:
    return [pod for pod, names, default in traefik
            if (klass in names) or (klass is None and default)]


def _ingress_flows(ctx: VerifyContext, net: Network,
                   traefik: list[tuple[Pod, set[str], bool]]) -> Iterator[Flow]:
    for ing in ctx.of_kind("Ingress"):
        klass = ing.spec.get("ingressClassName") or ing.annotations.get(
            "kubernetes.io/ingress.class")
        sources = _serving(traefik, str(klass) if klass else None)
        if not sources:
            continue
        backends = [dig(p, "backend", "service") for r in ing.spec.get("rules") or []
                    if isinstance(r, dict) for p in dig(r, "http", "paths") or []]
        backends.append(dig(ing.spec, "defaultBackend", "service"))
        for backend in backends:
            if not isinstance(backend, dict) or not backend.get("name"):
                continue
            port = backend.get("port") if isinstance(backend.get("port"), dict) else {}
            assert isinstance(port, dict)
            wanted = port.get("number") if port.get("number") is not None else port.get("name")
            svc = str(backend["name"])
            for dest, number, proto in resolve_service(ctx, net, ing.namespace, svc, wanted):
                for src in sources:
                    yield Flow("ingress", src, dest, number, proto,
                               f"Ingress {ing.namespace}/{ing.name} -> Service {svc}:{wanted}",
                               ing)


def _acme_flows(solvers: list[tuple[Pod, str | None]],
                traefik: list[tuple[Pod, set[str], bool]]) -> Iterator[Flow]:
    for solver, klass in solvers:
        for src in _serving(traefik, klass):
            yield Flow("acme", src, solver, 8089, "TCP",
                       "Let's Encrypt validates HTTP-01 through the ingress controller",
                       solver.owner)


def resolve_service(ctx: VerifyContext, net: Network, namespace: str, name: str,
                    port: object) -> Iterator[tuple[Pod, int, str]]:
    """(pod, pod port, protocol) behind Service `namespace/name` port `port` (a number,
    a name, or None for its only port); nothing when the Service or port is unknown."""
    svc = ctx.get("Service", namespace, name)
    if svc is None:
        yield from _cnpg_service(ctx, net, namespace, name, port)
        return
    selector = svc.spec.get("selector")
    entries = [p for p in svc.spec.get("ports") or [] if isinstance(p, dict)]
    if port is None:
        entries = entries if len(entries) == 1 else []
    else:
        entries = [p for p in entries if p.get("port") == port or
                   (isinstance(port, str) and p.get("name") == port)
                   or (isinstance(port, str) and port.isdigit() and p.get("port") == int(port))]
    if not isinstance(selector, dict) or not selector:
        return  # selector-less or ExternalName: endpoints managed elsewhere
    pods = [p for p in net.pods.get(namespace, ()) if p.role not in {"kube-dns"}
            and selector_matches({"matchLabels": selector}, p.labels)]
    for entry in entries:
        proto = str(entry.get("protocol") or "TCP")
        target = entry.get("targetPort", entry.get("port"))
        for pod in pods:
            if isinstance(target, int):
                yield pod, target, proto
            elif isinstance(target, str) and target.isdigit():
                yield pod, int(target), proto
            else:
                for decl in pod.ports:
                    if decl.name == target and decl.protocol == proto:
                        yield pod, decl.number, proto


def _cnpg_service(ctx: VerifyContext, net: Network, namespace: str, name: str,
                  port: object) -> Iterator[tuple[Pod, int, str]]:
    """CNPG's `<cluster>-rw` (primary), `-ro` (replicas), `-r` (any instance): 5432."""
    cluster, _, suffix = name.rpartition("-")
    if suffix not in CNPG_SERVICES or ctx.get("Cluster", namespace, cluster) is None:
        return
    if port not in (None, 5432, "5432", "postgres"):
        return
    role = CNPG_SERVICES[suffix]
    for pod in net.pods.get(namespace, ()):
        if pod.role == "cnpg-instance" and pod.cluster == cluster and \
                (role is None or pod.instance_role == role):
            yield pod, 5432, "TCP"


def _reference_flows(ctx: VerifyContext, net: Network, pods: list[Pod]) -> Iterator[Flow]:
    for pod in pods:
        if pod.spec is None:
            continue
        for ref in env_host_refs(pod.spec, pod.namespace):
            for dest, number, proto in resolve_service(ctx, net, ref.namespace, ref.service,
                                                       ref.port):
                purpose = "database" if dest.role == "cnpg-instance" else "reference"
                yield Flow(purpose, pod, dest, number, proto,
                           f"env {ref.variable}={ref.value} (container {ref.container})",
                           pod.owner)


def _cnpg_flows(ctx: VerifyContext, net: Network, pods: list[Pod]) -> Iterator[Flow]:
    operators = [p for p in pods if p.role == "cnpg-operator"]
    by_cluster: dict[tuple[str, str], list[Pod]] = {}
    for pod in pods:
        if pod.role == "cnpg-instance" and pod.cluster:
            by_cluster.setdefault((pod.namespace, pod.cluster), []).append(pod)
    for (namespace, name), instances in by_cluster.items():
        cluster = ctx.get("Cluster", namespace, name)
        primary = [p for p in instances if p.instance_role == "primary"]
        replicas = [p for p in instances if p.instance_role == "replica"]
        for a, b in [(r, p) for r in replicas for p in primary] + \
                    [(p, r) for r in replicas for p in primary]:
            yield Flow("replication", a, b, 5432, "TCP",
                       "streaming replication and pg_rewind between instances", cluster)
        for op in operators:
            for inst in instances:
                for port in (8000, 5432):
                    yield Flow("operator", op, inst, port, "TCP",
                               "the operator polls the instance manager (8000) and manages "
                               "roles over SQL (5432)", cluster)
        storage = _object_storage(ctx, cluster) if cluster is not None else None
        if storage is None:
            continue
        port, host, url = storage
        why = "barman-cloud archives WAL and base backups"
        local = parse_host(url, namespace, False)
        if local is not None and ctx.get("Service", local[1], local[0]) is not None:
            for dest, number, proto in resolve_service(ctx, net, local[1], local[0], port):
                for inst in instances:
                    yield Flow("storage", inst, dest, number, proto, f"{why} to {url}", cluster)
            continue
        ext = External(STORAGE_SAMPLE, f"object storage {host}:{port}", any_public=True)
        for inst in instances:
            yield Flow("storage", inst, ext, port, "TCP", why, cluster)


def _object_storage(ctx: VerifyContext, cluster: K8sObject) -> tuple[int, str, str] | None:
    """(port, host, URL) the instances back up to, when the Cluster backs up at all."""
    path = dig(cluster.spec, "backup", "barmanObjectStore", "destinationPath")
    endpoint = dig(cluster.spec, "backup", "barmanObjectStore", "endpointURL")
    for plugin in cluster.spec.get("plugins") or []:
        if not isinstance(plugin, dict) or "barman" not in str(plugin.get("name", "")):
            continue
        store_name = dig(plugin, "parameters", "barmanObjectName")
        store = ctx.get("ObjectStore", cluster.namespace, str(store_name))
        conf = dig(store.spec, "configuration") if store is not None else None
        path = dig(conf, "destinationPath") or path or "https://object-storage"
        endpoint = dig(conf, "endpointURL") or endpoint
    if path is None:
        return None
    url = str(endpoint or path)
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"}:  # s3://bucket, gs://: the provider's HTTPS
        return 443, str(parts.netloc or path), url
    host = parts.hostname or "object storage"
    try:
        explicit = parts.port
    except ValueError:
        explicit = None
    return explicit or (443 if parts.scheme == "https" else 80), host, url
