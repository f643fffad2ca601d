"""Schema rules: every built object against its JSON schema, strict like kubeconform.

Both rules read `ctx.schema_validation(obj)` (a `SchemaStore` run once per object);
without a store (unit tests that build a bare context) they report nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from mercury.builder.model import K8sObject
from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding, Severity
from mercury.verify.rules.base import Rule


class SchemaInvalid(Rule):
    """An object that does not match its schema: an unknown field (often a typo or a
    field that moved between API versions) or a value of the wrong type.

    Bad:  `spec: {replicas: "one"}` on a Deployment.  Good: `spec: {replicas: 1}`.
    """

    id = "schema-invalid"
    summary = "object does not match the JSON schema of its kind (unknown field, wrong type)"
    severity = Severity.ERROR
    hint = "fix the field at the reported path; unknown fields are typos or moved fields"
    tags = ("schema",)

    def check_object(self, obj: K8sObject, ctx: VerifyContext) -> Iterator[Finding]:
        result = ctx.schema_validation(obj)
        if result is None:
            return
        for error in result.errors:
            yield self.finding(obj, f"{error.path}: {error.message}")


class SchemaMissing(Rule):
    """No schema was found for a kind, so the fields of its objects went unchecked.
    Reported once per kind (apiVersion + kind), at its first object, with the count.

    Bad: a CRD kind absent from the schema location while offline.  Good: point
    `--schema-location` at a directory holding `<group>/<kind>_<version>.json`.
    """

    id = "schema-missing"
    summary = "no JSON schema found for a kind; the fields of its objects were not checked"
    severity = Severity.WARNING
    hint = ("pass --schema-location DIR_OR_URL (or MERCURY_SCHEMA_LOCATION) holding "
            "<group>/<kind>_<version>.json, or run once online to fill the cache")
    tags = ("schema",)

    def check_all(self, ctx: VerifyContext) -> Iterator[Finding]:
        first: dict[tuple[str, str], tuple[K8sObject, str]] = {}
        count: dict[tuple[str, str], int] = {}
        for obj in ctx.objects:
            result = ctx.schema_validation(obj)
            if result is None or not result.missing:
                continue
            key = (obj.api_version, obj.kind)
            first.setdefault(key, (obj, result.missing))
            count[key] = count.get(key, 0) + 1
        for key, (obj, message) in first.items():
            n = count[key]
            others = f" ({n} objects of this kind, e.g. this one)" if n > 1 else ""
            yield self.finding(obj, message + others)


RULES: list[Rule] = [SchemaInvalid(), SchemaMissing()]
