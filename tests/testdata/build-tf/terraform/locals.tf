locals {
  platform = yamldecode(file("${path.module}/../platform.yaml"))
  env      = local.platform.environments[var.environment]
  tenants  = { for name, t in local.platform.tenants : name => t if t.environment == var.environment }

  flux_substitutions = merge(
    {
      AZURE_TENANT_ID        = data.azurerm_client_config.current.tenant_id
      KEY_VAULT_NAME         = azurerm_key_vault.main.name
      CSI_IDENTITY_CLIENT_ID = azurerm_kubernetes_cluster.main.key_vault_secrets_provider[0].secret_identity[0].client_id
      BACKUP_STORAGE_ACCOUNT = azurerm_storage_account.backups.name
      ACME_EMAIL             = local.env.acme_email
      ENVIRONMENT            = var.environment
    },
    {
      for name, t in local.tenants :
      "BACKUP_CLIENT_ID_${upper(replace(name, "-", "_"))}" => azurerm_user_assigned_identity.backup[name].client_id
    },
  )
}
