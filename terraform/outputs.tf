# What an operator (and `mercury build --values`) needs after apply.

output "resource_group" {
  value = azurerm_resource_group.main.name
}

output "cluster_name" {
  value = azurerm_kubernetes_cluster.main.name
}

output "kube_config_command" {
  description = "Fetch a kubeconfig for the cluster."
  value       = "az aks get-credentials --resource-group ${azurerm_resource_group.main.name} --name ${azurerm_kubernetes_cluster.main.name}"
}

output "oidc_issuer_url" {
  value = azurerm_kubernetes_cluster.main.oidc_issuer_url
}

output "key_vault_name" {
  value = azurerm_key_vault.main.name
}

output "key_vault_uri" {
  value = azurerm_key_vault.main.vault_uri
}

output "secrets_client_ids" {
  description = "Per mercury tenant: client ID of its Key Vault workload identity (SecretProviderClass clientID)."
  value       = { for tenant, identity in azurerm_user_assigned_identity.secrets : tenant => identity.client_id }
}

output "tenant_id" {
  description = "Entra tenant ID (not the subscription ID)."
  value       = data.azurerm_client_config.current.tenant_id
}

output "storage_account_name" {
  value = azurerm_storage_account.backups.name
}

output "backup_client_ids" {
  description = "Per mercury tenant: client ID of its backup workload identity."
  value       = { for tenant, identity in azurerm_user_assigned_identity.backup : tenant => identity.client_id }
}

output "backup_destination_paths" {
  description = "Per mercury tenant: the barman-cloud destinationPath of its ObjectStore."
  value = {
    for tenant in keys(local.tenants) :
    tenant => "https://${azurerm_storage_account.backups.name}.blob.core.windows.net/${azurerm_storage_container.backup[tenant].name}"
  }
}

output "flux_substitutions" {
  description = "The post_build.substitute map; `terraform output -json flux_substitutions > values.json` feeds `mercury build --values values.json`."
  value       = local.flux_substitutions
}
