"""Regenerate the snapshot fixtures: `.venv/bin/python tests/snapshots/generate.py`.

Each file is what `mercury status --save-snapshot` writes for one situation of tenant
customer1 in staging, taken at 2026-05-10T12:00:00Z. Object shapes and messages follow
real `kubectl get -o json` output (Flux v2.5, cert-manager 1.17, CNPG 1.26 with the
barman-cloud plugin, the Azure Key Vault CSI provider); healthy.json is the baseline and
every other file is that baseline with one seed incident applied.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
NS = "customer1"
TAKEN = "2026-05-10T12:00:00Z"
SUBSCRIPTION = "9b5c2f3e-1d4a-4c8e-a6f1-7e2d3c4b5a69"
TENANT_ID = "36e054ee-92ea-404f-97ee-2859b2462cd6"
CSI_CLIENT_ID = "48603787-7f9f-4c17-9071-677bcae61660"
REVISION = "main@sha1:3f2a9c41d8e07b6a5c2e9f1d4b8a7c6e5d3f2a1b"


def meta(name: str, ns: str | None = NS, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "creationTimestamp": "2026-04-01T09:00:00Z"}
    if ns:
        out["namespace"] = ns
    out.update(extra)
    return out


def cond(kind: str, status: str, reason: str, message: str,
         when: str = "2026-05-10T11:55:00Z") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": when}


def kustomization(name: str, path: str, depends: list[str]) -> dict[str, Any]:
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": meta(name, "flux-system"),
            "spec": {"interval": "5m0s", "path": path, "prune": True,
                     "dependsOn": [{"name": d} for d in depends],
                     "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
            "status": {"lastAppliedRevision": REVISION, "lastAttemptedRevision": REVISION,
                       "conditions": [cond("Ready", "True", "ReconciliationSucceeded",
                                           f"Applied revision: {REVISION}")]}}


def helmrelease(ns: str, name: str, chart: str, version: str) -> dict[str, Any]:
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": meta(name, ns),
            "spec": {"interval": "1h", "chart": {"spec": {"chart": chart,
                                                          "version": version}}},
            "status": {"history": [{"chartName": chart, "chartVersion": version,
                                    "status": "deployed", "version": 1}],
                       "conditions": [cond("Ready", "True", "InstallSucceeded",
                                           f"Helm install succeeded for release {ns}/{name}.v1 "
                                           f"with chart {chart}@{version}")]}}


def container_status(name: str, image: str, *, ready: bool = True,
                     state: dict[str, Any] | None = None, restarts: int = 0,
                     last: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "image": image, "ready": ready, "restartCount": restarts,
            "started": ready, "state": state or {"running": {"startedAt":
                                                             "2026-05-09T08:00:00Z"}},
            "lastState": last or {}}


def pod(name: str, labels: dict[str, str], containers: list[dict[str, Any]],
        phase: str = "Running") -> dict[str, Any]:
    ready = all(c["ready"] for c in containers)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta(name, labels=labels),
            "spec": {"nodeName": "aks-system-31415926-vmss000000"},
            "status": {"phase": phase,
                       "conditions": [{"type": "Ready", "status": str(ready)}],
                       "containerStatuses": containers}}


def deployment(name: str, ready: int, replicas: int = 1) -> dict[str, Any]:
    status: dict[str, Any] = {"replicas": replicas, "observedGeneration": 3}
    if ready:
        status.update(readyReplicas=ready, availableReplicas=ready)
    else:
        status["unavailableReplicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name),
            "spec": {"replicas": replicas,
                     "selector": {"matchLabels": {"app.kubernetes.io/name": name}}},
            "status": status}


def service(name: str, selector: dict[str, str], port: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name),
            "spec": {"type": "ClusterIP", "selector": selector,
                     "ports": [{"port": port, "targetPort": port, "protocol": "TCP"}]}}


def endpoints(name: str, ips: list[str], *, ready: bool = True) -> dict[str, Any]:
    key = "addresses" if ready else "notReadyAddresses"
    subsets = [{key: [{"ip": ip} for ip in ips], "ports": [{"port": 5678}]}] if ips else []
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta(name),
            "subsets": subsets}


def event(name: str, obj_kind: str, obj: str, reason: str, message: str, *,
          kind: str = "Normal", count: int = 1,
          last: str = "2026-05-10T11:58:00Z") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": meta(name),
            "involvedObject": {"kind": obj_kind, "name": obj, "namespace": NS},
            "reason": reason, "message": message, "type": kind, "count": count,
            "firstTimestamp": "2026-05-10T11:32:00Z", "lastTimestamp": last,
            "source": {"component": "kubelet"}}


def secret(name: str, kind: str, keys: dict[str, str]) -> dict[str, Any]:
    # Values are fake but present, as kubectl returns them: load_snapshot must drop them.
    return {"apiVersion": "v1", "kind": "Secret", "type": kind, "metadata": meta(name),
            "data": keys}


def backup(name: str, phase: str, started: str, stopped: str | None,
           error: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "method": "plugin", "startedAt": started,
                              "serverName": "n8n-db", "backupId": name[-15:]}
    if stopped:
        status["stoppedAt"] = stopped
    if error:
        status["error"] = error
    return {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
            "metadata": meta(name, creationTimestamp=started),
            "spec": {"cluster": {"name": "n8n-db"}, "method": "plugin",
                     "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}},
            "status": status}


N8N_IMAGE = "docker.n8n.io/n8nio/n8n:1.94.1"
PG_IMAGE = "ghcr.io/cloudnative-pg/postgresql:17.5"
N8N_POD = "n8n-7d9c8b5f4-x2k8p"
SYNC_POD = "secrets-sync-6b8d7c9f5-q4w2z"


def healthy() -> dict[str, Any]:
    db_pods = [pod(f"n8n-db-{i}", {"cnpg.io/cluster": "n8n-db",
                                   "cnpg.io/instanceRole": "primary" if i == 1 else "replica"},
                   [container_status("postgres", PG_IMAGE)]) for i in (1, 2, 3)]
    return {
        "takenAt": TAKEN,
        "Kustomization": [
            kustomization("infra-controllers", "./infrastructure/controllers/staging", []),
            kustomization("infra-configs", "./infrastructure/configs/staging",
                          ["infra-controllers"]),
            kustomization("apps", "./apps/staging", ["infra-configs"])],
        "HelmRelease": [helmrelease("traefik", "traefik", "traefik", "35.2.0"),
                        helmrelease("cert-manager", "cert-manager", "cert-manager", "v1.17.2"),
                        helmrelease("cnpg-system", "cnpg", "cloudnative-pg", "0.24.0"),
                        helmrelease("cnpg-system", "barman-cloud", "plugin-barman-cloud",
                                    "0.4.0"),
                        helmrelease("reloader", "reloader", "reloader", "2.1.3")],
        "IngressClass": [{"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                          "metadata": meta("traefik", None),
                          "spec": {"controller": "traefik.io/ingress-controller"}}],
        "Node": [{"apiVersion": "v1", "kind": "Node",
                  "metadata": meta("aks-system-31415926-vmss000000", None),
                  "spec": {"providerID": f"azure:///subscriptions/{SUBSCRIPTION}/resourceGroups/"
                           "mc_rg-mercury-staging_aks-mercury-staging_westeurope/providers/"
                           "Microsoft.Compute/virtualMachineScaleSets/aks-system-31415926-vmss"
                           "/virtualMachines/0"}}],
        "Namespace": [{"apiVersion": "v1", "kind": "Namespace",
                       "metadata": meta(NS, None, labels={
                           "mercury.io/tenant": NS,
                           "pod-security.kubernetes.io/enforce": "restricted"}),
                       "status": {"phase": "Active"}}],
        "Pod": [pod(N8N_POD, {"app.kubernetes.io/name": "n8n"},
                    [container_status("n8n", N8N_IMAGE)]),
                pod(SYNC_POD, {"app.kubernetes.io/name": "secrets-sync"},
                    [container_status("pause", "registry.k8s.io/pause:3.10")]), *db_pods],
        "Event": [event("n8n-7d9c8b5f4-x2k8p.18a2f", "Pod", N8N_POD, "Started",
                        "Started container n8n"),
                  event("n8n-db-scheduled.18a30", "ScheduledBackup", "n8n-db-scheduled",
                        "BackupSchedule", "Scheduled first backup by 2026-05-10 02:00:00")],
        "Deployment": [deployment("n8n", 1), deployment("secrets-sync", 1)],
        "Service": [service("n8n", {"app.kubernetes.io/name": "n8n"}, 80),
                    service("n8n-db-rw", {"cnpg.io/cluster": "n8n-db",
                                          "cnpg.io/instanceRole": "primary"}, 5432),
                    service("n8n-db-ro", {"cnpg.io/cluster": "n8n-db",
                                          "cnpg.io/instanceRole": "replica"}, 5432),
                    service("n8n-db-r", {"cnpg.io/cluster": "n8n-db"}, 5432)],
        "Endpoints": [endpoints("n8n", ["10.244.1.23"]),
                      endpoints("n8n-db-rw", ["10.244.0.31"]),
                      endpoints("n8n-db-ro", ["10.244.1.17", "10.244.2.9"]),
                      endpoints("n8n-db-r", ["10.244.0.31", "10.244.1.17", "10.244.2.9"])],
        "Ingress": [{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                     "metadata": meta("n8n", annotations={
                         "cert-manager.io/cluster-issuer": "letsencrypt-staging"}),
                     "spec": {"ingressClassName": "traefik",
                              "tls": [{"hosts": [f"{NS}.mercury.kubetest.uk"],
                                       "secretName": "n8n-tls"}],
                              "rules": [{"host": f"{NS}.mercury.kubetest.uk", "http": {
                                  "paths": [{"path": "/", "pathType": "Prefix", "backend": {
                                      "service": {"name": "n8n",
                                                  "port": {"name": "http"}}}}]}}]}}],
        "Certificate": [{"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                         "metadata": meta("n8n-tls"),
                         "spec": {"secretName": "n8n-tls",
                                  "dnsNames": [f"{NS}.mercury.kubetest.uk"],
                                  "issuerRef": {"kind": "ClusterIssuer",
                                                "name": "letsencrypt-staging"}},
                         "status": {"notBefore": "2026-04-21T09:00:00Z",
                                    "notAfter": "2026-07-20T09:00:00Z",
                                    "renewalTime": "2026-06-20T09:00:00Z",
                                    "conditions": [cond("Ready", "True", "Ready",
                                                        "Certificate is up to date and has "
                                                        "not expired")]}}],
        "Cluster": [{"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
                     "metadata": meta("n8n-db"),
                     "spec": {"instances": 3, "storage": {"size": "10Gi"},
                              "plugins": [{"name": "barman-cloud.cloudnative-pg.io",
                                           "isWALArchiver": True,
                                           "parameters": {"barmanObjectName": "n8n-backups",
                                                          "serverName": "n8n-db"}}]},
                     "status": {"instances": 3, "readyInstances": 3,
                                "phase": "Cluster in healthy state",
                                "currentPrimary": "n8n-db-1", "targetPrimary": "n8n-db-1",
                                "firstRecoverabilityPoint": "2026-04-10T02:02:50Z",
                                "conditions": [
                                    cond("Ready", "True", "ClusterIsReady",
                                         "Cluster is Ready"),
                                    cond("ContinuousArchiving", "True",
                                         "ContinuousArchivingSuccess",
                                         "Continuous archiving is working")]}}],
        "Backup": [backup("n8n-db-scheduled-20260509020000", "completed",
                          "2026-05-09T02:00:00Z", "2026-05-09T02:03:10Z"),
                   backup("n8n-db-scheduled-20260510020000", "completed",
                          "2026-05-10T02:00:00Z", "2026-05-10T02:02:41Z")],
        "ScheduledBackup": [{"apiVersion": "postgresql.cnpg.io/v1", "kind": "ScheduledBackup",
                             "metadata": meta("n8n-db-scheduled"),
                             "spec": {"schedule": "0 0 2 * * *", "method": "plugin",
                                      "cluster": {"name": "n8n-db"},
                                      "pluginConfiguration": {
                                          "name": "barman-cloud.cloudnative-pg.io"}},
                             "status": {"lastScheduleTime": "2026-05-10T02:00:00Z",
                                        "nextScheduleTime": "2026-05-11T02:00:00Z"}}],
        "SecretProviderClass": [{
            "apiVersion": "secrets-store.csi.x-k8s.io/v1", "kind": "SecretProviderClass",
            "metadata": meta("n8n-secrets"),
            "spec": {"provider": "azure",
                     "parameters": {"usePodIdentity": "false",
                                    "useVMManagedIdentity": "true",
                                    "userAssignedIdentityID": CSI_CLIENT_ID,
                                    "keyvaultName": "kv-mercury-staging",
                                    "tenantId": TENANT_ID,
                                    "objects": "array:\n  - |\n    objectName: "
                                               "customer1-db-user\n    objectType: secret\n"},
                     "secretObjects": [
                         {"secretName": "n8n-db-credentials", "type": "kubernetes.io/basic-auth",
                          "data": [{"objectName": "customer1-db-user", "key": "username"},
                                   {"objectName": "customer1-db-password",
                                    "key": "password"}]},
                         {"secretName": "n8n-encryption-key", "type": "Opaque",
                          "data": [{"objectName": "customer1-n8n-encryption-key",
                                    "key": "N8N_ENCRYPTION_KEY"}]}]}}],
        "Secret": [secret("n8n-db-credentials", "kubernetes.io/basic-auth",
                          {"username": "bjhu", "password": "c2VjcmV0LXZhbHVlLWRvLW5vdC1zaG93"}),
                   secret("n8n-encryption-key", "Opaque",
                          {"N8N_ENCRYPTION_KEY": "ZmFrZS1lbmNyeXB0aW9uLWtleQ=="}),
                   secret("n8n-tls", "kubernetes.io/tls", {"tls.crt": "LS0t", "tls.key": "LS0t"})],
    }


def replace(items: list[dict[str, Any]], new: dict[str, Any]) -> None:
    names = [i["metadata"]["name"] for i in items]
    items[names.index(new["metadata"]["name"])] = new


CSI_ERROR = (
    'MountVolume.SetUp failed for volume "secrets-store" : rpc error: code = Unknown desc = '
    f"failed to mount secrets store objects for pod {NS}/{{pod}}, err: rpc error: code = "
    "Unknown desc = failed to mount objects, error: failed to get keyvault client: failed to "
    "get authorizer for keyvault client: failed to acquire token: ManagedIdentityCredential "
    "authentication failed. the requested identity isn't assigned to this resource\n"
    "GET http://169.254.169.254/metadata/identity/oauth2/token\n"
    "--------------------------------------------------------------------------------\n"
    "RESPONSE 400 Bad Request\n"
    "--------------------------------------------------------------------------------\n"
    '{\n  "error": "invalid_request",\n  "error_description": "Identity not found"\n}\n'
    "--------------------------------------------------------------------------------\n"
    "To troubleshoot, visit https://aka.ms/azsdk/go/identity/troubleshoot#managed-id")


def csi_identity() -> dict[str, Any]:
    """Seed issue 1: wrong client ID and the subscription ID as tenantId."""
    snap = healthy()
    params = snap["SecretProviderClass"][0]["spec"]["parameters"]
    params["userAssignedIdentityID"] = "0f5e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    params["tenantId"] = SUBSCRIPTION
    creating = {"waiting": {"reason": "ContainerCreating"}}
    n8n_pod = pod("n8n-7d9c8b5f4-b7kzt", {"app.kubernetes.io/name": "n8n"},
                  [container_status("n8n", N8N_IMAGE, ready=False, state=creating)], "Pending")
    sync_pod = pod("secrets-sync-6b8d7c9f5-m9v4c", {"app.kubernetes.io/name": "secrets-sync"},
                   [container_status("pause", "registry.k8s.io/pause:3.10", ready=False,
                                     state=creating)], "Pending")
    snap["Pod"] = [n8n_pod, sync_pod, *snap["Pod"][2:]]
    snap["Event"] = [
        event(f"{p}.18a31", "Pod", p, "FailedMount", CSI_ERROR.replace("{pod}", p), kind="Warning",
              count=14) for p in (n8n_pod["metadata"]["name"], sync_pod["metadata"]["name"])]
    snap["Deployment"] = [deployment("n8n", 0), deployment("secrets-sync", 0)]
    snap["Endpoints"][0] = endpoints("n8n", [])
    snap["Secret"] = [s for s in snap["Secret"] if s["metadata"]["name"] == "n8n-tls"]
    apps = snap["Kustomization"][2]
    apps["status"]["conditions"] = [cond(
        "Ready", "False", "HealthCheckFailed",
        "health check failed after 9m30.0s: timeout waiting for: "
        f"[Deployment/{NS}/n8n status: 'InProgress', Deployment/{NS}/secrets-sync status: "
        "'InProgress']")]
    return snap


def ingress_class() -> dict[str, Any]:
    """Seed issue 2: the chart created `traefik-traefik`, the Ingress asks for `traefik`."""
    snap = healthy()
    snap["IngressClass"][0]["metadata"]["name"] = "traefik-traefik"
    cert = snap["Certificate"][0]
    cert["status"] = {"conditions": [
        cond("Ready", "False", "DoesNotExist", "Issuing certificate as Secret does not exist"),
        cond("Issuing", "True", "DoesNotExist", "Issuing certificate as Secret does not exist")]}
    snap["Secret"] = [s for s in snap["Secret"] if s["metadata"]["name"] != "n8n-tls"]
    snap["Challenge"] = [{
        "apiVersion": "acme.cert-manager.io/v1", "kind": "Challenge",
        "metadata": meta("n8n-tls-1-2954870163-3405137537"),
        "spec": {"type": "HTTP-01", "dnsName": f"{NS}.mercury.kubetest.uk",
                 "solver": {"http01": {"ingress": {"ingressClassName": "traefik"}}}},
        "status": {"state": "pending", "processing": True, "presented": True,
                   "reason": "Waiting for HTTP-01 challenge propagation: wrong status code "
                             "'404', expected '200'"}}]
    return snap


def backup_failed() -> dict[str, Any]:
    """Backups stopped: WAL archiving fails, last night's backup failed, the previous
    success is three days old, and the schedule was written with five fields."""
    snap = healthy()
    cluster = snap["Cluster"][0]
    cluster["status"]["conditions"][1] = cond(
        "ContinuousArchiving", "False", "ContinuousArchivingFailing",
        "unexpected failure invoking barman-cloud-wal-archive: exit status 4")
    snap["Backup"] = [
        backup("n8n-db-scheduled-20260507020000", "completed", "2026-05-07T02:00:00Z",
               "2026-05-07T02:02:58Z"),
        backup("n8n-db-scheduled-20260510020000", "failed", "2026-05-10T02:00:00Z", None,
               error="rpc error: code = Unknown desc = can't execute backup: exit status 4: "
                     "ERROR: Barman cloud backup exception: DefaultAzureCredential: failed "
                     "to retrieve a token from the included credentials")]
    snap["ScheduledBackup"][0]["spec"]["schedule"] = "0 2 * * *"
    return snap


def flux_not_ready() -> dict[str, Any]:
    """A rollout that never becomes ready: n8n runs but fails its readiness probe, so the
    apps layer's health check times out; cert-manager's upgrade failed too."""
    snap = healthy()
    snap["Kustomization"][2]["status"]["conditions"] = [cond(
        "Ready", "False", "HealthCheckFailed",
        "health check failed after 4m59.9s: timeout waiting for: "
        f"[Deployment/{NS}/n8n status: 'InProgress']")]
    snap["HelmRelease"][1]["status"]["conditions"] = [cond(
        "Ready", "False", "UpgradeFailed",
        "Helm upgrade failed for release cert-manager/cert-manager with chart "
        "cert-manager@v1.17.2: context deadline exceeded")]
    snap["Pod"][0] = pod(N8N_POD, {"app.kubernetes.io/name": "n8n"},
                         [container_status("n8n", N8N_IMAGE, ready=False)])
    snap["Event"].append(event(f"{N8N_POD}.18a40", "Pod", N8N_POD, "Unhealthy",
                               'Readiness probe failed: Get "http://10.244.1.23:5678/healthz": '
                               "dial tcp 10.244.1.23:5678: connect: connection refused",
                               kind="Warning", count=31))
    snap["Deployment"][0] = deployment("n8n", 0)
    snap["Endpoints"][0] = endpoints("n8n", ["10.244.1.23"], ready=False)
    return snap


def crashloop() -> dict[str, Any]:
    """n8n crash-loops (cannot reach its database), and a replica was OOM-killed once."""
    snap = healthy()
    snap["Pod"][0] = pod(N8N_POD, {"app.kubernetes.io/name": "n8n"}, [container_status(
        "n8n", N8N_IMAGE, ready=False, restarts=12,
        state={"waiting": {"reason": "CrashLoopBackOff",
                           "message": f"back-off 5m0s restarting failed container=n8n "
                                      f"pod={N8N_POD}_{NS}(5b1f)"}},
        last={"terminated": {"reason": "Error", "exitCode": 1,
                             "finishedAt": "2026-05-10T11:57:40Z"}})])
    snap["Pod"][3] = pod("n8n-db-2", {"cnpg.io/cluster": "n8n-db",
                                      "cnpg.io/instanceRole": "replica"}, [container_status(
        "postgres", PG_IMAGE, restarts=3,
        last={"terminated": {"reason": "OOMKilled", "exitCode": 137,
                             "finishedAt": "2026-05-10T09:12:03Z"}})])
    snap["Event"].append(event(f"{N8N_POD}.18a41", "Pod", N8N_POD, "BackOff",
                               "Back-off restarting failed container n8n in pod "
                               f"{N8N_POD}_{NS}(5b1f)", kind="Warning", count=57))
    snap["Deployment"][0] = deployment("n8n", 0)
    snap["Endpoints"][0] = endpoints("n8n", [])
    return snap


SCENARIOS = {"healthy": healthy, "csi-identity": csi_identity, "ingress-class": ingress_class,
             "backup-failed": backup_failed, "flux-not-ready": flux_not_ready,
             "crashloop": crashloop}

if __name__ == "__main__":
    for name, build in SCENARIOS.items():
        (HERE / f"{name}.json").write_text(json.dumps(copy.deepcopy(build()), indent=1) + "\n")
        print(f"wrote {name}.json")
