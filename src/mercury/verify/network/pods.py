"""The pods the cluster will run, with their labels and ports: what policies select.

Three sources: the pod templates of the built workloads; the pods operators create
from built objects (CNPG instances of a Cluster, cert-manager's HTTP-01 solver of an
Ingress or Certificate); and the pods of HelmRelease charts, which are not rendered,
from the table in charts.py. CoreDNS (AKS: `kube-system`, `k8s-app=kube-dns`) is always
there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.network.policy import PortDecl
from mercury.verify.rules.index import containers, dig, pod_templates

CNPG_PORTS = (PortDecl(5432, "TCP", "postgresql"), PortDecl(9187, "TCP", "metrics"),
              PortDecl(8000, "TCP", "status"))
SOLVER_PORTS = (PortDecl(8089, "TCP", "http"),)
DNS_PORTS = (PortDecl(53, "UDP", "dns"), PortDecl(53, "TCP", "dns-tcp"),
             PortDecl(9153, "TCP", "metrics"))
SOLVER_LABEL = "acme.cert-manager.io/http01-solver"
ISSUER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")


@dataclass(frozen=True, eq=False)
class Pod:
    """One kind of pod: every replica of a template shares labels and ports (compared by
    identity: the inventory holds each once)."""

    namespace: str
    labels: Mapping[str, str]
    ports: tuple[PortDecl, ...]
    name: str  # how findings name it: "Deployment customer1/n8n", "CNPG primary of ..."
    role: str  # workload, cnpg-instance, acme-solver, kube-dns, or a chart's component
    owner: K8sObject | None = None
    host_network: bool = False
    instance_role: str | None = None  # CNPG: primary / replica
    cluster: str | None = None  # CNPG: the Cluster's name
    spec: dict[str, Any] | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.name


def workload_pods(ctx: VerifyContext) -> Iterator[Pod]:
    for tpl in pod_templates(ctx):
        owner = tpl.owner
        ports = tuple(
            PortDecl(int(p["containerPort"]), str(p.get("protocol") or "TCP"),
                     str(p["name"]) if p.get("name") else None)
            for c in containers(tpl.spec) for p in c.get("ports") or []
            if isinstance(p, dict) and isinstance(p.get("containerPort"), int))
        yield Pod(owner.namespace, tpl.labels, ports, f"{owner.kind} {owner.namespace}/"
                  f"{owner.name}", "workload", owner, tpl.spec.get("hostNetwork") is True,
                  spec=tpl.spec)


def cnpg_pods(ctx: VerifyContext) -> Iterator[Pod]:
    """The instances of each CNPG Cluster: labels per
    https://cloudnative-pg.io/documentation/current/labels_annotations/ (cnpg.io/cluster,
    cnpg.io/podRole=instance, cnpg.io/instanceRole and the legacy `role`), plus
    `inheritedMetadata.labels`; ports postgresql 5432, metrics 9187, status 8000
    (https://cloudnative-pg.io/documentation/current/security/#exposed-ports)."""
    for cluster in ctx.of_kind("Cluster"):
        if not cluster.api_version.startswith("postgresql.cnpg.io/"):
            continue
        inherited = dig(cluster.spec, "inheritedMetadata", "labels")
        extra = {str(k): str(v) for k, v in inherited.items()} if isinstance(inherited,
                                                                                dict) else {}
        instances = cluster.spec.get("instances", 1)
        roles = ["primary"] + (["replica"] if not isinstance(instances, int)
                               or instances > 1 else [])
        for role in roles:
            labels = {**extra, "cnpg.io/cluster": cluster.name, "cnpg.io/podRole": "instance",
                      "cnpg.io/instanceRole": role, "role": role}
            yield Pod(cluster.namespace, labels, CNPG_PORTS,
                      f"CNPG {role} of Cluster {cluster.namespace}/{cluster.name}",
                      "cnpg-instance", cluster, instance_role=role, cluster=cluster.name)


def solver_pods(ctx: VerifyContext) -> Iterator[tuple[Pod, str | None]]:
    """cert-manager's HTTP-01 solver pods, in the namespace of the Ingress (ingress-shim)
    or Certificate whose issuer solves over HTTP-01, with the solver's ingress class
    (https://cert-manager.io/docs/configuration/acme/http01/: label
    acme.cert-manager.io/http01-solver=true, port 8089; podTemplate labels added)."""
    seen: set[tuple[str, str]] = set()
    for obj, issuer in _certificate_requests(ctx):
        for solver in _http01_solvers(issuer):
            raw = solver.get("ingress")
            ingress: dict[str, Any] = raw if isinstance(raw, dict) else {}
            extra = dig(ingress, "podTemplate", "metadata", "labels")
            labels = {**({str(k): str(v) for k, v in extra.items()}
                         if isinstance(extra, dict) else {}), SOLVER_LABEL: "true"}
            klass = ingress.get("ingressClassName") or ingress.get("class")
            key = (obj.namespace, str(sorted(labels.items())) + str(klass))
            if key in seen:
                continue
            seen.add(key)
            yield (Pod(obj.namespace, labels, SOLVER_PORTS,
                       f"ACME HTTP-01 solver for {obj.kind} {obj.namespace}/{obj.name}",
                       "acme-solver", obj), str(klass) if klass else None)


def _certificate_requests(ctx: VerifyContext) -> Iterator[tuple[K8sObject, K8sObject]]:
    """(Ingress or Certificate, its issuer) when the issuer is in the build."""
    for ing in ctx.of_kind("Ingress"):
        for key in ISSUER_ANNOTATIONS:
            name = ing.annotations.get(key)
            if name and ing.spec.get("tls"):
                kind = "ClusterIssuer" if key.endswith("cluster-issuer") else "Issuer"
                issuer = ctx.get(kind, "" if kind == "ClusterIssuer" else ing.namespace,
                                 str(name))
                if issuer is not None:
                    yield ing, issuer
    for cert in ctx.of_kind("Certificate"):
        ref = cert.spec.get("issuerRef")
        if not isinstance(ref, dict) or not ref.get("name"):
            continue
        kind = str(ref.get("kind") or "Issuer")
        issuer = ctx.get(kind, "" if kind == "ClusterIssuer" else cert.namespace,
                         str(ref["name"]))
        if issuer is not None:
            yield cert, issuer


def _http01_solvers(issuer: K8sObject) -> Iterator[dict[str, Any]]:
    for solver in dig(issuer.spec, "acme", "solvers") or []:
        http01 = solver.get("http01") if isinstance(solver, dict) else None
        if isinstance(http01, dict):
            yield http01


def dns_pod() -> Pod:
    """AKS's CoreDNS: Deployment `coredns` in kube-system, pods `k8s-app=kube-dns`
    (https://learn.microsoft.com/azure/aks/coredns-custom)."""
    return Pod("kube-system", {"k8s-app": "kube-dns"}, DNS_PORTS, "CoreDNS kube-system/kube-dns",
               "kube-dns")


def namespace_labels(ctx: VerifyContext) -> dict[str, dict[str, str]]:
    """Declared namespaces with their labels (the API server adds metadata.name)."""
    out: dict[str, dict[str, str]] = {"kube-system": {}, "default": {}}
    for ns in ctx.of_kind("Namespace"):
        out[ns.name] = {str(k): str(v) for k, v in ns.labels.items()}
    return out
