# platform.yaml, decoded once. Field names and defaults are the twins of
# src/mercury/platform/model.py: a default changed there must change here too.
# This file only reads platform.yaml and variables (no resources), so it can be
# evaluated on its own with `terraform console` (tests/test_terraform.py does).

locals {
  platform = yamldecode(file("${path.module}/../platform.yaml"))
  env      = local.platform.environments[var.environment]

  cluster = {
    name               = local.env.cluster.name
    kubernetes_version = coalesce(var.kubernetes_version, try(local.env.cluster.kubernetes_version, "1.35"))
    node_count         = try(local.env.cluster.node_count, 2)
    node_size          = try(local.env.cluster.node_size, "Standard_D2s_v3")
  }

  # `tenants:` may be empty (YAML null) or absent; merge() skips a null argument.
  all_tenants = merge(try(local.platform.tenants, null))

  # The tenants of this environment, with the model's defaults filled in. The backup
  # schedule is not here: its six-field cron (seconds first) is a CloudNativePG
  # ScheduledBackup setting rendered into the manifests, nothing Azure needs.
  tenants = {
    for name, tenant in local.all_tenants : name => {
      host        = tenant.host
      backup_auth = try(tenant.backup.auth, "workload-identity")
      retention   = try(tenant.backup.retention, "30d")
    }
    if tenant.environment == var.environment
  }

  # Tenants whose backups authenticate with a container SAS kept in Key Vault.
  sas_tenants = { for name, tenant in local.tenants : name => tenant if tenant.backup_auth == "sas" }

  tags = merge(var.tags, {
    platform    = "mercury"
    environment = var.environment
  })
}
