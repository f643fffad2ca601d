"""Terraform rules: each one on a .tf snippet that triggers it and one that does not."""

from __future__ import annotations

from pathlib import Path

import hcl2
import pytest

from mercury.verify.context import TerraformFacts, VerifyContext
from mercury.verify.findings import Finding
from mercury.verify.rules.terraform import (
    FluxPathMissing,
    KeyVaultRbac,
    SubstitutionMissing,
    SubstitutionUnused,
    TenantIdSource,
)

FLUX = """
variable "environment" {
  type    = string
  default = "staging"
}
locals {
  subs = {
    AZURE_TENANT_ID = data.azurerm_client_config.current.%(tenant_attr)s
    KEY_VAULT_NAME  = azurerm_key_vault.main.name
    %(extra)s
  }
  tenants = { "a-b" = {} }
  ids = {
    for t in keys(local.tenants) :
    "BACKUP_CLIENT_ID_${upper(replace(t, "-", "_"))}" => azurerm_user_assigned_identity.backup[t].id
  }
}
resource "azurerm_kubernetes_flux_configuration" "main" {
  name = "mercury"
  kustomizations {
    name = "infra"
    path = "./infra/${var.environment}"
  }
  kustomizations {
    name       = "apps"
    path       = "./apps/${var.environment}"
    depends_on = ["%(dep)s"]
    post_build {
      substitute = merge(local.subs, local.ids)
    }
  }
}
"""
MANIFEST = """apiVersion: v1
kind: ConfigMap
metadata:
  name: c
data:
  tenant: ${AZURE_TENANT_ID}
  vault: ${KEY_VAULT_NAME}
  backup: ${BACKUP_CLIENT_ID_A_B}
  colour: ${COLOUR:=blue}
%(more)s"""


def _repo(tmp_path: Path, *, tenant_attr: str = "tenant_id", extra: str = "",
          dep: str = "infra", more: str = "", env: str = "staging",
          keyvault: str = "rbac_authorization_enabled = true") -> VerifyContext:
    root = tmp_path / "repo"
    (root / "terraform").mkdir(parents=True)
    (root / "infra" / "staging").mkdir(parents=True)
    apps = root / "apps" / "staging"
    (apps / "base").mkdir(parents=True)
    (apps / "kustomization.yaml").write_text("resources:\n  - base\n")
    (apps / "base" / "kustomization.yaml").write_text("resources:\n  - cm.yaml\n")
    (apps / "base" / "cm.yaml").write_text(MANIFEST % {"more": more})
    tf = {
        "terraform/flux.tf": FLUX % {"tenant_attr": tenant_attr, "extra": extra, "dep": dep},
        "terraform/keyvault.tf": f'resource "azurerm_key_vault" "main" {{\n'
                                 f'  name = "kv"\n  {keyvault}\n}}\n',
    }
    files = {}
    for rel, text in tf.items():
        (root / rel).write_text(text)
        files[rel] = hcl2.loads(text)
    return VerifyContext(root, [], terraform=TerraformFacts(root, files=files, environment=env))


def _run(rule: object, ctx: VerifyContext) -> list[Finding]:
    return list(rule.check_all(ctx))  # type: ignore[attr-defined]


def test_flux_path_missing(tmp_path: Path) -> None:
    assert _run(FluxPathMissing(), _repo(tmp_path / "ok")) == []
    findings = _run(FluxPathMissing(), _repo(tmp_path / "bad", env="prod"))
    assert [f.object for f in findings] == ["Kustomization/flux-system/infra",
                                            "Kustomization/flux-system/apps"]
    assert "./apps/prod" in findings[1].message and "prod" in findings[1].message
    assert findings[1].file == "terraform/flux.tf" and findings[1].line is not None


def test_substitution_missing(tmp_path: Path) -> None:
    # provided, default, and a per-tenant variable from a for-expression: all fine
    assert _run(SubstitutionMissing(), _repo(tmp_path / "ok")) == []
    (finding,) = _run(SubstitutionMissing(),
                      _repo(tmp_path / "bad", more="  other: ${ACME_EMAIL}\n"))
    assert "${ACME_EMAIL}" in finding.message and "apps" in finding.message
    assert (finding.file, finding.line) == ("apps/staging/base/cm.yaml", 10)


def test_substitution_missing_ignores_escaped_and_comments(tmp_path: Path) -> None:
    more = "  lit: $${NOT_A_VAR}\n# ${IN_A_COMMENT}\n"
    assert _run(SubstitutionMissing(), _repo(tmp_path, more=more)) == []


def test_substitution_unused_is_info(tmp_path: Path) -> None:
    assert _run(SubstitutionUnused(), _repo(tmp_path / "ok")) == []
    (finding,) = _run(SubstitutionUnused(),
                      _repo(tmp_path / "bad", extra="OLD_NAME = var.environment"))
    assert finding.severity.value == "info" and "${OLD_NAME}" in finding.message


@pytest.mark.parametrize("keyvault, ok", [
    ("rbac_authorization_enabled = true", True),
    ("enable_rbac_authorization = true", True),
    ("rbac_authorization_enabled = false", False),
    ('sku_name = "standard"', False),
])
def test_keyvault_rbac(tmp_path: Path, keyvault: str, ok: bool) -> None:
    findings = _run(KeyVaultRbac(), _repo(tmp_path, keyvault=keyvault))
    assert (findings == []) is ok
    if not ok:
        assert findings[0].object == "azurerm_key_vault.main"
        assert (findings[0].file, findings[0].line) == ("terraform/keyvault.tf", 1)


def test_tenant_id_from_subscription_id(tmp_path: Path) -> None:
    assert _run(TenantIdSource(), _repo(tmp_path / "ok")) == []
    findings = _run(TenantIdSource(), _repo(tmp_path / "bad", tenant_attr="subscription_id"))
    assert findings and all(f.severity.value == "error" for f in findings)
    assert "AZURE_TENANT_ID" in findings[0].message and "subscription" in findings[0].message


def test_tenant_id_attribute_from_subscription_id(tmp_path: Path) -> None:
    ctx = _repo(tmp_path, keyvault="tenant_id = data.azurerm_client_config.current.subscription_id")
    (finding,) = _run(TenantIdSource(), ctx)
    assert finding.object == "azurerm_key_vault.main.tenant_id"
    assert (finding.file, finding.line) == ("terraform/keyvault.tf", 3)
