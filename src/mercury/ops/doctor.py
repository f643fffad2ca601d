"""`mercury doctor TENANT`: the seed README's debugging workflow, automated.

Each check reads a Snapshot the way an operator would walk `flux get kustomizations`,
`kubectl describe pod`, `kubectl get events`, `kubectl get ingressclass`... and turns
the lessons the seed learned the hard way (wrong CSI identity / tenant ID, IngressClass
`traefik-traefik`, five-field backup schedules) into diagnoses carrying the exact text
seen and the fix. Pure over the Snapshot: tested on JSON fixtures.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mercury.ops.backups import CLUSTER_NAME, backup_state
from mercury.ops.snapshot import (
    Obj,
    Snapshot,
    condition,
    container_statuses,
    event_text,
    events_for,
    name_of,
    one_line,
)
from mercury.ops.status import (
    BACKUP_MAX_AGE,
    CERT_MIN_LEFT,
    HEALTHY_PHASE,
    flux_row,
    hours,
    ingress_class_names,
    last_successful_backup,
)
from mercury.ops.times import iso, maybe_time
from mercury.platform.cron import cron_problem

CRITICAL, ERROR, WARNING = "critical", "error", "warning"
SEVERITIES = (CRITICAL, ERROR, WARNING)
SPC_NAME = "n8n-secrets"
SYNCED_SECRETS = ("n8n-db-credentials", "n8n-encryption-key")
_IDENTITY = ("identity not found", "aadsts", "managedidentitycredential",
             "requested identity isn't assigned")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_SUBSCRIPTION = re.compile(r"/subscriptions/([0-9a-f-]{36})/", re.I)


@dataclass(frozen=True)
class Diagnosis:
    """One problem: what it is, what was seen (verbatim), and what to do."""

    id: str
    severity: str
    subject: str  # Kind/namespace/name it is about
    title: str
    evidence: tuple[str, ...]
    fix: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity, "subject": self.subject,
                "title": self.title, "evidence": list(self.evidence), "fix": self.fix}


@dataclass
class DoctorReport:
    tenant: str
    taken_at: datetime
    diagnoses: list[Diagnosis] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.diagnoses

    def as_json(self) -> dict[str, Any]:
        counts = {s: sum(d.severity == s for d in self.diagnoses) for s in SEVERITIES}
        return {"tenant": self.tenant, "taken_at": iso(self.taken_at), "ok": self.ok,
                "summary": counts, "diagnoses": [d.as_json() for d in self.diagnoses]}


def _csi_event_text(e: Obj) -> str:
    """The CSI driver wraps the Azure error in three layers of rpc text and appends
    the whole HTTP response: keep from the Key Vault step on, plus Azure's description."""
    message = str(e.get("message") or "")
    found = [i for m in ("failed to get keyvault client", "failed to get objectType",
                         "keyvault.") if (i := message.find(m)) >= 0]
    start = found[0] if found else 0
    gist = message[start:].split("----")[0]
    described = re.search(r'"error_description":\s*"([^"]+)"', message)
    if described:
        gist += f" ({described.group(1)})"
    return one_line(f"{e.get('reason', '')}: {gist}")


# --- pods, volumes, the CSI driver (seed issue 1) -------------------------------------

def _csi(snap: Snapshot, ns: str) -> list[Diagnosis]:
    spc = snap.get("secret_provider_classes", ns, SPC_NAME)
    params = ((spc or {}).get("spec") or {}).get("parameters") or {}
    shown = [f"SecretProviderClass {ns}/{SPC_NAME}: {k}={params.get(k, '<unset>')!r}"
             for k in ("userAssignedIdentityID", "tenantId", "keyvaultName")] if spc else []
    out: list[Diagnosis] = []
    bad = [f"{k}={v!r}" for k in ("userAssignedIdentityID", "tenantId")
           if (v := str(params.get(k, ""))) and not _GUID.fullmatch(v)]
    if spc and bad:
        out.append(Diagnosis(
            "spc-parameters", CRITICAL, f"SecretProviderClass/{ns}/{SPC_NAME}",
            "SecretProviderClass identity values are not GUIDs (Flux substitution missing?)",
            tuple(bad), "These come from Flux postBuild.substitute (${CSI_IDENTITY_CLIENT_ID}, "
            "${AZURE_TENANT_ID}, set by terraform/flux.tf): check the apps Kustomization's "
            "postBuild and `terraform output flux_substitutions`."))
    subs = {m.group(1).lower() for n in snap.nodes
            if (m := _SUBSCRIPTION.search(str((n.get("spec") or {}).get("providerID", ""))))}
    tenant_id = str(params.get("tenantId", "")).lower()
    if spc and tenant_id in subs:
        out.append(Diagnosis(
            "spc-tenant-is-subscription", CRITICAL, f"SecretProviderClass/{ns}/{SPC_NAME}",
            "SecretProviderClass tenantId is the cluster's subscription ID",
            (f"tenantId={tenant_id} = subscription in the nodes' providerID",),
            "Subscription ID != tenant ID: set tenantId from ${AZURE_TENANT_ID} "
            "(`az account show --query tenantId`), then delete the stuck pods."))
    identity: list[tuple[str, Obj]] = []
    missing: list[tuple[str, Obj]] = []
    for pod in snap.in_ns("pods", ns):
        mounts = [e for e in events_for(snap, ns, "Pod", name_of(pod))
                  if e.get("reason") == "FailedMount"]
        csi = [e for e in mounts if "secrets-store" in str(e.get("message", "")).lower()
               or "keyvault" in str(e.get("message", "")).lower()]
        waiting = [str((c.get("state") or {}).get("waiting", {}).get("reason"))
                   for c in container_statuses(pod) if (c.get("state") or {}).get("waiting")]
        where = f"{name_of(pod)} ({', '.join(waiting) or pod.get('status', {}).get('phase')})"
        text = " ".join(str(e.get("message", "")).lower() for e in csi)
        if csi and any(marker in text for marker in _IDENTITY):
            identity.append((where, csi[0]))
        elif csi and ("secretnotfound" in text or "secret not found" in text):
            missing.append((where, csi[0]))
        elif mounts:
            out.append(Diagnosis(
                "volume-mount-failed", ERROR, f"Pod/{ns}/{name_of(pod)}",
                "A volume cannot be mounted", (where, event_text(mounts[0]),
                                               *(shown if csi else ())),
                "Read the event: a missing PVC/Secret/ConfigMap, or the CSI driver's error."))
    subject = f"SecretProviderClass/{ns}/{SPC_NAME}"
    if identity:
        text = " ".join(str(e.get("message", "")).lower() for _, e in identity)
        tenant_hint = ("; AADSTS90002 means the tenantId is not a tenant (often the "
                       "subscription ID)" if "aadsts90002" in text else "")
        out.append(Diagnosis(
            "csi-identity", CRITICAL, subject,
            "Key Vault CSI mount fails: the identity cannot authenticate",
            (f"pods stuck: {', '.join(w for w, _ in identity)}",
             _csi_event_text(identity[0][1]), *shown),
            "userAssignedIdentityID must be the AKS Key Vault Secrets Provider identity's "
            "client ID (${CSI_IDENTITY_CLIENT_ID} = terraform output of "
            "key_vault_secrets_provider.secret_identity.client_id) and tenantId the Azure "
            "tenant (${AZURE_TENANT_ID}), not the subscription ID" + tenant_hint
            + ". Pods do not restart when the SecretProviderClass changes: delete them "
            "after the fix."))
    if missing:
        out.append(Diagnosis(
            "csi-keyvault-object-missing", CRITICAL, subject,
            "Key Vault CSI mount fails: a secret is missing from the Key Vault",
            (f"pods stuck: {', '.join(w for w, _ in missing)}",
             _csi_event_text(missing[0][1]), *shown),
            f"Create the Key Vault secrets {ns}-db-user, {ns}-db-password, "
            f"{ns}-n8n-encryption-key (Terraform does so for tenants in platform.yaml)."))
    return out


def _pods(snap: Snapshot, ns: str) -> list[Diagnosis]:
    out: list[Diagnosis] = []
    for pod in snap.in_ns("pods", ns):
        pname = name_of(pod)
        subject = f"Pod/{ns}/{pname}"
        app = "n8n" if pname.startswith("n8n-") and not pname.startswith("n8n-db") else ""
        events = events_for(snap, ns, "Pod", pname)
        for c in container_statuses(pod):
            waiting = (c.get("state") or {}).get("waiting") or {}
            last = (c.get("lastState") or {}).get("terminated") or {}
            now = (f"waiting {waiting.get('reason')}" if waiting
                   else next(iter(c.get("state") or {}), "unknown"))
            seen = (f"container {c.get('name')}: {now}, restarts {c.get('restartCount', 0)}, "
                    f"last exit {last.get('reason', '-')} (code {last.get('exitCode', '-')})")
            if last.get("reason") == "OOMKilled":
                out.append(Diagnosis(
                    "pod-oomkilled", CRITICAL if app else ERROR, subject,
                    f"{c.get('name')} is killed for running out of memory", (seen,),
                    "Raise its memory limit in the tenant overlay: the n8n Deployment's "
                    "resources, or the CNPG Cluster's spec.resources for postgres."))
            elif waiting.get("reason") == "CrashLoopBackOff":
                out.append(Diagnosis(
                    "pod-crashloop", CRITICAL if app else ERROR, subject,
                    f"{c.get('name')} keeps crashing (CrashLoopBackOff)",
                    (seen, one_line(waiting.get("message"))),
                    f"`kubectl logs -n {ns} {pname} -c {c.get('name')} --previous`; for n8n "
                    "usually the database (n8n-db-rw, n8n-db-credentials) or a changed "
                    "N8N_ENCRYPTION_KEY."))
            elif waiting.get("reason") in ("ImagePullBackOff", "ErrImagePull"):
                out.append(Diagnosis(
                    "pod-image-pull", ERROR, subject, f"{c.get('name')} image cannot be pulled",
                    (seen, one_line(waiting.get("message"))),
                    "Check the image name/tag in the manifests and registry access."))
        probes = [e for e in events if e.get("reason") == "Unhealthy"
                  and "readiness probe" in str(e.get("message", "")).lower()]
        running_unready = any((c.get("state") or {}).get("running") and not c.get("ready")
                              for c in container_statuses(pod))
        if running_unready and probes:
            out.append(Diagnosis(
                "pod-not-ready", ERROR if app else WARNING, subject,
                "Running but failing its readiness probe", (event_text(probes[0]),),
                f"`kubectl logs -n {ns} {pname}`: n8n answers /healthz once its database "
                "migrations are done; check the probe's port and path."))
        sched = [e for e in events if e.get("reason") == "FailedScheduling"]
        if (pod.get("status") or {}).get("phase") == "Pending" and sched:
            out.append(Diagnosis(
                "pod-unschedulable", ERROR, subject, "No node can run this pod",
                (event_text(sched[0]),),
                "Free or add capacity (node_count/node_size in platform.yaml), or fix an "
                "unbound PVC."))
    return out


def _synced_secrets(snap: Snapshot, ns: str) -> list[Diagnosis]:
    spc = snap.get("secret_provider_classes", ns, SPC_NAME)
    if spc is None or "secrets" in snap.missing:  # not allowed to list Secrets: no verdict
        return []
    wanted = [str(o.get("secretName")) for o in (spc.get("spec") or {}).get("secretObjects") or []
              if o.get("secretName")] or list(SYNCED_SECRETS)
    missing = [s for s in wanted if snap.get("secrets", ns, s) is None]
    if not missing:
        return []
    sync = snap.get("deployments", ns, "secrets-sync")
    status = (sync or {}).get("status") or {}
    seen = [f"Secret {ns}/{s} does not exist" for s in missing]
    seen.append(f"Deployment secrets-sync: {status.get('readyReplicas') or 0}/"
                f"{(sync or {}).get('spec', {}).get('replicas', 1)} ready" if sync
                else "Deployment secrets-sync does not exist")
    return [Diagnosis(
        "synced-secret-missing", CRITICAL, f"SecretProviderClass/{ns}/{SPC_NAME}",
        "Secrets synced from Key Vault are missing", tuple(seen),
        "The CSI driver creates these Secrets only while a pod mounts the volume: get the "
        "secrets-sync pod running (see the CSI diagnoses); CNPG's bootstrap and n8n wait "
        "for them.")]


def _services(snap: Snapshot, ns: str) -> list[Diagnosis]:
    out: list[Diagnosis] = []
    for svc in snap.in_ns("services", ns):
        selector = (svc.get("spec") or {}).get("selector")
        if not selector:
            continue
        eps = snap.get("endpoints", ns, name_of(svc)) or {}
        subsets = eps.get("subsets") or []
        ready = sum(len(s.get("addresses") or []) for s in subsets)
        unready = sum(len(s.get("notReadyAddresses") or []) for s in subsets)
        if ready:
            continue
        sel = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        out.append(Diagnosis(
            "service-no-endpoints", ERROR, f"Service/{ns}/{name_of(svc)}",
            "Service has no ready endpoints: its traffic goes nowhere",
            (f"selector {sel}: 0 ready endpoints, {unready} not ready",),
            "No ready pod matches the selector: see the pod diagnoses, or compare the "
            f"selector with `kubectl get pods -n {ns} --show-labels`."))
    return out


# --- routing and certificates (seed issue 2) ------------------------------------------

def _ingress(snap: Snapshot, ns: str) -> list[Diagnosis]:
    classes = ingress_class_names(snap)
    out: list[Diagnosis] = []
    for ing in snap.in_ns("ingresses", ns):
        cls = (ing.get("spec") or {}).get("ingressClassName")
        if not classes or (cls and cls in classes):
            continue
        out.append(Diagnosis(
            "ingress-class-missing", CRITICAL, f"Ingress/{ns}/{name_of(ing)}",
            "Ingress names an IngressClass that does not exist: Traefik answers 404",
            (f"ingressClassName: {cls or '<unset>'}",
             f"IngressClasses in the cluster: {', '.join(classes)}"),
            "The Traefik chart names its class after the release unless told: set "
            "`ingressClass.name: traefik` in the traefik HelmRelease values (contracts.md) "
            "or point ingressClassName at an existing class."))
    return out


def _certificates(snap: Snapshot, ns: str) -> list[Diagnosis]:
    out: list[Diagnosis] = []
    for cert in snap.in_ns("certificates", ns):
        subject = f"Certificate/{ns}/{name_of(cert)}"
        ready = condition(cert, "Ready") or {}
        expiry = maybe_time((cert.get("status") or {}).get("notAfter"))
        if ready.get("status") != "True":
            seen = [one_line(f"Ready={ready.get('status', 'Unknown')} "
                             f"({ready.get('reason', '-')}): {ready.get('message', '')}")]
            pending = [c for c in snap.in_ns("challenges", ns)
                       if str((c.get("status") or {}).get("state", "pending")) != "valid"]
            seen += [one_line(f"Challenge {name_of(c)} ({(c.get('spec') or {}).get('type')}) "
                              f"{(c.get('status') or {}).get('state', 'pending')}: "
                              f"{(c.get('status') or {}).get('reason', '')}") for c in pending]
            fix = (f"`kubectl describe certificate,certificaterequest,order -n {ns}` and the "
                   "cert-manager logs.")
            if pending:
                fix = ("HTTP-01 pending: the host must resolve to Traefik's LoadBalancer IP, "
                       "the solver Ingress must use an existing IngressClass, and the "
                       "acme-http01-solver NetworkPolicy must let Traefik reach the solver "
                       "pod (port 8089). " + fix)
            out.append(Diagnosis("certificate-not-ready", ERROR, subject,
                                 "TLS certificate is not ready", tuple(seen), fix))
        elif expiry and expiry - snap.taken_at < CERT_MIN_LEFT:
            out.append(Diagnosis(
                "certificate-expiring", WARNING, subject, "TLS certificate expires soon",
                (f"notAfter {iso(expiry)}",),
                "cert-manager should have renewed it 30 days before expiry: check the "
                "CertificateRequest and Order."))
    return out


# --- Flux ------------------------------------------------------------------------------

def _flux(snap: Snapshot, ns: str) -> list[Diagnosis]:
    out: list[Diagnosis] = []
    for obj in snap.kustomizations + snap.helmreleases:
        row = flux_row(obj)
        ready = condition(obj, "Ready") or {}
        subject = f"{row.kind}/{row.namespace}/{row.name}"
        seen = (one_line(f"Ready={row.ready} ({ready.get('reason', '-')}): {row.message}"),)
        if row.suspended:
            out.append(Diagnosis("flux-suspended", WARNING, subject,
                                 f"{row.kind} is suspended: changes are not applied", seen,
                                 f"`flux resume {row.kind.lower()} {row.name} -n "
                                 f"{row.namespace}` when done."))
        elif row.ready == "False" and row.kind == "HelmRelease":
            out.append(Diagnosis(
                "helmrelease-failed", ERROR, subject, "HelmRelease failed", seen,
                f"`flux logs --kind HelmRelease --name {row.name} -n {row.namespace}`, fix the "
                "values, then `flux reconcile helmrelease ... --force`."))
        elif row.ready == "False":
            text = row.message.lower()
            fix = (f"Fix the objects the health check names (see the other diagnoses), then "
                   f"`flux reconcile kustomization {row.name} --with-source`.")
            if "dependency" in text:
                fix = "Fix the layer it depends on first: `flux get kustomizations`."
            elif "build failed" in text or "kustomize" in text:
                fix = "Run `mercury build` and `mercury verify` on the repository."
            sev = CRITICAL if f"/{ns}/" in row.message else ERROR
            out.append(Diagnosis("flux-not-ready", sev, subject,
                                 "Flux Kustomization is not Ready", seen, fix))
    return out


# --- the database and its backups -----------------------------------------------------

def _database(snap: Snapshot, ns: str) -> list[Diagnosis]:
    cluster = snap.get("clusters", ns, CLUSTER_NAME)
    subject = f"Cluster/{ns}/{CLUSTER_NAME}"
    if cluster is None:
        return [Diagnosis("db-missing", CRITICAL, subject, "No CNPG Cluster n8n-db",
                          (f"clusters.postgresql.cnpg.io in {ns}: none",),
                          "Check the apps Kustomization and the cnpg HelmRelease (CRDs).")]
    out: list[Diagnosis] = []
    status = cluster.get("status") or {}
    want = int(status.get("instances") or (cluster.get("spec") or {}).get("instances") or 1)
    ready = int(status.get("readyInstances") or 0)
    phase = str(status.get("phase") or "unknown")
    if ready < want or phase != HEALTHY_PHASE:
        out.append(Diagnosis(
            "db-unhealthy", CRITICAL if not ready else ERROR, subject,
            "PostgreSQL cluster is not healthy",
            (one_line(f"phase {phase!r}: {status.get('phaseReason', '')}"),
             f"{ready}/{want} instances ready, primary {status.get('currentPrimary', '-')}"),
            f"`kubectl cnpg status {CLUSTER_NAME} -n {ns}` and the instance pods' logs; a "
            "cluster stuck bootstrapping often waits for the n8n-db-credentials Secret."))
    archiving = condition(cluster, "ContinuousArchiving")
    if archiving and archiving.get("status") == "False":
        out.append(Diagnosis(
            "wal-archiving-failing", ERROR, subject, "WAL archiving to the object store fails",
            (one_line(f"ContinuousArchiving=False ({archiving.get('reason', '-')}): "
                      f"{archiving.get('message', '')}"),),
            "Point-in-time recovery is broken until fixed: check ObjectStore n8n-backups, the "
            f"backup identity's federated credential (system:serviceaccount:{ns}:n8n-db) and "
            "the barman-cloud plugin logs."))
    for sb in snap.in_ns("scheduled_backups", ns):
        problem = cron_problem(str((sb.get("spec") or {}).get("schedule", "")))
        if problem:
            out.append(Diagnosis("backup-schedule", WARNING, f"ScheduledBackup/{ns}/"
                                 f"{name_of(sb)}", "Backup schedule is not what it seems",
                                 (problem,), "Use six fields, seconds first ('0 0 2 * * *' is "
                                 "daily at 02:00): fix backup.schedule in platform.yaml."))
    last, source = last_successful_backup(snap, ns)
    attempts = sorted(snap.in_ns("backups", ns), key=lambda b: str(
        (b.get("status") or {}).get("startedAt") or (b.get("metadata") or {}).get(
            "creationTimestamp", "")))
    newest = attempts[-1] if attempts else None
    if newest is not None and backup_state(newest).failed:
        out.append(Diagnosis(
            "backup-failed", ERROR, f"Backup/{ns}/{name_of(newest)}", "The latest backup failed",
            (backup_state(newest).message,),
            f"`kubectl describe backup {name_of(newest)} -n {ns}`; then `mercury backup now "
            f"{ns}` to retry."))
    born = maybe_time((cluster.get("metadata") or {}).get("creationTimestamp"))
    if born is not None and snap.taken_at - born < BACKUP_MAX_AGE:
        return out
    if last is None or snap.taken_at - last > BACKUP_MAX_AGE:
        seen = (f"last successful backup {iso(last)} ({source}), "
                f"{hours(snap.taken_at - last)} ago" if last else "no successful backup found")
        out.append(Diagnosis(
            "backup-stale", ERROR, subject, "No successful backup in the last 26 hours",
            (seen,), f"Check ScheduledBackup and `mercury backup list {ns}`; take one with "
            f"`mercury backup now {ns}`."))
    return out


# Root causes before their symptoms: within a severity, earlier checks print first.
CHECKS: tuple[Callable[[Snapshot, str], list[Diagnosis]], ...] = (
    _csi, _synced_secrets, _ingress, _pods, _database, _certificates, _services, _flux)


def diagnose(snap: Snapshot, tenant: str) -> DoctorReport:
    """Every diagnosis for one tenant namespace, most severe first."""
    if not snap.has_namespace(tenant):
        missing = Diagnosis("namespace-missing", CRITICAL, f"Namespace/{tenant}",
                            "The tenant's namespace does not exist",
                            (f"namespace {tenant!r} not found",),
                            "Run `mercury render` and commit; then see the apps Kustomization.")
        return DoctorReport(tenant, snap.taken_at, [missing, *_flux(snap, tenant)])
    found = [(i, d) for i, check in enumerate(CHECKS) for d in check(snap, tenant)]
    found.sort(key=lambda pair: (SEVERITIES.index(pair[1].severity), pair[0]))
    return DoctorReport(tenant, snap.taken_at, [d for _, d in found])
