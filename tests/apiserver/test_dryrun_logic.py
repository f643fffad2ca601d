"""The API server check's pure logic, without a server: verdicts from Status bodies and
Warning headers, Flux's apply order, shape dedupe, the Pod Security probe Pod."""

from __future__ import annotations

from pathlib import Path

import pytest

from mercury.builder.model import BuildResult, FluxKustomization, K8sObject
from mercury.errors import InputError
from mercury.verify.apiserver_check import parse_setting
from mercury.verify.apiserver_order import (
    PROBE_NAME,
    enforce_level,
    layer_order,
    probe_pod,
    sendable,
    shape_groups,
    staged,
)
from mercury.verify.apiserver_verdict import (
    Verdict,
    cause_texts,
    cel_messages_of,
    rejections,
    warning_verdicts,
)

INVALID = {
    "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": 422,
    "message": 'Deployment.apps "n8n" is invalid: [spec.template.spec.containers[0].ports[1]: '
               'Duplicate value: ..., spec.template.spec.containers[0].resources.requests: '
               'Invalid value: "2": must be less than or equal to cpu limit of 1]',
    "details": {"name": "n8n", "group": "apps", "kind": "Deployment", "causes": [
        {"reason": "FieldValueDuplicate", "field": "spec.template.spec.containers[0].ports[1]",
         "message": 'Duplicate value: {"containerPort":5678,"protocol":"TCP"}'},
        {"reason": "FieldValueInvalid",
         "field": "spec.template.spec.containers[0].resources.requests",
         "message": 'Invalid value: "2": must be less than or equal to cpu limit of 1'},
        {"reason": "FieldValueDuplicate", "field": "spec.template.spec.containers[0].ports[1]",
         "message": 'Duplicate value: {"containerPort":5678,"protocol":"TCP"}'},
    ]},
}
PSA = {"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
       "message": 'pods "p" is forbidden: violates PodSecurity "restricted:latest": '
                  'privileged (container "c" must not set securityContext.privileged=true)',
       "details": {"name": "p", "kind": "pods"}}


def _obj(body: dict, ks: str = "apps") -> K8sObject:
    return K8sObject(body, ks)


def _deployment(ns: str, name: str = "n8n", **spec: object) -> K8sObject:
    pod = {"containers": [{"name": "n8n", "image": "n8nio/n8n:1.0"}], **spec}
    return _obj({"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": name, "namespace": ns},
                 "spec": {"selector": {"matchLabels": {"app": name}},
                          "template": {"metadata": {"labels": {"app": name}}, "spec": pod}}})


def test_causes_are_field_and_message_once_each() -> None:
    assert cause_texts(INVALID) == [
        'spec.template.spec.containers[0].ports[1]: Duplicate value: '
        '{"containerPort":5678,"protocol":"TCP"}',
        'spec.template.spec.containers[0].resources.requests: Invalid value: "2": '
        'must be less than or equal to cpu limit of 1',
    ]
    assert [v.sub for v in rejections(422, INVALID)] == ["invalid", "invalid"]


def test_a_status_without_causes_gives_its_message_without_the_object_prefix() -> None:
    body = {"reason": "NotFound", "code": 404, "message": 'namespaces "t1" not found'}
    assert rejections(404, body) == [Verdict("rejected", "not-found", 'namespaces "t1" not found')]
    typed = {"reason": "BadRequest", "code": 400,
             "message": "failed to create typed patch object (t1/n8n; apps/v1, Kind=Deployment):"
                        " .spec.replicas: expected numeric (int or float), got string"}
    assert cause_texts(typed) == [".spec.replicas: expected numeric (int or float), got string"]


def test_pod_security_refusal_keeps_the_policy_and_the_violations() -> None:
    (verdict,) = rejections(403, PSA)
    assert verdict.sub == "pod-security"
    assert verdict.message.startswith('violates PodSecurity "restricted:latest": privileged')
    other = {"reason": "Forbidden", "code": 403, "message": 'x "y" is forbidden: quota'}
    assert [v.sub for v in rejections(403, other)] == ["forbidden"]


def test_cel_causes_are_told_apart_by_the_crds_messages() -> None:
    crd = {"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
        "properties": {"spec": {"x-kubernetes-validations": [
            {"rule": "self.instances >= 1", "message": "at least one instance"},
            {"rule": "!has(self.a) || !has(self.b)"}]}}}}}]}}
    messages = cel_messages_of(crd, "v1")
    assert messages == {"at least one instance", "self.instances >= 1",
                        "!has(self.a) || !has(self.b)"}
    assert cel_messages_of(crd, "v2") == set()
    body = {"reason": "Invalid", "code": 422, "details": {"causes": [
        {"field": "spec", "message": 'Invalid value: "object": at least one instance'},
        {"field": "spec", "message": "Invalid value: \"object\": failed rule: self.x"},
        {"field": "spec.size", "message": "Invalid value: \"1\": should match '^[0-9]+Gi$'"}]}}
    assert [v.sub for v in rejections(422, body, messages)] == ["cel", "cel", "invalid"]


def test_warnings_are_sorted_by_what_they_are_about() -> None:
    subs = [v.sub for v in warning_verdicts([
        'would violate PodSecurity "restricted:latest": runAsNonRoot != true',
        "policy/v1beta1 PodDisruptionBudget is deprecated in v1.21+, unavailable in v1.25+",
        'unknown field "spec.replica"',
        'duplicate field "replicas"',
        "something else",
        "something else",
    ])]
    assert subs == ["pod-security", "deprecated", "unknown-field", "duplicate-field", "other"]
    assert rejections(200, {}) == []


def test_layers_follow_depends_on_and_stages_put_definitions_first() -> None:
    def build(name: str, *deps: str) -> BuildResult:
        return BuildResult(FluxKustomization(name=name, path=".", depends_on=list(deps)))

    apps, configs, controllers = build("apps", "infra-configs"), \
        build("infra-configs", "flux-system/infra-controllers"), build("infra-controllers")
    assert [b.kustomization.name for b in layer_order([apps, configs, controllers])] == \
        ["infra-controllers", "infra-configs", "apps"]
    loop_a, loop_b = build("a", "b"), build("b", "a")
    assert len(layer_order([loop_a, loop_b])) == 2
    crd = _obj({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "x.example.com"}})
    ns = _obj({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "t1"}})
    sc = _obj({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
               "metadata": {"name": "fast"}})
    dep = _deployment("t1")
    assert staged([dep, sc, ns, crd]) == [[ns, crd], [sc], [dep]]


def test_shapes_merge_tenants_unless_their_pod_security_differs() -> None:
    objs = [_deployment(f"tenant{i}") for i in range(5)] + [_deployment("tenant1", name="other")]
    restricted = {"pod-security.kubernetes.io/enforce": "restricted"}
    labels = {f"tenant{i}": restricted for i in range(4)}
    groups = shape_groups(objs, labels)
    assert [[o.namespace for o in g] for g in groups] == [
        ["tenant0", "tenant1", "tenant2", "tenant3"], ["tenant4"], ["tenant1"]]
    assert enforce_level(restricted) == "restricted" and enforce_level({}) == "privileged"


def test_the_probe_pod_is_the_template_without_reference_fields() -> None:
    dep = _deployment("t1", priorityClassName="high", runtimeClassName="kata")
    pod = probe_pod(dep)
    assert pod is not None
    assert pod["metadata"] == {"name": PROBE_NAME, "namespace": "t1", "labels": {"app": "n8n"}}
    assert "priorityClassName" not in pod["spec"] and pod["spec"]["containers"][0]["name"] == "n8n"
    assert "priorityClassName" in dep.body["spec"]["template"]["spec"]  # not mutated
    cron = _obj({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
                 "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}})
    assert probe_pod(cron) is not None
    assert probe_pod(_obj({"apiVersion": "v1", "kind": "Service", "metadata": {}})) is None


def test_setting_is_auto_off_or_a_directory_with_both_binaries(tmp_path: Path) -> None:
    assert parse_setting("auto").mode == "auto" and parse_setting("off").mode == "off"
    with pytest.raises(InputError, match="kubeconfig is refused"):
        parse_setting(str(tmp_path / "kubeconfig"))
    with pytest.raises(InputError, match="no executable kube-apiserver and etcd"):
        parse_setting(str(tmp_path))
    for name in ("kube-apiserver", "etcd"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    assert parse_setting(str(tmp_path)).mode == "dir"


def test_an_apply_that_cannot_be_typed_is_the_objects_fault() -> None:
    body = {"kind": "Status", "status": "Failure", "reason": "InternalError", "code": 500,
            "message": "failed to create typed patch object (t1/d; apps/v1, Kind=Deployment): "
                       '.spec.template.spec.containers[name="n8n"].ports: duplicate entries '
                       'for key [containerPort=5678,protocol="TCP"]'}
    (verdict,) = rejections(500, body)
    assert verdict.sub == "invalid"
    assert verdict.message.startswith('.spec.template.spec.containers[name="n8n"].ports: dup')
    assert rejections(503, {"message": "etcd down"})[0].sub == "other"


def test_a_redacted_pull_secret_is_sent_with_a_well_formed_placeholder() -> None:
    secret = _obj({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "r"},
                   "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": ""}})
    body = sendable(secret)
    assert body["data"][".dockerconfigjson"] == "eyJhdXRocyI6e319"
    assert secret.body["data"][".dockerconfigjson"] == ""
    opaque = _obj({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "o"},
                   "data": {"k": ""}})
    assert sendable(opaque) is opaque.body
