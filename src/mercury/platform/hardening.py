"""Baseline hardening: a `profile` per environment, with per-environment overrides.

Why profiles: the secure basics (Entra ID only, a maintenance window, zones where the
region has them, keyless storage unless a `sas` tenant needs keys) hold for every
environment, while what costs money or needs a decision is on for `production` and off
for `staging`: Azure Policy, the API server's uptime SLA (AKS Standard tier), Container
Insights and diagnostic logs, geo-redundant backups, a closed API server. An
environment's `hardening:` mapping overrides single values of its profile.

Terraform twin: terraform/profiles.tf resolves the same file into `local.hardening`;
tests/test_hardening.py evaluates both and compares them, so a default changed here
must change there too.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

Profile = Literal["staging", "production"]
Weekday = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# Regions with availability zones, from Microsoft's "Azure regions list"
# (https://learn.microsoft.com/azure/reliability/regions-list, read 2026-12; programmatic
# names). A region missing here gets no zones, which works everywhere; an environment
# can say `hardening.availability_zones: true|false` instead. Twin: terraform/profiles.tf.
ZONAL_REGIONS = frozenset({
    "australiaeast", "austriaeast", "belgiumcentral", "brazilsouth", "canadacentral",
    "centralindia", "centralus", "eastasia", "eastus", "eastus2", "francecentral",
    "germanywestcentral", "israelcentral", "italynorth", "japaneast", "japanwest",
    "koreacentral", "mexicocentral", "newzealandnorth", "northeurope", "norwayeast",
    "polandcentral", "qatarcentral", "southafricanorth", "southcentralus",
    "southeastasia", "spaincentral", "swedencentral", "switzerlandnorth", "uaenorth",
    "uksouth", "westeurope", "westus2", "westus3",
})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MaintenanceWindow(_Strict):
    """When AKS may apply patch upgrades and node images (weekly, both channels)."""

    day_of_week: Weekday = "Sunday"
    start_time: str = Field(default="02:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    utc_offset: str = Field(default="+00:00", pattern=r"^[+-](0[0-9]|1[0-4]):[0-5][0-9]$")
    duration_hours: StrictInt = Field(default=4, ge=4, le=24)  # AKS: at least 4 hours


class KeyVaultNetwork(_Strict):
    """Key Vault firewall. `Deny` needs the cluster's egress IP and the deployer in ip_rules."""

    default_action: Literal["Allow", "Deny"] = "Allow"
    ip_rules: list[str] = []

    @field_validator("ip_rules")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return [_cidr(v) for v in value]


class Hardening(_Strict):
    """Per-environment overrides of the profile; an absent (or null) field keeps it."""

    local_account_disabled: StrictBool | None = None
    admin_group_object_ids: list[str] | None = None
    api_server_authorized_ip_ranges: list[str] | None = None
    availability_zones: StrictBool | None = None
    azure_policy: StrictBool | None = None
    aks_sku_tier: Literal["Free", "Standard", "Premium"] | None = None
    monitoring: StrictBool | None = None
    log_retention_days: StrictInt | None = Field(default=None, ge=30, le=730)
    geo_redundant_backups: StrictBool | None = None
    sas_expiration_days: StrictInt | None = Field(default=None, ge=1, le=365)
    key_vault_network: KeyVaultNetwork | None = None
    maintenance_window: MaintenanceWindow | None = None

    @field_validator("api_server_authorized_ip_ranges")
    @classmethod
    def _ranges(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_cidr(v) for v in value]


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"not an IP address or CIDR range: {value!r}") from None
    return value


_BASE: dict[str, Any] = {
    "local_account_disabled": True,
    "admin_group_object_ids": [],
    "api_server_authorized_ip_ranges": [],
    "log_retention_days": 30,
    "sas_expiration_days": 90,
    "key_vault_network": {"default_action": "Allow", "ip_rules": []},
}

# The profiles' values. Staging is patched a day before production.
PROFILES: dict[str, dict[str, Any]] = {
    "staging": {
        **_BASE,
        "azure_policy": False,
        "aks_sku_tier": "Free",
        "monitoring": False,
        "geo_redundant_backups": False,
        "maintenance_window": MaintenanceWindow(day_of_week="Saturday").model_dump(),
    },
    "production": {
        **_BASE,
        "azure_policy": True,
        "aks_sku_tier": "Standard",  # the API server's uptime SLA
        "monitoring": True,
        "geo_redundant_backups": True,
        "maintenance_window": MaintenanceWindow(day_of_week="Sunday").model_dump(),
    },
}


def region_has_zones(location: str) -> bool:
    """Whether `location` ("westeurope" or "West Europe") is in ZONAL_REGIONS."""
    return location.replace(" ", "").lower() in ZONAL_REGIONS


def resolve(profile: Profile, location: str, overrides: Hardening) -> dict[str, Any]:
    """The effective settings of one environment: what terraform/ applies (local.hardening).

    Nested mappings merge key by key (`maintenance_window: {day_of_week: Friday}` keeps
    the profile's start time), like Terraform's merge() in profiles.tf.
    """
    settings = dict(PROFILES[profile])
    for key, value in overrides.model_dump(exclude_none=True, exclude_unset=True).items():
        settings[key] = {**settings[key], **value} if isinstance(value, dict) else value
    zones = settings.pop("availability_zones", None)
    if zones is None:
        zones = region_has_zones(location)
    geo = settings["geo_redundant_backups"]
    settings["profile"] = profile
    settings["availability_zones"] = ["1", "2", "3"] if zones else None
    # Zone- and geo-redundant where the region has zones, else the zoneless equivalent.
    settings["storage_replication"] = ("GZRS" if zones else "GRS") if geo else (
        "ZRS" if zones else "LRS")
    return settings
