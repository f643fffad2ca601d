"""The verify engine: rule isolation, skips, build failures, exit codes through main()."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mercury.builder.model import BuildResult, FluxKustomization, K8sObject, Origin
from mercury.cli.main import main
from mercury.verify.context import VerifyContext
from mercury.verify.engine import build_failures, run_rules
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule

DATA = Path(__file__).parent / "testdata"


class Boom(Rule):
    id = "boom"
    summary = "raises on the object named b, after one finding"

    def check_object(self, obj: K8sObject, ctx: VerifyContext) -> Iterator[Finding]:
        yield self.finding(obj, f"seen {obj.name}")
        if obj.name == "b":
            raise KeyError("spec")


class EveryObject(Rule):
    id = "every-object"
    summary = "one finding per object"
    severity = Severity.WARNING

    def check_object(self, obj: K8sObject, ctx: VerifyContext) -> Iterator[Finding]:
        yield self.finding(obj, f"object {obj.name}")


class AllBoom(Rule):
    id = "all-boom"
    summary = "check_all raises"

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        raise RuntimeError("cross-object bug")


def _ctx(*names: str, annotations: dict[str, dict[str, str]] | None = None) -> VerifyContext:
    ks = FluxKustomization(name="apps", path="apps")
    objects = []
    for name in names:
        meta = {"name": name, "namespace": "t1",
                "annotations": (annotations or {}).get(name, {})}
        objects.append(K8sObject({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta},
                                 "apps", Origin(f"apps/{name}.yaml", 3)))
    return VerifyContext(Path("."), [BuildResult(ks, objects)])


def test_a_crashing_rule_becomes_an_internal_error_and_others_still_run() -> None:
    findings, _ = run_rules(_ctx("a", "b", "c"), [Boom(), EveryObject(), AllBoom()])
    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        by_rule.setdefault(f.rule, []).append(f)
    assert [f.message for f in by_rule["boom"]] == ["seen a", "seen b", "seen c"]
    assert len(by_rule["every-object"]) == 3
    crashes = by_rule["internal-error"]
    assert {(f.object, f.file) for f in crashes} == {("ConfigMap/t1/b", "apps/b.yaml"), ("", None)}
    messages = sorted(f.message for f in crashes)
    assert messages[0].startswith("rule all-boom crashed: RuntimeError: cross-object bug")
    assert messages[1].startswith("rule boom crashed: KeyError")
    assert all(f.severity is Severity.ERROR for f in crashes)


def test_skip_by_flag_and_by_annotation() -> None:
    ctx = _ctx("a", "b", annotations={"b": {"mercury.io/skip": "every-object, other"}})
    findings, suppressed = run_rules(ctx, [EveryObject(), Boom()], skip=["boom"])
    assert [f.object for f in findings] == ["ConfigMap/t1/a"]
    assert suppressed == 0  # the annotated rule was not even run on b


class PerObjectFromCheckAll(Rule):
    id = "cross"
    summary = "a cross-object finding per object"
    subs = frozenset({"sub", "other"})

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        for obj in ctx.objects:
            yield self.finding(obj, "cross", sub="sub")
            yield self.finding(obj, "cross other", sub="other")


class SecretsOnly(Rule):
    id = "secrets-only"
    summary = "looks at Secrets only"
    kinds = frozenset({"Secret"})

    def check_object(self, obj: K8sObject, ctx: VerifyContext) -> Iterator[Finding]:
        yield self.finding(obj, obj.kind)


def test_the_engine_dispatches_by_declared_kind() -> None:
    findings, _ = run_rules(_ctx("a", "b"), [SecretsOnly()])
    assert findings == []  # the context holds ConfigMaps only


def test_skip_of_a_sub_id_keeps_the_rest_of_the_rule() -> None:
    findings, suppressed = run_rules(_ctx("a"), [PerObjectFromCheckAll()], skip=["cross[other]"])
    assert [f.rule for f in findings] == ["cross[sub]"]
    assert suppressed == 1


def test_skip_refuses_an_unknown_sub_id() -> None:
    from mercury.errors import InputError
    from mercury.verify.engine import check_skip_ids

    check_skip_ids(["cross[sub]"], [PerObjectFromCheckAll()])
    with pytest.raises(InputError, match=r"unknown sub-id for --skip: cross\[nope\]"):
        check_skip_ids(["cross[nope]"], [PerObjectFromCheckAll()])


def test_annotation_suppresses_cross_object_findings_and_counts_them() -> None:
    ctx = _ctx("a", "b", annotations={"b": {"mercury.io/skip": "cross"}})
    findings, suppressed = run_rules(ctx, [PerObjectFromCheckAll()])
    assert [(f.rule, f.object) for f in findings] == [("cross[sub]", "ConfigMap/t1/a"),
                                                      ("cross[other]", "ConfigMap/t1/a")]
    assert suppressed == 2


def test_build_failure_is_a_finding_on_the_kustomization() -> None:
    ks = FluxKustomization(name="apps", path="apps", origin=Origin("clusters/apps.yaml", 1))
    (finding,) = build_failures([BuildResult(ks, error="kustomize build of ./apps failed: x"),
                                 BuildResult(FluxKustomization(name="ok", path="ok"))])
    assert (finding.rule, finding.object, finding.file) == (
        "build-failure", "Kustomization/flux-system/apps", "clusters/apps.yaml")
    assert "kustomize build of ./apps failed" in finding.message


def _verify(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["verify", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def schemas(crd_schemas: Path) -> str:
    return str(crd_schemas)


def test_clean_repository_exits_0(capsys: pytest.CaptureFixture[str], schemas: str) -> None:
    code, out, _ = _verify(capsys, str(DATA / "verify-clean"), "--schema-location", schemas,
                           "--format", "json")
    doc = json.loads(out)
    assert code == 0
    assert [f for f in doc["findings"] if f["severity"] == "error"] == []
    assert doc["summary"]["objects"] == 3 and doc["summary"]["kustomizations"] == 1


def test_schema_errors_exit_1_with_both_paths(capsys: pytest.CaptureFixture[str],
                                              schemas: str) -> None:
    code, out, _ = _verify(capsys, str(DATA / "verify-schema-error"), "--schema-location",
                           schemas, "--format", "json")
    assert code == 1
    found = [f for f in json.loads(out)["findings"] if f["rule"] == "schema-invalid"]
    assert [f["message"].split(":")[0] for f in found] == [
        "$.spec.replicas", "$.spec.template.spec.containers[0]"]
    assert {f["file"] for f in found} == {"apps/app.yaml"}


def test_skip_flag_turns_errors_off(capsys: pytest.CaptureFixture[str], schemas: str) -> None:
    code, out, _ = _verify(capsys, str(DATA / "verify-schema-error"), "--schema-location",
                           schemas, "--skip", "schema-invalid,network-default-deny")
    assert code == 0
    assert "0 error(s)" in out


def test_build_failure_exits_1_without_traceback(capsys: pytest.CaptureFixture[str],
                                                 schemas: str) -> None:
    code, out, err = _verify(capsys, str(DATA / "verify-build-failure"), "--schema-location",
                             schemas, "--format", "json")
    assert code == 1 and "Traceback" not in err
    (finding,) = json.loads(out)["findings"]
    assert finding["rule"] == "build-failure"
    assert finding["object"] == "Kustomization/flux-system/apps"
    assert "missing.yaml" in finding["message"]


def test_plain_kustomize_directory_is_one_pseudo_kustomization(
        capsys: pytest.CaptureFixture[str], schemas: str) -> None:
    code, out, _ = _verify(capsys, str(DATA / "verify-plain-kustomize"), "--schema-location",
                           schemas, "--format", "json")
    assert code == 0
    assert json.loads(out)["summary"]["objects"] == 3


def test_nothing_to_check_is_unusable_input(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    """Nothing checked must never be green (issue 9): exit 2 with one line."""
    code, _, err = _verify(capsys, str(tmp_path))
    assert code == 2
    assert err.strip().splitlines() == [
        f"mercury: error: no Flux Kustomization or kustomization.yaml found in {tmp_path}"]


@pytest.mark.parametrize("argv, message", [
    (["/nonexistent/repo"], "not a directory"),
    ([".", "--format", "xml"], "--format must be one of"),
    ([".", "--skip", "no-such-rule"], "unknown rule id(s) for --skip: no-such-rule"),
])
def test_unusable_input_exits_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                message: str) -> None:
    code, _, err = _verify(capsys, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_list_rules_prints_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _verify(capsys, "--list-rules")
    assert code == 0
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:]}
    assert rows["schema-invalid"] == "error"
    assert rows["schema-missing"] == "warning"
    assert rows["substitution-unused"] == "info"
    assert {"build-failure", "internal-error", "keyvault-rbac"} <= set(rows)


def test_repository_itself_verifies_with_test_schemas(
        capsys: pytest.CaptureFixture[str], repo_copy: Path, schemas: str) -> None:
    code, out, _ = _verify(capsys, str(repo_copy), "--schema-location", schemas,
                           "--format", "json")
    doc = json.loads(out)
    assert doc["summary"]["kustomizations"] == 3
    assert not [f for f in doc["findings"] if f["rule"] in {"schema-missing", "internal-error"}]
    assert code == doc["summary"]["exit_code"]


def test_relative_repo_path_checks_terraform_wiring_too(
        repo_copy: Path, crd_schemas: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`mercury verify .` must read platform.yaml through Terraform's path.module as well."""
    service = repo_copy / "apps/base/n8n-tenant/service.yaml"
    service.write_text(service.read_text().replace("part-of: n8n", "part-of: ${TEAM_NAME}", 1))
    monkeypatch.chdir(repo_copy)
    assert main(["verify", ".", "--schema-location", str(crd_schemas), "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    # once, at the line that uses it; not again on every tenant's object
    assert [(f["rule"], f["file"]) for f in findings] == [
        ("substitution-missing", "apps/base/n8n-tenant/service.yaml")]
