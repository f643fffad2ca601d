"""`mercury build`: discovery, sample values, real kustomize builds, origins, CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from mercury.builder import (
    FluxKustomization,
    build_repo,
    discover_kustomizations,
    load_terraform,
    load_values,
    normalize_values,
    order_by_dependencies,
    sample_value,
    terraform_errors,
)
from mercury.builder import kustomize as kustomize_mod
from mercury.cli.main import main
from mercury.errors import InputError

TESTDATA = Path(__file__).parent / "testdata"
TF_REPO = TESTDATA / "build-tf"
YAML_REPO = TESTDATA / "build-yaml"
REPO = Path(__file__).resolve().parent.parent
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _copy(src: Path, tmp_path: Path) -> Path:
    dest = tmp_path / src.name
    shutil.copytree(src, dest)
    return dest


def _objects(results: list, kind: str) -> dict[str, object]:
    return {str(o.ref): o for r in results for o in r.objects if o.kind == kind}


# ---------------------------------------------------------------- discovery: Terraform


def test_terraform_discovery_evaluates_paths_and_substitutions() -> None:
    found = {ks.name: ks for ks in discover_kustomizations(TF_REPO)}
    assert [ks.name for ks in discover_kustomizations(TF_REPO)] == [
        "infra-controllers", "infra-configs", "apps"]  # declared apps first in flux.tf
    apps = found["apps"]
    assert apps.path == "apps/staging"  # first environment of platform.yaml
    assert apps.depends_on == ["infra-configs"]
    assert apps.prune and apps.interval_seconds == 300 and apps.declared_in == "terraform"
    flux_tf = (TF_REPO / "terraform/flux.tf").read_text().splitlines()
    assert apps.origin.file == "terraform/flux.tf"
    assert '"apps"' in flux_tf[apps.origin.line - 1]
    sources = apps.substitute_source
    assert sources["AZURE_TENANT_ID"] == "data.azurerm_client_config.current.tenant_id"
    assert sources["BACKUP_CLIENT_ID_BETA_TWO"] == \
        'azurerm_user_assigned_identity.backup["beta-two"].client_id'
    assert sources["ACME_EMAIL"] == "local.env.acme_email"
    # values the evaluator can know come from platform.yaml / the variables
    assert apps.substitute["ACME_EMAIL"] == "ops@example.org"
    assert apps.substitute["ENVIRONMENT"] == "staging"
    # only the environment's tenants get a backup identity
    assert {k for k in apps.substitute if k.startswith("BACKUP_CLIENT_ID_")} == {
        "BACKUP_CLIENT_ID_ALPHA", "BACKUP_CLIENT_ID_BETA_TWO"}


def test_terraform_env_changes_paths_and_tenants() -> None:
    apps = {ks.name: ks for ks in discover_kustomizations(TF_REPO, "production")}["apps"]
    assert apps.path == "apps/production"
    assert apps.substitute["ACME_EMAIL"] == "prod@example.org"
    assert [k for k in apps.substitute if k.startswith("BACKUP_CLIENT")] == [
        "BACKUP_CLIENT_ID_GAMMA"]


def test_sample_values_are_shaped_distinct_and_deterministic() -> None:
    subst = {ks.name: ks for ks in discover_kustomizations(TF_REPO)}["apps"].substitute
    for var in ("AZURE_TENANT_ID", "CSI_IDENTITY_CLIENT_ID", "BACKUP_CLIENT_ID_ALPHA"):
        assert UUID.match(subst[var]), var
    assert re.fullmatch(r"[a-z0-9]{3,24}", subst["KEY_VAULT_NAME"])
    assert re.fullmatch(r"[a-z0-9]{3,24}", subst["BACKUP_STORAGE_ACCOUNT"])
    samples = [subst[v] for v in ("AZURE_TENANT_ID", "CSI_IDENTITY_CLIENT_ID",
                                  "BACKUP_CLIENT_ID_ALPHA", "BACKUP_CLIENT_ID_BETA_TWO",
                                  "KEY_VAULT_NAME", "BACKUP_STORAGE_ACCOUNT")]
    assert len(set(samples)) == len(samples)
    assert sample_value("azurerm_key_vault.main.name") == subst["KEY_VAULT_NAME"]


def test_unparseable_terraform_is_skipped_and_noted(tmp_path: Path) -> None:
    repo = _copy(TF_REPO, tmp_path)
    (repo / "terraform/broken.tf").write_text('resource "x" "y" {\n  a = \n')
    assert "terraform/broken.tf" in terraform_errors(repo)
    assert "terraform/flux.tf" in load_terraform(repo)
    results = build_repo(repo)
    assert [r.error for r in results] == [None, None, None]
    assert any("terraform/broken.tf" in note for note in results[0].notes)


# ---------------------------------------------------------------- discovery: YAML


def test_yaml_discovery_per_environment() -> None:
    staging = discover_kustomizations(YAML_REPO, "staging")
    names = [ks.name for ks in staging]
    # flux-system applies the others' declarations, so it comes first; dependsOn after
    assert names[0] == "flux-system"
    assert names.index("infra-controllers") < names.index("infra-configs") < names.index("apps")
    apps = {ks.name: ks for ks in staging}["apps"]
    assert apps.path == "apps/staging" and apps.target_namespace == "podinfo"
    assert apps.depends_on == ["infra-configs", "not-declared"]
    assert apps.origin.file == "clusters/staging/apps.yaml" and apps.interval_seconds == 600
    production = {ks.name: ks for ks in discover_kustomizations(YAML_REPO, "production")}
    assert production["apps"].path == "apps/production"
    assert production["apps"].substitute["REPLICAS"] == "5"


def test_dependency_order_survives_cycles_and_unknown_deps() -> None:
    def ks(name: str, *deps: str) -> FluxKustomization:
        return FluxKustomization(name=name, path=name, depends_on=list(deps))

    ordered = order_by_dependencies([ks("c", "b"), ks("b", "a", "ghost"), ks("a")])
    assert [k.name for k in ordered] == ["a", "b", "c"]
    cyclic = order_by_dependencies([ks("x", "y"), ks("y", "x"), ks("z")])
    assert [k.name for k in cyclic] == ["z", "x", "y"]


# ---------------------------------------------------------------- builds


def test_build_tf_repo_substitutes_and_records() -> None:
    results = build_repo(TF_REPO)
    assert [(r.kustomization.name, r.error) for r in results] == [
        ("infra-controllers", None), ("infra-configs", None), ("apps", None)]
    apps = results[2]
    subst = apps.kustomization.substitute
    spc = _objects(results, "SecretProviderClass")["SecretProviderClass/alpha/n8n-secrets"]
    assert spc.spec["parameters"]["tenantId"] == subst["AZURE_TENANT_ID"]
    assert spc.spec["parameters"]["keyvaultName"] == subst["KEY_VAULT_NAME"]
    settings = _objects(results, "ConfigMap")
    alpha, beta = settings["ConfigMap/alpha/settings"], settings["ConfigMap/beta-two/settings"]
    assert alpha.body["data"]["backup_client"] == subst["BACKUP_CLIENT_ID_ALPHA"]
    assert beta.body["data"]["backup_client"] == subst["BACKUP_CLIENT_ID_BETA_TWO"]
    assert alpha.body["data"]["defaulted"] == "fallback"
    assert alpha.body["data"]["missing"] == "${NOT_SET_ANYWHERE}"
    assert alpha.body["data"]["shell"] == "echo $HOME ${LITERAL}"
    assert apps.unresolved == {"ConfigMap/alpha/settings": ["NOT_SET_ANYWHERE"],
                               "ConfigMap/beta-two/settings": ["NOT_SET_ANYWHERE"]}
    issuer = _objects(results, "ClusterIssuer")["ClusterIssuer/letsencrypt-staging"]
    assert issuer.spec["acme"]["email"] == "ops@example.org"


def test_secret_values_are_wiped_but_keys_kept() -> None:
    secret = _objects(build_repo(TF_REPO, only="apps"), "Secret")["Secret/alpha/committed"]
    assert secret.body["stringData"] == {"password": "", "empty": ""}
    assert secret.redacted == ["stringData.password"]


def test_origins_point_at_source_documents() -> None:
    results = build_repo(TF_REPO)
    spc = _objects(results, "SecretProviderClass")["SecretProviderClass/beta-two/n8n-secrets"]
    assert (spc.origin.file, spc.origin.line) == ("apps/base/tenant/spc.yaml", 1)
    assert "config.kubernetes.io/origin" not in spc.annotations
    ns = _objects(results, "Namespace")["Namespace/traefik"]
    assert ns.origin.file == "infrastructure/controllers/staging/namespace.yaml"


def test_build_yaml_repo_follows_flux_semantics() -> None:
    results = {r.kustomization.name: r for r in build_repo(YAML_REPO, env="staging")}
    assert all(r.error is None for r in results.values())
    deploy = _objects(list(results.values()), "Deployment")["Deployment/podinfo/podinfo"]
    assert deploy.spec["replicas"] == 2  # text-level substitution: an int, like Flux
    env = deploy.spec["template"]["spec"]["containers"][0]["env"][0]
    assert env["value"] == "hello staging"
    script = _objects([results["apps"]], "ConfigMap")["ConfigMap/podinfo/script"]
    assert script.body["data"]["run.sh"] == 'echo "${HOME}" $$ ${GREETING}\n'  # disabled
    assert results["apps"].unresolved == {}
    # no postBuild: Flux does not substitute at all, and nothing is "unresolved"
    vars_cm = _objects([results["infra-configs"]], "ConfigMap")
    assert vars_cm["ConfigMap/flux-system/cluster-vars"].body["data"] == {
        "untouched": "${GREETING}"}
    assert results["infra-configs"].unresolved == {}
    # a directory without kustomization.yaml: Flux's generated one (manifests only)
    kinds = sorted(o.kind for o in results["infra-controllers"].objects)
    assert kinds == ["HelmRepository", "Namespace"]


def test_broken_kustomization_becomes_an_error(tmp_path: Path) -> None:
    repo = _copy(TF_REPO, tmp_path)
    (repo / "apps/base/tenant/secret.yaml").unlink()
    results = build_repo(repo)
    errors = {r.kustomization.name: r.error for r in results}
    assert errors["infra-controllers"] is None and errors["infra-configs"] is None
    assert errors["apps"] is not None
    assert errors["apps"].startswith("kustomize build of ./apps/staging failed")
    assert "\n" not in errors["apps"] and str(tmp_path) not in errors["apps"]
    assert results[2].error_detail and results[2].objects == []


def test_missing_path_is_an_error_not_an_exception() -> None:
    results = build_repo(TF_REPO, env="production")
    assert results[0].error == "path ./infrastructure/controllers/production does not exist"


def test_unusable_input_raises() -> None:
    with pytest.raises(InputError):
        build_repo(TESTDATA / "no-such-repo")
    with pytest.raises(InputError, match="unknown Kustomization 'nope'"):
        build_repo(TF_REPO, only="nope")


def test_values_override_in_terraform_output_format(tmp_path: Path) -> None:
    tf_output = {
        "flux_substitutions": {"sensitive": False, "type": ["map", "string"],
                               "value": {"AZURE_TENANT_ID": "11111111-2222-3333-4444-555555555555",
                                         "KEY_VAULT_NAME": "kv-real"}},
        "key_vault_name": {"sensitive": False, "type": "string", "value": "kv-real"},
    }
    values_file = tmp_path / "out.json"
    values_file.write_text(json.dumps(tf_output))
    values = load_values(values_file)
    assert values["AZURE_TENANT_ID"] == "11111111-2222-3333-4444-555555555555"
    results = build_repo(TF_REPO, only="apps", values=values)
    spc = _objects(results, "SecretProviderClass")["SecretProviderClass/alpha/n8n-secrets"]
    assert spc.spec["parameters"]["tenantId"] == "11111111-2222-3333-4444-555555555555"
    assert spc.spec["parameters"]["keyvaultName"] == "kv-real"
    # the source expression is kept: verify still knows where the value comes from
    assert results[0].kustomization.substitute_source["AZURE_TENANT_ID"].startswith("data.")


def test_normalize_values_shapes() -> None:
    assert normalize_values({"A": 1, "B": True}) == {"A": "1", "B": "true"}
    assert normalize_values({"flux_substitutions": {"X": "y"}}) == {"X": "y"}
    with pytest.raises(InputError):
        normalize_values(["not", "a", "map"])


def test_fan_out_gives_the_same_objects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _copy(TF_REPO, tmp_path)
    overlay = (repo / "apps/staging/alpha/kustomization.yaml").read_text()
    names = [f"t{i}" for i in range(5)]
    for name in names:
        (repo / "apps/staging" / name).mkdir()
        (repo / "apps/staging" / name / "kustomization.yaml").write_text(
            overlay.replace("alpha", name))
    (repo / "apps/staging/kustomization.yaml").write_text(
        "resources:\n" + "".join(f"  - {n}\n" for n in ["alpha", "beta-two", *names]))
    plain = build_repo(repo, only="apps")[0]
    monkeypatch.setattr(kustomize_mod, "FANOUT_MIN", 2)
    monkeypatch.setattr(kustomize_mod, "FANOUT_CHUNK", 2)
    fanned = build_repo(repo, only="apps")[0]
    assert plain.error is None and fanned.error is None
    assert len(fanned.objects) == 7 * 3

    def key(o: object) -> str:
        return json.dumps(o.body, sort_keys=True)  # type: ignore[attr-defined]

    assert sorted(map(key, plain.objects)) == sorted(map(key, fanned.objects))
    # fanned-out builds skip kustomize's origin annotations (half its time) and find the
    # same source files and lines through the repository index
    def where(o: object) -> tuple[str, tuple[str | None, int | None]]:
        return str(o.ref), (o.origin.file, o.origin.line)  # type: ignore[attr-defined]

    assert sorted(map(where, fanned.objects)) == sorted(map(where, plain.objects))
    assert all(o.origin.file and o.origin.line for o in fanned.objects)
    # a duplicate across groups is still refused, as kustomize would
    (repo / "apps/staging/t4/kustomization.yaml").write_text(overlay.replace("alpha", "t0"))
    assert "already registered id" in (build_repo(repo, only="apps")[0].error or "")


# ---------------------------------------------------------------- the real repository


@pytest.mark.skipif(not (REPO / "terraform/flux.tf").is_file(), reason="terraform/ not there yet")
def test_real_repository_builds() -> None:
    results = build_repo(REPO)
    assert [r.kustomization.name for r in results] == ["infra-controllers", "infra-configs", "apps"]
    assert [r.error for r in results] == [None, None, None]
    apps = results[2]
    tenant_var = next(var for var, src in apps.kustomization.substitute_source.items()
                      if src.startswith("data.azurerm_client_config."))
    spcs = _objects(results, "SecretProviderClass").values()
    assert spcs and all(o.spec["parameters"]["tenantId"] == apps.kustomization.substitute[
        tenant_var] for o in spcs)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- CLI


def test_cli_prints_one_yaml_stream(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--repo", str(TF_REPO)]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert len(docs) == 1 + 1 + 6
    assert [d["kind"] for d in docs[:2]] == ["Namespace", "ClusterIssuer"]  # dependency order
    assert main(["build", "--repo", str(TF_REPO), "--kustomization", "infra-configs"]) == 0
    assert [d["kind"] for d in yaml.safe_load_all(capsys.readouterr().out)] == ["ClusterIssuer"]


def test_cli_path_mode_substitutes_only_given_values(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("ACME_EMAIL: me@example.org\n")
    target = str(TF_REPO / "infrastructure/configs/staging")
    assert main(["build", target, "--values", str(values)]) == 0
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["spec"]["acme"]["email"] == "me@example.org"
    assert main(["build", target]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["spec"]["acme"]["email"] == "${ACME_EMAIL}"


def test_cli_failed_build_exits_2_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = _copy(TF_REPO, tmp_path)
    (repo / "apps/base/tenant/spc.yaml").unlink()
    assert main(["build", "--repo", str(repo)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "apps: kustomize build" in captured.err


# ---------------------------------------------------------------- scale (opt-in)


@pytest.mark.skipif(not os.environ.get("MERCURY_BENCH"), reason="set MERCURY_BENCH=1")
def test_thousand_tenants_timing(tmp_path: Path) -> None:
    """1,000 tenant overlays of the real base: prints kustomize vs mercury's own time."""
    repo = tmp_path / "repo"
    for name in ("apps", "infrastructure", "terraform"):
        shutil.copytree(REPO / name, repo / name)
    shutil.copy(REPO / "platform.yaml", repo / "platform.yaml")
    template = (repo / "apps/staging/customer1/kustomization.yaml").read_text()
    names = [f"t{i:04d}" for i in range(1000)]
    for name in names:
        (repo / "apps/staging" / name).mkdir()
        (repo / "apps/staging" / name / "kustomization.yaml").write_text(
            template.replace("customer1", name).replace("CUSTOMER1", name.upper()))
    shutil.rmtree(repo / "apps/staging/customer1")
    (repo / "apps/staging/kustomization.yaml").write_text(
        "resources:\n" + "".join(f"  - {n}\n" for n in names))
    started = time.perf_counter()
    stream, _ = kustomize_mod.kustomize_build(repo / "apps/staging")
    kustomize_s = time.perf_counter() - started
    started = time.perf_counter()
    results = build_repo(repo, only="apps")
    total_s = time.perf_counter() - started
    print(f"\n1000 tenants: {len(results[0].objects)} objects, {len(stream) / 1e6:.1f} MB; "
          f"kustomize {kustomize_s:.1f}s; build_repo {total_s:.1f}s; "
          f"mercury's own share ~{total_s - kustomize_s:.1f}s")
    assert results[0].error is None and len(results[0].objects) >= 15000
