"""The platform model: environments and tenants, validated at the boundary.

`platform.yaml` is read by mercury (this module) and by Terraform (`yamldecode`), so
every field here has a Terraform twin in terraform/locals.tf. Defaults live here and
are repeated there with `try(..., default)`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from mercury.platform.hardening import Hardening, Profile, resolve

# A tenant name becomes a namespace (DNS-1123 label), a Key Vault secret prefix and an
# Azure blob container name: 3-63 lowercase letters, digits and hyphens, starting and
# ending with a letter or digit, never two hyphens in a row (Azure refuses `ab--cd`).
TENANT_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
# An environment name becomes a directory (apps/<env>/, infrastructure/*/<env>/): a
# DNS-1123 label, so no `/`, `..` or upper case can steer a write elsewhere.
ENVIRONMENT_NAME = re.compile(rf"^{_LABEL}$")
# Directory names of the shared templates beside the environments and tenants
# (apps/base/, apps/base/components/, apps/base/n8n-tenant/, infrastructure/*/base/):
# an environment or tenant of that name would write over them.
RESERVED_DIR_NAMES = {"base", "components", "n8n-tenant", "backup-sas"}
TENANT_NAME_RULE = ("tenant names are 3-63 lowercase letters, digits or '-', starting and "
                    "ending with a letter or digit, without '--'")
ENVIRONMENT_NAME_RULE = ("environment names are 1-63 lowercase letters, digits or '-', "
                         "starting and ending with a letter or digit")
HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})+$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
RETENTION = re.compile(r"^[1-9][0-9]*[dwm]$")  # barman-cloud: days, weeks, months
RESERVED_NAMESPACES = {
    "default", "kube-system", "kube-public", "kube-node-lease", "flux-system",
    "cert-manager", "cnpg-system", "traefik", "reloader",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClusterSpec(_Strict):
    name: str
    kubernetes_version: str = "1.35"
    node_count: StrictInt = Field(default=2, ge=1, le=100)
    node_size: str = "Standard_D2s_v3"


class Environment(_Strict):
    location: str
    domain: str
    acme_email: str
    cluster_issuer: Literal["letsencrypt-staging", "letsencrypt-prod"] = "letsencrypt-staging"
    resource_group: str
    key_vault_name: str = Field(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")
    storage_account_name: str = Field(pattern=r"^[a-z0-9]{3,24}$")
    cluster: ClusterSpec
    # Baseline hardening (mercury.platform.hardening): production's secure defaults
    # unless the environment says `profile: staging`; `hardening:` overrides values.
    profile: Profile = "production"
    hardening: Hardening = Hardening()

    @field_validator("hardening", mode="before")
    @classmethod
    def _none_is_no_override(cls, value: object) -> object:
        return {} if value is None else value

    def hardening_settings(self) -> dict[str, Any]:
        """The effective hardening of this environment (Terraform's local.hardening)."""
        return resolve(self.profile, self.location, self.hardening)

    @field_validator("acme_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError(f"not an email address: {value!r}")
        return value


class Database(_Strict):
    instances: StrictInt = Field(default=3, ge=1, le=9)  # `true` is not 1
    storage_size: str = "10Gi"

    @field_validator("storage_size")
    @classmethod
    def _quantity(cls, value: str) -> str:
        if not QUANTITY.fullmatch(value):
            raise ValueError(f"not a Kubernetes quantity: {value!r} (e.g. 10Gi)")
        return value


class Backup(_Strict):
    schedule: str = "0 0 2 * * *"
    retention: str = "30d"
    auth: Literal["workload-identity", "sas"] = "workload-identity"

    @field_validator("schedule")
    @classmethod
    def _six_fields(cls, value: str) -> str:
        from mercury.platform.cron import cron_problem

        problem = cron_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: str) -> str:
        if not RETENTION.fullmatch(value):
            raise ValueError(f"retention must look like 30d, 4w or 6m, not {value!r}")
        return value


class Tenant(_Strict):
    environment: str
    host: str
    database: Database = Database()
    backup: Backup = Backup()

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not HOSTNAME.fullmatch(value):
            raise ValueError(f"not a DNS host name: {value!r}")
        return value


class Platform(_Strict):
    environments: dict[str, Environment]
    tenants: dict[str, Tenant] = {}

    @field_validator("tenants", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return {} if value is None else value

    @model_validator(mode="after")
    def _cross_checks(self) -> Platform:
        for env in self.environments:
            problem = environment_name_problem(env)
            if problem:
                raise ValueError(f"environments.{env}: {problem}")
        hosts: dict[str, str] = {}
        for name, tenant in self.tenants.items():
            problem = tenant_name_problem(name)
            if problem:
                raise ValueError(f"tenants.{name}: {problem}")
            if tenant.environment not in self.environments:
                known = ", ".join(sorted(self.environments)) or "none"
                raise ValueError(
                    f"tenants.{name}.environment: unknown environment "
                    f"{tenant.environment!r} (known: {known})"
                )
            if tenant.host in hosts:
                raise ValueError(
                    f"tenants.{name}.host: {tenant.host} is already used by "
                    f"tenant {hosts[tenant.host]}"
                )
            hosts[tenant.host] = name
        return self

    def tenants_of(self, environment: str) -> dict[str, Tenant]:
        """Tenants that live in `environment`, sorted by name."""
        return {n: t for n, t in sorted(self.tenants.items()) if t.environment == environment}

    @property
    def default_environment(self) -> str:
        """The first environment in the file: what commands use without --env."""
        return next(iter(self.environments))


def environment_name_problem(name: str) -> str | None:
    """Why `name` cannot be an environment (it names directories), or None."""
    if not ENVIRONMENT_NAME.fullmatch(name):
        return f"{name!r}: {ENVIRONMENT_NAME_RULE}"
    if name in RESERVED_DIR_NAMES:
        return f"{name!r} is reserved (a shared template directory has that name)"
    return None


def tenant_name_problem(name: str) -> str | None:
    """Why `name` cannot be a tenant (namespace, blob container, directory), or None."""
    if not TENANT_NAME.fullmatch(name):
        return f"{name!r}: {TENANT_NAME_RULE}"
    if name in RESERVED_NAMESPACES:
        return f"{name!r} is a reserved namespace"
    if name in RESERVED_DIR_NAMES:
        return f"{name!r} is reserved (a shared template directory has that name)"
    return None
