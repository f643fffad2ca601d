"""Reference rules for pod specs: ConfigMaps, PVCs and ServiceAccounts they name exist.

Their fields are rows of the reference table (mercury.verify.references.table) under
these rule ids, kept for the tests, docs and skip lists that name them; the table's
resolver reports them. Namespaces a HelmRelease installs into are skipped: charts create
objects the build cannot see, and a guess there would be a false alarm.
"""

from __future__ import annotations

from collections.abc import Iterable

from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding
from mercury.verify.rules.base import Rule
from mercury.verify.rules.reference_table import table_findings


class ConfigMapRefRule(Rule):
    """A pod spec reads a ConfigMap (or a key of it) that the build does not contain: the
    pod stays in CreateContainerConfigError.
    """

    id = "configmap-ref"
    summary = "a referenced ConfigMap or ConfigMap key does not exist"
    hint = "add the ConfigMap (e.g. a configMapGenerator) or fix the name/key, or mark it optional"
    tags = ("references",)

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        yield from table_findings(self, ctx)


class PvcRefRule(Rule):
    """A pod spec mounts a PersistentVolumeClaim that does not exist: the pod stays Pending."""

    id = "pvc-ref"
    summary = "a referenced PersistentVolumeClaim does not exist"
    hint = "declare the PVC in the same namespace or fix claimName"
    tags = ("references", "storage")

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        yield from table_findings(self, ctx)


class ServiceAccountRefRule(Rule):
    """A pod spec runs as a ServiceAccount that does not exist: the ReplicaSet cannot create
    pods ("serviceaccount not found"). `default` always exists; CNPG creates one named
    after each Cluster.
    """

    id = "service-account-ref"
    summary = "a referenced ServiceAccount does not exist"
    hint = "declare the ServiceAccount in the same namespace or fix serviceAccountName"
    tags = ("references",)

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        yield from table_findings(self, ctx)
