"""`verify --apiserver`: a real kube-apiserver judges the built objects (dry-run apply).

Fixtures under dryrun/{pass,fail}/*.yaml are read like rule fixtures (`# expect:` lines,
see tests/rules/rulefixture.py) and judged by one server shared by the module, with the
platform's CRDs (../shared/crds) installed. Skipped, with the reason, when kube-apiserver
or etcd is not installed (`make tools`).
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mercury.apiserver import ApiServer, missing_reason
from mercury.builder.model import BuildResult, FluxKustomization, K8sObject, Origin
from mercury.cli.main import main
from mercury.verify.apiserver_check import ApiServerCheck, judge_server
from mercury.verify.context import VerifyContext
from mercury.verify.engine import verify_repo
from mercury.verify.rules.apiserver import RULES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rules"))
from rulefixture import expectations, load_context

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CRDS = REPO.parent / "shared" / "crds"
REASON = missing_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"API server tests: {REASON}")
CASES = sorted([*HERE.glob("dryrun/pass/*.yaml"), *HERE.glob("dryrun/fail/*.yaml")])


@pytest.fixture(scope="module")
def judge() -> Iterator[ApiServer]:
    if not CRDS.is_dir():
        pytest.skip(f"CRDs not found at {CRDS}")
    with judge_server([CRDS]) as server:
        yield server


def _findings(ctx: VerifyContext, server: ApiServer) -> list[tuple[str, str, str, str]]:
    ctx.apiserver = ApiServerCheck(server=server)
    return [(f.rule, f.object, f.severity.value, f.message)
            for rule in RULES for f in rule.check_all(ctx)]


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_fixture(path: Path, judge: ApiServer) -> None:
    expected = expectations(path.read_text())
    assert bool(expected) == (path.parent.name == "fail"), path
    found = _findings(load_context([path]), judge)
    report = "\n".join(" ".join(f) for f in found)
    assert sorted((r, o) for r, o, _, _ in found) == sorted((e.rule, e.object) for e in expected), \
        report
    severities = {(r, o): s for r, o, s, _ in found}
    for e in expected:
        if e.severity:
            assert severities[(e.rule, e.object)] == e.severity, report


def test_messages_are_the_servers_causes(judge: ApiServer) -> None:
    found = _findings(load_context([HERE / "dryrun" / "fail" / "workload-fields.yaml"]), judge)
    by_object = {o.split("/")[-1]: m for _, o, _, m in found}
    assert by_object["duplicate-ports"] == (
        '.spec.template.spec.containers[name="n8n"].ports: duplicate entries for key '
        '[containerPort=5678,protocol="TCP"]')
    assert by_object["requests-over-limits"] == (
        'spec.template.spec.containers[0].resources.requests: Invalid value: "2": '
        "must be less than or equal to cpu limit of 1")
    assert "replicas" in by_object["replicas-string"]
    (psa,) = _findings(load_context([HERE / "dryrun" / "fail" /
                                     "privileged-in-restricted.yaml"]), judge)
    assert psa[3].startswith('spec.template: its Pods would be refused: violates PodSecurity '
                             '"restricted:latest": privileged')


def test_a_shape_is_sent_once_and_a_refused_shape_per_object(judge: ApiServer) -> None:
    """100 tenants of 3 objects cost a few requests; a refused shape is judged per tenant."""
    tenant = load_context([HERE / "dryrun" / "pass" / "restricted-tenant.yaml"]).objects[:3]
    build = BuildResult(FluxKustomization(name="apps", path="."))
    for i in range(100):
        text = json.dumps([o.body for o in tenant]).replace("tenant-a", f"t{i:03d}")
        build.objects += [K8sObject(b, "apps", Origin("tenants.yaml", 1))
                          for b in json.loads(text)]
    ctx = VerifyContext(Path("."), [build])
    check = ctx.apiserver = ApiServerCheck(server=judge)
    assert [f for rule in RULES for f in rule.check_all(ctx)] == []
    assert check.stats.objects == 300
    assert check.stats.requests < 20, check.stats

    bad = copy.deepcopy(build)
    for obj in bad.objects:
        if obj.kind == "Deployment":
            obj.body["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"][
                "cpu"] = "2"
    ctx = VerifyContext(Path("."), [bad])
    refused = _findings(ctx, judge)
    assert len(refused) == 100
    assert {o for _, o, _, _ in refused} == {f"Deployment/t{i:03d}/n8n" for i in range(100)}


def test_bundled_repository_has_no_findings_with_the_api_server(judge: ApiServer,
                                                               crd_schemas: Path) -> None:
    check = ApiServerCheck(server=judge)
    report = verify_repo(REPO, schema_location=str(crd_schemas), apiserver=check)
    assert [f.as_json() for f in report.findings] == []
    assert check.stats.objects == report.summary.objects and check.stats.unserved == 0
    assert report.summary.apiserver.startswith(f"API server: {report.summary.objects} objects")


def test_auto_says_in_one_line_why_it_did_not_run(tmp_path: Path, crd_schemas: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MERCURY_TOOLS_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(tmp_path)
    import mercury.toolchain as toolchain

    monkeypatch.setattr(toolchain, "tool_dirs", lambda: [tmp_path])
    code = main(["verify", str(REPO), "--schema-location", str(crd_schemas),
                 "--apiserver", "auto"])
    out = capsys.readouterr().out
    assert code == 0
    assert "API server check skipped: kube-apiserver and etcd not installed (run `make tools`" \
        in out


def _children() -> set[str]:
    """Names of this process's child processes (etcd, kube-apiserver while they run)."""
    names = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        if int(fields[1].split()[1]) == os.getpid():
            names.add(fields[0].split("(", 1)[1])
    return names


def test_a_check_that_starts_its_server_stops_it_once_it_has_judged() -> None:
    ctx = load_context([HERE / "dryrun" / "fail" / "names-and-labels.yaml"])
    before = _children()
    with ApiServerCheck("auto") as check:
        ctx.apiserver = check
        found = [f.rule for rule in RULES for f in rule.check_all(ctx)]
        assert check.server is None and _children() == before
    assert found == ["apiserver-rejected[invalid]"] * 2
    assert check.stats.startup_seconds > 0 and check.status.startswith("API server: 3 objects")
