"""terraform/: static facts (python-hcl2) plus the platform.yaml locals, evaluated for real.

`terraform validate` needs providers that cannot be downloaded here. What can be checked
offline is checked: formatting, the parsed structure against docs/contracts.md, and
locals.tf (which reads only platform.yaml and variables) through `terraform console`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from mercury.platform.model import Backup, ClusterSpec

REPO = Path(__file__).resolve().parent.parent
TF_DIR = REPO / "terraform"
CONTRACTS = REPO / "docs" / "contracts.md"
TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform not installed")

TenantMap = dict[str, Any]


def _parse_all() -> dict[str, list[dict[str, Any]]]:
    """Every top-level block of every .tf file, grouped by block type."""
    merged: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as handle:
            for block_type, blocks in hcl2.load(handle).items():
                merged.setdefault(block_type, []).extend(blocks)
    return merged


@pytest.fixture(scope="module")
def tf() -> dict[str, list[dict[str, Any]]]:
    return _parse_all()


def blocks(tf: dict[str, list[dict[str, Any]]], kind: str, type_: str) -> dict[str, Any]:
    """name -> body of every `kind "type_" "name"` block (resource, data, ephemeral)."""
    found: dict[str, Any] = {}
    for block in tf.get(kind, []):
        for name, body in block.get(type_, {}).items():
            assert name not in found, f"duplicate {kind} {type_}.{name}"
            found[name] = body
    return found


def one(tf: dict[str, list[dict[str, Any]]], type_: str, name: str) -> dict[str, Any]:
    resources = blocks(tf, "resource", type_)
    assert name in resources, f"missing resource {type_}.{name}"
    return resources[name]


def locals_of(tf: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in tf.get("locals", []):
        merged.update(block)
    return merged


def unwrap(value: str) -> str:
    """'${expr}' -> 'expr' (python-hcl2 keeps the interpolation wrapper)."""
    match = re.fullmatch(r"\$\{(.*)\}", value, flags=re.S)
    assert match, f"not a single interpolation: {value!r}"
    return match.group(1)


# --- formatting ----------------------------------------------------------------------


@needs_terraform
def test_terraform_fmt_is_clean() -> None:
    result = subprocess.run(
        [TERRAFORM, "fmt", "-check", "-recursive", "-diff", str(TF_DIR)],
        capture_output=True, text=True, env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_versions_pin_terraform_and_azurerm(tf: dict[str, list[dict[str, Any]]]) -> None:
    (terraform,) = tf["terraform"]
    assert terraform["required_version"] == ">= 1.11"
    providers: dict[str, Any] = {}
    for entry in terraform["required_providers"]:
        providers.update(entry)
    assert providers["azurerm"]["version"] == "~> 4.81"
    # Only these two: the offline checks (provider schemas, checkov) know no others.
    assert set(providers) == {"azurerm", "random"}


def test_provider_registers_kubernetes_configuration(tf: dict[str, list[dict[str, Any]]]) -> None:
    (azurerm,) = [p["azurerm"] for p in tf["provider"] if "azurerm" in p]
    # Not in azurerm's default set: the Flux extension fails on a fresh subscription.
    assert "Microsoft.KubernetesConfiguration" in azurerm["resource_providers_to_register"]


def test_secrets_wait_for_role_propagation(tf: dict[str, list[dict[str, Any]]]) -> None:
    """Every Key Vault secret is written after the deployer's role AND the AKS cluster
    (the data-plane-independent wait for RBAC propagation: no time provider allowed)."""
    secrets = blocks(tf, "resource", "azurerm_key_vault_secret")
    assert secrets
    for name, body in secrets.items():
        assert set(body["depends_on"]) >= {
            "${azurerm_role_assignment.kv_deployer_secrets_officer}",
            "${azurerm_kubernetes_cluster.main}",
        }, name
    officer = one(tf, "azurerm_role_assignment", "kv_deployer_secrets_officer")
    assert officer["scope"] == "${azurerm_key_vault.main.id}"  # needs only the vault


# --- Flux ------------------------------------------------------------------------------


def test_flux_extension_and_configuration(tf: dict[str, list[dict[str, Any]]]) -> None:
    extension = one(tf, "azurerm_kubernetes_cluster_extension", "flux")
    assert extension["extension_type"] == "microsoft.flux"
    # The HelmReleases live in their controllers' namespaces without serviceAccountName:
    # with the extension's default lockdown none of them would be applied.
    assert extension["configuration_settings"] == {"multiTenancy.enforce": "false"}
    (config,) = blocks(tf, "resource", "azurerm_kubernetes_flux_configuration").values()
    assert config["scope"] == "cluster"
    assert config["namespace"] == "flux-system"
    assert config["depends_on"] == ["${azurerm_kubernetes_cluster_extension.flux}"]
    (git,) = config["git_repository"]
    assert git["url"] == "${var.git_repository_url}"


def test_flux_kustomizations_follow_the_contract(tf: dict[str, list[dict[str, Any]]]) -> None:
    (config,) = blocks(tf, "resource", "azurerm_kubernetes_flux_configuration").values()
    kustomizations = {k["name"]: k for k in config["kustomizations"]}
    assert list(kustomizations) == ["infra-controllers", "infra-configs", "apps"]
    assert kustomizations["infra-controllers"]["path"] == (
        "./infrastructure/controllers/${var.environment}"
    )
    assert kustomizations["infra-configs"]["path"] == "./infrastructure/configs/${var.environment}"
    assert kustomizations["apps"]["path"] == "./apps/${var.environment}"
    assert "depends_on" not in kustomizations["infra-controllers"]
    assert kustomizations["infra-configs"]["depends_on"] == ["infra-controllers"]
    assert kustomizations["apps"]["depends_on"] == ["infra-configs"]
    for name, kustomization in kustomizations.items():
        assert kustomization["sync_interval_in_seconds"] == 300, name
        assert kustomization["garbage_collection_enabled"] is True, name
        (post_build,) = kustomization["post_build"]
        assert post_build["substitute"] == "${local.flux_substitutions}", name


def _contract_substitutions() -> dict[str, str]:
    """variable -> Terraform expression, from the table in docs/contracts.md."""
    rows = re.findall(r"^\| `([A-Z_<>]+)` \| `([^`]+)`", CONTRACTS.read_text(), flags=re.M)
    assert rows, "substitution table not found in docs/contracts.md"
    return dict(rows)


def test_substitutions_equal_the_contract_table(tf: dict[str, list[dict[str, Any]]]) -> None:
    contract = _contract_substitutions()
    per_tenant = contract.pop("BACKUP_CLIENT_ID_<T>")
    secrets_per_tenant = contract.pop("SECRETS_CLIENT_ID_<T>").split(",")[0]
    local = locals_of(tf)
    fixed = {key: unwrap(value) for key, value in local["flux_platform_substitutions"].items()}
    assert fixed == contract
    assert unwrap(local["flux_substitutions"]) == (
        "merge(local.flux_platform_substitutions, local.flux_backup_client_ids, "
        "local.flux_secrets_client_ids)"
    )
    secrets_expr = unwrap(local["flux_secrets_client_ids"])
    assert secrets_per_tenant.strip("`").replace('["<tenant>"]', "[tenant]") in secrets_expr
    assert 'upper(replace(tenant, "-", "_"))' in secrets_expr
    # One BACKUP_CLIENT_ID_<T> per workload-identity tenant: a for-expression over the
    # tenants of the environment, reading the identity the contract names.
    per_tenant_expr = unwrap(local["flux_backup_client_ids"])
    assert re.match(r"\{for tenant\s*,\s*settings in local\.tenants :", per_tenant_expr)
    assert per_tenant_expr.endswith('if settings.backup_auth == "workload-identity"}')
    assert per_tenant.replace('["<tenant>"]', "[tenant]") in per_tenant_expr
    assert 'upper(replace(tenant, "-", "_"))' in per_tenant_expr


def test_tenant_id_is_the_entra_tenant_not_the_subscription(
    tf: dict[str, list[dict[str, Any]]],
) -> None:
    expected = "${data.azurerm_client_config.current.tenant_id}"
    assert locals_of(tf)["flux_platform_substitutions"]["AZURE_TENANT_ID"] == expected
    assert one(tf, "azurerm_key_vault", "main")["tenant_id"] == expected
    outputs = {name: body for block in tf["output"] for name, body in block.items()}
    assert outputs["tenant_id"]["value"] == expected
    assert "subscription_id" not in json.dumps(tf)


def test_operator_outputs(tf: dict[str, list[dict[str, Any]]]) -> None:
    outputs = {name: body for block in tf["output"] for name, body in block.items()}
    assert {
        "cluster_name", "resource_group", "kube_config_command", "key_vault_name",
        "key_vault_uri", "secrets_client_ids", "tenant_id", "storage_account_name",
        "backup_client_ids", "backup_destination_paths", "flux_substitutions",
    } <= set(outputs)
    assert outputs["flux_substitutions"]["value"] == "${local.flux_substitutions}"
    assert "az aks get-credentials" in outputs["kube_config_command"]["value"]
    paths = outputs["backup_destination_paths"]["value"]
    assert "https://${azurerm_storage_account.backups.name}.blob.core.windows.net/" in paths


# --- AKS -------------------------------------------------------------------------------


def test_aks_cluster_settings(tf: dict[str, list[dict[str, Any]]]) -> None:
    aks = one(tf, "azurerm_kubernetes_cluster", "main")
    assert aks["kubernetes_version"] == "${local.cluster.kubernetes_version}"
    (pool,) = aks["default_node_pool"]
    assert pool["node_count"] == "${local.cluster.node_count}"
    assert pool["vm_size"] == "${local.cluster.node_size}"
    (network,) = aks["network_profile"]
    assert network["network_plugin"] == "azure"
    assert network["network_plugin_mode"] == "overlay"
    assert network["network_data_plane"] == "cilium"
    assert network["network_policy"] == "cilium"
    assert aks["oidc_issuer_enabled"] is True
    assert aks["workload_identity_enabled"] is True
    (provider,) = aks["key_vault_secrets_provider"]
    assert provider["secret_rotation_enabled"] is True
    assert aks["automatic_upgrade_channel"] == "patch"
    assert aks["node_os_upgrade_channel"] == "NodeImage"


def test_kubernetes_version_variable_falls_back_to_platform_yaml(
    tf: dict[str, list[dict[str, Any]]],
) -> None:
    variables = {name: body for block in tf["variable"] for name, body in block.items()}
    assert variables["kubernetes_version"]["default"] is None
    assert variables["environment"]["default"] == "staging"
    expr = unwrap(locals_of(tf)["cluster"]["kubernetes_version"])
    assert expr == (
        'coalesce(var.kubernetes_version, try(local.env.cluster.kubernetes_version, "1.35"))'
    )


# --- Key Vault -------------------------------------------------------------------------


def test_key_vault_uses_rbac_and_role_assignments(tf: dict[str, list[dict[str, Any]]]) -> None:
    vault = one(tf, "azurerm_key_vault", "main")
    assert vault["rbac_authorization_enabled"] is True
    assert "enable_rbac_authorization" not in vault
    assert vault["purge_protection_enabled"] is True
    assert vault["name"] == "${local.env.key_vault_name}"
    vault_wide = {
        body["role_definition_name"]: body
        for body in blocks(tf, "resource", "azurerm_role_assignment").values()
        if body["scope"] == "${azurerm_key_vault.main.id}"
    }
    # Only the deployer holds a vault-wide role: no reader of every tenant's secrets.
    assert list(vault_wide) == ["Key Vault Secrets Officer"]
    assert vault_wide["Key Vault Secrets Officer"]["principal_id"] == (
        "${data.azurerm_client_config.current.object_id}"
    )
    assert "key_vault_secrets_provider" not in json.dumps(blocks(tf, "resource",
                                                                 "azurerm_role_assignment"))


def test_per_tenant_key_vault_identity(tf: dict[str, list[dict[str, Any]]]) -> None:
    identity = one(tf, "azurerm_user_assigned_identity", "secrets")
    assert identity["for_each"] == "${local.tenants}"
    credential = one(tf, "azurerm_federated_identity_credential", "secrets")
    assert credential["subject"] == "system:serviceaccount:${each.key}:n8n"
    assert credential["user_assigned_identity_id"] == (
        "${azurerm_user_assigned_identity.secrets[each.key].id}")
    readers = {name: body for name, body in
               blocks(tf, "resource", "azurerm_role_assignment").items()
               if body["role_definition_name"] == "Key Vault Secrets User"}
    per_secret = {name: unwrap(body["scope"]) for name, body in readers.items()}
    assert per_secret == {
        "secrets_db_user": "azurerm_key_vault_secret.db_user[each.key].resource_versionless_id",
        "secrets_db_password":
            "azurerm_key_vault_secret.db_password[each.key].resource_versionless_id",
        "secrets_n8n_encryption_key":
            "azurerm_key_vault_secret.n8n_encryption_key[each.key].resource_versionless_id",
        "secrets_backup_sas":
            "azurerm_key_vault_secret.backup_sas[each.key].resource_versionless_id",
        "secrets_backup_storage_account":
            "azurerm_key_vault_secret.backup_storage_account[0].resource_versionless_id",
    }
    for name, body in readers.items():
        assert body["principal_id"] == (
            "${azurerm_user_assigned_identity.secrets[each.key].principal_id}"), name


def test_tenant_secrets_are_generated_and_write_only(tf: dict[str, list[dict[str, Any]]]) -> None:
    secrets = blocks(tf, "resource", "azurerm_key_vault_secret")
    names = {key: body["name"] for key, body in secrets.items()}
    assert names["db_user"] == "${each.key}-db-user"
    assert names["db_password"] == "${each.key}-db-password"
    assert names["n8n_encryption_key"] == "${each.key}-n8n-encryption-key"
    assert names["backup_sas"] == "${each.key}-backup-sas"
    generated = blocks(tf, "ephemeral", "random_password")
    for key in ("db_password", "n8n_encryption_key"):
        body = secrets[key]
        assert body["for_each"] == "${local.tenants}"
        assert "value" not in body, f"{key} would land in the state"
        assert body["value_wo"] == f"${{ephemeral.random_password.{key}[each.key].result}}"
        assert "value_wo_version" in body
        assert generated[key]["for_each"] == "${local.tenants}"
        assert generated[key]["length"] >= 32
    assert secrets["db_user"]["for_each"] == "${local.tenants}"
    assert secrets["backup_sas"]["for_each"] == "${local.sas_tenants}"
    # Nothing generates secrets in a way that stores them: no non-ephemeral passwords.
    assert not blocks(tf, "resource", "random_password")


# --- backups ---------------------------------------------------------------------------


def test_backup_storage_account_is_private(tf: dict[str, list[dict[str, Any]]]) -> None:
    account = one(tf, "azurerm_storage_account", "backups")
    assert account["name"] == "${local.env.storage_account_name}"
    assert account["min_tls_version"] == "TLS1_2"
    assert account["https_traffic_only_enabled"] is True
    assert account["allow_nested_items_to_be_public"] is False
    (blob,) = account["blob_properties"]
    assert blob["versioning_enabled"] is True
    (deleted,) = blob["delete_retention_policy"]
    (containers,) = blob["container_delete_retention_policy"]
    assert deleted["days"] >= 30 and containers["days"] >= 30


def test_per_tenant_backup_resources(tf: dict[str, list[dict[str, Any]]]) -> None:
    container = one(tf, "azurerm_storage_container", "backup")
    assert container["for_each"] == "${local.tenants}"
    assert container["name"] == "${each.key}"
    assert container["storage_account_id"] == "${azurerm_storage_account.backups.id}"
    assert "storage_account_name" not in container
    assert container["container_access_type"] == "private"

    identity = one(tf, "azurerm_user_assigned_identity", "backup")
    assert identity["for_each"] == "${local.tenants}"

    credential = one(tf, "azurerm_federated_identity_credential", "backup")
    assert credential["for_each"] == "${local.tenants}"
    assert credential["issuer"] == "${azurerm_kubernetes_cluster.main.oidc_issuer_url}"
    assert credential["subject"] == "system:serviceaccount:${each.key}:n8n-db"
    assert credential["audience"] == ["api://AzureADTokenExchange"]
    assert credential["user_assigned_identity_id"] == (
        "${azurerm_user_assigned_identity.backup[each.key].id}"
    )
    assert "parent_id" not in credential  # deprecated in azurerm 4.65, removed in 5.0

    role = one(tf, "azurerm_role_assignment", "backup_blob_contributor")
    assert role["for_each"] == "${local.tenants}"
    assert role["role_definition_name"] == "Storage Blob Data Contributor"
    assert role["scope"] == "${azurerm_storage_container.backup[each.key].id}"
    assert role["principal_id"] == (
        "${azurerm_user_assigned_identity.backup[each.key].principal_id}"
    )

    sas = blocks(tf, "data", "azurerm_storage_account_blob_container_sas")["backup"]
    assert sas["for_each"] == "${local.sas_tenants}"
    assert sas["https_only"] is True


# --- locals.tf evaluated by Terraform itself -------------------------------------------

MINIMAL_ENV = """\
    location: westeurope
    domain: example.org
    acme_email: ops@example.org
    resource_group: rg-x
    key_vault_name: kv-x
    storage_account_name: sax
    cluster:
      name: aks-x
"""


def _console(workdir: Path, expression: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TF_CLI_CONFIG_FILE": "/dev/null",
        "TF_VAR_git_repository_url": "https://example.org/mercury.git",
    }
    assert TERRAFORM is not None
    return subprocess.run(
        [TERRAFORM, "console", *args], input=f"jsonencode({expression})\n",
        cwd=workdir, capture_output=True, text=True, env=env, timeout=60,
    )


def _evaluate(root: Path, expression: str, *args: str) -> Any:
    result = _console(root / "terraform", expression, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(json.loads(result.stdout))


@pytest.fixture
def locals_only(tmp_path: Path) -> Path:
    """locals.tf + variables.tf (no providers, so no download) under a temp repo root."""
    (tmp_path / "terraform").mkdir()
    for name in ("locals.tf", "variables.tf"):
        shutil.copy2(TF_DIR / name, tmp_path / "terraform" / name)
    shutil.copy2(REPO / "platform.yaml", tmp_path / "platform.yaml")
    return tmp_path


@needs_terraform
def test_locals_read_the_real_platform_yaml(locals_only: Path) -> None:
    tenants = _evaluate(locals_only, "local.tenants")
    assert tenants == {
        "customer1": {
            "host": "customer1.mercury.kubetest.uk",
            "backup_auth": "workload-identity",
            "retention": "30d",
        }
    }
    assert _evaluate(locals_only, "local.cluster") == {
        "name": "aks-mercury-staging",
        "kubernetes_version": "1.35",
        "node_count": 2,
        "node_size": "Standard_D2s_v3",
    }


@needs_terraform
def test_locals_filter_tenants_and_repeat_model_defaults(locals_only: Path) -> None:
    (locals_only / "platform.yaml").write_text(
        "environments:\n  staging:\n" + MINIMAL_ENV + "  prod:\n" + MINIMAL_ENV
        + "tenants:\n"
        "  acme-corp:\n    environment: staging\n    host: a.example.org\n"
        "    backup:\n      auth: sas\n      retention: 7d\n"
        "  beta:\n    environment: staging\n    host: b.example.org\n"
        "    database: {instances: 1}\n"
        "  gamma:\n    environment: prod\n    host: c.example.org\n"
    )
    tenants = _evaluate(locals_only, "local.tenants")
    assert sorted(tenants) == ["acme-corp", "beta"]
    assert tenants["acme-corp"]["retention"] == "7d"
    # Unset fields take the same defaults as mercury's model.
    assert tenants["beta"]["backup_auth"] == Backup().auth
    assert tenants["beta"]["retention"] == Backup().retention
    assert sorted(_evaluate(locals_only, "local.sas_tenants")) == ["acme-corp"]
    cluster = _evaluate(locals_only, "local.cluster")
    defaults = ClusterSpec(name="x")
    assert cluster["kubernetes_version"] == defaults.kubernetes_version
    assert cluster["node_count"] == defaults.node_count
    assert cluster["node_size"] == defaults.node_size
    assert sorted(_evaluate(locals_only, "local.tenants", "-var", "environment=prod")) == [
        "gamma"
    ]
    pinned = _evaluate(locals_only, "local.cluster", "-var", "kubernetes_version=1.34")
    assert pinned["kubernetes_version"] == "1.34"


@needs_terraform
@pytest.mark.parametrize("tenants_yaml", ["tenants:\n", ""], ids=["null", "absent"])
def test_locals_accept_no_tenants(locals_only: Path, tenants_yaml: str) -> None:
    (locals_only / "platform.yaml").write_text(
        "environments:\n  staging:\n" + MINIMAL_ENV + tenants_yaml
    )
    assert _evaluate(locals_only, "local.tenants") == {}


@needs_terraform
def test_unknown_environment_is_rejected(locals_only: Path) -> None:
    result = _console(locals_only / "terraform", "local.env", "-var", "environment=nope")
    assert result.returncode != 0
    assert "must be one of the keys of `environments`" in result.stderr


@needs_terraform
def test_backup_client_id_names_evaluate_per_tenant(
    locals_only: Path, tf: dict[str, list[dict[str, Any]]],
) -> None:
    """The key expression of flux_backup_client_ids, run by Terraform on a tenant with '-'."""
    (locals_only / "platform.yaml").write_text(
        "environments:\n  staging:\n" + MINIMAL_ENV + "tenants:\n"
        "  acme-corp:\n    environment: staging\n    host: a.example.org\n"
        "  beta:\n    environment: staging\n    host: b.example.org\n"
        "  gamma:\n    environment: staging\n    host: c.example.org\n"
        "    backup: {auth: sas}\n"
    )
    expr = unwrap(locals_of(tf)["flux_backup_client_ids"])
    match = re.fullmatch(r"\{for (tenant\s*,\s*settings) in (local\.tenants) : (.+?) => .+ "
                         r"(if .+)\}", expr)
    assert match, expr
    for_part, source, key, condition = match.groups()
    names = _evaluate(locals_only, f"[for {for_part} in {source} : {key} {condition}]")
    assert names == ["BACKUP_CLIENT_ID_ACME_CORP", "BACKUP_CLIENT_ID_BETA"]  # not the sas one
