# Container Insights and diagnostic logs, when the profile has `monitoring` (production
# by default; staging saves the Log Analytics cost unless hardening.monitoring is true).
# One workspace per environment receives the cluster's container logs (oms_agent in
# main.tf), the API server's audit log, and Key Vault's and the backups' access logs.

resource "azurerm_log_analytics_workspace" "main" {
  count = local.hardening.monitoring ? 1 : 0

  name                = "log-${local.cluster.name}"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  sku                 = "PerGB2018"
  retention_in_days   = local.hardening.log_retention_days
  tags                = local.tags
}

# Who did what through the Kubernetes API (kube-audit-admin: the audit log without
# get/list, which is most of its volume) and who was authenticated by Entra ID (guard).
resource "azurerm_monitor_diagnostic_setting" "aks" {
  count = local.hardening.monitoring ? 1 : 0

  name                       = "audit"
  target_resource_id         = azurerm_kubernetes_cluster.main.id
  log_analytics_workspace_id = azurerm_log_analytics_workspace.main[0].id

  enabled_log {
    category = "kube-audit-admin"
  }
  enabled_log {
    category = "guard"
  }
}

# Every read of a tenant secret (AuditEvent).
resource "azurerm_monitor_diagnostic_setting" "key_vault" {
  count = local.hardening.monitoring ? 1 : 0

  name                       = "audit"
  target_resource_id         = azurerm_key_vault.main.id
  log_analytics_workspace_id = azurerm_log_analytics_workspace.main[0].id

  enabled_log {
    category_group = "audit"
  }
}

# Reads, writes and deletes of the backup blobs (StorageRead/Write/Delete).
resource "azurerm_monitor_diagnostic_setting" "backups" {
  count = local.hardening.monitoring ? 1 : 0

  name                       = "audit"
  target_resource_id         = "${azurerm_storage_account.backups.id}/blobServices/default"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.main[0].id

  enabled_log {
    category = "StorageRead"
  }
  enabled_log {
    category = "StorageWrite"
  }
  enabled_log {
    category = "StorageDelete"
  }
}
