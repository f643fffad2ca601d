"""Tenant onboarding: platform.yaml edits that undo byte for byte, and the CLI around them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mercury.cli.main import main
from mercury.errors import InputError
from mercury.fsutil import LOCK_FILE
from mercury.platform import PLATFORM_FILE, parse_platform
from mercury.platform.edit import add_tenant, remove_tenant

REPO = Path(__file__).resolve().parent.parent
BUNDLED = (REPO / PLATFORM_FILE).read_text(encoding="utf-8")
HEAD = BUNDLED[: BUNDLED.index("tenants:")]  # comments + environments, no tenants


def add(text: str, name: str = "customer2", **fields: object) -> str:
    values: dict[str, object] = {"environment": "staging",
                                 "host": f"{name}.mercury.kubetest.uk"}
    values.update(fields)
    return add_tenant(text, name, **values)  # type: ignore[arg-type]


def tenant(name: str, comment: str = "") -> str:
    """A small tenant block (comment lines go inside, under `backup:`)."""
    inner = f"      # {comment}\n" if comment else ""
    return (f"  {name}:\n    environment: staging\n    host: {name}.mercury.kubetest.uk\n"
            f"    backup:\n{inner}      retention: 14d\n")


TRICKY = {
    "bundled": BUNDLED,
    "empty-flow": HEAD + "tenants: {}\n",
    "empty-flow-with-comment": HEAD + "tenants: {}  # none yet\n",
    "no-trailing-newline": BUNDLED.rstrip("\n"),
    "crlf": BUNDLED.replace("\n", "\r\n"),
    "comments-between-tenants": (
        HEAD + "tenants:\n  # section comment: one block per customer\n"
        + tenant("alpha", "alpha's own note") + "    # deeper trailing note of alpha\n"
        + "\n  # beta is the pilot customer\n" + tenant("beta")
        + "  # trailing comment at tenant level\n# end of file\n"),
    "no-blank-lines": HEAD + "tenants:\n" + tenant("alpha") + tenant("beta"),
    "tenants-before-environments": (
        "# tenants first\ntenants:\n" + tenant("alpha") + "\n# the environments\n"
        + HEAD[HEAD.index("environments:"):]),
    "blank-lines-in-block": BUNDLED.replace("    backup:\n", "\n    backup:\n"),
}


@pytest.mark.parametrize("name", list(TRICKY))
def test_add_then_remove_is_byte_identical(name: str) -> None:
    text = TRICKY[name]
    added = add(text, "newcomer", instances=2, schedule="0 30 3 * * *", auth="sas")
    platform, _ = parse_platform(added)
    new = platform.tenants["newcomer"]
    assert (new.database.instances, new.backup.schedule, new.backup.auth) == (
        2, "0 30 3 * * *", "sas")
    assert remove_tenant(added, "newcomer") == text


def test_add_writes_the_full_block_in_the_bundled_style() -> None:
    added = add(BUNDLED, storage_size="20Gi", retention="4w")
    assert added.startswith(BUNDLED)  # nothing before it moved
    assert added[len(BUNDLED):] == (
        "\n"
        "  customer2:\n"
        "    environment: staging\n"
        "    host: customer2.mercury.kubetest.uk\n"
        "    database:\n"
        "      instances: 3\n"
        "      storage_size: 20Gi\n"
        "    backup:\n"
        '      schedule: "0 0 2 * * *"\n'
        "      retention: 4w\n"
        "      auth: workload-identity\n"
    )


def test_add_to_empty_tenants_replaces_the_braces() -> None:
    added = add(HEAD + "tenants: {}  # none yet\n")
    assert "tenants:  # none yet\n  customer2:\n    environment: staging\n" in added


@pytest.mark.parametrize("empty", ["tenants:\n", "tenants: ~\n", "tenants: null  # later\n",
                                   "tenants:  # none yet\n", "tenants: {}\n", ""])
def test_empty_or_missing_tenants_comes_back_byte_identical(empty: str) -> None:
    # Terraform reads a null or absent `tenants` as no tenants (terraform/locals.tf), so
    # the first tenant's add and the last one's remove give the user's spelling back.
    added = add(HEAD + empty)
    assert parse_platform(added)[0].tenants["customer2"].host == "customer2.mercury.kubetest.uk"
    assert remove_tenant(added, "customer2") == HEAD + empty


def test_missing_tenants_key_is_created() -> None:
    original = HEAD.rstrip("\n") + "\n"
    added = add(original)
    assert "\n\ntenants:  # mercury tenant add: was absent\n  customer2:\n" in added
    assert remove_tenant(added, "customer2") == original


def test_values_that_yaml_would_retype_are_quoted() -> None:
    added = add(BUNDLED, storage_size="10")  # plain 10 would load as an integer
    assert 'storage_size: "10"' in added
    assert parse_platform(added)[0].tenants["customer2"].database.storage_size == "10"


def test_remove_middle_tenant_keeps_other_comments() -> None:
    text = TRICKY["comments-between-tenants"]
    three = add(text, "gamma")
    # remove beta: its leading comment goes, alpha's and the file's comments stay
    assert remove_tenant(three, "beta") == (
        HEAD + "tenants:\n  # section comment: one block per customer\n"
        + tenant("alpha", "alpha's own note") + "    # deeper trailing note of alpha\n"
        + "\n" + tenant("gamma").replace("    backup:\n      retention: 14d\n", "")
        + "    database:\n      instances: 3\n      storage_size: 10Gi\n"
        + '    backup:\n      schedule: "0 0 2 * * *"\n      retention: 30d\n'
        + "      auth: workload-identity\n"
        + "  # trailing comment at tenant level\n# end of file\n")


def test_remove_first_tenant_keeps_section_comment() -> None:
    text = TRICKY["comments-between-tenants"]
    assert remove_tenant(text, "alpha") == (
        HEAD + "tenants:\n  # section comment: one block per customer\n"
        + "  # beta is the pilot customer\n" + tenant("beta")
        + "  # trailing comment at tenant level\n# end of file\n")


def test_remove_only_tenant() -> None:
    assert remove_tenant(BUNDLED, "customer1") == HEAD + "tenants: {}\n"


def test_add_existing_tenant() -> None:
    with pytest.raises(InputError, match="tenant 'customer1' already exists"):
        add(BUNDLED, "customer1")


def test_remove_unknown_tenant_names_the_known_ones() -> None:
    with pytest.raises(InputError, match=r"unknown tenant 'nobody' \(known tenants: alpha, beta\)"):
        remove_tenant(TRICKY["no-blank-lines"], "nobody")


@pytest.mark.parametrize(("name", "fields", "words"), [
    ("Customer2", {}, "tenant name 'Customer2'"),
    ("customer2", {"environment": "prod"}, "unknown environment 'prod' (known: staging)"),
    ("customer2", {"host": "customer1.mercury.kubetest.uk"}, "already used by tenant customer1"),
    ("customer2", {"host": "not a host"}, "host: not a DNS host name"),
    ("customer2", {"schedule": "0 2 * * *"}, "did you mean '0 0 2 * * *'"),
    ("customer2", {"retention": "30"}, "retention must look like 30d"),
    ("customer2", {"instances": 0}, "database.instances"),
    ("customer2", {"auth": "password"}, "backup.auth"),
    ("default", {}, "reserved namespace"),
])
def test_add_rejects_invalid_input(name: str, fields: dict[str, object], words: str) -> None:
    with pytest.raises(InputError) as info:
        add(BUNDLED, name, **fields)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_flow_style_tenants_are_refused() -> None:
    text = HEAD + "tenants: {alpha: {environment: staging, host: a.mercury.kubetest.uk}}\n"
    with pytest.raises(InputError, match="flow style"):
        add(text)


# --- CLI -------------------------------------------------------------------------------

def snapshot(root: Path) -> dict[str, bytes]:
    """Every file's bytes; the (gitignored, empty when idle) lock file is no content."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != LOCK_FILE}


def test_cli_add_list_remove_round_trip(repo_copy: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(repo_copy)
    repo = str(repo_copy)
    assert main(["tenant", "add", "customer2", "--host", "customer2.mercury.kubetest.uk",
                 "--repo", repo]) == 0
    out = capsys.readouterr().out
    assert "added tenant customer2" in out and "https://customer2.mercury.kubetest.uk" in out
    assert "apps/staging/customer2/kustomization.yaml" in out
    assert (repo_copy / "apps/staging/customer2/kustomization.yaml").is_file()
    assert "customer2" in (repo_copy / "apps/staging/kustomization.yaml").read_text()

    assert main(["tenant", "list", "--format", "json", "--repo", repo]) == 0
    listed = json.loads(capsys.readouterr().out)["tenants"]
    assert [t["name"] for t in listed] == ["customer1", "customer2"]
    assert listed[1]["url"] == "https://customer2.mercury.kubetest.uk"
    assert listed[1]["schedule"] == "0 0 2 * * *"

    assert main(["tenant", "add", "customer2", "--repo", repo]) == 2
    assert "tenant 'customer2' already exists" in capsys.readouterr().err

    assert main(["tenant", "remove", "customer2", "--repo", repo]) == 0
    assert "removed tenant customer2" in capsys.readouterr().out
    assert snapshot(repo_copy) == before


def test_cli_add_defaults_host_from_environment_domain(repo_copy: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    assert main(["tenant", "add", "acme", "--instances", "1", "--backup-auth", "sas",
                 "--repo", str(repo_copy)]) == 0
    capsys.readouterr()
    platform, _ = parse_platform((repo_copy / PLATFORM_FILE).read_text())
    acme = platform.tenants["acme"]
    assert (acme.environment, acme.host) == ("staging", "acme.mercury.kubetest.uk")
    assert (acme.database.instances, acme.backup.auth) == (1, "sas")


def test_cli_remove_unknown_is_exit_2(repo_copy: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(repo_copy)
    assert main(["tenant", "remove", "nobody", "--repo", str(repo_copy)]) == 2
    err = capsys.readouterr().err
    assert err == "mercury: error: unknown tenant 'nobody' (known tenants: customer1)\n"
    assert snapshot(repo_copy) == before


@pytest.mark.parametrize("argv", [
    ["--backup-schedule", "0 2 * * *"],
    ["--env", "production"],
    ["--host", "customer1.mercury.kubetest.uk"],
    ["--retention", "forever"],
    ["--storage-size", "lots"],
])
def test_cli_invalid_add_leaves_repo_untouched(repo_copy: Path, argv: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(repo_copy)
    assert main(["tenant", "add", "customer2", *argv, "--repo", str(repo_copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mercury: error: ") and err.count("\n") == 1
    assert snapshot(repo_copy) == before


def test_cli_render_failure_restores_everything(repo_copy: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import mercury.render

    before = snapshot(repo_copy)

    real_render = mercury.render.render_repo

    def broken_render(root: Path, platform: Any, *, check: bool = False) -> object:
        if check:  # the dry run before any write
            return real_render(root, platform, check=True)
        (root / "apps/staging/customer2").mkdir(parents=True)
        (root / "apps/staging/customer2/kustomization.yaml").write_text("half\n")
        (root / "apps/staging/kustomization.yaml").write_text("overwritten\n")
        (root / "infrastructure/configs/staging/kustomization.yaml").unlink()
        raise InputError("render failed on purpose")

    monkeypatch.setattr(mercury.render, "render_repo", broken_render, raising=False)
    assert main(["tenant", "add", "customer2", "--repo", str(repo_copy)]) == 2
    assert "render failed on purpose" in capsys.readouterr().err
    assert snapshot(repo_copy) == before
    assert not (repo_copy / "apps/staging/customer2").exists()


def test_cli_list_table(repo_copy: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    assert main(["tenant", "list", "--repo", str(repo_copy)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("customer1"))
    assert row.split() == ["customer1", "staging", "customer1.mercury.kubetest.uk",
                           "https://customer1.mercury.kubetest.uk", "3",
                           "0", "0", "2", "*", "*", "*", "workload-identity"]


def test_cli_add_keeps_platform_yaml_permissions(repo_copy: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = repo_copy / PLATFORM_FILE
    path.chmod(0o644)
    assert main(["tenant", "add", "customer2", "--repo", str(repo_copy)]) == 0
    assert path.stat().st_mode & 0o777 == 0o644
