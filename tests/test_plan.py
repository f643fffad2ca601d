"""`mercury plan` end to end on a copy of the repository: the main job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mercury.cli.main import main


def plan(repo: Path, crd_schemas: Path, *extra: str) -> list[str]:
    return ["plan", "--repo", str(repo), "--schema-location", str(crd_schemas), *extra]


def repo_findings(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The findings about the repository."""
    return list(doc["findings"])


def test_plan_on_the_bundled_platform_is_clean(
        repo_copy: Path, crd_schemas: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(plan(repo_copy, crd_schemas)) == 0
    out = capsys.readouterr().out
    assert "https://customer1.mercury.kubetest.uk" in out
    assert "generated files match platform.yaml" in out
    for layer in ("infra-controllers", "infra-configs", "apps"):
        assert layer in out
    assert "required flow(s) checked, 0 broken" in out


def test_plan_json_counts_objects_per_layer_and_tenant(
        repo_copy: Path, crd_schemas: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(plan(repo_copy, crd_schemas, "--format", "json")) == 0
    doc = json.loads(capsys.readouterr().out)
    layers = {layer["name"]: layer for layer in doc["layers"]}
    assert list(layers) == ["infra-controllers", "infra-configs", "apps"]
    assert all(layer["objects"] > 0 and layer["error"] is None for layer in layers.values())
    (tenant,) = doc["tenants"]
    assert tenant["name"] == "customer1" and tenant["objects"] >= 15
    assert doc["summary"]["errors"] == 0
    net = doc["network"]
    assert net["broken"] == 0 and net["forbidden_possible"] == 0 and net["tenants"] == 1
    flows = {(f["purpose"], f["destination"], f["port"]) for f in net["flows"]}
    assert ("ingress", "Deployment customer1/n8n", "TCP/5678") in flows
    assert ("database", "CNPG primary of Cluster customer1/n8n-db", "TCP/5432") in flows
    assert {p for p, *_ in flows} >= {"acme", "replication", "operator", "storage", "dns"}


def test_a_new_tenant_appears_in_the_plan(
        repo_copy: Path, crd_schemas: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tenant", "add", "customer2", "--host", "customer2.mercury.kubetest.uk",
                 "--repo", str(repo_copy)]) == 0
    capsys.readouterr()
    assert main(plan(repo_copy, crd_schemas, "--format", "json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {t["name"]: t["terraform"] for t in doc["tenants"]} == {
        "customer1": "wired", "customer2": "wired"}  # Terraform read the same platform.yaml
    urls = {t["name"]: t["url"] for t in doc["tenants"]}
    assert urls == {"customer1": "https://customer1.mercury.kubetest.uk",
                    "customer2": "https://customer2.mercury.kubetest.uk"}
    apps = next(layer for layer in doc["layers"] if layer["name"] == "apps")
    assert apps["objects"] >= 30


def test_hand_edited_generated_file_fails_the_plan(
        repo_copy: Path, crd_schemas: Path, capsys: pytest.CaptureFixture[str]) -> None:
    overlay = repo_copy / "apps/staging/customer1/kustomization.yaml"
    overlay.write_text(overlay.read_text().replace("instances: 3", "instances: 2"))
    assert main(plan(repo_copy, crd_schemas)) == 1
    out = capsys.readouterr().out
    assert "apps/staging/customer1/kustomization.yaml" in out
    assert "plan: FAIL" in out


def test_a_broken_manifest_fails_the_plan_with_a_finding(
        repo_copy: Path, crd_schemas: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ingress = repo_copy / "apps/base/n8n-tenant/ingress.yaml"
    ingress.write_text(ingress.read_text().replace("ingressClassName: traefik",
                                                   "ingressClassName: traefik-traefik"))
    assert main(plan(repo_copy, crd_schemas, "--format", "json")) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [f["rule"] for f in repo_findings(doc)] == ["ingress-class"]
    assert doc["tenants"][0]["errors"] == 1


def test_unknown_environment_is_an_input_error(
        repo_copy: Path, crd_schemas: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(plan(repo_copy, crd_schemas, "--env", "production")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "production" in err


def test_terraform_that_forgets_the_tenants_shows_in_the_plan(
        repo_copy: Path, crd_schemas: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flux_tf = repo_copy / "terraform/flux.tf"
    flux_tf.write_text(flux_tf.read_text().replace(
        "merge(local.flux_platform_substitutions, local.flux_backup_client_ids, ",
        "merge(local.flux_platform_substitutions, "))
    assert main(plan(repo_copy, crd_schemas, "--format", "json")) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["tenants"][0]["terraform"] == "missing BACKUP_CLIENT_ID_CUSTOMER1"
    assert {f["rule"] for f in repo_findings(doc)} == {"substitution-missing"}


def test_a_sas_tenant_plans_clean_without_an_identity_variable(
        repo_copy: Path, crd_schemas: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tenant", "add", "acme-corp", "--backup-auth", "sas",
                 "--repo", str(repo_copy)]) == 0
    capsys.readouterr()
    assert main(plan(repo_copy, crd_schemas, "--format", "json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert repo_findings(doc) == []  # e.g. no "BACKUP_CLIENT_ID_ACME_CORP is unused"
    assert {t["name"]: t["terraform"] for t in doc["tenants"]} == {
        "acme-corp": "wired", "customer1": "wired"}
