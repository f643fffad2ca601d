"""The AKS-specific rules on this repository itself: clean as committed, and each one
fires when the platform decision it guards is undone in a copy of the repository."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mercury.verify.engine import verify_repo
from mercury.verify.rules.aks import AksFluxMultitenancy

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The committed repository (tracked files only) in a temp directory."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for rel in files:
        if (REPO / rel).is_file():
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, tmp_path / rel)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def test_flux_lockdown_is_off_and_the_repository_is_clean() -> None:
    report = verify_repo(REPO, rules=[AksFluxMultitenancy()])
    assert [f for f in report.findings if f.rule.startswith("aks-")] == []


def test_flux_lockdown_on_refuses_every_controller_release(repo_copy: Path) -> None:
    _edit(repo_copy / "terraform" / "flux.tf",
          '"multiTenancy.enforce" = "false"', '"multiTenancy.enforce" = "true"')
    report = verify_repo(repo_copy, rules=[AksFluxMultitenancy()])
    impersonated = sorted(f.object for f in report.findings
                          if f.rule == "aks-flux-multitenancy[impersonation]")
    assert impersonated == ["HelmRelease/cert-manager/cert-manager",
                            "HelmRelease/cnpg-system/barman-cloud",
                            "HelmRelease/cnpg-system/cnpg",
                            "HelmRelease/reloader/reloader",
                            "HelmRelease/traefik/traefik"]
    crossing = [f for f in report.findings
                if f.rule == "aks-flux-multitenancy[cross-namespace-ref]"]
    assert [f.object for f in crossing] == ["HelmRelease/cnpg-system/barman-cloud"]
    assert "cert-manager" in crossing[0].message
    assert all(f.file and f.file.startswith("infrastructure/") for f in report.findings)


SECOND_TENANT = """  customer2:
    environment: staging
    host: customer2.mercury.kubetest.uk
    backup:
      auth: sas
"""
CSI_IDENTITY = "azurerm_kubernetes_cluster.main.key_vault_secrets_provider[0].secret_identity[0]"
SEED_CSI_ROLE = f"""
resource "azurerm_role_assignment" "kv_csi_secrets_user" {{
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = {CSI_IDENTITY}.object_id
}}
"""


def _two_tenants(root: Path) -> None:
    from mercury.platform import load_platform
    from mercury.render import render_repo

    platform = root / "platform.yaml"
    platform.write_text(platform.read_text() + SECOND_TENANT)
    render_repo(root, load_platform(root))


def _isolation(root: Path) -> list[str]:
    from mercury.verify.rules.isolation import TenantSecretIsolation

    report = verify_repo(root, rules=[TenantSecretIsolation()])
    return sorted(f"{f.tenant} {f.object}" for f in report.findings)


def test_two_tenants_cannot_read_each_others_secrets(repo_copy: Path) -> None:
    _two_tenants(repo_copy)
    assert _isolation(repo_copy) == []


def test_seed_layout_lets_every_tenant_read_every_secret(repo_copy: Path) -> None:
    """The add-on identity with Secrets User on the vault, and egress that reaches IMDS."""
    _two_tenants(repo_copy)
    with (repo_copy / "terraform" / "keyvault.tf").open("a") as handle:
        handle.write(SEED_CSI_ROLE)
    # While IMDS is excepted from tenant egress, the node identity is out of reach...
    assert _isolation(repo_copy) == []
    # ...and once it is not, each tenant reaches the other's secrets through it.
    policy = repo_copy / "apps" / "base" / "n8n-tenant" / "network-policy.yaml"
    policy.write_text(policy.read_text().replace(
        "            except:\n              - 169.254.169.254/32\n"
        "              - 168.63.129.16/32\n", ""))
    assert _isolation(repo_copy) == [
        "customer1 azurerm_role_assignment.kv_csi_secrets_user",
        "customer2 azurerm_role_assignment.kv_csi_secrets_user",
    ]


def test_identity_federated_into_another_namespace(repo_copy: Path) -> None:
    _two_tenants(repo_copy)
    keyvault = repo_copy / "terraform" / "keyvault.tf"
    keyvault.write_text(keyvault.read_text().replace(
        'subject                   = "system:serviceaccount:${each.key}:n8n"',
        'subject                   = "system:serviceaccount:customer1:n8n-${each.key}"'))
    assert _isolation(repo_copy) == [
        'customer1 azurerm_user_assigned_identity.secrets["customer2"]']
