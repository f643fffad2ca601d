"""The manifests Flux applies: real kustomize builds, validated against real schemas.

Core kinds are checked with kubernetes-validate's bundled Kubernetes 1.35 schemas (strict:
unknown fields fail), CRDs with the CRD catalog's JSON schemas (additionalProperties false).
`${VAR}` placeholders are first replaced by sample values, as Flux postBuild would.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from mercury.exec import Command, resolve_tool
from mercury.platform import load_platform
from mercury.render import render_repo

REPO = Path(__file__).resolve().parent.parent
K8S_VERSION = "1.35"
FLUX_PATHS = ["infrastructure/controllers/staging", "infrastructure/configs/staging",
              "apps/staging"]
CONTRACT_VARS = {"AZURE_TENANT_ID", "KEY_VAULT_NAME",
                 "BACKUP_STORAGE_ACCOUNT", "ACME_EMAIL", "ENVIRONMENT"}
SAMPLE_GUID = "11111111-2222-3333-4444-555555555555"
VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def kustomize(path: Path) -> str:
    return Command([resolve_tool("kubectl"), "kustomize", str(path)]).run().stdout


def substitute(text: str) -> str:
    """What Flux postBuild would do, with sample values."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "ACME_EMAIL":
            return "platform@example.com"
        if name.endswith("_ID") or "_CLIENT_ID_" in name:
            return SAMPLE_GUID
        return "sample" + name.lower().replace("_", "")[:10]
    return VAR.sub(value, text)


def build(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(substitute(kustomize(path))) if doc]


def schema_errors(obj: dict[str, Any], crd_schemas: Path) -> list[str]:
    group, _, version = obj["apiVersion"].rpartition("/")
    # Built-in groups ("", apps, networking.k8s.io...); secrets-store.csi.x-k8s.io is a CRD.
    if "." not in group or group.endswith(".k8s.io"):
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            return [str(exc)]
        return []
    schema_file = crd_schemas / group / f"{obj['kind'].lower()}_{version}.json"
    assert schema_file.is_file(), f"no CRD schema for {obj['apiVersion']} {obj['kind']}"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator(schema).iter_errors(obj)]


def by_kind(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind
             and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def built() -> dict[str, list[dict[str, Any]]]:
    return {path: build(REPO / path) for path in FLUX_PATHS}


@pytest.mark.parametrize("path", FLUX_PATHS)
def test_every_object_validates_against_its_schema(
        built: dict[str, list[dict[str, Any]]], path: str, crd_schemas: Path) -> None:
    objects = built[path]
    assert objects, f"{path} built to nothing"
    problems = {f"{o['kind']}/{o['metadata']['name']}": errs for o in objects
                if (errs := schema_errors(o, crd_schemas))}
    assert problems == {}


def test_the_validation_rejects_an_invented_field(
        built: dict[str, list[dict[str, Any]]], crd_schemas: Path) -> None:
    """Control: the schemas above are strict, so a typo in a manifest would fail."""
    cluster = json.loads(json.dumps(by_kind(built["apps/staging"], "Cluster")))
    cluster["spec"]["backup"] = {"retentionPolicy": "30d", "barmanObjectStore": {}}
    cluster["spec"]["instancez"] = 3
    assert any("instancez" in e for e in schema_errors(cluster, crd_schemas))
    deployment = json.loads(json.dumps(by_kind(built["apps/staging"], "Deployment", "n8n")))
    deployment["spec"]["template"]["spec"]["containers"][0]["envv"] = []
    assert schema_errors(deployment, crd_schemas)


def test_only_contract_variables_are_substituted() -> None:
    names = {m for path in FLUX_PATHS for m in VAR.findall(kustomize(REPO / path))}
    tenants = {f"{prefix}_{t.upper().replace('-', '_')}"
               for t in load_platform(REPO).tenants
               for prefix in ("BACKUP_CLIENT_ID", "SECRETS_CLIENT_ID")}
    assert names <= CONTRACT_VARS | tenants
    assert "BACKUP_CLIENT_ID_CUSTOMER1" in names


def test_controllers(built: dict[str, list[dict[str, Any]]]) -> None:
    objects = built["infrastructure/controllers/staging"]
    namespaces = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    assert namespaces == {"traefik", "cert-manager", "cnpg-system", "reloader"}
    repos = {o["metadata"]["name"]: o for o in objects if o["kind"] == "HelmRepository"}
    releases = {o["metadata"]["name"]: o for o in objects if o["kind"] == "HelmRelease"}
    assert set(repos) == {"traefik", "jetstack", "cnpg", "stakater"}
    assert set(releases) == {"traefik", "cert-manager", "cnpg", "barman-cloud", "reloader"}
    for release in releases.values():
        chart = release["spec"]["chart"]["spec"]
        source = repos[chart["sourceRef"]["name"]]
        # Same namespace, pinned version, sourceRef fully qualified.
        assert chart["sourceRef"]["namespace"] == release["metadata"]["namespace"]
        assert source["metadata"]["namespace"] == release["metadata"]["namespace"]
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", chart["version"])
    traefik = releases["traefik"]["spec"]["values"]["ingressClass"]
    assert traefik == {"enabled": True, "isDefaultClass": True, "name": "traefik"}
    assert releases["cert-manager"]["spec"]["values"]["crds"]["enabled"] is True
    barman = releases["barman-cloud"]["spec"]
    assert barman["chart"]["spec"]["chart"] == "plugin-barman-cloud"
    assert barman["dependsOn"] == [{"name": "cnpg", "namespace": "cnpg-system"},
                                   {"name": "cert-manager", "namespace": "cert-manager"}]
    assert barman["chart"]["spec"]["sourceRef"]["name"] == "cnpg"


def test_cluster_issuers(built: dict[str, list[dict[str, Any]]]) -> None:
    issuers = {o["metadata"]["name"]: o["spec"]["acme"]
               for o in built["infrastructure/configs/staging"] if o["kind"] == "ClusterIssuer"}
    assert set(issuers) == {"letsencrypt-staging", "letsencrypt-prod"}
    assert "acme-staging-v02" in issuers["letsencrypt-staging"]["server"]
    assert issuers["letsencrypt-prod"]["server"] == \
        "https://acme-v02.api.letsencrypt.org/directory"
    for acme in issuers.values():
        assert acme["email"] == "platform@example.com"  # was ${ACME_EMAIL}
        assert acme["solvers"] == [{"http01": {"ingress": {"ingressClassName": "traefik"}}}]


def test_tenant_objects_follow_the_contract(built: dict[str, list[dict[str, Any]]]) -> None:
    objects = built["apps/staging"]
    namespace = by_kind(objects, "Namespace")
    # kustomize's namespace transformer renames the Namespace object itself.
    assert namespace["metadata"]["name"] == "customer1"
    labels = namespace["metadata"]["labels"]
    assert labels["mercury.io/tenant"] == "customer1"
    assert {labels[f"pod-security.kubernetes.io/{m}"] for m in ("enforce", "audit", "warn")} \
        == {"restricted"}
    assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} \
        == {"customer1"}
    policies = {o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"}
    assert policies == {"default-deny", "allow-dns", "n8n", "n8n-db", "acme-http01-solver"}

    n8n = by_kind(objects, "Deployment", "n8n")["spec"]
    assert n8n["replicas"] == 1 and n8n["strategy"] == {"type": "Recreate"}
    pod = n8n["template"]["spec"]
    assert pod["enableServiceLinks"] is False and pod["automountServiceAccountToken"] is False
    container = pod["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["DB_POSTGRESDB_HOST"] == "n8n-db-rw"
    assert env["N8N_HOST"] == "customer1.mercury.kubetest.uk"
    assert env["WEBHOOK_URL"] == "https://customer1.mercury.kubetest.uk/"
    # Secrets as files of the Key Vault volume (n8n `_FILE` variables), never in the env.
    mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["secrets-store"]
    assert env["N8N_ENCRYPTION_KEY_FILE"] == f"{mount}/n8n-encryption-key"
    assert env["DB_POSTGRESDB_PASSWORD_FILE"] == f"{mount}/db-password"
    assert env["DB_POSTGRESDB_USER_FILE"] == f"{mount}/db-user"
    assert not {"N8N_ENCRYPTION_KEY", "DB_POSTGRESDB_PASSWORD"} & set(env)
    assert not any("valueFrom" in e for e in container["env"])
    assert container["ports"] == [{"name": "http", "containerPort": 5678, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz/readiness"

    ingress = by_kind(objects, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == \
        "letsencrypt-staging"
    assert ingress["spec"]["tls"] == [{"hosts": ["customer1.mercury.kubetest.uk"],
                                       "secretName": "n8n-tls"}]
    assert ingress["spec"]["rules"][0]["host"] == "customer1.mercury.kubetest.uk"


def test_database_and_backups(built: dict[str, list[dict[str, Any]]]) -> None:
    objects = built["apps/staging"]
    cluster = by_kind(objects, "Cluster", "n8n-db")["spec"]
    assert cluster["instances"] == 3 and cluster["storage"]["size"] == "10Gi"
    assert cluster["affinity"]["podAntiAffinityType"] == "preferred"
    assert cluster["bootstrap"]["initdb"] == {"database": "n8n", "owner": "n8n",
                                              "secret": {"name": "n8n-db-credentials"}}
    assert cluster["plugins"] == [{"name": "barman-cloud.cloudnative-pg.io",
                                   "isWALArchiver": True,
                                   "parameters": {"barmanObjectName": "n8n-backups",
                                                  "serverName": "n8n-db"}}]
    assert "backup" not in cluster  # the deprecated in-tree barmanObjectStore
    annotations = cluster["serviceAccountTemplate"]["metadata"]["annotations"]
    assert annotations["azure.workload.identity/client-id"] == SAMPLE_GUID
    assert cluster["inheritedMetadata"]["labels"]["azure.workload.identity/use"] == "true"

    store = by_kind(objects, "ObjectStore", "n8n-backups")["spec"]
    assert store["retentionPolicy"] == "30d"
    config = store["configuration"]
    assert re.fullmatch(r"https://\w+\.blob\.core\.windows\.net/customer1",
                        config["destinationPath"])
    assert config["azureCredentials"] == {"inheritFromAzureAD": True}
    assert config["wal"]["compression"] == config["data"]["compression"] == "gzip"

    scheduled = by_kind(objects, "ScheduledBackup")["spec"]
    assert len(scheduled["schedule"].split()) == 6
    assert scheduled["method"] == "plugin"
    assert scheduled["pluginConfiguration"] == {"name": "barman-cloud.cloudnative-pg.io"}
    assert scheduled["cluster"] == {"name": "n8n-db"}


def test_key_vault_objects_and_synced_secrets(built: dict[str, list[dict[str, Any]]]) -> None:
    spc = by_kind(built["apps/staging"], "SecretProviderClass", "n8n-secrets")["spec"]
    params = spc["parameters"]
    assert all(isinstance(v, str) for v in params.values())
    # Workload identity of the tenant's own Key Vault identity, never the node's add-on
    # identity (reachable from any pod through the instance metadata endpoint).
    assert params["usePodIdentity"] == "false" and params["useVMManagedIdentity"] == "false"
    assert "userAssignedIdentityID" not in params
    assert params["clientID"] == SAMPLE_GUID
    objects = [yaml.safe_load(item) for item in yaml.safe_load(params["objects"])["array"]]
    assert {o["objectName"] for o in objects} == {
        "customer1-db-user", "customer1-db-password", "customer1-n8n-encryption-key"}
    aliases = {o["objectAlias"] for o in objects}
    synced = {s["secretName"]: s for s in spc["secretObjects"]}
    assert synced["n8n-db-credentials"]["type"] == "kubernetes.io/basic-auth"
    assert {d["key"] for d in synced["n8n-db-credentials"]["data"]} == {"username", "password"}
    assert {d["objectName"] for s in synced.values() for d in s["data"]} <= aliases


def test_every_pod_meets_restricted_pod_security(
        built: dict[str, list[dict[str, Any]]]) -> None:
    deployments = [o for o in built["apps/staging"] if o["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {"n8n", "secrets-sync"}
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["capabilities"]["drop"] == ["ALL"]
        csi = [v for v in pod["volumes"] if "csi" in v]
        assert csi and csi[0]["csi"]["volumeAttributes"] == {"secretProviderClass": "n8n-secrets"}
        # Mounting pods run as the ServiceAccount the tenant's Key Vault identity trusts.
        assert pod["serviceAccountName"] == "n8n"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["azure.workload.identity/use"] == "true"


def test_tenant_egress_never_reaches_instance_metadata(
        built: dict[str, list[dict[str, Any]]]) -> None:
    policies = [o for o in built["apps/staging"] if o["kind"] == "NetworkPolicy"]
    blocks = [peer["ipBlock"] for p in policies for rule in p["spec"].get("egress", [])
              for peer in rule.get("to", []) if "ipBlock" in peer]
    assert blocks, "no internet egress at all: n8n and barman-cloud need it"
    for block in blocks:
        if block["cidr"] == "0.0.0.0/0":
            assert {"169.254.169.254/32", "168.63.129.16/32"} <= set(block.get("except", []))
    for policy in policies:
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to"), f"{policy['metadata']['name']}: egress to anywhere"


def test_sas_overlay_builds_and_validates(repo_copy: Path, crd_schemas: Path) -> None:
    platform_file = repo_copy / "platform.yaml"
    platform_file.write_text(platform_file.read_text().replace(
        "auth: workload-identity", "auth: sas"))
    render_repo(repo_copy, load_platform(repo_copy))
    objects = build(repo_copy / "apps/staging")
    assert {f"{o['kind']}/{o['metadata']['name']}": e for o in objects
            if (e := schema_errors(o, crd_schemas))} == {}
    creds = by_kind(objects, "ObjectStore")["spec"]["configuration"]["azureCredentials"]
    assert creds == {"storageAccount": {"name": "backup-credentials",
                                        "key": "AZURE_STORAGE_ACCOUNT"},
                     "storageSasToken": {"name": "backup-credentials",
                                         "key": "AZURE_STORAGE_SAS_TOKEN"}}
    cluster = by_kind(objects, "Cluster")["spec"]
    assert "serviceAccountTemplate" not in cluster and "inheritedMetadata" not in cluster
    spc = by_kind(objects, "SecretProviderClass")["spec"]
    synced = {s["secretName"]: s for s in spc["secretObjects"]}
    assert {d["key"] for d in synced["backup-credentials"]["data"]} == {
        "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_SAS_TOKEN"}
    assert "objectName: customer1-backup-sas" in spc["parameters"]["objects"]
