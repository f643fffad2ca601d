"""cert-manager rules: every issuer an Ingress or Certificate asks for exists."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding
from mercury.verify.rules.base import Rule
from mercury.verify.rules.index import helm_value_strings

CLUSTER_ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"
ISSUER_ANNOTATION = "cert-manager.io/issuer"


def issuer_refs(obj: K8sObject) -> Iterator[tuple[str, str, str]]:
    """(kind, namespace or "", name) of the issuers an Ingress/Certificate refers to."""
    if obj.kind == "Certificate":
        ref = obj.spec.get("issuerRef")
        if isinstance(ref, dict) and ref.get("name"):
            if ref.get("group", "cert-manager.io") != "cert-manager.io":
                return  # external issuers (e.g. awspca.cert-manager.io) live elsewhere
            kind = str(ref.get("kind") or "Issuer")
            yield kind, obj.namespace if kind == "Issuer" else "", str(ref["name"])
        return
    annotations = obj.annotations
    if annotations.get(CLUSTER_ISSUER_ANNOTATION):
        yield "ClusterIssuer", "", str(annotations[CLUSTER_ISSUER_ANNOTATION])
    if annotations.get(ISSUER_ANNOTATION):
        yield "Issuer", obj.namespace, str(annotations[ISSUER_ANNOTATION])


class IssuerRefRule(Rule):
    """A cert-manager annotation or Certificate issuerRef names an issuer that does not exist.

    cert-manager then never issues the certificate: the Ingress serves Traefik's default
    self-signed certificate and browsers refuse the tenant's URL.
    """

    id = "issuer-ref"
    summary = "cert-manager issuer referenced by an Ingress/Certificate does not exist"
    hint = "use an existing (Cluster)Issuer, e.g. the environment's cluster_issuer in platform.yaml"
    tags = ("cert-manager", "ingress")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        existing = {(o.kind, o.namespace, o.name) for o in ctx.of_kind("ClusterIssuer", "Issuer")}
        cluster_issuers = sorted(o.name for o in ctx.of_kind("ClusterIssuer"))
        for obj in ctx.of_kind("Ingress", "Certificate"):
            for kind, namespace, name in issuer_refs(obj):
                if (kind, namespace, name) in existing or name in helm_value_strings(ctx):
                    continue  # a chart whose values name it creates it
                where = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
                known = ", ".join(cluster_issuers) or "none"
                yield self.finding(
                    obj, f"{obj.kind} {obj.namespace}/{obj.name} asks cert-manager for {where}, "
                         f"which does not exist (ClusterIssuers in the build: {known})")
