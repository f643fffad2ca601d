"""Hostile input and runaway tools (issue 9, defects 5-9): alias bombs, duplicate keys,
non-UTF-8 files, children that outlive mercury, and failures that hide their cause.

Commands run through the real CLI (`.venv/bin/mercury` where processes matter); the
process-group checks run real programs (sh, sleep, python) under `Command`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mercury.errors import ToolError, cause_of
from mercury.exec import Command
from mercury.yamlsafety import MAX_EXPANDED_NODES, check_aliases, load_strict

MERCURY = str(Path(sys.executable).parent / "mercury")


def default_signals() -> None:
    """SIGINT as a terminal gives it (a `&` job inherits it ignored; mercury keeps that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def bomb(levels: int = 9, width: int = 9) -> str:
    """The classic "billion laughs": `width`**`levels` strings from a few hundred bytes."""
    lines = ["a0: &a0 [" + ",".join(['"lol"'] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]"
              for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def run(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MERCURY, *argv], capture_output=True, text=True, timeout=timeout,
                          check=False)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


# -- 5: alias bombs ------------------------------------------------------------------------

def test_expansion_is_counted_on_the_shared_graph() -> None:
    check_aliases(bomb(levels=3, width=9), source="small")  # 9^4 nodes: fine
    with pytest.raises(Exception, match="alias bomb"):
        check_aliases(bomb(), source="big")
    with pytest.raises(Exception, match="alias of itself"):
        check_aliases("a: &a [1, *a]\n", source="recursive")
    assert MAX_EXPANDED_NODES < 9 ** 10


@pytest.mark.parametrize("command", [["plan"], ["tenant", "list"], ["render", "--check"],
                                     ["tenant", "add", "acme"]])
def test_a_platform_yaml_alias_bomb_is_refused_by_every_command(
        repo_copy: Path, command: list[str]) -> None:
    platform = repo_copy / "platform.yaml"
    platform.write_text(platform.read_text() + "x-bomb:\n" + textwrap.indent(bomb(), "  "))
    before = platform.read_bytes()
    line = one_error_line(run(*command, "--repo", str(repo_copy)))
    assert "platform.yaml" in line and "alias bomb" in line
    assert platform.read_bytes() == before


def test_a_manifest_alias_bomb_is_refused_before_kustomize_runs(repo_copy: Path) -> None:
    base = repo_copy / "apps" / "base" / "n8n-tenant"
    (base / "bomb.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                    "  name: laughs\ndata:\n  x: y\n" + "x-" + bomb())
    kfile = base / "kustomization.yaml"
    kfile.write_text(kfile.read_text().replace("resources:\n", "resources:\n  - bomb.yaml\n"))
    proc = run("build", str(repo_copy / "apps" / "staging"), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "bomb.yaml" in proc.stderr and "alias bomb" in proc.stderr


# -- 9: duplicate keys, everywhere, with both lines ----------------------------------------

@pytest.mark.parametrize("command", [["plan"], ["verify"], ["tenant", "list"],
                                     ["render", "--check"], ["tenant", "add", "acme"]])
def test_duplicate_keys_in_platform_yaml_are_refused_by_every_command(
        repo_copy: Path, command: list[str]) -> None:
    platform = repo_copy / "platform.yaml"
    text = platform.read_text()
    first = text.splitlines().index("    location: westeurope") + 1
    platform.write_text(text.replace("    location: westeurope\n",
                                     "    location: westeurope\n    location: northeurope\n"))
    where = [] if command == ["verify"] else ["--repo", str(repo_copy)]
    target = [str(repo_copy)] if command == ["verify"] else []
    line = one_error_line(run(*command, *target, *where))
    assert f"platform.yaml:{first + 1}:" in line
    assert f"duplicate key 'location' (first at line {first})" in line


def test_strict_loading_keeps_ordinary_yaml() -> None:
    assert load_strict("a: 1\nb: {a: 2}\nc: &x [1]\nd: *x\n", source="ok") == {
        "a": 1, "b": {"a": 2}, "c": [1], "d": [1]}


# -- 7: files that are not text ------------------------------------------------------------

def test_a_binary_platform_yaml_is_one_line_naming_file_line_and_byte(repo_copy: Path) -> None:
    (repo_copy / "platform.yaml").write_bytes(b"environments:\n  caf\xe9: {}\n")
    for command in (["tenant", "add", "acme"], ["tenant", "list"], ["plan"]):
        line = one_error_line(run(*command, "--repo", str(repo_copy)))
        assert "platform.yaml:2: not UTF-8 text (byte 19: 0xe9)" in line, line


def test_a_binary_values_file_is_one_line(repo_copy: Path, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_bytes(b"\x00\xff\xfe")
    proc = run("build", str(repo_copy / "apps" / "staging"), "--values", str(values))
    assert "values.yaml" in one_error_line(proc)


# -- 6: children never outlive mercury -----------------------------------------------------

def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose (its parent, init here, reaps it)
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1].split()[0] != "Z"


def test_a_timed_out_tool_takes_its_own_children_with_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {pidfile}; wait"
    with pytest.raises(ToolError, match="timed out after 1s"):
        Command(["sh", "-c", script], timeout=1).run()
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the tool's background child survived the timeout"


def test_a_tool_that_grows_without_bound_hits_the_memory_cap(monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    monkeypatch.setenv("MERCURY_TOOL_MEMORY_MB", "200")
    grow = "x = bytearray(1024 * 1024 * 1024)"
    with pytest.raises(ToolError) as caught:
        Command([sys.executable, "-c", grow], timeout=60).run()
    assert "MemoryError" in caught.value.stderr
    assert "ran out of memory (limit 200 MiB" in caught.value.stderr


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129),
                                           (signal.SIGINT, 130)])
def test_a_signal_to_mercury_stops_tools_running_in_worker_threads(
        tmp_path: Path, sig: signal.Signals, code: int) -> None:
    """What `verify` does: kustomize runs in a thread pool while the main thread waits."""
    pidfile = tmp_path / "child.pid"
    program = textwrap.dedent(f"""
        import sys
        from concurrent.futures import ThreadPoolExecutor
        from mercury.cli.main import install_signal_handlers, main
        from mercury.exec import Command
        import mercury.cli.main as cli

        def work(_):
            Command(["sh", "-c", "sleep 300 & echo $! >> {pidfile}; wait"], timeout=600).run()

        def fake_run(argv):
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(work, range(2)))
            return 0

        cli._run = fake_run
        install_signal_handlers()
        sys.exit(main([]))
    """)
    proc = subprocess.Popen([sys.executable, "-c", program], stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals)
    deadline = time.monotonic() + 30
    while (not pidfile.exists() or len(pidfile.read_text().split()) < 2) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert err.strip() == f"mercury: interrupted by {sig.name}"
    children = [int(p) for p in pidfile.read_text().split()]
    deadline = time.monotonic() + 5
    while any(_alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(c) for c in children), "a tool outlived mercury"


# -- 8: the cause, not the last line -------------------------------------------------------

def test_the_cause_line_is_the_error_not_the_trailing_context() -> None:
    postgres_log = textwrap.dedent("""\
        LOG:  starting PostgreSQL 15.18
        LOG:  restored log file "000000010000000000000003" from archive
        FATAL:  requested timeline 2 is not a child of this server's history
        LOG:  startup process (PID 12) exited with exit code 1
        LOG:  aborting startup due to startup process failure
        LOG:  database system is shut down
    """)
    assert cause_of(postgres_log) == ("FATAL:  requested timeline 2 is not a child of this "
                                      "server's history")
    assert cause_of("warning: deprecated field\nError: open x.yaml: no such file\nusage\n") \
        == "Error: open x.yaml: no such file"
    assert cause_of("") == "no output"
    assert cause_of("one\ntwo\n") == "two"


# -- 9, 10: arguments checked first, and failures in seconds -------------------------------

@pytest.mark.parametrize(("args", "says"), [
    (["--pg-bin", "/nonexistent"], "--pg-bin /nonexistent: no pg_ctl there"),
    (["--to-time", "1900-01-01"], "is before 2020: no backup can be that old"),
    (["--to-time", "2999-01-01T00:00:00Z"], "is in the future"),
    (["--storage-url", "http://127.0.0.1:1/acct"], "cannot reach the object store at "
                                                   "127.0.0.1:1 (Connection refused)"),
])
def test_drill_refuses_bad_arguments_before_asking_the_store(
        args: list[str], says: str) -> None:
    line = one_error_line(run("backup", "drill", "customer1", *args, timeout=30))
    assert says in line, line


def test_a_timeout_below_one_second_is_a_usage_error() -> None:
    proc = run("backup", "drill", "customer1", "--timeout", "0.5")
    assert proc.returncode == 2 and "must be at least 1 second" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_schema_location_is_refused(tmp_path: Path) -> None:
    line = one_error_line(run("verify", "--schema-location", str(tmp_path / "nope"), "."))
    assert "--schema-location" in line and "no such directory" in line


def test_building_a_directory_with_nothing_in_it_exits_2(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("no manifests here\n")
    assert "nothing to build" in one_error_line(run("build", str(tmp_path)))
