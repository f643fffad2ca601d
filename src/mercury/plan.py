"""`mercury plan`: the whole pipeline in one offline pass, as a fleet report.

platform.yaml -> render (check mode) -> build every layer -> verify (schemas, rules,
Terraform) -> one report: tenants with their URLs, objects per layer, problems found.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mercury.platform import Platform, Tenant, load_platform
from mercury.render import render_repo
from mercury.render.tenant import backup_client_id_var
from mercury.verify.engine import VerifyReport, verify_repo
from mercury.verify.findings import Severity


@dataclass
class LayerRow:
    name: str
    path: str
    objects: int
    seconds: float
    error: str | None


@dataclass
class TenantRow:
    name: str
    environment: str
    url: str
    instances: int
    schedule: str
    backup_auth: str
    objects: int
    errors: int
    warnings: int
    # Terraform reads platform.yaml too: its post_build map must carry this tenant's
    # backup identity (one per tenant, from the same for_each as its secrets/container)
    terraform: str


@dataclass
class FleetPlan:
    environment: str
    drifted: list[str]
    layers: list[LayerRow]
    tenants: list[TenantRow]
    verify: VerifyReport
    notes: list[str] = field(default_factory=list)
    # nodes, allocatable, requested, fits, how many more default-size tenants fit
    capacity: dict[str, Any] | None = None
    # the flow matrix of mercury.verify.network (Analysis.as_json), None when not computed
    network: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        """1 when rendered files drifted or an error-level finding exists."""
        return 1 if self.drifted or self.verify.exit_code else 0

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "render": {"clean": not self.drifted, "drifted": self.drifted},
            "layers": [vars(layer) for layer in self.layers],
            "tenants": [vars(tenant) for tenant in self.tenants],
            "findings": [f.as_json() for f in self.verify.findings],
            "capacity": self.capacity,
            "summary": self.verify.summary.as_json(),
            "network": self.network,
            "exit_code": self.exit_code,
        }


def make_plan(root: Path, *, env: str | None = None, schema_location: str | None = None,
              values: Path | None = None) -> FleetPlan:
    """Render-check, build and verify `root`; nothing is written."""
    platform = load_platform(root)
    environment = env or platform.default_environment
    if environment not in platform.environments:
        from mercury.errors import InputError

        known = ", ".join(platform.environments)
        raise InputError(f"unknown environment {environment!r} (known: {known})")
    drift = render_repo(root, platform, check=True)
    report = verify_repo(root, env=environment, schema_location=schema_location, values=values)
    layers = [
        LayerRow(b.kustomization.name, b.kustomization.path, len(b.objects),
                 round(b.seconds, 2), b.error)
        for b in report.builds
    ]
    return FleetPlan(
        environment=environment,
        drifted=sorted(drift.drifted + drift.removed),
        layers=layers,
        tenants=_tenant_rows(platform, environment, report),
        verify=report,
        capacity=_capacity(root, environment, platform, report),
        network=_network(root, report),
    )


def _capacity(root: Path, environment: str, platform: Platform,
              report: VerifyReport) -> dict[str, Any] | None:
    """The capacity assessment the `capacity` rule checks, as the plan's report."""
    from mercury.builder import load_terraform
    from mercury.platform.model import Database
    from mercury.verify.capacity import assess
    from mercury.verify.context import TerraformFacts, VerifyContext

    files = load_terraform(root)
    facts = TerraformFacts(root=root, files=files, environment=environment) if files else None
    ctx = VerifyContext(root, report.builds, terraform=facts, environment=environment)
    result = assess(ctx, tenants=sorted(platform.tenants_of(environment)),
                    default_instances=Database().instances)
    return result.as_json() if result else None


def _network(root: Path, report: VerifyReport) -> dict[str, Any]:
    """The flow matrix over what verify built (pure: a context of the same builds)."""
    from mercury.verify.context import VerifyContext
    from mercury.verify.network import analyze

    return analyze(VerifyContext(root, report.builds)).as_json()


def _terraform_wiring(name: str, tenant: Tenant, report: VerifyReport) -> str:
    """Whether the Flux layer that applies the tenant gets its Terraform values (a `sas`
    tenant needs only the platform-wide ones; verify checks every variable anyway)."""
    variable = backup_client_id_var(name) if tenant.backup.auth == "workload-identity" else None
    layers = [b.kustomization for b in report.builds
              if any(o.namespace == name for o in b.objects)]
    if not layers:
        return "not built"
    if not any(ks.substitute_source for ks in layers):
        return "no Terraform"
    if variable is None or all(variable in ks.substitute for ks in layers):
        return "wired"
    return f"missing {variable}"


def _tenant_rows(platform: Platform, environment: str, report: VerifyReport) -> list[TenantRow]:
    objects = Counter(o.namespace for b in report.builds for o in b.objects)
    errors = Counter(f.tenant for f in report.findings if f.severity is Severity.ERROR)
    warnings = Counter(f.tenant for f in report.findings if f.severity is Severity.WARNING)
    return [
        TenantRow(
            name=name,
            environment=tenant.environment,
            url=f"https://{tenant.host}",
            instances=tenant.database.instances,
            schedule=tenant.backup.schedule,
            backup_auth=tenant.backup.auth,
            objects=objects.get(name, 0),
            errors=errors.get(name, 0),
            warnings=warnings.get(name, 0),
            terraform=_terraform_wiring(name, tenant, report),
        )
        for name, tenant in platform.tenants_of(environment).items()
    ]
