# Baseline hardening: the environment's `profile` in platform.yaml (staging | production,
# default production) and its optional `hardening:` overrides, resolved into
# local.hardening. The twin of src/mercury/platform/hardening.py: the tests evaluate both
# and compare them. Like locals.tf this reads only platform.yaml and variables.
#
# Both profiles: Entra ID only (no local accounts), a weekly maintenance window (staging
# the day before production), zones where the region has them, storage keys only while a
# `sas` tenant exists. Production adds Azure Policy, the AKS Standard tier (uptime SLA),
# Container Insights and diagnostic logs (Log Analytics), geo-redundant backups, and
# must name its API server ranges.

locals {
  hardening_base = {
    local_account_disabled          = true
    admin_group_object_ids          = []
    api_server_authorized_ip_ranges = []
    log_retention_days              = 30
    sas_expiration_days             = 90
    key_vault_network               = { default_action = "Allow", ip_rules = [] }
  }

  profiles = {
    staging = merge(local.hardening_base, {
      azure_policy          = false
      aks_sku_tier          = "Free"
      monitoring            = false
      geo_redundant_backups = false
      maintenance_window    = { day_of_week = "Saturday", start_time = "02:00", utc_offset = "+00:00", duration_hours = 4 }
    })
    production = merge(local.hardening_base, {
      azure_policy          = true
      aks_sku_tier          = "Standard" # the API server's uptime SLA
      monitoring            = true
      geo_redundant_backups = true
      maintenance_window    = { day_of_week = "Sunday", start_time = "02:00", utc_offset = "+00:00", duration_hours = 4 }
    })
  }

  # Regions with availability zones: Microsoft's "Azure regions list"
  # (https://learn.microsoft.com/azure/reliability/regions-list, read 2026-12). A region
  # missing here gets no zones, which works everywhere; `hardening.availability_zones`
  # decides instead when set.
  zonal_regions = [
    "australiaeast", "austriaeast", "belgiumcentral", "brazilsouth", "canadacentral",
    "centralindia", "centralus", "eastasia", "eastus", "eastus2", "francecentral",
    "germanywestcentral", "israelcentral", "italynorth", "japaneast", "japanwest",
    "koreacentral", "mexicocentral", "newzealandnorth", "northeurope", "norwayeast",
    "polandcentral", "qatarcentral", "southafricanorth", "southcentralus",
    "southeastasia", "spaincentral", "swedencentral", "switzerlandnorth", "uaenorth",
    "uksouth", "westeurope", "westus2", "westus3",
  ]

  profile = try(local.env.profile, "production")
  # `hardening:` may be absent or null, and a null value keeps the profile's.
  overrides = { for key, value in merge(try(local.env.hardening, null)) : key => value if value != null }
  defaults  = local.profiles[local.profile]
  chosen    = merge(local.defaults, local.overrides)

  region_zoned = contains(local.zonal_regions, lower(replace(local.env.location, " ", "")))
  zoned        = lookup(local.overrides, "availability_zones", local.region_zoned)
  # Zone- and geo-redundant where the region has zones, else the zoneless equivalent.
  geo_replication   = local.zoned ? "GZRS" : "GRS"
  local_replication = local.zoned ? "ZRS" : "LRS"

  hardening = merge(local.chosen, {
    profile = local.profile
    # Nested settings merge key by key: `maintenance_window: {day_of_week: Friday}`
    # keeps the profile's start time.
    maintenance_window = merge(local.defaults.maintenance_window, lookup(local.overrides, "maintenance_window", {}))
    key_vault_network  = merge(local.defaults.key_vault_network, lookup(local.overrides, "key_vault_network", {}))
    # -var api_server_authorized_ip_ranges=[...] wins over platform.yaml.
    api_server_authorized_ip_ranges = coalesce(var.api_server_authorized_ip_ranges, local.chosen.api_server_authorized_ip_ranges)
    availability_zones              = local.zoned ? ["1", "2", "3"] : null
    storage_replication             = local.chosen.geo_redundant_backups ? local.geo_replication : local.local_replication
  })
}
