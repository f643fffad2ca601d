"""`mercury render`: platform.yaml -> apps/<env>/..., deterministic, checkable, self-cleaning."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mercury.cli.main import main
from mercury.platform import load_platform
from mercury.render import render_repo
from mercury.render.yamltext import HEADER

REPO = Path(__file__).resolve().parent.parent
OVERLAY = "apps/staging/customer1/kustomization.yaml"
ENV_FILE = "apps/staging/kustomization.yaml"


def edit_platform(root: Path, change: Any) -> None:
    """Load platform.yaml as plain data, let `change` modify it, write it back."""
    path = root / "platform.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def add_tenant(data: dict[str, Any], name: str, env: str = "staging", **backup: str) -> None:
    data["tenants"][name] = {"environment": env, "host": f"{name}.mercury.kubetest.uk",
                             "backup": {"schedule": "0 30 3 * * *", "retention": "14d",
                                        **backup}}


def render(root: Path, *, check: bool = False):  # type: ignore[no-untyped-def]
    return render_repo(root, load_platform(root), check=check)


def snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text()
            for p in sorted((root / "apps").rglob("*")) if p.is_file()}


def overlay(root: Path, tenant: str, env: str = "staging") -> dict[str, Any]:
    return yaml.safe_load((root / f"apps/{env}/{tenant}/kustomization.yaml").read_text())


def test_committed_overlays_are_up_to_date() -> None:
    """The generated files in the repository match platform.yaml (CI runs the same check)."""
    assert render(REPO, check=True).drifted == []


def test_render_is_deterministic_and_idempotent(repo_copy: Path) -> None:
    edit_platform(repo_copy, lambda d: add_tenant(d, "acme-corp"))
    first = render(repo_copy)
    assert "apps/staging/acme-corp/kustomization.yaml" in first.written
    once = snapshot(repo_copy)
    generated = [rel for rel, text in once.items() if text.startswith(HEADER)]
    assert len(generated) == 3
    for rel in generated:
        (repo_copy / rel).unlink()
    render(repo_copy)
    assert snapshot(repo_copy) == once
    again = render(repo_copy)
    assert again.written == [] and again.removed == [] and again.clean


def test_overlay_sets_every_tenant_value(repo_copy: Path) -> None:
    edit_platform(repo_copy, lambda d: add_tenant(d, "acme-corp"))
    render(repo_copy)
    doc = overlay(repo_copy, "acme-corp")
    assert doc["namespace"] == "acme-corp"
    assert doc["resources"] == ["../../base/n8n-tenant"]
    assert "components" not in doc
    text = (repo_copy / "apps/staging/acme-corp/kustomization.yaml").read_text()
    for expected in ("acme-corp.mercury.kubetest.uk", "https://acme-corp.mercury.kubetest.uk/",
                     "${BACKUP_CLIENT_ID_ACME_CORP}", "schedule: 0 30 3 * * *",
                     "retentionPolicy: 14d", "blob.core.windows.net/acme-corp",
                     "objectName: acme-corp-db-password", "letsencrypt-staging"):
        assert expected in text, expected
    env_doc = yaml.safe_load((repo_copy / ENV_FILE).read_text())
    assert env_doc["resources"] == ["acme-corp", "customer1"]


def test_check_reports_drift_and_writes_nothing(repo_copy: Path) -> None:
    (repo_copy / OVERLAY).write_text((repo_copy / OVERLAY).read_text().replace(
        "instances: 3", "instances: 1"))
    (repo_copy / ENV_FILE).unlink()
    stale = repo_copy / "apps/staging/gone-tenant/kustomization.yaml"
    stale.parent.mkdir()
    stale.write_text(f"{HEADER}\nresources: []\n")
    before = snapshot(repo_copy)
    report = render(repo_copy, check=True)
    assert report.drifted == sorted(
        [ENV_FILE, "apps/staging/gone-tenant/kustomization.yaml", OVERLAY])
    assert report.written == [] and report.removed == []
    assert snapshot(repo_copy) == before

    fixed = render(repo_copy)
    assert sorted(fixed.written) == sorted([ENV_FILE, OVERLAY])
    assert fixed.removed == ["apps/staging/gone-tenant/kustomization.yaml"]
    assert not stale.parent.exists()
    assert render(repo_copy, check=True).drifted == []


def test_removing_a_tenant_removes_its_overlay(repo_copy: Path) -> None:
    edit_platform(repo_copy, lambda d: add_tenant(d, "acme-corp"))
    render(repo_copy)
    assert (repo_copy / "apps/staging/acme-corp").is_dir()
    edit_platform(repo_copy, lambda d: d["tenants"].pop("acme-corp"))
    report = render(repo_copy)
    assert report.removed == ["apps/staging/acme-corp/kustomization.yaml"]
    assert not (repo_copy / "apps/staging/acme-corp").exists()
    assert yaml.safe_load((repo_copy / ENV_FILE).read_text())["resources"] == ["customer1"]


def test_hand_written_directories_are_left_alone(repo_copy: Path) -> None:
    own = repo_copy / "apps/staging/handmade/kustomization.yaml"
    own.parent.mkdir()
    own.write_text("resources: []\n")
    assert render(repo_copy, check=True).drifted == []
    render(repo_copy)
    assert own.read_text() == "resources: []\n"
    infra = repo_copy / "infrastructure/controllers/staging/kustomization.yaml"
    assert not infra.read_text().startswith(HEADER)  # hand-written, never regenerated


def test_sas_auth_switches_to_the_component(repo_copy: Path) -> None:
    edit_platform(repo_copy, lambda d: add_tenant(d, "acme-corp", auth="sas"))
    render(repo_copy)
    doc = overlay(repo_copy, "acme-corp")
    assert doc["components"] == ["../../base/components/backup-sas"]
    text = (repo_copy / "apps/staging/acme-corp/kustomization.yaml").read_text()
    assert "BACKUP_CLIENT_ID" not in text
    assert "objectName: acme-corp-backup-sas" in text
    assert "components" not in overlay(repo_copy, "customer1")


def test_a_reviewed_restore_component_stays_listed(repo_copy: Path) -> None:
    restore = repo_copy / "apps/staging/customer1/restore/kustomization.yaml"
    restore.parent.mkdir()
    restore.write_text("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n")
    assert render(repo_copy, check=True).drifted == ["apps/staging/customer1/kustomization.yaml"]
    render(repo_copy)
    assert overlay(repo_copy, "customer1")["components"] == ["restore"]
    assert restore.is_file()  # hand-written: render never deletes it


def test_new_environment_gets_its_own_tree(repo_copy: Path) -> None:
    def production(data: dict[str, Any]) -> None:
        env = dict(data["environments"]["staging"], cluster_issuer="letsencrypt-prod",
                   key_vault_name="kv-mercury-prod", storage_account_name="mercurybackupsprod")
        data["environments"]["production"] = env
        add_tenant(data, "bigcorp", env="production")
    edit_platform(repo_copy, production)
    report = render(repo_copy)
    assert set(report.written) == {
        "apps/production/kustomization.yaml", "apps/production/bigcorp/kustomization.yaml",
        "infrastructure/controllers/production/kustomization.yaml",
        "infrastructure/configs/production/kustomization.yaml"}
    assert "letsencrypt-prod" in (repo_copy / "apps/production/bigcorp/kustomization.yaml"
                                  ).read_text()
    # Dropping the environment again removes exactly what render created for it.
    edit_platform(repo_copy, lambda d: (d["environments"].pop("production"),
                                        d["tenants"].pop("bigcorp")))
    assert len(render(repo_copy).removed) == 4
    assert not (repo_copy / "apps/production").exists()
    assert not (repo_copy / "infrastructure/controllers/production").exists()


def test_generated_files_hold_no_secret_values(repo_copy: Path) -> None:
    edit_platform(repo_copy, lambda d: add_tenant(d, "acme-corp", auth="sas"))
    render(repo_copy)
    allowed = {"BACKUP_STORAGE_ACCOUNT", "BACKUP_CLIENT_ID_CUSTOMER1",
               "SECRETS_CLIENT_ID_CUSTOMER1", "SECRETS_CLIENT_ID_ACME_CORP"}
    for path in (repo_copy / "apps").rglob("kustomization.yaml"):
        text = path.read_text()
        if not text.startswith(HEADER):
            continue
        assert set(re.findall(r"\$\{(\w+)\}", text)) <= allowed, path
        # Every tenant reads Key Vault with its own identity, nobody else's.
        tenant = path.parent.name.upper().replace("-", "_")
        if path.parent.parent.name == "staging":  # a tenant overlay
            assert re.findall(r"clientID: \$\{(\w+)\}", text) == [
                f"SECRETS_CLIENT_ID_{tenant}"]
        assert not re.search(r"^\s*(data|stringData):|kind: Secret$", text, re.M), path
        assert not re.search(r"(password|token|sas)\w*:", text, re.I), path
        names = re.findall(r"objectName: (\S+)", text)
        assert all(n.startswith(path.parent.name + "-") or n == "backup-storage-account"
                   for n in names), names


def test_cli_check_exit_codes(repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--check", "--repo", str(repo_copy)]) == 0
    (repo_copy / OVERLAY).unlink()
    assert main(["render", "--check", "--repo", str(repo_copy)]) == 1
    assert OVERLAY in capsys.readouterr().out
    assert main(["render", "--repo", str(repo_copy)]) == 0
    assert f"wrote: {OVERLAY}" in capsys.readouterr().out
    assert main(["render", "--check", "--repo", str(repo_copy)]) == 0


def test_cli_without_platform_is_an_input_error(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--repo", str(tmp_path)]) == 2
    assert "platform.yaml" in capsys.readouterr().err
