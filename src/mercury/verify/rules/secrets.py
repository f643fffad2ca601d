"""Secret rules: every Secret (and key) a workload reads is provided by something, synced
CSI Secrets are mounted somewhere, Reloader restarts their readers, no Secret value is
committed to git.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule
from mercury.verify.rules.index import containers, dig, helm_namespaces, is_true, pod_templates

CSI_DRIVER = "secrets-store.csi.k8s.io"
CNPG_APP_KEYS = frozenset({"username", "password", "user", "dbname", "host", "port", "uri",
                           "jdbc-uri", "pgpass", "fqdn-uri", "fqdn-jdbc-uri"})
TLS_KEYS = frozenset({"tls.crt", "tls.key", "ca.crt"})
RELOADER = ("reloader.stakater.com/auto", "secret.reloader.stakater.com/auto",
            "reloader.stakater.com/search")


@dataclass(frozen=True)
class Provider:
    """What creates a Secret: its keys (None: unknown, any key) and, for CSI, the SPC name."""

    source: str
    keys: frozenset[str] | None
    spc: str | None = None


@dataclass(frozen=True)
class SecretUse:
    """One place an object reads a Secret (key None: the whole Secret)."""

    namespace: str
    name: str
    key: str | None
    where: str
    env: bool = False  # read into environment variables (fixed until the pod restarts)


def secret_providers(ctx: VerifyContext) -> dict[tuple[str, str], list[Provider]]:
    """(namespace, Secret name) -> everything in the build that creates that Secret."""
    out: dict[tuple[str, str], list[Provider]] = {}

    def add(ns: str, name: str, provider: Provider) -> None:
        out.setdefault((ns, name), []).append(provider)

    for secret in ctx.of_kind("Secret"):
        names = {*(secret.body.get("data") or {}), *(secret.body.get("stringData") or {})}
        add(secret.namespace, secret.name, Provider("Secret", frozenset(names) or None))
    for spc in ctx.of_kind("SecretProviderClass"):
        for synced in spc.spec.get("secretObjects") or []:
            if isinstance(synced, dict) and synced.get("secretName"):
                keys = frozenset(str(d.get("key")) for d in synced.get("data") or [])
                add(spc.namespace, str(synced["secretName"]),
                    Provider(f"SecretProviderClass {spc.name}", keys, spc=spc.name))
    for cluster in ctx.of_kind("Cluster"):
        if not cluster.group.startswith("postgresql.cnpg.io"):
            continue
        source = f"CNPG Cluster {cluster.name}"
        if not dig(cluster.spec, "bootstrap", "initdb", "secret", "name"):
            add(cluster.namespace, f"{cluster.name}-app", Provider(source, CNPG_APP_KEYS))
        if is_true(cluster.spec.get("enableSuperuserAccess")) and not dig(
                cluster.spec, "superuserSecret", "name"):
            add(cluster.namespace, f"{cluster.name}-superuser", Provider(source, CNPG_APP_KEYS))
        for suffix in ("ca", "server", "replication"):
            add(cluster.namespace, f"{cluster.name}-{suffix}",
                Provider(source, frozenset({"ca.crt", "ca.key", "tls.crt", "tls.key"})))
    for cert in ctx.of_kind("Certificate"):
        if cert.spec.get("secretName"):
            add(cert.namespace, str(cert.spec["secretName"]),
                Provider(f"Certificate {cert.name}", TLS_KEYS))
    for ing in ctx.of_kind("Ingress"):
        if any(a.startswith("cert-manager.io/") for a in ing.annotations):
            for tls in ing.spec.get("tls") or []:
                if isinstance(tls, dict) and tls.get("secretName"):
                    add(ing.namespace, str(tls["secretName"]),
                        Provider(f"cert-manager (Ingress {ing.name})", TLS_KEYS))
    return out


def _ref(data: object, name_key: str = "name") -> tuple[str, bool] | None:
    if not isinstance(data, dict) or not data.get(name_key):
        return None
    return str(data[name_key]), is_true(data.get("optional"))


def pod_secret_uses(ns: str, pod: dict[str, object]) -> Iterator[SecretUse]:
    """Secrets a pod spec reads; optional references are skipped."""
    for c in containers(pod):
        cname = c.get("name")
        for env in c.get("env") or []:
            ref = dig(env, "valueFrom", "secretKeyRef")
            found = _ref(ref)
            if found and not found[1]:
                yield SecretUse(ns, found[0], str(ref.get("key")),
                                f"container {cname} env {env.get('name')}", env=True)
        for env_from in c.get("envFrom") or []:
            found = _ref(dig(env_from, "secretRef"))
            if found and not found[1]:
                yield SecretUse(ns, found[0], None, f"container {cname} envFrom", env=True)
    for vol in pod.get("volumes") or []:  # type: ignore[attr-defined]
        selectors = [dig(vol, "secret")] + [dig(src, "secret")
                                            for src in dig(vol, "projected", "sources") or []]
        for sel in selectors:
            name = (sel.get("secretName") or sel.get("name")) if isinstance(sel, dict) else None
            if not name or is_true(sel.get("optional")):
                continue
            keys = [i.get("key") for i in sel.get("items") or [] if isinstance(i, dict)]
            for key in keys or [None]:
                yield SecretUse(ns, str(name), key, f"volume {dig(vol, 'name')}")
    for pull in pod.get("imagePullSecrets") or []:  # type: ignore[attr-defined]
        if isinstance(pull, dict) and pull.get("name"):
            yield SecretUse(ns, str(pull["name"]), None, "imagePullSecrets")


def _credential_uses(ns: str, config: object, where: str) -> Iterator[SecretUse]:
    """{name, key} selectors inside barman-cloud credentials (azure/s3/google)."""
    for provider in ("azureCredentials", "s3Credentials", "googleCredentials"):
        creds = dig(config, provider)
        if not isinstance(creds, dict):
            continue
        for field_name, sel in creds.items():
            if isinstance(sel, dict) and sel.get("name"):
                yield SecretUse(ns, str(sel["name"]), sel.get("key"),
                                f"{where}.{provider}.{field_name}")


def object_secret_uses(obj: K8sObject) -> Iterator[SecretUse]:
    """Secrets read by CNPG Clusters, ObjectStores and HelmReleases."""
    ns = obj.namespace
    if obj.kind == "Cluster" and obj.group.startswith("postgresql.cnpg.io"):
        for path in (("bootstrap", "initdb", "secret"), ("superuserSecret",)):
            name = dig(obj.spec, *path, "name")
            if name:
                yield SecretUse(ns, str(name), "password", "spec." + ".".join(path))
        yield from _credential_uses(ns, dig(obj.spec, "backup", "barmanObjectStore"),
                                    "spec.backup.barmanObjectStore")
    elif obj.kind == "ObjectStore":
        yield from _credential_uses(ns, dig(obj.spec, "configuration"), "spec.configuration")
    elif obj.kind == "HelmRelease":
        for ref in obj.spec.get("valuesFrom") or []:
            if isinstance(ref, dict) and ref.get("kind") == "Secret" and not is_true(
                    ref.get("optional")):
                yield SecretUse(ns, str(ref.get("name")), str(ref.get("valuesKey") or
                                "values.yaml"), "spec.valuesFrom")


def mounted_spcs(ctx: VerifyContext) -> set[tuple[str, str]]:
    """(namespace, SecretProviderClass) pairs some pod template mounts as a CSI volume."""
    out: set[tuple[str, str]] = set()
    for tpl in pod_templates(ctx):
        for vol in tpl.spec.get("volumes") or []:
            if dig(vol, "csi", "driver") == CSI_DRIVER:
                spc = dig(vol, "csi", "volumeAttributes", "secretProviderClass")
                if spc:
                    out.add((tpl.owner.namespace, str(spc)))
    return out


class SecretRefRule(Rule):
    """A workload, CNPG Cluster, ObjectStore or HelmRelease reads a Secret (or a key of it)
    that nothing in the build provides: no Secret, no SecretProviderClass secretObjects
    entry, no CNPG-generated secret, no cert-manager certificate. `optional: true` refs are
    fine. A Secret synced only by the CSI driver exists only while some pod mounts its
    SecretProviderClass: when none does, that is `secret-ref[unmounted]`.
    """

    id = "secret-ref"
    subs = frozenset({"unmounted"})
    summary = "a referenced Secret or Secret key is provided by nothing"
    hint = ("create the Secret (Key Vault object + SecretProviderClass secretObjects entry), "
            "or fix the name/key")
    tags = ("secrets",)

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        providers = secret_providers(ctx)
        mounted = mounted_spcs(ctx)
        open_ns = helm_namespaces(ctx)
        uses = [(tpl.owner, use) for tpl in pod_templates(ctx)
                for use in pod_secret_uses(tpl.owner.namespace, tpl.spec)]
        uses += [(obj, use) for obj in ctx.of_kind("Cluster", "ObjectStore", "HelmRelease")
                 for use in object_secret_uses(obj)]
        reported: set[tuple[object, ...]] = set()
        for obj, use in uses:
            for finding in self._check(obj, use, providers, mounted, open_ns):
                # one finding per object and Secret (and key): not one per field reading it
                key = (obj.ref, use.namespace, use.name, finding.rule,
                       use.key if "key '" in finding.message else None)
                if key not in reported:
                    reported.add(key)
                    yield finding

    def _check(self, obj: K8sObject, use: SecretUse, providers: dict[tuple[str, str],
               list[Provider]], mounted: set[tuple[str, str]],
               open_ns: set[str]) -> Iterable[Finding]:
        subject = f"{obj.kind} {obj.namespace}/{obj.name} ({use.where}) reads"
        target = f"Secret {use.namespace}/{use.name}"
        found = providers.get((use.namespace, use.name))
        if not found:
            if use.namespace not in open_ns:
                yield self.finding(obj, f"{subject} {target}, which nothing provides (no Secret, "
                                        "SecretProviderClass secretObjects, CNPG Cluster or "
                                        "Certificate creates it)")
            return
        if use.key is not None and not any(p.keys is None or use.key in p.keys for p in found):
            keys = sorted({k for p in found for k in p.keys or ()})
            sources = ", ".join(p.source for p in found)
            yield self.finding(obj, f"{subject} key '{use.key}' of {target}, which has only "
                                    f"{', '.join(keys) or 'no keys'} ({sources})")
            return
        if all(p.spc is not None and (use.namespace, p.spc) not in mounted for p in found):
            spcs = ", ".join(sorted({str(p.spc) for p in found}))
            yield self.finding(
                obj, f"{subject} {target}, synced by SecretProviderClass {spcs}, which no pod "
                     "mounts: the CSI driver creates the Secret only while a pod mounts it",
                sub="unmounted", hint="mount the SecretProviderClass as a CSI volume in a "
                                      "long-running pod (e.g. the secrets-sync Deployment)")


class CsiReloaderRule(Rule):
    """A workload reads a CSI-synced Secret into environment variables without a Reloader
    annotation: after a Key Vault rotation the synced Secret changes but the pod keeps the
    old value until someone restarts it by hand.
    """

    id = "csi-reloader"
    summary = "workload reads a CSI-synced Secret via env without a Reloader annotation"
    severity = Severity.WARNING
    hint = 'annotate the workload with reloader.stakater.com/auto: "true"'
    tags = ("secrets", "rotation")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        synced = {(spc.namespace, str(s.get("secretName"))): spc.name
                  for spc in ctx.of_kind("SecretProviderClass")
                  for s in spc.spec.get("secretObjects") or [] if isinstance(s, dict)}
        if not synced:
            return
        for tpl in pod_templates(ctx):
            owner = tpl.owner
            annotations = owner.annotations
            if any(is_true(annotations.get(a)) for a in RELOADER):
                continue
            explicit = {n.strip() for n in str(annotations.get(
                "secret.reloader.stakater.com/reload", "")).split(",") if n.strip()}
            names = sorted({u.name for u in pod_secret_uses(owner.namespace, tpl.spec)
                            if u.env and (u.namespace, u.name) in synced
                            and u.name not in explicit})
            if names:
                yield self.finding(owner, f"{owner.kind} {owner.namespace}/{owner.name} reads "
                                          f"CSI-synced Secret {', '.join(names)} into env "
                                          "without a Reloader annotation")


class SecretDataCommittedRule(Rule):
    """A Secret with values in data/stringData is committed to the repository: anyone with
    read access to git has the credential. SOPS-encrypted Secrets are fine.
    """

    id = "secret-data-committed"
    summary = "a Secret with data/stringData values is committed to git"
    hint = ("keep the value in Key Vault and sync it with a SecretProviderClass "
            "(or encrypt it with SOPS)")
    tags = ("secrets", "security")

    def check_object(self, obj: K8sObject, ctx: VerifyContext) -> Iterable[Finding]:
        if obj.kind != "Secret" or obj.api_version != "v1" or "sops" in obj.body:
            return
        keys = list(obj.redacted)
        for section in ("data", "stringData"):
            values = obj.body.get(section)
            if isinstance(values, dict):
                keys += [f"{section}.{k}" for k, v in values.items() if v not in (None, "")]
        if keys:
            keys = sorted(set(keys))
            yield self.finding(obj, f"Secret {obj.namespace}/{obj.name} commits values for "
                                    f"{', '.join(keys)} to git")
