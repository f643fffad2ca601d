"""The reference table: (source kind, field path) -> (target kind, namespace rule, name).

One row per field that names another object. Adding a kind or a field is a row here,
not a rule: `resolve.py` walks every row over the build and checks the named target in
the index of `targets.py`. Rows whose `rule` is an older rule id (`secret-ref`,
`ingress-backend`, ...) are listed so the table is the complete map of the platform's
references, but those rules still report them (they check more than existence: keys,
mounts, ports, cycles); `reported_here` says which rows this mechanism reports itself.

Field paths use `paths.py` syntax. `{pod}` expands to the pod spec of every workload
kind and `{container}` to each of its container lists. Targets starting with `@` are
local: resolved inside the same object (a container's port names, the pod's volumes, a
Cluster's externalClusters, a SecretProviderClass's parameters.objects).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mercury.verify.findings import Severity
from mercury.verify.references.paths import Match

SAME = "same"  # the source object's namespace
CLUSTER = "cluster"  # a cluster-scoped target
# "field:<sibling>": the sibling field's value, else the source's namespace
# "fixed:<ns>": always that namespace (a ClusterIssuer's secrets live in cert-manager's)

CLUSTER_SCOPED = frozenset({
    "StorageClass", "PriorityClass", "IngressClass", "ClusterRole", "ClusterIssuer",
    "Namespace", "ClusterImageCatalog", "PersistentVolume",
})

# rule ids whose rows this mechanism reports; the others' rows are reported by their rule
TABLE_RULES = frozenset({"reference-missing", "configmap-ref", "pvc-ref", "service-account-ref"})

Transform = Callable[[str, str], list[tuple[str | None, str]]]
Condition = Callable[[Match], bool]


@dataclass(frozen=True)
class Row:
    kinds: frozenset[str]  # source kinds
    path: str  # field path of the name (after macro expansion)
    target: tuple[str, ...]  # target kind(s); with kind_field, the allowed values
    namespace: str = SAME
    kind_field: str | None = None  # sibling holding the target kind (sourceRef.kind)
    default_kind: str | None = None  # when kind_field is absent
    optional: str | None = "optional"  # sibling that, when true, makes the reference optional
    keys: str | None = None  # sibling path naming keys of the target (key, items[*].key)
    transform: Transform | None = None  # value -> [(namespace or None, name)]
    when: Condition | None = None
    groups: tuple[str, ...] = ()  # apiVersion group prefixes of the source (empty: any)
    rule: str = "reference-missing"
    severity: Severity | None = None

    @property
    def reported_here(self) -> bool:
        return self.rule in TABLE_RULES


POD_PATHS: dict[str, frozenset[str]] = {
    "spec": frozenset({"Pod"}),
    "spec.template.spec": frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
                                     "Job"}),
    "spec.jobTemplate.spec.template.spec": frozenset({"CronJob"}),
}
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
CNPG = ("postgresql.cnpg.io",)
CERT_MANAGER = ("cert-manager.io",)
TRAEFIK = ("traefik.io", "traefik.containo.us")
FLUX_KS = ("kustomize.toolkit.fluxcd.io",)
FLUX_HELM = ("helm.toolkit.fluxcd.io",)
CSI_DRIVER = "secrets-store.csi.k8s.io"


def _pod(suffix: str, target: tuple[str, ...], **kw: object) -> list[Row]:
    return [Row(kinds, f"{prefix}.{suffix}", target, **kw)  # type: ignore[arg-type]
            for prefix, kinds in POD_PATHS.items()]


def _container(suffix: str, target: tuple[str, ...], **kw: object) -> list[Row]:
    return [row for lst in CONTAINER_LISTS for row in _pod(f"{lst}[*].{suffix}", target, **kw)]


def _named_port(match: Match) -> bool:
    return isinstance(match.value, str) and not match.value.isdigit()


def _secrets_store_csi(match: Match) -> bool:
    csi = match.ancestors[-2] if len(match.ancestors) >= 2 else {}
    return csi.get("driver") == CSI_DRIVER


def _kind_is(*kinds: str) -> Condition:
    return lambda m: m.parent.get("kind", kinds[0]) in kinds


def _subject_sa(match: Match) -> bool:
    return match.parent.get("kind") == "ServiceAccount"


def traefik_middleware(value: str, namespace: str) -> list[tuple[str | None, str]]:
    """`name` or `name@kubernetescrd` of a CRD middleware (other providers: not ours)."""
    name, _, provider = value.partition("@")
    return [(None, name)] if provider in ("", "kubernetescrd") else []


def traefik_annotation_middlewares(value: str, namespace: str) -> list[tuple[str | None, str]]:
    """router.middlewares: comma-separated `<namespace>-<name>@kubernetescrd`; the namespace
    prefix is ambiguous with dashes, so the name is kept whole with the namespace marker
    `*` and resolved against every `<ns>-<name>` the index knows."""
    out: list[tuple[str | None, str]] = []
    for item in value.split(","):
        name, _, provider = item.strip().partition("@")
        if name and provider in ("", "kubernetescrd"):
            out.append(("*", name))
    return out


PORT_HANDLERS = [f"{probe}.{handler}.port"
                 for probe in ("livenessProbe", "readinessProbe", "startupProbe",
                               "lifecycle.postStart", "lifecycle.preStop")
                 for handler in ("httpGet", "tcpSocket")]

ROWS: list[Row] = [
    # --- pod specs: volumes of every type ---
    *_pod("volumes[*].secret.secretName", ("Secret",), rule="secret-ref", keys="items[*].key"),
    *_pod("volumes[*].projected.sources[*].secret.name", ("Secret",), rule="secret-ref"),
    *_pod("volumes[*].configMap.name", ("ConfigMap",), rule="configmap-ref",
          keys="items[*].key"),
    *_pod("volumes[*].projected.sources[*].configMap.name", ("ConfigMap",),
          rule="configmap-ref", keys="items[*].key"),
    *_pod("volumes[*].persistentVolumeClaim.claimName", ("PersistentVolumeClaim",),
          rule="pvc-ref"),
    *_pod("volumes[*].csi.volumeAttributes.secretProviderClass", ("SecretProviderClass",),
          when=_secrets_store_csi),
    *_pod("volumes[*].csi.nodePublishSecretRef.name", ("Secret",)),
    *_pod("volumes[*].azureFile.secretName", ("Secret",)),
    *_pod("volumes[*].ephemeral.volumeClaimTemplate.spec.storageClassName", ("StorageClass",),
          namespace=CLUSTER),
    # --- env, envFrom ---
    *_container("env[*].valueFrom.configMapKeyRef.name", ("ConfigMap",), rule="configmap-ref",
                keys="key"),
    *_container("env[*].valueFrom.secretKeyRef.name", ("Secret",), rule="secret-ref"),
    *_container("envFrom[*].configMapRef.name", ("ConfigMap",), rule="configmap-ref"),
    *_container("envFrom[*].secretRef.name", ("Secret",), rule="secret-ref"),
    # --- ports by name, mounts by name (inside the pod spec) ---
    *[row for path in PORT_HANDLERS
      for row in _container(path, ("@container-port",), when=_named_port, optional=None)],
    *_container("volumeMounts[*].name", ("@volume",), optional=None),
    *_container("volumeDevices[*].name", ("@volume",), optional=None),
    # --- identity, pulls, scheduling ---
    *_pod("serviceAccountName", ("ServiceAccount",), rule="service-account-ref",
          optional=None),
    *_pod("serviceAccount", ("ServiceAccount",), rule="service-account-ref", optional=None),
    *_pod("imagePullSecrets[*].name", ("Secret",), rule="secret-ref", optional=None),
    *_pod("priorityClassName", ("PriorityClass",), namespace=CLUSTER, optional=None),
    # --- workloads, storage, autoscaling ---
    Row(frozenset({"StatefulSet"}), "spec.volumeClaimTemplates[*].spec.storageClassName",
        ("StorageClass",), namespace=CLUSTER, optional=None),
    Row(frozenset({"StatefulSet"}), "spec.serviceName", ("Service",), optional=None,
        severity=Severity.WARNING),
    Row(frozenset({"PersistentVolumeClaim"}), "spec.storageClassName", ("StorageClass",),
        namespace=CLUSTER, optional=None),
    Row(frozenset({"HorizontalPodAutoscaler"}), "spec.scaleTargetRef.name",
        ("Deployment", "StatefulSet", "ReplicaSet"), kind_field="kind", optional=None),
    # --- Services and Ingresses ---
    Row(frozenset({"Service"}), "spec.ports[*].targetPort", ("@pod-port",),
        rule="service-target-port", optional=None),
    Row(frozenset({"Ingress"}), "spec.ingressClassName", ("IngressClass",), namespace=CLUSTER,
        rule="ingress-class", optional=None),
    Row(frozenset({"Ingress"}), 'metadata.annotations["kubernetes.io/ingress.class"]',
        ("IngressClass",), namespace=CLUSTER, rule="ingress-class", optional=None),
    Row(frozenset({"Ingress"}), "spec.rules[*].http.paths[*].backend.service.name",
        ("Service",), rule="ingress-backend", optional=None),
    Row(frozenset({"Ingress"}), "spec.defaultBackend.service.name", ("Service",),
        rule="ingress-backend", optional=None),
    Row(frozenset({"Ingress"}), "spec.tls[*].secretName", ("Secret",), optional=None),
    Row(frozenset({"Ingress"}), 'metadata.annotations["cert-manager.io/cluster-issuer"]',
        ("ClusterIssuer",), namespace=CLUSTER, rule="issuer-ref", optional=None),
    Row(frozenset({"Ingress"}), 'metadata.annotations["cert-manager.io/issuer"]',
        ("Issuer",), rule="issuer-ref", optional=None),
    Row(frozenset({"Ingress"}),
        'metadata.annotations["traefik.ingress.kubernetes.io/router.middlewares"]',
        ("Middleware",), transform=traefik_annotation_middlewares, optional=None),
    # --- RBAC ---
    Row(frozenset({"RoleBinding"}), "roleRef.name", ("Role", "ClusterRole"),
        kind_field="kind", optional=None),
    Row(frozenset({"ClusterRoleBinding"}), "roleRef.name", ("ClusterRole",),
        namespace=CLUSTER, optional=None),
    Row(frozenset({"RoleBinding", "ClusterRoleBinding"}), "subjects[*].name",
        ("ServiceAccount",), namespace="field:namespace", when=_subject_sa, optional=None),
    # --- CloudNativePG ---
    *[Row(frozenset({"Cluster"}), path, ("StorageClass",), namespace=CLUSTER, groups=CNPG,
          optional=None)
      for path in ("spec.storage.storageClass", "spec.walStorage.storageClass",
                   "spec.storage.pvcTemplate.storageClassName",
                   "spec.walStorage.pvcTemplate.storageClassName",
                   "spec.tablespaces[*].storage.storageClass")],
    Row(frozenset({"Cluster"}), "spec.priorityClassName", ("PriorityClass",),
        namespace=CLUSTER, groups=CNPG, optional=None),
    Row(frozenset({"Cluster"}), "spec.serviceAccountName", ("ServiceAccount",), groups=CNPG,
        optional=None),
    Row(frozenset({"Cluster"}), "spec.imagePullSecrets[*].name", ("Secret",), groups=CNPG,
        optional=None),
    Row(frozenset({"Cluster"}), "spec.imageCatalogRef.name",
        ("ImageCatalog", "ClusterImageCatalog"), kind_field="kind", groups=CNPG, optional=None),
    Row(frozenset({"Cluster"}), "spec.bootstrap.initdb.secret.name", ("Secret",), groups=CNPG,
        rule="secret-ref", optional=None),
    Row(frozenset({"Cluster"}), "spec.superuserSecret.name", ("Secret",), groups=CNPG,
        rule="secret-ref", optional=None),
    Row(frozenset({"Cluster"}), "spec.backup.barmanObjectStore.*.*.name", ("Secret",),
        groups=CNPG, rule="secret-ref", optional=None),
    *[Row(frozenset({"Cluster"}), f"spec.{path}", ("Secret",), groups=CNPG, optional=None)
      for path in ("bootstrap.pg_basebackup.secret.name", "bootstrap.recovery.secret.name",
                   "certificates.serverTLSSecret", "certificates.serverCASecret",
                   "certificates.clientCASecret", "certificates.replicationTLSSecret",
                   "managed.roles[*].passwordSecret.name",
                   "monitoring.customQueriesSecret[*].name",
                   "externalClusters[*].password.name", "externalClusters[*].sslCert.name",
                   "externalClusters[*].sslKey.name", "externalClusters[*].sslRootCert.name",
                   "externalClusters[*].barmanObjectStore.*.*.name",
                   "postgresql.ldap.bindSearchAuth.bindPassword.name",
                   *[f"bootstrap.initdb.{sql}.secretRefs[*].name"
                     for sql in ("postInitSQLRefs", "postInitApplicationSQLRefs",
                                 "postInitTemplateSQLRefs")])],
    *[Row(frozenset({"Cluster"}), f"spec.{path}", ("ConfigMap",), groups=CNPG, keys="key",
          optional=None)
      for path in ("monitoring.customQueriesConfigMap[*].name",
                   *[f"bootstrap.initdb.{sql}.configMapRefs[*].name"
                     for sql in ("postInitSQLRefs", "postInitApplicationSQLRefs",
                                 "postInitTemplateSQLRefs")])],
    *[Row(frozenset({"Cluster"}), f"spec.{path}", ("@external-cluster",), groups=CNPG,
          optional=None)
      for path in ("bootstrap.recovery.source", "bootstrap.pg_basebackup.source",
                   "replica.source", "bootstrap.initdb.import.source")],
    Row(frozenset({"Cluster"}), "spec.bootstrap.recovery.backup.name", ("Backup",),
        groups=CNPG, optional=None),
    Row(frozenset({"Cluster"}), "spec.plugins[*].parameters.barmanObjectName", ("ObjectStore",),
        groups=CNPG, rule="cnpg-backup-consistency", optional=None),
    Row(frozenset({"Cluster"}), "spec.externalClusters[*].plugin.parameters.barmanObjectName",
        ("ObjectStore",), groups=CNPG, rule="cnpg-backup-consistency", optional=None),
    Row(frozenset({"Backup", "ScheduledBackup"}), "spec.cluster.name", ("Cluster",),
        groups=CNPG, rule="cnpg-backup-consistency", optional=None),
    Row(frozenset({"Pooler", "Database"}), "spec.cluster.name", ("Cluster",), groups=CNPG,
        optional=None),
    *[Row(frozenset({"Pooler"}), f"spec.pgbouncer.{field}.name", ("Secret",), groups=CNPG,
          optional=None)
      for field in ("authQuerySecret", "clientCASecret", "clientTLSSecret", "serverCASecret",
                    "serverTLSSecret")],
    Row(frozenset({"ObjectStore"}), "spec.configuration.*.*.name", ("Secret",),
        groups=("barmancloud.cnpg.io",), rule="secret-ref", optional=None),
    Row(frozenset({"ObjectStore"}), "spec.configuration.endpointCA.name", ("Secret",),
        groups=("barmancloud.cnpg.io",), optional=None),
    # --- cert-manager ---
    Row(frozenset({"Certificate"}), "spec.issuerRef.name", ("Issuer", "ClusterIssuer"),
        kind_field="kind", groups=CERT_MANAGER, rule="issuer-ref", optional=None),
    *[Row(frozenset({"Issuer", "ClusterIssuer"}), f"spec.acme.solvers[*].http01.ingress.{f}",
          ("IngressClass",), namespace=CLUSTER, groups=CERT_MANAGER, optional=None)
      for f in ("ingressClassName", "class")],
    *[Row(frozenset({kind}), f"spec.{path}", ("Secret",), groups=CERT_MANAGER,
          namespace=SAME if kind == "Issuer" else "fixed:cert-manager", optional=None)
      for kind in ("Issuer", "ClusterIssuer")
      for path in ("ca.secretName", "acme.externalAccountBinding.keySecretRef.name",
                   "acme.solvers[*].dns01.azureDNS.clientSecretSecretRef.name",
                   "acme.solvers[*].dns01.cloudflare.apiTokenSecretRef.name",
                   "acme.solvers[*].dns01.cloudflare.apiKeySecretRef.name",
                   "acme.solvers[*].dns01.route53.secretAccessKeySecretRef.name",
                   "vault.auth.tokenSecretRef.name")],
    Row(frozenset({"Certificate"}), "spec.keystores.*.passwordSecretRef.name", ("Secret",),
        groups=CERT_MANAGER, optional=None),
    # --- Secrets Store CSI ---
    Row(frozenset({"SecretProviderClass"}), "spec.secretObjects[*].data[*].objectName",
        ("@spc-object",), optional=None),
    # --- Flux ---
    Row(frozenset({"Kustomization"}), "spec.sourceRef.name",
        ("GitRepository", "OCIRepository", "Bucket", "ExternalArtifact"), kind_field="kind",
        namespace="field:namespace", groups=FLUX_KS, optional=None),
    Row(frozenset({"Kustomization"}), "spec.postBuild.substituteFrom[*].name",
        ("ConfigMap", "Secret"), kind_field="kind", groups=FLUX_KS),
    Row(frozenset({"Kustomization", "HelmRelease"}), "spec.dependsOn[*].name",
        ("Kustomization", "HelmRelease"), namespace="field:namespace",
        rule="flux-depends-on", optional=None),
    Row(frozenset({"HelmRelease"}), "spec.chart.spec.sourceRef.name",
        ("HelmRepository", "GitRepository", "Bucket"), kind_field="kind",
        namespace="field:namespace", groups=FLUX_HELM, rule="helm-source", optional=None),
    Row(frozenset({"HelmRelease"}), "spec.chartRef.name", ("OCIRepository", "HelmChart"),
        kind_field="kind", namespace="field:namespace", groups=FLUX_HELM, rule="helm-source",
        optional=None),
    Row(frozenset({"HelmRelease"}), "spec.valuesFrom[*].name", ("ConfigMap",),
        kind_field="kind", groups=FLUX_HELM, keys="valuesKey", when=_kind_is("ConfigMap")),
    Row(frozenset({"HelmRelease"}), "spec.valuesFrom[*].name", ("Secret",), kind_field="kind",
        groups=FLUX_HELM, rule="secret-ref", when=_kind_is("Secret")),
    Row(frozenset({"Alert"}), "spec.providerRef.name", ("Provider",),
        groups=("notification.toolkit.fluxcd.io",), optional=None),
    Row(frozenset({"ImagePolicy"}), "spec.imageRepositoryRef.name", ("ImageRepository",),
        namespace="field:namespace", groups=("image.toolkit.fluxcd.io",), optional=None),
    # --- Traefik ---
    Row(frozenset({"IngressRoute", "IngressRouteTCP"}), "spec.routes[*].services[*].name",
        ("Service",), kind_field="kind", namespace="field:namespace", groups=TRAEFIK,
        rule="ingress-backend", optional=None, when=_kind_is("Service")),
    Row(frozenset({"IngressRoute"}), "spec.routes[*].services[*].name", ("TraefikService",),
        kind_field="kind", namespace="field:namespace", groups=TRAEFIK, optional=None,
        when=lambda m: m.parent.get("kind") == "TraefikService"),
    Row(frozenset({"IngressRoute", "IngressRouteTCP"}), "spec.routes[*].middlewares[*].name",
        ("Middleware",), namespace="field:namespace", transform=traefik_middleware,
        groups=TRAEFIK, optional=None),
    Row(frozenset({"Middleware"}), "spec.chain.middlewares[*].name", ("Middleware",),
        namespace="field:namespace", transform=traefik_middleware, groups=TRAEFIK,
        optional=None),
    *[Row(frozenset({"Middleware"}), f"spec.{path}", ("Secret",), groups=TRAEFIK,
          optional=None)
      for path in ("basicAuth.secret", "digestAuth.secret")],
    Row(frozenset({"IngressRoute", "IngressRouteTCP"}), "spec.tls.secretName", ("Secret",),
        groups=TRAEFIK, optional=None),
    Row(frozenset({"IngressRoute", "IngressRouteTCP"}), "spec.tls.options.name", ("TLSOption",),
        namespace="field:namespace", groups=TRAEFIK, optional=None),
    Row(frozenset({"IngressRoute", "IngressRouteTCP"}), "spec.tls.store.name", ("TLSStore",),
        namespace="field:namespace", groups=TRAEFIK, optional=None),
]


def rows_by_kind(rows: list[Row] = ROWS) -> dict[str, list[Row]]:
    """Source kind -> its rows, so each object is walked only by the rows of its kind."""
    out: dict[str, list[Row]] = {}
    for row in rows:
        for kind in row.kinds:
            out.setdefault(kind, []).append(row)
    return out


def sub_id(target_kind: str) -> str:
    """`reference-missing[<sub>]`: the target kind, lower-case (`@volume` -> `volume`)."""
    return target_kind.lstrip("@").lower()
