"""Hardening profiles: platform.yaml's `profile` and `hardening:` change what Terraform applies.

Two halves: terraform/profiles.tf evaluated by Terraform itself (`terraform console`; it
reads only platform.yaml and variables, so no provider is needed) must equal the model's
`Environment.hardening_settings()`, and the resources must read `local.hardening`
(python-hcl2). `terraform validate` needs the providers, which cannot be downloaded here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
from pydantic import ValidationError

from mercury.platform.hardening import ZONAL_REGIONS
from mercury.platform.model import Environment, Platform

REPO = Path(__file__).resolve().parent.parent
TF_DIR = REPO / "terraform"
TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform not installed")

ENV = {
    "location": "westeurope", "domain": "example.org", "acme_email": "ops@example.org",
    "resource_group": "rg-x", "key_vault_name": "kv-x", "storage_account_name": "sax",
    "cluster": {"name": "aks-x"},
}


@pytest.fixture
def module(tmp_path: Path) -> Path:
    """The pure-locals files of terraform/ under a temporary repository root."""
    (tmp_path / "terraform").mkdir()
    for name in ("locals.tf", "variables.tf", "profiles.tf"):
        shutil.copy2(TF_DIR / name, tmp_path / "terraform" / name)
    return tmp_path


def _terraform(module: Path, env: dict[str, Any], expression: str, *args: str) -> Any:
    (module / "platform.yaml").write_text(json.dumps({"environments": {"staging": env}}))
    assert TERRAFORM is not None
    result = subprocess.run(
        [TERRAFORM, "console", *args], input=f"jsonencode({expression})\n",
        cwd=module / "terraform", capture_output=True, text=True, timeout=60,
        env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null",
             "TF_VAR_git_repository_url": "https://example.org/mercury.git"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(json.loads(result.stdout))


CASES: dict[str, dict[str, Any]] = {
    "default-is-production": {},
    "staging": {"profile": "staging"},
    "production": {"profile": "production"},
    "null-hardening": {"profile": "staging", "hardening": None},
    "zoneless-region": {"profile": "production", "location": "West Central US"},
    "overrides": {
        "profile": "staging",
        "hardening": {
            "monitoring": True, "log_retention_days": 90, "availability_zones": False,
            "geo_redundant_backups": True, "azure_policy": None,
            "api_server_authorized_ip_ranges": ["203.0.113.0/24"],
            "admin_group_object_ids": ["00000000-0000-0000-0000-000000000001"],
            "maintenance_window": {"day_of_week": "Friday"},
            "key_vault_network": {"default_action": "Deny", "ip_rules": ["198.51.100.7"]},
            "sas_expiration_days": 30,
        },
    },
}


@needs_terraform
@pytest.mark.parametrize("case", CASES)
def test_terraform_resolves_the_profile_like_the_model(module: Path, case: str) -> None:
    env = {**ENV, **CASES[case]}
    expected = Environment.model_validate(env).hardening_settings()
    assert _terraform(module, env, "local.hardening") == expected


@needs_terraform
def test_the_profile_changes_the_evaluated_terraform(module: Path) -> None:
    staging = _terraform(module, {**ENV, "profile": "staging"}, "local.hardening")
    production = _terraform(module, {**ENV, "profile": "production"}, "local.hardening")
    assert (staging["azure_policy"], staging["monitoring"]) == (False, False)
    assert (production["azure_policy"], production["monitoring"]) == (True, True)
    assert (staging["storage_replication"], production["storage_replication"]) == ("ZRS", "GZRS")
    assert staging["maintenance_window"]["day_of_week"] == "Saturday"  # a day before
    assert production["maintenance_window"]["day_of_week"] == "Sunday"
    for settings in (staging, production):
        assert settings["local_account_disabled"] is True
        assert settings["availability_zones"] == ["1", "2", "3"]  # westeurope has zones
    overridden = _terraform(module, {**ENV, "hardening": {"maintenance_window": {
        "start_time": "22:30"}}}, "local.hardening.maintenance_window")
    assert overridden == {"day_of_week": "Sunday", "start_time": "22:30",
                          "utc_offset": "+00:00", "duration_hours": 4}


@needs_terraform
def test_the_variable_wins_over_platform_yaml_for_api_server_ranges(module: Path) -> None:
    env = {**ENV, "hardening": {"api_server_authorized_ip_ranges": ["203.0.113.0/24"]}}
    assert _terraform(module, env, "local.hardening.api_server_authorized_ip_ranges") == [
        "203.0.113.0/24"]
    pinned = _terraform(module, env, "local.hardening.api_server_authorized_ip_ranges",
                        "-var", 'api_server_authorized_ip_ranges=["192.0.2.1/32"]')
    assert pinned == ["192.0.2.1/32"]


def _precondition(resource: dict[str, Any], needle: str) -> str:
    conditions = [pre["condition"] for pre in resource["lifecycle"][0]["precondition"]]
    (found,) = [c for c in conditions if needle in c]
    return str(found)[2:-1]  # '${...}' -> the expression


@needs_terraform
@pytest.mark.parametrize(("expiry", "allowed"), [
    ("2027-03-31T00:00:00Z", True),   # 89 days
    ("2027-04-01T00:00:00Z", True),   # exactly 90 days
    ("2027-04-02T00:00:00Z", False),  # one day over the SAS policy
])
def test_backup_sas_window_must_fit_the_sas_policy(module: Path, expiry: str,
                                                   allowed: bool) -> None:
    sas = _parsed("backups.tf")["data"][0]["azurerm_storage_account_blob_container_sas"]
    condition = _precondition(sas["backup"], "timecmp")
    result = _terraform(module, ENV, condition, "-var", "backup_sas_start=2027-01-01T00:00:00Z",
                        "-var", f"backup_sas_expiry={expiry}")
    assert result is allowed


@needs_terraform
@pytest.mark.parametrize(("env", "ranges", "allowed"), [
    ({"profile": "production"}, [], False),
    ({"profile": "production"}, ["203.0.113.0/24"], True),
    ({"profile": "staging"}, [], True),
])
def test_production_needs_api_server_ranges(module: Path, env: dict[str, Any],
                                            ranges: list[str], allowed: bool) -> None:
    aks = _resource("main.tf", "azurerm_kubernetes_cluster", "main")
    condition = _precondition(aks, "production")
    result = _terraform(module, {**ENV, **env}, condition,
                        "-var", f"api_server_authorized_ip_ranges={json.dumps(ranges)}")
    assert result is allowed


def test_the_zone_table_is_the_same_in_terraform_and_the_model() -> None:
    (block,) = [b for b in _parsed("profiles.tf")["locals"] if "zonal_regions" in b]
    assert set(block["zonal_regions"]) == ZONAL_REGIONS


def test_the_model_refuses_bad_hardening() -> None:
    for hardening in ({"maintenance_window": {"duration_hours": 2}},  # AKS: >= 4 hours
                      {"api_server_authorized_ip_ranges": ["not-an-ip"]},
                      {"monitoring": "yes"}, {"unknown": True}):
        with pytest.raises(ValidationError):
            Environment.model_validate({**ENV, "hardening": hardening})
    with pytest.raises(ValidationError):
        Environment.model_validate({**ENV, "profile": "prod"})


def test_the_repository_platform_is_staging() -> None:
    import yaml

    platform = Platform.model_validate(yaml.safe_load((REPO / "platform.yaml").read_text()))
    assert platform.environments["staging"].profile == "staging"


# --- the resources read local.hardening ----------------------------------------------


def _parsed(name: str) -> dict[str, Any]:
    with (TF_DIR / name).open() as handle:
        return dict(hcl2.load(handle))


def _resource(name: str, type_: str, label: str) -> dict[str, Any]:
    for block in _parsed(name).get("resource", []):
        if label in block.get(type_, {}):
            return dict(block[type_][label])
    raise AssertionError(f"{type_}.{label} not in {name}")


def test_aks_reads_the_hardening() -> None:
    aks = _resource("main.tf", "azurerm_kubernetes_cluster", "main")
    assert aks["local_account_disabled"] == "${local.hardening.local_account_disabled}"
    (entra,) = aks["azure_active_directory_role_based_access_control"]
    assert entra["azure_rbac_enabled"] is True
    assert entra["admin_group_object_ids"] == "${local.hardening.admin_group_object_ids}"
    dynamic = {name: body for d in aks["dynamic"] for name, body in d.items()}
    assert dynamic["api_server_access_profile"]["content"][0]["authorized_ip_ranges"] == (
        "${local.hardening.api_server_authorized_ip_ranges}")
    assert "local.hardening.monitoring" in dynamic["oms_agent"]["for_each"]
    for window in ("maintenance_window_auto_upgrade", "maintenance_window_node_os"):
        (body,) = aks[window]
        assert body["frequency"] == "Weekly" and body["interval"] == 1
        assert body["duration"] == "${local.hardening.maintenance_window.duration_hours}"
    assert aks["azure_policy_enabled"] == "${local.hardening.azure_policy}"
    (pool,) = aks["default_node_pool"]
    assert pool["zones"] == "${local.hardening.availability_zones}"
    deployer = _resource("main.tf", "azurerm_role_assignment", "aks_deployer")
    assert deployer["scope"] == "${azurerm_kubernetes_cluster.main.id}"


def test_storage_key_vault_and_provider_read_the_hardening() -> None:
    account = _resource("backups.tf", "azurerm_storage_account", "backups")
    assert account["account_replication_type"] == "${local.hardening.storage_replication}"
    assert account["shared_access_key_enabled"] == "${length(local.sas_tenants) > 0}"
    (sas_policy,) = account["sas_policy"]
    assert "local.hardening.sas_expiration_days" in sas_policy["expiration_period"]
    (provider,) = [p["azurerm"] for p in _parsed("versions.tf")["provider"] if "azurerm" in p]
    assert provider["storage_use_azuread"] is True
    vault = _resource("keyvault.tf", "azurerm_key_vault", "main")
    (acls,) = vault["network_acls"]
    assert acls["default_action"] == "${local.hardening.key_vault_network.default_action}"
    monitoring = _parsed("monitoring.tf")["resource"]
    for block in monitoring:
        for body in next(iter(block.values())).values():
            assert body["count"] == "${local.hardening.monitoring ? 1 : 0}"
