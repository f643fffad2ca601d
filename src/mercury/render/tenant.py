"""The kustomize overlay of one tenant, built from its platform.yaml entry.

Every per-tenant value of apps/base/n8n-tenant is set here, one patch per object, so a
reviewer can read a tenant's whole difference from the template in one file. Secrets
never appear: only `${VAR}` names that Flux substitutes and Key Vault object names.
"""

from __future__ import annotations

from typing import Any

from mercury.platform.model import Environment, Tenant
from mercury.render.yamltext import dump

BASE = "../../base/n8n-tenant"
SAS_COMPONENT = "../../base/components/backup-sas"
RESTORE_COMPONENT = "restore"
KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"


def backup_client_id_var(tenant: str) -> str:
    """Flux variable holding the tenant's backup identity client ID (docs/contracts.md)."""
    return "BACKUP_CLIENT_ID_" + tenant.upper().replace("-", "_")


def secrets_client_id_var(tenant: str) -> str:
    """Flux variable holding the tenant's Key Vault identity client ID (docs/contracts.md)."""
    return "SECRETS_CLIENT_ID_" + tenant.upper().replace("-", "_")


def key_vault_objects(name: str, tenant: Tenant) -> list[tuple[str, str]]:
    """(Key Vault secret name, file alias) pairs the tenant's SecretProviderClass mounts."""
    objects = [
        (f"{name}-db-user", "db-user"),
        (f"{name}-db-password", "db-password"),
        (f"{name}-n8n-encryption-key", "n8n-encryption-key"),
    ]
    if tenant.backup.auth == "sas":
        objects += [(f"{name}-backup-sas", "backup-sas"),
                    ("backup-storage-account", "backup-storage-account")]
    return objects


def _objects_parameter(objects: list[tuple[str, str]]) -> str:
    """The azure provider's `objects` parameter: a YAML string holding YAML strings."""
    lines = ["array:"]
    for object_name, alias in objects:
        lines += ["  - |", f"    objectName: {object_name}", "    objectType: secret",
                  f"    objectAlias: {alias}"]
    return "\n".join(lines) + "\n"


def _merge_patch(api_version: str, kind: str, name: str, spec: dict[str, Any],
                 metadata: dict[str, Any] | None = None) -> dict[str, str]:
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind,
                            "metadata": {"name": name, **(metadata or {})}, "spec": spec}
    return {"patch": dump(body).rstrip("\n")}


def _json_patch(kind: str, name: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {"target": {"kind": kind, "name": name}, "patch": dump(ops).rstrip("\n")}


def tenant_patches(name: str, tenant: Tenant, env: Environment) -> list[dict[str, Any]]:
    """One kustomize patch per object that carries a per-tenant value."""
    host, url = tenant.host, f"https://{tenant.host}/"
    ingress = _json_patch("Ingress", "n8n", [
        {"op": "replace", "path": "/metadata/annotations/cert-manager.io~1cluster-issuer",
         "value": env.cluster_issuer},
        {"op": "replace", "path": "/spec/tls/0/hosts", "value": [host]},
        {"op": "replace", "path": "/spec/rules/0/host", "value": host},
    ])
    env_vars = [{"name": "N8N_HOST", "value": host}, {"name": "WEBHOOK_URL", "value": url},
                {"name": "N8N_EDITOR_BASE_URL", "value": url}]
    deployment = _merge_patch("apps/v1", "Deployment", "n8n", {"template": {"spec": {
        "containers": [{"name": "n8n", "env": env_vars}]}}})
    cluster_spec: dict[str, Any] = {"instances": tenant.database.instances,
                                    "storage": {"size": tenant.database.storage_size}}
    if tenant.backup.auth == "workload-identity":
        client_id = "${" + backup_client_id_var(name) + "}"
        cluster_spec["serviceAccountTemplate"] = {"metadata": {"annotations": {
            "azure.workload.identity/client-id": client_id}}}
    cluster = _merge_patch("postgresql.cnpg.io/v1", "Cluster", "n8n-db", cluster_spec)
    store = _merge_patch("barmancloud.cnpg.io/v1", "ObjectStore", "n8n-backups", {
        "retentionPolicy": tenant.backup.retention,
        "configuration": {"destinationPath":
                          f"https://${{BACKUP_STORAGE_ACCOUNT}}.blob.core.windows.net/{name}"},
    })
    schedule = _merge_patch("postgresql.cnpg.io/v1", "ScheduledBackup", "n8n-db-scheduled",
                            {"schedule": tenant.backup.schedule})
    secrets = _merge_patch("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass",
                           "n8n-secrets", {"parameters": {
                               "clientID": "${" + secrets_client_id_var(name) + "}",
                               "objects": _objects_parameter(key_vault_objects(name, tenant))}})
    return [ingress, deployment, cluster, store, schedule, secrets]


def tenant_kustomization(name: str, tenant: Tenant, env_name: str,
                         env: Environment, *, restore: bool = False) -> dict[str, Any]:
    """apps/<env>/<tenant>/kustomization.yaml as a dict (keys in reading order).

    `restore`: the tenant has a reviewed `restore/` component (`mercury backup restore`),
    which the overlay must keep listing until the operator deletes that folder.
    """
    doc: dict[str, Any] = {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization",
                           "namespace": name, "resources": [BASE]}
    components = [SAS_COMPONENT] if tenant.backup.auth == "sas" else []
    if restore:
        components.append(RESTORE_COMPONENT)
    if components:
        doc["components"] = components
    doc["labels"] = [{"pairs": {"mercury.io/environment": env_name, "mercury.io/tenant": name}}]
    doc["patches"] = tenant_patches(name, tenant, env)
    return doc


def environment_kustomization(tenants: list[str]) -> dict[str, Any]:
    """apps/<env>/kustomization.yaml: every tenant of the environment, sorted."""
    return {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization", "resources": sorted(tenants)}


def infrastructure_kustomization() -> dict[str, Any]:
    """A thin infrastructure/<part>/<env> overlay for an environment that lacks one."""
    return {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization", "resources": ["../base"]}
