"""terraform-wiring and capacity on the bundled repository: clean as shipped, and each
realistic mutation of terraform/ or platform.yaml gives exactly the expected finding."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mercury.cli.main import main
from mercury.verify.engine import verify_repo

RULES = ("terraform-wiring", "capacity")


def _findings(root: Path, schemas: Path) -> list[tuple[str, str, str]]:
    report = verify_repo(root, schema_location=str(schemas))
    return sorted((f.rule, f.object, f.message) for f in report.findings
                  if f.rule.split("[")[0] in RULES)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found"
    path.write_text(text.replace(old, new, 1))


def test_bundled_repo_is_clean(repo_copy: Path, crd_schemas: Path) -> None:
    assert _findings(repo_copy, crd_schemas) == []


def test_renamed_key_vault_secret(repo_copy: Path, crd_schemas: Path) -> None:
    _edit(repo_copy / "terraform" / "keyvault.tf", 'name             = "${each.key}-db-password"',
          'name             = "${each.key}-db-pass"')
    found = _findings(repo_copy, crd_schemas)
    assert [(r, o) for r, o, _ in found] == [
        ("terraform-wiring[kv-object]", "SecretProviderClass/customer1/n8n-secrets")]
    message = found[0][2]
    assert "'customer1-db-password'" in message
    assert "apps/base/n8n-tenant/secrets.yaml:" in message  # the manifest end
    assert re.search(r'azurerm_key_vault_secret\.db_password\["customer1"\] '
                     r"\(terraform/keyvault\.tf:\d+\)", message)  # the Terraform end


def test_federated_subject_typo(repo_copy: Path, crd_schemas: Path) -> None:
    _edit(repo_copy / "terraform" / "backups.tf", '"system:serviceaccount:${each.key}:n8n-db"',
          '"system:serviceaccount:${each.key}:n8n-database"')
    assert [(r, o) for r, o, _ in _findings(repo_copy, crd_schemas)] == [
        ("terraform-wiring[federated-sa]",
         'azurerm_federated_identity_credential.backup["customer1"]'),
        ("terraform-wiring[unfederated]", "Cluster/customer1/n8n-db")]


def test_container_name_changed(repo_copy: Path, crd_schemas: Path) -> None:
    _edit(repo_copy / "terraform" / "backups.tf", "name                  = each.key",
          'name                  = "${each.key}-backups"')
    assert [(r, o) for r, o, _ in _findings(repo_copy, crd_schemas)] == [
        ("terraform-wiring[container]", "ObjectStore/customer1/n8n-backups")]


def test_blob_role_too_weak(repo_copy: Path, crd_schemas: Path) -> None:
    _edit(repo_copy / "terraform" / "backups.tf", '"Storage Blob Data Contributor"',
          '"Storage Blob Data Reader"')
    assert [(r, o) for r, o, _ in _findings(repo_copy, crd_schemas)] == [
        ("terraform-wiring[role]", "Cluster/customer1/n8n-db")]


def test_required_anti_affinity_on_two_nodes(repo_copy: Path, crd_schemas: Path) -> None:
    _edit(repo_copy / "apps" / "base" / "n8n-tenant" / "database.yaml",
          "podAntiAffinityType: preferred", "podAntiAffinityType: required")
    assert [(r, o) for r, o, _ in _findings(repo_copy, crd_schemas)] == [
        ("capacity[anti-affinity]", "Cluster/customer1/n8n-db")]


def test_one_small_node_does_not_fit(repo_copy: Path, crd_schemas: Path) -> None:
    # one B2s (4 GiB): 4,096 - 1,024 (25%) - 100 = 2,972Mi for 3,072Mi of requests
    _edit(repo_copy / "platform.yaml", "node_count: 2", "node_count: 1")
    _edit(repo_copy / "platform.yaml", "node_size: Standard_D2s_v3", "node_size: Standard_B2s")
    found = _findings(repo_copy, crd_schemas)
    assert [(r, o) for r, o, _ in found] == [
        ("capacity[memory]", "azurerm_kubernetes_cluster.main")]
    assert "terraform/main.tf:" in found[0][2]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_plan_reports_capacity(repo_copy: Path, crd_schemas: Path, fmt: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["plan", "--repo", str(repo_copy), "--schema-location", str(crd_schemas),
               "--format", fmt])
    out = capsys.readouterr().out
    assert rc == 0, out
    if fmt == "json":
        cap = json.loads(out)["capacity"]
        assert cap["nodes"] == 2 and cap["fits"] is True
        # 2 x D2s_v3: 2 x (2,000m - 100m) CPU, 2 x (8,192 - 2,048 - 100) Mi (AKS >= 1.29)
        assert cap["allocatable"] == {"cpu_m": 3800, "memory_mi": 12088, "pods": 500}
        assert cap["more_tenants"] == 3
    else:
        assert "capacity: 2 x Standard_D2s_v3" in out
        assert "room for 3 more tenant(s) of the default size" in out
