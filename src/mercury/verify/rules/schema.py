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
    """No schema was found for the object's kind, so its fields went unchecked.

    Bad: a CRD kind absent from the schema location while offline.  Good: point
    `--schema-location` at a directory holding `<group>/<kind>_<version>.json`.
    """

    id = "schema-missing"
    summary = "no JSON schema found for the object's kind; its fields were not checked"
    severity = Severity.WARNING
    hint = ("pass --schema-location DIR_OR_URL (or MERCURY_SCHEMA_LOCATION) holding "
            "<group>/<kind>_<version>.json, or run once online to fill the cache")
    tags = ("schema",)

    def check_object(self, obj: K8sObject, ctx: VerifyContext) -> Iterator[Finding]:
        result = ctx.schema_validation(obj)
        if result is not None and result.missing:
            yield self.finding(obj, result.missing)


RULES: list[Rule] = [SchemaInvalid(), SchemaMissing()]
