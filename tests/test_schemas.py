"""SchemaStore: strict core schemas, CRD schemas from a directory or URL template, cache."""

from __future__ import annotations

import copy
import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mercury.verify.schemas import SchemaStore, core_schema_dir, expand_template

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "t1"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}},
}
CLUSTER = {
    "apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
    "metadata": {"name": "n8n-db", "namespace": "t1"},
    "spec": {"instances": 3, "storage": {"size": "10Gi"},
             "bootstrap": {"initdb": {"database": "n8n", "owner": "n8n",
                                      "secret": {"name": "n8n-db-credentials"}}}},
}


@pytest.fixture
def store(crd_schemas: Path, tmp_path: Path) -> SchemaStore:
    return SchemaStore(str(crd_schemas), cache_dir=tmp_path / "cache")


def test_core_schemas_are_the_newest_not_after_1_35() -> None:
    assert core_schema_dir().name == "v1.35.0-local-strict"
    assert core_schema_dir("1.30").name.startswith("v1.30.")


def test_unknown_field_and_wrong_type_give_two_errors_with_paths(store: SchemaStore) -> None:
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["replicas"] = "two"
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    result = store.validate(bad)
    assert result.missing is None
    paths = [e.path for e in result.errors]
    assert paths == ["$.spec.replicas", "$.spec.template.spec.containers[0]"]
    assert "imagePullPolice" in result.errors[1].message
    assert store.validate(DEPLOYMENT).errors == ()


def test_crd_object_validates_against_directory_schemas(store: SchemaStore) -> None:
    assert store.validate(CLUSTER).errors == ()
    bad = copy.deepcopy(CLUSTER)
    bad["spec"]["instancez"] = 3
    bad["spec"]["instances"] = "three"
    assert [e.path for e in store.validate(bad).errors] == ["$.spec", "$.spec.instances"]


def test_kind_without_schema_is_missing_not_an_error(store: SchemaStore) -> None:
    result = store.validate({"apiVersion": "example.com/v1", "kind": "Widget",
                             "metadata": {"name": "w"}})
    assert result.errors == ()
    assert result.missing and "Widget" in result.missing


def test_crd_group_colliding_with_core_group_is_not_taken_for_core(store: SchemaStore) -> None:
    # "apps.example.com/v1 Deployment" maps to kubernetes-validate's deployment-apps-v1.json
    # by file name; the group check must reject it.
    result = store.validate({**DEPLOYMENT, "apiVersion": "apps.example.com/v1"})
    assert result.missing is not None


def test_shapes_differing_by_namespace_are_validated_once(store: SchemaStore) -> None:
    for ns, uuid in (("tenant-a", "cf653ac9-8d62-50ab-a693-6fe71a36f7b2"),
                     ("tenant-b", "e685ffc4-72f4-56ce-81d8-358143af55a9"), ("tenant-c", "")):
        obj = copy.deepcopy(DEPLOYMENT)
        obj["metadata"]["namespace"] = ns
        obj["metadata"]["annotations"] = {"client-id": uuid or "00000000-0000-0000-0000-0"
                                                                "00000000000"}
        assert store.validate(obj).errors == ()
    assert store.validated == 1
    bad = copy.deepcopy(DEPLOYMENT)
    bad["metadata"]["namespace"] = "tenant-d"
    bad["spec"]["replicas"] = "x"
    assert len(store.validate(bad).errors) == 1  # invalid objects are always validated
    assert len(store.validate(bad).errors) == 1


def test_template_expansion() -> None:
    url = expand_template("https://h/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json",
                          "cert-manager.io/v1", "ClusterIssuer")
    assert url == "https://h/cert-manager.io/clusterissuer_v1.json"


@pytest.fixture
def http_schemas(crd_schemas: Path) -> Iterator[tuple[str, list[str], http.server.HTTPServer]]:
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            requests.append(self.path)

    server = http.server.HTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(crd_schemas)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    template = (f"http://127.0.0.1:{server.server_port}/"
                "{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json")
    try:
        yield template, requests, server
    finally:
        server.shutdown()
        server.server_close()


def test_url_template_is_fetched_once_then_served_from_cache(
        http_schemas: tuple[str, list[str], http.server.HTTPServer], tmp_path: Path) -> None:
    template, requests, server = http_schemas
    cache = tmp_path / "cache"
    assert SchemaStore(template, cache_dir=cache).validate(CLUSTER).errors == ()
    assert len(requests) == 1
    index = json.loads((cache / "index.json").read_text())
    (url, entry), = index.items()
    assert url.endswith("/postgresql.cnpg.io/cluster_v1.json") and len(entry["sha256"]) == 64

    server.shutdown()  # offline from now on: the cache must answer
    server.server_close()
    assert SchemaStore(template, cache_dir=cache).validate(CLUSTER).errors == ()
    assert len(requests) == 1

    (cache / entry["file"]).write_text("{}")  # tampered: sha256 no longer matches
    result = SchemaStore(template, cache_dir=cache).validate(CLUSTER)
    assert result.missing and "cannot be fetched" in result.missing


def test_offline_and_not_cached_is_missing(tmp_path: Path) -> None:
    store = SchemaStore("http://127.0.0.1:9/{{.Group}}/{{.ResourceKind}}.json",
                        cache_dir=tmp_path)
    result = store.validate(CLUSTER)
    assert result.errors == () and result.missing and "not cached" in result.missing


def test_environment_variable_sets_the_location(monkeypatch: pytest.MonkeyPatch,
                                                crd_schemas: Path, tmp_path: Path) -> None:
    monkeypatch.setenv("MERCURY_SCHEMA_LOCATION", str(crd_schemas))
    store = SchemaStore(cache_dir=tmp_path)
    assert store.location.startswith(str(crd_schemas))
    assert store.validate(CLUSTER).missing is None
