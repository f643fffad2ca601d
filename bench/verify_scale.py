#!/usr/bin/env python3
"""How `mercury verify` scales with the number of tenants, against the kustomize floor.

For each N: copy the repository, write N tenants into platform.yaml (cloned from the
first tenant), `mercury render`, then time `mercury verify` and plain
`kubectl kustomize apps/<env>` under /usr/bin/time -v (wall time + peak RSS).

    .venv/bin/python bench/verify_scale.py            # N = 1, 100, 1000
    .venv/bin/python bench/verify_scale.py -n 10 -n 50 --keep
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

import yaml

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
CRD_SCHEMAS = REPO.parent / "shared" / "schemas" / "crds"


@dataclass
class Run:
    seconds: float
    rss_mb: float
    rc: int
    stdout: str


def timed(argv: list[str], cwd: Path, timeout: float | None = None) -> Run | None:
    """Run under /usr/bin/time -v; parse elapsed wall clock and maximum resident set.

    None when it ran longer than `timeout` seconds.
    """
    with subprocess.Popen(["/usr/bin/time", "-v", *argv], cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as proc:
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


def write_tenants(root: Path, count: int) -> str:
    """N tenants cloned from the first one (plain YAML: fast at any N); returns the env."""
    from mercury.platform import load_platform
    from mercury.render import render_repo

    path = root / "platform.yaml"
    data = yaml.safe_load(path.read_text())
    template = next(iter(data["tenants"].values()))
    env = template["environment"]
    domain = data["environments"][env]["domain"]
    data["tenants"] = {
        f"t{i:04d}": {**template, "host": f"t{i:04d}.{domain}"} for i in range(1, count + 1)
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    render_repo(root, load_platform(root))
    return str(env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--tenants", type=int, action="append",
                        help="tenant counts (default: 1, 100, 1000)")
    parser.add_argument("--keep", action="store_true", help="keep the generated copies")
    parser.add_argument("--floor-timeout", type=int, default=240,
                        help="give up on plain kubectl kustomize after this many seconds")
    args = parser.parse_args()
    counts = args.tenants or [1, 100, 1000]
    print(f"{'tenants':>7} {'objects':>8} {'err':>5} {'warn':>5} {'verify s':>9} "
          f"{'verify MB':>10} {'kustomize s':>12} {'kustomize MB':>13} {'ratio':>6}",
          flush=True)
    for count in counts:
        work = Path(tempfile.mkdtemp(prefix=f"mercury-bench-{count}-"))
        root = work / "repo"
        copy_repo(root)
        env = write_tenants(root, count)
        verify = timed([str(VENV_BIN / "mercury"), "verify", str(root), "--format", "json",
                        "--schema-location", str(CRD_SCHEMAS)], cwd=work)
        assert verify is not None
        try:
            summary = json.loads(verify.stdout)["summary"]
        except ValueError:
            print(verify.stdout[-2000:], file=sys.stderr)
            raise SystemExit(f"verify failed for N={count} (rc {verify.rc})") from None
        floor = timed([str(VENV_BIN / "kubectl"), "kustomize", str(root / "apps" / env)],
                      cwd=work, timeout=args.floor_timeout)
        floor_s = f"{floor.seconds:>12.2f}" if floor else f"{'>' + str(args.floor_timeout):>12}"
        floor_mb = f"{floor.rss_mb:>13.0f}" if floor else f"{'?':>13}"
        ratio = f"{verify.seconds / floor.seconds:>6.1f}" if floor else f"{'<1':>6}"
        print(f"{count:>7} {summary['objects']:>8} {summary['errors']:>5} "
              f"{summary['warnings']:>5} {verify.seconds:>9.2f} {verify.rss_mb:>10.0f} "
              f"{floor_s} {floor_mb} {ratio}", flush=True)
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
