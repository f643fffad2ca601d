"""n8n application semantics: its settings agree with the objects they describe.

n8n's public URL variables must name the host its Ingress serves (with the scheme its
TLS gives), its database variables the CNPG cluster it runs against (the `-rw` Service,
port 5432, the bootstrap database, owner and credentials), and every n8n process of a
namespace must read the same encryption key. Each mismatch deploys cleanly and breaks
only at run time: webhooks registered under the wrong URL, a login refused by
PostgreSQL, credentials one process encrypted and another cannot read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mercury.builder import yaml12
from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding
from mercury.verify.rules.base import Rule, pod_specs
from mercury.verify.rules.index import containers, dig
from mercury.verify.rules.n8n import N8N_IMAGE

N8N_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")
CSI_DRIVER = "secrets-store.csi.k8s.io"
CNPG_PORT = "5432"
URL_VARS = ("WEBHOOK_URL", "N8N_EDITOR_BASE_URL")


@dataclass(frozen=True)
class N8nContainer:
    owner: K8sObject
    pod: dict[str, Any]
    container: dict[str, Any]
    labels: dict[str, str]

    @property
    def where(self) -> str:
        o = self.owner
        return f"{o.kind} {o.namespace}/{o.name} container {self.container.get('name')}"

    def env(self) -> dict[str, dict[str, Any]]:
        return {str(e.get("name")): e for e in self.container.get("env") or []
                if isinstance(e, dict)}

    def literal(self, name: str) -> str | None:
        """A plain `value:` (unsubstituted `${VAR}` counts as unknown)."""
        entry = self.env().get(name)
        if entry is None or entry.get("valueFrom") or "value" not in entry:
            return None
        value = str(entry.get("value"))
        return None if "${" in value else value


def n8n_containers(ctx: VerifyContext) -> Iterator[N8nContainer]:
    for obj in ctx.of_kind(*N8N_WORKLOADS):
        for pod in pod_specs(obj):
            labels = dig(obj.spec, "template", "metadata", "labels") or obj.labels
            for c in containers(pod):
                if N8N_IMAGE in str(c.get("image", "")):
                    yield N8nContainer(obj, pod, c, dict(labels or {}))


def _spc_objects(spc: K8sObject) -> dict[str, str]:
    """alias (file name) -> Key Vault objectName from parameters.objects (a YAML string)."""
    import yaml

    raw = dig(spc.spec, "parameters", "objects")
    out: dict[str, str] = {}
    try:
        doc = yaml12.load(str(raw)) if raw else None
        entries = doc.get("array") if isinstance(doc, dict) else None
        for entry in entries or []:
            item = yaml12.load(entry) if isinstance(entry, str) else entry
            if isinstance(item, dict) and item.get("objectName"):
                name = str(item["objectName"])
                out[str(item.get("objectAlias") or name)] = name
    except yaml.YAMLError:
        return {}
    return out


class _Sources:
    """Resolves where a value comes from, down to the Key Vault object when synced."""

    def __init__(self, ctx: VerifyContext):
        self.ctx = ctx
        self.synced: dict[tuple[str, str, str], str] = {}  # (ns, secret, key) -> source
        for spc in ctx.of_kind("SecretProviderClass"):
            objects = _spc_objects(spc)
            for so in spc.spec.get("secretObjects") or []:
                for d in so.get("data") or [] if isinstance(so, dict) else []:
                    alias = str(d.get("objectName"))
                    kv = objects.get(alias, alias)
                    self.synced[(spc.namespace, str(so.get("secretName")), str(d.get("key")))] \
                        = f"Key Vault secret {kv} (SecretProviderClass {spc.name})"

    def secret(self, ns: str, name: str, key: str) -> str:
        return self.synced.get((ns, name, key), f"Secret {ns}/{name} key {key}")

    def file(self, c: N8nContainer, path: str) -> str | None:
        """The source of a file a container reads: a CSI, Secret or ConfigMap volume."""
        volumes = {str(v.get("name")): v for v in c.pod.get("volumes") or []
                   if isinstance(v, dict)}
        for mount in c.container.get("volumeMounts") or []:
            base = str(mount.get("mountPath", "")).rstrip("/")
            if not base or not path.startswith(base + "/"):
                continue
            rel = path[len(base) + 1:]
            vol = volumes.get(str(mount.get("name")), {})
            ns = c.owner.namespace
            spc_name = dig(vol, "csi", "volumeAttributes", "secretProviderClass")
            if dig(vol, "csi", "driver") == CSI_DRIVER and spc_name:
                spc = self.ctx.get("SecretProviderClass", ns, str(spc_name))
                objects = _spc_objects(spc) if spc is not None else {}
                kv = objects.get(rel, rel)
                return f"Key Vault secret {kv} (SecretProviderClass {spc_name})"
            secret = dig(vol, "secret", "secretName")
            if secret:
                return self.secret(ns, str(secret), rel)
            return f"volume {mount.get('name')} file {rel}"
        return None

    def of(self, c: N8nContainer, name: str) -> str | None:
        """Where env `name` (or `name_FILE`) gets its value; None when not set."""
        env = c.env()
        entry = env.get(name)
        if entry is not None:
            ref = dig(entry, "valueFrom", "secretKeyRef")
            if isinstance(ref, dict):
                return self.secret(c.owner.namespace, str(ref.get("name")), str(ref.get("key")))
            if entry.get("valueFrom"):
                return f"valueFrom {sorted(entry['valueFrom'])[0]}"
            return "a literal value"
        file_entry = env.get(f"{name}_FILE")
        if file_entry is not None and "value" in file_entry:
            path = str(file_entry["value"])
            return self.file(c, path) or f"file {path}"
        for ef in c.container.get("envFrom") or []:
            secret = dig(ef, "secretRef", "name")
            if secret:
                return self.secret(c.owner.namespace, str(secret), name)
        return None


def _in_namespace(ctx: VerifyContext, kind: str, namespace: str) -> list[K8sObject]:
    """Objects of `kind` in `namespace`, indexed once per context (a scan per n8n pod made
    1,000 tenants quadratic)."""
    index = ctx.cache.setdefault(f"n8n-config:{kind}", {})
    if not index:
        for obj in ctx.of_kind(kind):
            index.setdefault(obj.namespace, []).append(obj)
        index.setdefault("\0built", [])
    return list(index.get(namespace, []))


def _public_hosts(ctx: VerifyContext, c: N8nContainer) -> dict[str, bool]:
    """host -> TLS? for every Ingress rule whose backend Service selects this pod."""
    ns = c.owner.namespace
    selecting = set()
    for svc in _in_namespace(ctx, "Service", ns):
        selector = svc.spec.get("selector")
        if isinstance(selector, dict) and selector and all(
                c.labels.get(str(k)) == str(v) for k, v in selector.items()):
            selecting.add(svc.name)
    hosts: dict[str, bool] = {}
    for ing in _in_namespace(ctx, "Ingress", ns):
        tls = {str(h).lower() for t in ing.spec.get("tls") or [] if isinstance(t, dict)
               for h in t.get("hosts") or []}
        for rule in ing.spec.get("rules") or []:
            if not isinstance(rule, dict) or not rule.get("host"):
                continue
            backends = {str(dig(p, "backend", "service", "name"))
                        for p in dig(rule, "http", "paths") or []}
            if backends & selecting:
                host = str(rule["host"]).lower()
                hosts[host] = hosts.get(host, False) or host in tls
    return hosts


class N8nConfigRule(Rule):
    """n8n's settings disagree with the objects they describe. `n8n-config[url]`:
    N8N_HOST, N8N_PROTOCOL, WEBHOOK_URL or N8N_EDITOR_BASE_URL name a host the Ingress
    routing to n8n does not serve, or `http` where its TLS serves `https` (or the reverse):
    webhooks and OAuth callbacks point elsewhere. `n8n-config[database]`:
    DB_POSTGRESDB_HOST is not the CNPG cluster's `<cluster>-rw` Service (`-ro`/`-r` refuse
    writes), the port is not 5432, the database or user is not the cluster's
    bootstrap database/owner, or the password does not come from the credentials the
    cluster bootstraps its owner with. `n8n-config[encryption-key]`: two n8n workloads of
    one namespace read N8N_ENCRYPTION_KEY from different sources, so one cannot decrypt
    what the other stored.
    """

    id = "n8n-config"
    subs = frozenset({"url", "database", "encryption-key"})
    summary = "n8n's URL, database or encryption-key settings disagree with the platform"
    hint = ("derive n8n's URL variables from the Ingress host, its DB_POSTGRESDB_* from the "
            "CNPG Cluster (host <cluster>-rw, bootstrap database/owner/secret), one key source")
    tags = ("n8n",)

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        sources = _Sources(ctx)
        found = list(n8n_containers(ctx))
        for c in found:
            yield from self._urls(ctx, c)
            yield from self._database(ctx, c, sources)
        yield from self._keys(found, sources)

    # ------------------------------------------------------------ public URL

    def _urls(self, ctx: VerifyContext, c: N8nContainer) -> Iterator[Finding]:
        if c.owner.kind not in ("Deployment", "StatefulSet"):
            return
        hosts = _public_hosts(ctx, c)
        if not hosts:
            return
        served = ", ".join(f"{'https' if t else 'http'}://{h}" for h, t in sorted(hosts.items()))
        subject = f"{c.where}"
        host = c.literal("N8N_HOST")
        if host is not None and host.lower() not in hosts:
            yield self._url(c, f"{subject} sets N8N_HOST={host}, but the Ingress routing to "
                               f"n8n serves {served}")
        proto = c.literal("N8N_PROTOCOL")
        target = (host or "").lower()
        if proto is not None and target in hosts:
            want = "https" if hosts[target] else "http"
            if proto != want:
                yield self._url(c, f"{subject} sets N8N_PROTOCOL={proto}, but the Ingress "
                                   f"serves {target} over {want}")
        for var in URL_VARS:
            url = c.literal(var)
            if url is None:
                continue
            parts = urlsplit(url)
            url_host = (parts.hostname or "").lower()
            if url_host not in hosts:
                yield self._url(c, f"{subject} sets {var}={url}, but the Ingress routing to "
                                   f"n8n serves {served}")
            elif parts.scheme != ("https" if hosts[url_host] else "http"):
                want = "https" if hosts[url_host] else "http"
                yield self._url(c, f"{subject} sets {var}={url}, but the Ingress serves "
                                   f"{url_host} over {want}")

    def _url(self, c: N8nContainer, message: str) -> Finding:
        return self.finding(c.owner, message, sub="url",
                            hint="set N8N_HOST/WEBHOOK_URL/N8N_EDITOR_BASE_URL from the "
                                 "Ingress host (platform.yaml `host`), https when it has TLS")

    # -------------------------------------------------------------- database

    def _database(self, ctx: VerifyContext, c: N8nContainer,
                  sources: _Sources) -> Iterator[Finding]:
        host = c.literal("DB_POSTGRESDB_HOST")
        if host is None or c.literal("DB_TYPE") not in ("postgresdb", None):
            return
        parts = host.lower().split(".")
        ns = parts[1] if len(parts) > 1 else c.owner.namespace
        if len(parts) > 2 and parts[2:] not in (["svc"], ["svc", "cluster", "local"]):
            return  # not an in-cluster Service name
        service = parts[0]
        clusters = [o for o in _in_namespace(ctx, "Cluster", ns)
                    if o.group.startswith("postgresql.cnpg.io")]
        if not clusters:
            return
        by_service = {f"{cl.name}-{s}": (cl, s) for cl in clusters for s in ("rw", "ro", "r")}
        subject = f"{c.where} DB_POSTGRESDB_HOST={host}"
        if service not in by_service:
            if ctx.get("Service", ns, service) is None:
                names = ", ".join(sorted(f"{cl.name}-rw" for cl in clusters))
                yield self._db(c, f"{subject} is no Service in namespace {ns}; the CNPG "
                                  f"cluster's primary is {names}")
            return
        cluster, suffix = by_service[service]
        if suffix != "rw":
            yield self._db(c, f"{subject} is the CNPG Cluster {ns}/{cluster.name}'s "
                              f"{'read-only replicas' if suffix == 'ro' else 'any-instance'} "
                              f"Service; n8n writes, it needs {cluster.name}-rw")
        port = c.literal("DB_POSTGRESDB_PORT")
        if port is not None and port != CNPG_PORT:
            yield self._db(c, f"{c.where} DB_POSTGRESDB_PORT={port}, but CNPG Cluster "
                              f"{ns}/{cluster.name} listens on {CNPG_PORT}")
        initdb = dig(cluster.spec, "bootstrap", "initdb")
        if not isinstance(initdb, dict) and dig(cluster.spec, "bootstrap"):
            return  # recovery / pg_basebackup: database and owner come from the source
        initdb = initdb if isinstance(initdb, dict) else {}
        database = str(initdb.get("database") or "app")
        owner = str(initdb.get("owner") or database)
        db = c.literal("DB_POSTGRESDB_DATABASE")
        if db is not None and db != database:
            yield self._db(c, f"{c.where} DB_POSTGRESDB_DATABASE={db}, but CNPG Cluster "
                              f"{ns}/{cluster.name} bootstraps database {database}")
        user = c.literal("DB_POSTGRESDB_USER")
        if user is not None and user != owner:
            yield self._db(c, f"{c.where} DB_POSTGRESDB_USER={user}, but CNPG Cluster "
                              f"{ns}/{cluster.name} bootstraps owner {owner}")
        secret = str(dig(initdb, "secret", "name") or f"{cluster.name}-app")
        for var, key in (("DB_POSTGRESDB_USER", "username"),
                         ("DB_POSTGRESDB_PASSWORD", "password")):
            got = sources.of(c, var)
            if got is None or (got == "a literal value" and var.endswith("USER")):
                continue
            want = sources.secret(ns, secret, key)
            if got != want and got != f"Secret {ns}/{cluster.name}-app key {key}":
                yield self._db(c, f"{c.where} reads {var} from {got}, but CNPG Cluster "
                                  f"{ns}/{cluster.name} bootstraps its owner from {want}")

    def _db(self, c: N8nContainer, message: str) -> Finding:
        return self.finding(c.owner, message, sub="database",
                            hint="point n8n at <cluster>-rw:5432 with the bootstrap database, "
                                 "owner and the credentials Secret the Cluster bootstraps with")

    # -------------------------------------------------------- encryption key

    def _keys(self, found: list[N8nContainer], sources: _Sources) -> Iterator[Finding]:
        by_ns: dict[str, list[tuple[N8nContainer, str]]] = {}
        for c in found:
            src = sources.of(c, "N8N_ENCRYPTION_KEY")
            if src is not None:
                by_ns.setdefault(c.owner.namespace, []).append((c, src))
        for items in by_ns.values():
            first_c, first = items[0]
            for c, src in items[1:]:
                if src != first:
                    yield self.finding(
                        c.owner, f"{c.where} reads N8N_ENCRYPTION_KEY from {src}, but "
                                 f"{first_c.where} reads it from {first}: credentials one "
                                 "stores, the other cannot decrypt", sub="encryption-key",
                        hint="read the key from the same Key Vault secret in every n8n "
                             "workload of the tenant")
