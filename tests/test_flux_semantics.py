"""Flux's semantics, one small repository each (tests/testdata/flux-*/, see their READMEs).

Every case asserts the exact findings, warnings and info included: (rule, severity,
object, file, line). A finding more or less is a change of the model, never noise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mercury.builder import build_repo
from mercury.cli.main import main
from mercury.errors import InputError
from mercury.verify.engine import VerifyReport, verify_repo

DATA = Path(__file__).parent / "testdata"
Row = tuple[str, str, str, str | None, int | None]

CASES: dict[str, list[Row]] = {
    "flux-postbuild-only": [
        ("unsubstituted-var", "error", "ConfigMap/default/settings", "subst/settings.yaml", 8),
    ],
    "flux-substitute-from": [
        ("unsubstituted-var", "error", "ConfigMap/demo/app", "apps/app.yaml", 8),
    ],
    "flux-escape": [],
    "flux-substitute-disabled": [
        ("unsubstituted-var", "error", "ConfigMap/demo/plain", "apps/plain.yaml", 7),
    ],
    "flux-sops": [
        ("secret-data-committed", "error", "Secret/demo/plain", "apps/plain.yaml", 1),
    ],
    "flux-yaml12": [],
    "flux-cluster-scope": [],
    "flux-foreign-source": [
        ("source-external", "info", "Kustomization/flux-system/podinfo-git",
         "clusters/dev/foreign.yaml", 1),
        ("source-external", "info", "Kustomization/flux-system/podinfo-oci",
         "clusters/dev/foreign.yaml", 14),
        ("source-external", "info", "Kustomization/flux-system/from-bucket",
         "clusters/dev/foreign.yaml", 27),
        ("source-external", "info", "Kustomization/flux-system/from-artifact",
         "clusters/dev/foreign.yaml", 40),
    ],
    "flux-sourceignore": [],
    "flux-components-patches": [
        ("namespace-missing", "error", "ConfigMap/demo/team-app", "apps/app.yaml", 1),
        ("secret-data-committed", "error", "Secret/demo/team-extra",
         "components/extra/secret.yaml", 1),
    ],
    "flux-depends-on-namespace": [
        ("flux-depends-on", "error", "Kustomization/apps/team", "tenants/team.yaml", 1),
    ],
    "flux-parent-creates-namespace": [
        ("namespace-missing[order]", "warning", "ConfigMap/late/app", "app/config.yaml", 1),
    ],
    "flux-environments": [],
    "flux-unreached-files": [],
    "flux-build-error-cause": [
        ("build-failure", "error", "Kustomization/flux-system/apps", "clusters/dev/apps.yaml", 1),
        ("build-failure", "error", "Kustomization/flux-system/broken",
         "clusters/dev/broken.yaml", 1),
    ],
    "flux-aks-extension": [],
    "flux-remote-resource": [
        ("remote-resource", "info", "Kustomization/flux-system/apps", "clusters/dev/apps.yaml", 1),
    ],
    "flux-schema-missing": [
        ("schema-missing", "warning", "Widget/demo/one", "apps/widgets.yaml", 1),
    ],
    "flux-helm-created": [
        ("issuer-ref", "error", "Certificate/demo/typo", "apps/certificate.yaml", 13),
    ],
}


def _verify(case: str, crd_schemas: Path, **kwargs: Any) -> VerifyReport:
    return verify_repo(DATA / case, schema_location=str(crd_schemas), **kwargs)


def _rows(report: VerifyReport) -> list[Row]:
    return [(f.rule, f.severity.value, f.object, f.file, f.line) for f in report.findings]


def _objects(case: str, **kwargs: Any) -> dict[str, dict[str, Any]]:
    return {str(o.ref): o.body for r in build_repo(DATA / case, **kwargs) for o in r.objects}


def test_every_fixture_has_a_case_and_a_readme() -> None:
    fixtures = sorted(p.name for p in DATA.glob("flux-*"))
    assert fixtures == sorted(CASES)
    assert all((DATA / name / "README.md").is_file() for name in fixtures)


@pytest.mark.parametrize("case", sorted(CASES))
def test_exact_findings(case: str, crd_schemas: Path) -> None:
    assert sorted(_rows(_verify(case, crd_schemas)), key=str) == sorted(CASES[case], key=str)


def test_substitution_happens_only_with_post_build() -> None:
    objects = _objects("flux-postbuild-only")
    assert "${HOME}" in objects["ConfigMap/demo/script"]["data"]["run.sh"]
    data = objects["ConfigMap/default/settings"]["data"]
    assert data["given"] == "given" and data["defaulted"] == "fallback"


def test_substitute_from_the_parents_build() -> None:
    data = _objects("flux-substitute-from")["ConfigMap/demo/app"]["data"]
    assert data["url"] == "https://app.example.org"


def test_escape_yields_a_literal_variable() -> None:
    script = _objects("flux-escape")["ConfigMap/demo/script"]["data"]["greet.sh"]
    assert 'hello world' in script and "${USER}" in script and "$${USER}" not in script


def test_generators_with_substitute_disabled_are_left_alone() -> None:
    objects = _objects("flux-substitute-disabled")
    for name in ("per-generator", "all-generators"):
        assert "${HOME}" in objects[f"ConfigMap/demo/{name}"]["data"]["script.sh"]


def test_encrypted_secrets_are_known_as_encrypted() -> None:
    found = {str(o.ref): o for r in build_repo(DATA / "flux-sops") for o in r.objects}
    assert found["Secret/demo/encrypted"].encrypted and "sops" not in \
        found["Secret/demo/encrypted"].body
    assert found["Secret/demo/from-env"].encrypted
    assert not found["Secret/demo/plain"].encrypted


def test_yaml_is_read_as_go_reads_it() -> None:
    data = _objects("flux-yaml12")["ConfigMap/demo/settings"]["data"]
    assert data == {"separator": "=", "switch": "on", "answer": "no", "on": "literal key"}


def test_cluster_scoped_kinds_are_never_namespaced() -> None:
    refs = set(_objects("flux-cluster-scope"))
    assert {"ClusterRole/reader", "ClusterRoleBinding/reader", "ClusterIssuer/selfsigned",
            "Namespace/demo"} <= refs
    assert not any(r.startswith(("ClusterIssuer/demo/", "ClusterRole/demo/")) for r in refs)


def test_foreign_sources_are_not_built(crd_schemas: Path) -> None:
    report = _verify("flux-foreign-source", crd_schemas)
    assert [b.kustomization.name for b in report.builds] == ["apps"]


def test_flux_fields_change_the_build() -> None:
    objects = _objects("flux-components-patches")
    app = objects["ConfigMap/demo/team-app"]
    assert app["data"] == {"mode": "patched"} and app["metadata"]["labels"] == {"team": "blue"}
    assert objects["Secret/demo/team-extra"]["metadata"]["labels"] == {"team": "blue"}


def test_environments_are_the_cluster_roots(crd_schemas: Path) -> None:
    default = _verify("flux-environments", crd_schemas)
    assert (default.summary.environment, default.summary.environments) == (
        "production", ("production", "staging"))
    staging = _verify("flux-environments", crd_schemas, env="staging")
    assert _rows(staging) == [("unsubstituted-var", "error", "ConfigMap/demo/staging-only",
                               "apps/staging/extra.yaml", 6)]
    with pytest.raises(InputError, match="unknown environment 'nope'"):
        _verify("flux-environments", crd_schemas, env="nope")


def test_environment_in_text_and_json(capsys: pytest.CaptureFixture[str],
                                      crd_schemas: Path) -> None:
    case = str(DATA / "flux-environments")
    assert main(["verify", case, "--env", "staging", "--schema-location", str(crd_schemas),
                 "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["summary"]["environment"] == "staging"
    assert main(["verify", case, "--schema-location", str(crd_schemas)]) == 0
    assert "(environment production" in capsys.readouterr().out
    assert main(["verify", case, "--cluster", "nope"]) == 2


def test_unreached_declarations_are_skipped_and_counted(crd_schemas: Path) -> None:
    report = _verify("flux-unreached-files", crd_schemas)
    assert sorted(b.kustomization.name for b in report.builds) == ["apps", "flux-system",
                                                                    "live"]
    assert report.summary.skipped == 2
    everything = _verify("flux-unreached-files", crd_schemas, include_all=True)
    assert sorted(r[:3] for r in _rows(everything)) == [
        ("build-failure", "error", "Kustomization/flux-system/old-apps"),
        ("namespace-missing", "error", "ConfigMap/gone/retired-broken"),
    ]


def test_build_failure_names_kustomizes_cause(crd_schemas: Path) -> None:
    messages = {f.object: f.message for f in _verify("flux-build-error-cause",
                                                      crd_schemas).findings}
    apps = messages["Kustomization/flux-system/apps"]
    assert apps.endswith("failed: apps/missing.yaml: no such file or directory")
    assert "deprecated" not in apps
    broken = messages["Kustomization/flux-system/broken"]
    assert "yaml: line 5" in broken and "config.yaml" in broken


def test_aks_extension_roots_and_names(crd_schemas: Path) -> None:
    report = _verify("flux-aks-extension", crd_schemas)
    roots = {b.kustomization.name: b.kustomization for b in report.builds}
    assert roots["infra"].object_name == "fleet-infra" and roots["infra"].namespace == \
        "cluster-config"
    assert roots["team"].parent == "Kustomization/cluster-config/apps"
    team = _objects("flux-aks-extension")["ConfigMap/demo/team"]
    assert team["data"]["url"] == "https://team.example.org"


def test_remote_resources_are_left_out_not_fatal() -> None:
    (result,) = build_repo(DATA / "flux-remote-resource")
    assert result.error is None and len(result.remote) == 3
    assert sorted(str(o.ref) for o in result.objects) == ["ConfigMap/demo/dashboards",
                                                         "Namespace/demo"]
    origin = {str(o.ref): o.origin for o in result.objects}
    assert origin["Namespace/demo"].file == "apps/namespace.yaml"


def test_schema_missing_once_per_kind_with_the_count(crd_schemas: Path) -> None:
    (finding,) = _verify("flux-schema-missing", crd_schemas).findings
    assert "3 objects of this kind" in finding.message
