"""What a reference may point at, indexed by (kind, namespace, name) once per run.

Three sources: the built objects; names that operators generate from them (CNPG's
`-rw/-ro/-r` Services, `-app`/`-superuser` Secrets and ServiceAccount, cert-manager's
certificate Secrets, the CSI driver's synced Secrets, Flux's bootstrap source); and what
AKS and Kubernetes themselves create (storage and priority classes, namespaces,
`kube-dns`, the default ClusterRoles, `default` ServiceAccounts, `kube-root-ca.crt`).

Whether a missing target is a finding is `checkable`: namespaces a HelmRelease installs
into hold chart objects the build cannot see, and namespaces the build puts nothing in
are outside the verified scope; both are tolerated, as the older reference rules do.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from mercury.verify.context import VerifyContext
from mercury.verify.rules.index import dig, helm_namespaces
from mercury.verify.rules.ingress import helm_ingress_classes
from mercury.verify.rules.secrets import secret_providers

AKS_STORAGE_CLASSES = frozenset({
    "default", "managed", "managed-csi", "managed-csi-premium", "managed-premium",
    "azurefile", "azurefile-csi", "azurefile-csi-premium", "azurefile-premium",
})
SYSTEM_PRIORITY_CLASSES = frozenset({"system-cluster-critical", "system-node-critical"})
BUILTIN_CLUSTER_ROLES = frozenset({"admin", "edit", "view", "cluster-admin"})
BUILTIN_NAMESPACES = frozenset({"kube-system", "default", "kube-public", "kube-node-lease",
                                "gatekeeper-system"})
# namespaces whose content AKS owns: only the names below are known there
OPAQUE_NAMESPACES = BUILTIN_NAMESPACES - {"default"}
TRAEFIK_DEFAULTS = frozenset({"default"})  # TLSOption/TLSStore `default` always exists
CNPG_PORT = ((5432, "postgres"),)


@dataclass(frozen=True)
class Known:
    """One thing that provides a target: where it comes from, its keys and ports if known."""

    source: str
    keys: frozenset[str] | None = None  # ConfigMap/Secret keys; None: unknown (any)
    ports: tuple[tuple[int, str], ...] | None = None  # Service (port, name); None: any


class Targets:
    def __init__(self, ctx: VerifyContext) -> None:
        self._by: dict[tuple[str, str], dict[str, list[Known]]] = defaultdict(dict)
        self.open = helm_namespaces(ctx)
        self.helm = bool(ctx.of_kind("HelmRelease"))
        self.populated: set[str] = set()
        self.aks = _is_aks(ctx)
        self.flux_namespaces = {ks.namespace for ks in ctx.kustomizations} | {"flux-system"}
        self.declared_kinds: set[str] = set()
        for obj in ctx.objects:
            self.add(obj.kind, obj.namespace, obj.name, _known(obj.body))
            self.declared_kinds.add(obj.kind)
            if obj.namespace:
                self.populated.add(obj.namespace)
            if obj.kind == "Namespace":
                self.populated.add(obj.name)
        self.namespaces = self.populated | BUILTIN_NAMESPACES | self.flux_namespaces | self.open
        self._generated(ctx)
        self._builtin()

    def add(self, kind: str, namespace: str, name: str, known: Known) -> None:
        self._by[(kind, namespace)].setdefault(name, []).append(known)

    def get(self, kind: str, namespace: str, name: str) -> list[Known]:
        return self._by.get((kind, namespace), {}).get(name, [])

    def names(self, kind: str, namespace: str) -> list[str]:
        return sorted(self._by.get((kind, namespace), {}))

    def checkable(self, kind: str, namespace: str) -> bool:
        """Whether the build knows enough for a missing `kind` in `namespace` to be an error."""
        if not namespace:
            if kind in ("StorageClass", "PriorityClass"):
                return self.aks or (kind in self.declared_kinds and not self.helm)
            if kind == "IngressClass":
                return bool(self._by.get(("IngressClass", "")))
            if kind == "ClusterRole":
                return not self.helm  # charts create ClusterRoles the build cannot see
            return kind in self.declared_kinds or kind == "Namespace"
        if namespace in self.open or namespace in OPAQUE_NAMESPACES:
            return False
        if kind == "Secret" and namespace in self.flux_namespaces:
            return False  # bootstrap and SOPS key Secrets are created out of band
        return namespace in self.populated

    def _generated(self, ctx: VerifyContext) -> None:
        for (ns, name), providers in secret_providers(ctx).items():
            for p in providers:
                if p.source != "Secret":
                    self.add("Secret", ns, name, Known(p.source, p.keys))
        for cluster in ctx.of_kind("Cluster"):
            if not cluster.group.startswith("postgresql.cnpg.io"):
                continue
            ns, name = cluster.namespace, cluster.name
            src = f"CNPG Cluster {name}"
            for suffix in ("rw", "ro", "r"):
                self.add("Service", ns, f"{name}-{suffix}", Known(src, ports=CNPG_PORT))
            if not cluster.spec.get("serviceAccountName"):
                self.add("ServiceAccount", ns, name, Known(src))
            for pdb in (name, f"{name}-primary"):
                self.add("PodDisruptionBudget", ns, pdb, Known(src))
        for pooler in ctx.of_kind("Pooler"):
            src = f"CNPG Pooler {pooler.name}"
            self.add("Service", pooler.namespace, pooler.name,
                     Known(src, ports=((5432, "pgbouncer"),)))
            self.add("ServiceAccount", pooler.namespace, pooler.name, Known(src))
        for ing in ctx.of_kind("Ingress"):
            if any(a.startswith("cert-manager.io/") for a in ing.annotations):
                for tls in ing.spec.get("tls") or []:
                    if isinstance(tls, dict) and tls.get("secretName"):
                        self.add("Certificate", ing.namespace, str(tls["secretName"]),
                                 Known(f"cert-manager (Ingress {ing.name})"))
        for sealed in ctx.of_kind("SealedSecret"):
            name = dig(sealed.spec, "template", "metadata", "name") or sealed.name
            self.add("Secret", sealed.namespace, str(name), Known(f"SealedSecret {sealed.name}"))
        for ext in ctx.of_kind("ExternalSecret"):
            name = dig(ext.spec, "target", "name") or ext.name
            self.add("Secret", ext.namespace, str(name), Known(f"ExternalSecret {ext.name}"))
        for hr in ctx.of_kind("HelmRelease"):
            classes = helm_ingress_classes(hr, ctx)
            for cls in classes or []:
                self.add("IngressClass", "", cls, Known(f"HelmRelease {hr.namespace}/{hr.name}"))
        for ks in ctx.kustomizations:
            source = ks.source
            if source is None:  # the repository's own source: bootstrap / the AKS extension
                for name in {ks.namespace, ks.config or ks.namespace, "flux-system"}:
                    self.add("GitRepository", ks.namespace, name, Known("Flux bootstrap"))
            elif ks.parent is None and source[0] == "GitRepository":
                # a root's source is the one `flux bootstrap` created (gotk-sync), often
                # not committed; a child's sourceRef typo still resolves to nothing
                self.add(*source, Known("Flux bootstrap"))
            self.add("Kustomization", ks.namespace, ks.object_name, Known("Flux"))
            self.add("Kustomization", ks.namespace, ks.name, Known("Flux"))

    def _builtin(self) -> None:
        aks = Known("AKS built-in")
        k8s = Known("Kubernetes built-in")
        for name in AKS_STORAGE_CLASSES:
            self.add("StorageClass", "", name, aks)
        for name in SYSTEM_PRIORITY_CLASSES:
            self.add("PriorityClass", "", name, k8s)
        for name in BUILTIN_CLUSTER_ROLES:
            self.add("ClusterRole", "", name, k8s)
        for name in self.namespaces:
            self.add("Namespace", "", name, k8s)
            self.add("ServiceAccount", name, "default", k8s)
            self.add("ConfigMap", name, "kube-root-ca.crt", Known("Kubernetes built-in",
                                                                   frozenset({"ca.crt"})))
            for kind in ("TLSOption", "TLSStore"):
                for default in TRAEFIK_DEFAULTS:
                    self.add(kind, name, default, Known("Traefik built-in"))
        self.add("Service", "kube-system", "kube-dns", Known("AKS built-in",
                                                             ports=((53, "dns"), (53, "dns-tcp"))))
        self.add("Service", "default", "kubernetes", Known("Kubernetes built-in",
                                                           ports=((443, "https"),)))


def _mapping(value: object) -> dict[object, object]:
    return value if isinstance(value, dict) else {}


def _known(body: dict[str, object]) -> Known:
    kind = body.get("kind")
    if kind in ("ConfigMap", "Secret"):
        if kind == "Secret" and "sops" in body:
            return Known("built")
        keys = {str(k) for section in ("data", "binaryData", "stringData")
                for k in _mapping(body.get(section))}
        return Known("built", frozenset(keys) if keys or kind == "ConfigMap" else None)
    if kind == "Service":
        spec = body.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        if spec.get("type") == "ExternalName":
            return Known("built")
        ports = tuple((int(p["port"]), str(p.get("name") or ""))
                      for p in spec.get("ports") or []
                      if isinstance(p, dict) and str(p.get("port", "")).isdigit())
        return Known("built", ports=ports)
    return Known("built")


def _is_aks(ctx: VerifyContext) -> bool:
    """The platform runs on AKS: Terraform declares a cluster, Flux layers come from the AKS
    extension, or the manifests use the Azure Key Vault CSI provider."""
    if ctx.terraform is not None and any(
            "azurerm_kubernetes_cluster" in (res or {})
            for hcl in ctx.terraform.files.values() for res in hcl.get("resource", [])):
        return True
    if any(ks.declared_in == "terraform" for ks in ctx.kustomizations):
        return True
    return any(spc.spec.get("provider") == "azure" for spc in ctx.of_kind("SecretProviderClass"))
