"""`reference-missing`: every reference of the declarative table that names nothing.

The rule is a thin reporter over `mercury.verify.references`: the table decides which
fields are references, the index what exists. Sub-ids are the target kinds
(`reference-missing[secretproviderclass]`, `[storageclass]`, `[service-port]`, ...).
"""

from __future__ import annotations

from collections.abc import Iterable

from mercury.verify.context import VerifyContext
from mercury.verify.findings import Finding
from mercury.verify.references.resolve import broken_references
from mercury.verify.references.table import ROWS, sub_id
from mercury.verify.rules.base import Rule

EXTRA_SUBS = frozenset({"selector", "service", "service-port"})


def table_findings(rule: Rule, ctx: VerifyContext) -> Iterable[Finding]:
    """The findings of the table's broken references that `rule` reports."""
    for broken in broken_references(ctx):
        if broken.rule == rule.id:
            sub = broken.sub if rule.subs else None
            yield rule.finding(broken.obj, broken.message, sub=sub, severity=broken.severity)


class ReferenceMissingRule(Rule):
    """A field that names another object (a volume's SecretProviderClass, a storage class,
    a probe's port name, a RoleBinding's role, a CNPG Pooler's cluster, a Flux sourceRef,
    a Traefik middleware, a host name in an env value, ...) names nothing the build, an
    operator or AKS creates. The object then fails at deploy or run time: pods stuck in
    ContainerCreating or Pending, a Flux Kustomization never ready, a route that 404s.
    References into namespaces a HelmRelease installs into, or outside the verified build,
    are not reported (their objects cannot be seen).
    """

    id = "reference-missing"
    summary = "a reference field (per the reference table) names an object that does not exist"
    hint = "fix the name (or namespace), or add the missing object to the build"
    tags = ("references",)
    subs = frozenset({sub_id(t) for row in ROWS if row.rule == "reference-missing"
                      for t in row.target}) | EXTRA_SUBS

    def check_all(self, ctx: VerifyContext) -> Iterable[Finding]:
        yield from table_findings(self, ctx)
