#!/usr/bin/env python3
"""How `mercury verify` scales with the number of tenants, cold and warm (build cache).

For each N: copy the repository, write N tenants into platform.yaml (in the format
`mercury tenant add` writes, in one go), `mercury render`, then time under
/usr/bin/time -v (wall time + peak RSS):
  cold    `mercury verify` with an empty build cache
  warm    the same again (every kustomize build is a cache hit)
  1 edit  after changing one tenant's database instances and re-rendering
  floor   plain `kubectl kustomize apps/<env>` (quadratic; gives up after a timeout)
  apiserver  (with --apiserver) warm verify plus `--apiserver auto --crds ../shared/crds`:
          a real kube-apiserver dry-runs every object (start-up and CRDs included)

    .venv/bin/python bench/verify_scale.py            # N = 1, 100, 1000
    .venv/bin/python bench/verify_scale.py -n 10 -n 50 --keep --no-floor
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mercury.platform import load_platform
from mercury.platform.model import Tenant
from mercury.render import render_repo

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
CRD_SCHEMAS = REPO.parent / "shared" / "schemas" / "crds"
CRDS = REPO.parent / "shared" / "crds"


@dataclass
class Run:
    seconds: float
    rss_mb: float
    rc: int
    stdout: str


def timed(argv: list[str], cwd: Path, timeout: float | None = None,
          env: dict[str, str] | None = None) -> Run | None:
    """Run under /usr/bin/time -v; parse elapsed wall clock and maximum resident set.

    None when it ran longer than `timeout` seconds.
    """
    with subprocess.Popen(["/usr/bin/time", "-v", *argv], cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True,
                          env=env) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # time(1) and the program it runs
            proc.communicate()
            return None
    wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    if not wall or not rss:
        raise SystemExit(f"cannot parse /usr/bin/time output:\n{stderr[-2000:]}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in wall.groups())
    return Run(hours * 3600 + minutes * 60 + seconds, int(rss.group(1)) / 1024,
               proc.returncode, stdout)


def copy_repo(dest: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file() and Path(rel).parts[0] not in {"tests", "docs", "src", "bench"}:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _tenant_block(name: str, tenant: Tenant) -> str:
    """One tenant as `mercury tenant add` writes it (see mercury.platform.edit)."""
    return (f"  {name}:\n"
            f"    environment: {tenant.environment}\n"
            f"    host: {tenant.host}\n"
            f"    database:\n"
            f"      instances: {tenant.database.instances}\n"
            f"      storage_size: {tenant.database.storage_size}\n"
            f"    backup:\n"
            f"      schedule: {json.dumps(tenant.backup.schedule)}\n"
            f"      retention: {tenant.backup.retention}\n"
            f"      auth: {tenant.backup.auth}\n")


def write_tenants(root: Path, count: int) -> str:
    """N tenants t0001.. cloned from the first one, written and rendered once; the env.

    (N calls of add_tenant re-parse the file each time with ruamel: O(N^2), 810 s at
    1,000; appending the blocks to the text is instant.)
    """
    path = root / "platform.yaml"
    platform = load_platform(root)
    template = next(iter(platform.tenants.values()))
    domain = platform.environments[template.environment].domain
    text = path.read_text()
    head = text[:re.search(r"^tenants:.*$", text, re.MULTILINE).end()]  # type: ignore[union-attr]
    blocks = [_tenant_block(f"t{i:04d}", template.model_copy(update={"host": f"t{i:04d}.{domain}"}))
              for i in range(1, count + 1)]
    path.write_text(head + "\n" + "\n".join(blocks))
    render_repo(root, load_platform(root))
    return template.environment


def edit_one_tenant(root: Path) -> None:
    """Change t0001's database instances (the common CI case: a PR touches one tenant)."""
    path = root / "platform.yaml"
    text = path.read_text()
    block = re.search(r"^  t0001:\n(?:    .*\n)+", text, re.MULTILINE)
    assert block is not None
    old = block.group(0)
    new = re.sub(r"instances: (\d+)", lambda m: f"instances: {int(m.group(1)) % 3 + 1}", old)
    path.write_text(text.replace(old, new))
    render_repo(root, load_platform(root))


def verify(root: Path, work: Path, env: dict[str, str],
           apiserver: bool = False) -> tuple[Run, dict[str, int]]:
    argv = [str(VENV_BIN / "mercury"), "verify", str(root), "--format", "json",
            "--schema-location", str(CRD_SCHEMAS)]
    argv += ["--apiserver", "auto", "--crds", str(CRDS)] if apiserver else ["--apiserver", "off"]
    run = timed(argv, cwd=work, env=env)
    assert run is not None
    try:
        return run, json.loads(run.stdout)["summary"]
    except ValueError:
        print(run.stdout[-2000:], file=sys.stderr)
        raise SystemExit(f"verify failed in {root} (rc {run.rc})") from None


def _cell(run: Run | None, timeout: int) -> str:
    if run is None:
        return f"{'> ' + str(timeout) + ' s':>16}"
    return f"{run.seconds:>7.2f} s {run.rss_mb:>4.0f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--tenants", type=int, action="append",
                        help="tenant counts (default: 1, 100, 1000)")
    parser.add_argument("--keep", action="store_true", help="keep the generated copies")
    parser.add_argument("--floor-timeout", type=int, default=300,
                        help="give up on plain kubectl kustomize after this many seconds")
    parser.add_argument("--no-floor", action="store_true", help="skip plain kubectl kustomize")
    parser.add_argument("--apiserver", action="store_true",
                        help="add a warm verify with the real API server (needs `make tools`)")
    args = parser.parse_args()
    counts = args.tenants or [1, 100, 1000]
    cols = ("cold verify", "warm verify", "warm, 1 edit", "kustomize floor") + \
        (("warm + apiserver",) if args.apiserver else ())
    print(f"{'tenants':>7} {'objects':>8} {'err':>4} {'warn':>5} "
          + " ".join(f"{c:>16}" for c in cols), flush=True)
    for count in counts:
        work = Path(tempfile.mkdtemp(prefix=f"mercury-bench-{count}-"))
        root = work / "repo"
        copy_repo(root)
        env_name = write_tenants(root, count)
        env = {**os.environ, "MERCURY_CACHE_DIR": str(work / "cache")}
        env.pop("MERCURY_NO_CACHE", None)
        cold, summary = verify(root, work, env)
        warm, _ = verify(root, work, env)
        edit_one_tenant(root)
        edited, _ = verify(root, work, env)
        floor = None
        if not args.no_floor:
            floor = timed([str(VENV_BIN / "kubectl"), "kustomize", str(root / "apps" / env_name)],
                          cwd=work, timeout=args.floor_timeout)
        floor_cell = f"{'skipped':>16}" if args.no_floor else _cell(floor, args.floor_timeout)
        api_cell = ""
        if args.apiserver:
            judged, api_summary = verify(root, work, env, apiserver=True)
            api_cell = f" {_cell(judged, 0)}  [{api_summary['apiserver']}; " \
                       f"{api_summary['errors']} err]"
        print(f"{count:>7} {summary['objects']:>8} {summary['errors']:>4} "
              f"{summary['warnings']:>5} {_cell(cold, 0)} {_cell(warm, 0)} {_cell(edited, 0)} "
              f"{floor_cell}{api_cell}", flush=True)
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
