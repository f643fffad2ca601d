"""`mercury build` against the Flux CLI: `flux build kustomization NAME --path DIR
--kustomization-file FILE --dry-run` on the fixtures gives the same objects with the
same substitutions (Flux's own kustomize + postBuild code, offline).

Only labels Flux adds for ownership (`kustomize.toolkit.fluxcd.io/*`) are ignored, and
namespaces of cluster-scoped kinds (the API server drops them; mercury's model does
too). Skipped, visibly, without a Flux CLI (`make tools`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mercury.builder import build_repo, yaml12
from mercury.toolchain import find_tool

DATA = Path(__file__).parent / "testdata"
FLUX = find_tool("flux")

# fixture -> (root Kustomization, its file): single-root cases whose values come from
# the Kustomization itself (dry-run reads no cluster, so no substituteFrom objects).
# Not flux-sourceignore: the CLI reads the directory, not source-controller's artifact.
# Not flux-yaml12: flux 2.9.5's CLI reads the Kustomization file with sigs.k8s.io/yaml
# (go-yaml v2, YAML 1.1), so `SWITCH: on` / `ANSWER: no` in postBuild.substitute become
# "true" / "false" there, while kustomize's output (kyaml, YAML 1.2) keeps "on"; which one
# a cluster sees depends on how the Kustomization object is applied. `=` agrees.
CASES = {
    "flux-postbuild-only": [("plain", "clusters/dev/plain.yaml"),
                            ("subst", "clusters/dev/subst.yaml")],
    "flux-escape": [("apps", "clusters/dev/apps.yaml")],
    "flux-substitute-disabled": [("apps", "clusters/dev/apps.yaml")],
    "flux-components-patches": [("apps", "clusters/dev/apps.yaml")],
    "flux-cluster-scope": [("infra", "clusters/dev/infra.yaml")],
    "flux-environments": [("apps", "clusters/production/apps.yaml")],
}

pytestmark = pytest.mark.skipif(FLUX is None, reason="no Flux CLI (`make tools` builds it "
                                                     "into .tools/bin): parity not checked")


def _normal(body: dict[str, Any], cluster_scoped: bool) -> tuple[str, dict[str, Any]]:
    meta = body.setdefault("metadata", {})
    labels = {k: v for k, v in (meta.get("labels") or {}).items()
              if not k.startswith("kustomize.toolkit.fluxcd.io/")}
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    if cluster_scoped:
        meta.pop("namespace", None)
    if body.get("kind") == "Secret":  # mercury blanks values (keys stay)
        for field in ("data", "stringData"):
            if isinstance(body.get(field), dict):
                body[field] = dict.fromkeys(body[field], "")
    key = f"{body.get('kind')}/{meta.get('namespace', '')}/{meta.get('name')}"
    return key, body


def _as_flux(body: Any, unresolved: list[str]) -> Any:
    """mercury leaves an unresolved `${VAR}` in place (to point at it); Flux substitutes
    an empty string (and YAML then reads an empty value as null)."""
    if isinstance(body, dict):
        return {k: _as_flux(v, unresolved) for k, v in body.items()}
    if isinstance(body, list):
        return [_as_flux(v, unresolved) for v in body]
    if isinstance(body, str) and unresolved:
        for var in unresolved:
            body = body.replace("${" + var + "}", "")
        return body.strip() or None
    return body


def _flux_build(repo: Path, name: str, ks_file: str) -> list[dict[str, Any]]:
    ks = yaml12.load((repo / ks_file).read_text())
    path = ks["spec"]["path"]
    assert FLUX is not None
    proc = subprocess.run([str(FLUX), "build", "kustomization", name, "--path", path,
                           "--kustomization-file", ks_file, "--dry-run"],
                          cwd=repo, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml12.load_all(proc.stdout) if isinstance(d, dict)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_objects_and_substitutions_as_flux(case: str, tmp_path: Path) -> None:
    repo = tmp_path / case
    shutil.copytree(DATA / case, repo)
    ours = {r.kustomization.name: r for r in build_repo(repo)}
    for name, ks_file in CASES[case]:
        result = ours[name]
        scoped = {o.kind for o in result.objects if not o.namespace}
        mine = dict(_normal(_as_flux(o.body, result.unresolved.get(str(o.ref), [])),
                            o.kind in scoped) for o in result.objects)
        theirs = dict(_normal(d, d.get("kind") in scoped)
                      for d in _flux_build(repo, name, ks_file))
        assert sorted(mine) == sorted(theirs), name
        for key in mine:
            assert mine[key] == theirs[key], key
