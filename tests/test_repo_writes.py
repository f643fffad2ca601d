"""Writing the repository under hostile conditions: concurrency, odd names, hand-written
files, byte-exact round trips and interrupted writers (issue 9, defects 1, 3, 4, 11, 12).

Everything goes through the real CLI: `.venv/bin/mercury` in subprocesses where
processes matter (concurrency, kills), `main(argv)` otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mercury.cli.main import main
from mercury.fsutil import LOCK_FILE, repo_lock
from mercury.platform import PLATFORM_FILE, load_platform

MERCURY = str(Path(sys.executable).parent / "mercury")


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != LOCK_FILE}


def one_error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("mercury: error: "), err
    return lines[0]


# -- 1: concurrent writers -----------------------------------------------------------------

def test_25_concurrent_tenant_adds_lose_no_tenant(repo_copy: Path) -> None:
    names = [f"conc{i:02d}" for i in range(25)]
    procs = [subprocess.Popen([MERCURY, "tenant", "add", name, "--repo", str(repo_copy),
                               "--lock-timeout", "600"],  # 25 serialized on a busy CI
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for name in names]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * len(names), errors
    assert set(names) <= set(load_platform(repo_copy).tenants)
    check = subprocess.run([MERCURY, "render", "--check", "--repo", str(repo_copy)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout
    for name in names:
        assert (repo_copy / "apps/staging" / name / "kustomization.yaml").is_file()


def test_a_held_lock_is_waited_for_then_refused_naming_the_holder(
        repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = files(repo_copy)
    with repo_lock(repo_copy, "tenant add someone-else"):
        code = main(["tenant", "add", "customer2", "--repo", str(repo_copy),
                     "--lock-timeout", "0.2"])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == (f"mercury: waiting for pid {os.getpid()}: mercury tenant add "
                        f"someone-else holding the lock {repo_copy / LOCK_FILE}")
    assert "still holds the repository lock after 0.2s" in one_error_line(lines[1])
    assert files(repo_copy) == before


# -- 3: names that would steer writes ------------------------------------------------------

def _with_env(root: Path, env: str) -> None:
    text = (root / PLATFORM_FILE).read_text()
    (root / PLATFORM_FILE).write_text(
        text.replace("  staging:\n", f"  {env!r}:\n", 1).replace(
            "environment: staging", f"environment: {env!r}"))


@pytest.mark.parametrize(("env", "why"), [
    ("../../x", "environment names are 1-63 lowercase"),
    ("base", "'base' is reserved"),
    ("components", "'components' is reserved"),
    ("Staging", "environment names are 1-63 lowercase"),
])
def test_environment_names_that_name_other_directories_are_refused(
        repo_copy: Path, env: str, why: str, capsys: pytest.CaptureFixture[str]) -> None:
    _with_env(repo_copy, env)
    before = files(repo_copy)
    assert main(["render", "--repo", str(repo_copy)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert why in line and PLATFORM_FILE in line
    assert files(repo_copy) == before
    assert not (repo_copy.parent / "x").exists()


@pytest.mark.parametrize("name", ["n8n-tenant", "base", "ab--cd"])
def test_tenant_names_reserved_or_invalid_for_azure_are_refused(
        repo_copy: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = files(repo_copy)
    assert main(["tenant", "add", name, "--repo", str(repo_copy)]) == 2
    assert name in one_error_line(capsys.readouterr().err)
    assert files(repo_copy) == before


def test_a_symlinked_tenant_directory_cannot_write_into_the_template(
        repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo_copy / "apps/staging/customer2").symlink_to("../base/n8n-tenant")
    template = files(repo_copy / "apps/base")
    assert main(["tenant", "add", "customer2", "--repo", str(repo_copy)]) == 2
    assert "refusing to write outside" in one_error_line(capsys.readouterr().err)
    assert files(repo_copy / "apps/base") == template
    assert "customer2" not in (repo_copy / PLATFORM_FILE).read_text()


# -- 4: hand-written files -----------------------------------------------------------------

def test_a_hand_written_file_at_a_tenant_path_is_not_overwritten(
        repo_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = repo_copy / "apps/staging/customer2/kustomization.yaml"
    mine.parent.mkdir()
    mine.write_text("# my own overlay\nresources: []\n")
    before = files(repo_copy)
    assert main(["tenant", "add", "customer2", "--repo", str(repo_copy)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "apps/staging/customer2/kustomization.yaml" in line and "hand-written" in line
    assert files(repo_copy) == before


# -- 11: round trips -----------------------------------------------------------------------

def _round_trip(root: Path, name: str = "customer2") -> None:
    assert main(["tenant", "add", name, "--repo", str(root)]) == 0
    assert main(["tenant", "remove", name, "--repo", str(root)]) == 0


def test_crlf_platform_yaml_stays_crlf(repo_copy: Path) -> None:
    path = repo_copy / PLATFORM_FILE
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    before = files(repo_copy)
    _round_trip(repo_copy)
    assert files(repo_copy) == before


def test_no_tenants_key_stays_absent(repo_copy: Path) -> None:
    assert main(["tenant", "remove", "customer1", "--repo", str(repo_copy)]) == 0
    path = repo_copy / PLATFORM_FILE
    text = path.read_text()
    path.write_text(text[: text.index("\ntenants:")] + "\n")
    assert main(["render", "--repo", str(repo_copy)]) == 0
    before = files(repo_copy)
    _round_trip(repo_copy)
    assert files(repo_copy) == before
    assert "\ntenants:" not in path.read_text()


def test_remove_takes_the_restore_component_and_a_later_add_starts_clean(
        repo_copy: Path) -> None:
    before = files(repo_copy)
    assert main(["tenant", "add", "customer2", "--repo", str(repo_copy)]) == 0
    restore = repo_copy / "apps/staging/customer2/restore"
    restore.mkdir()
    (restore / "kustomization.yaml").write_text(
        "# Generated by `mercury backup restore customer2`: Cluster n8n-db-restore-1\n"
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n")
    (restore / "cluster.yaml").write_text(
        "# Generated by `mercury backup restore customer2`: Cluster n8n-db-restore-1\n{}\n")
    assert main(["tenant", "remove", "customer2", "--repo", str(repo_copy)]) == 0
    assert not (repo_copy / "apps/staging/customer2").exists()
    assert files(repo_copy) == before
    assert main(["tenant", "add", "customer2", "--repo", str(repo_copy)]) == 0
    overlay = (repo_copy / "apps/staging/customer2/kustomization.yaml").read_text()
    assert "restore" not in overlay


# -- 12: interrupted writers ---------------------------------------------------------------

_KILL_AFTER_FIRST_RENDER_WRITE = textwrap.dedent("""
    import os, signal, sys
    import mercury.render.repo as repo
    SIG = getattr(signal, sys.argv.pop(1))
    real = repo.write_atomic
    def dying(path, text):
        real(path, text)
        os.kill(os.getpid(), SIG)
    repo.write_atomic = dying
    from mercury.cli.main import entrypoint
    entrypoint()
""")


def _interrupted_add(root: Path, sig: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _KILL_AFTER_FIRST_RENDER_WRITE, sig, "tenant", "add",
         "customer2", "--repo", str(root)], capture_output=True, text=True, timeout=60,
        preexec_fn=default_signals)


def default_signals() -> None:
    """SIGINT as a terminal gives it: a shell that starts a job with `&` hands it down
    ignored, and mercury keeps an inherited SIG_IGN on purpose (nohup)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(("sig", "code"), [("SIGTERM", 143), ("SIGINT", 130),
                                           ("SIGHUP", 129)])
def test_a_signalled_tenant_add_rolls_back_and_says_one_line(
        repo_copy: Path, sig: str, code: int) -> None:
    before = files(repo_copy)
    proc = _interrupted_add(repo_copy, sig)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("mercury: interrupted")
    assert files(repo_copy) == before


def test_a_killed_tenant_add_is_noticed_and_completed_by_render(repo_copy: Path) -> None:
    proc = _interrupted_add(repo_copy, "SIGKILL")
    assert proc.returncode == -signal.SIGKILL
    check = subprocess.run([MERCURY, "render", "--check", "--repo", str(repo_copy)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 1
    assert ("(pid " in check.stdout and "mercury tenant add customer2 was interrupted): "
            "run `mercury render`" in check.stdout), check.stdout
    fix = subprocess.run([MERCURY, "render", "--repo", str(repo_copy)],
                         capture_output=True, text=True, timeout=60)
    assert fix.returncode == 0 and "was interrupted" in fix.stderr
    again = subprocess.run([MERCURY, "render", "--check", "--repo", str(repo_copy)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stdout
    assert "customer2" in load_platform(repo_copy).tenants
