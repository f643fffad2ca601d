# Backup storage for CloudNativePG (barman-cloud plugin): one private blob container
# per tenant, reached with the tenant's own workload identity (default) or, for
# tenants with backup.auth = "sas", with a container SAS kept in Key Vault.

resource "azurerm_storage_account" "backups" {
  name                = local.env.storage_account_name
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  account_tier        = "Standard"
  # Zone-redundant where the region has zones; production adds geo-redundancy (GZRS or
  # GRS): the backups outlive the region (profiles.tf, hardening.geo_redundant_backups).
  account_replication_type = local.hardening.storage_replication
  account_kind             = "StorageV2"

  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false # no anonymous blob access, ever
  # Account keys only while a `sas` tenant exists: they sign its container SAS. Everyone
  # else uses Entra ID: the tenants' workload identities (a role on their own container)
  # and Terraform itself (storage_use_azuread in versions.tf).
  shared_access_key_enabled       = length(local.sas_tenants) > 0
  default_to_oauth_authentication = true
  # The public endpoint stays reachable (AKS egress uses it; there is no private
  # endpoint in this design): access is controlled by identity, not by network.
  public_network_access_enabled = true

  # A SAS valid longer than this is logged by Azure; the backup SAS window itself is
  # checked against it below (data.azurerm_storage_account_blob_container_sas).
  sas_policy {
    expiration_period = "${local.hardening.sas_expiration_days}.00:00:00"
    expiration_action = "Log"
  }

  blob_properties {
    # An overwritten or deleted backup, or a deleted container, stays recoverable for
    # 30 days: at least as long as the backups' own retention (30d by default).
    versioning_enabled = true
    delete_retention_policy {
      days = 30
    }
    container_delete_retention_policy {
      days = 30
    }
  }

  tags = local.tags
}

resource "azurerm_storage_container" "backup" {
  for_each = local.tenants

  name                  = each.key # contract: container <tenant>
  storage_account_id    = azurerm_storage_account.backups.id
  container_access_type = "private"
}

# One identity per tenant (also for `sas` tenants, so switching auth needs no new
# IDs): a tenant's backups can only touch its own container.
resource "azurerm_user_assigned_identity" "backup" {
  for_each = local.tenants

  name                = "id-${local.cluster.name}-${each.key}-backup"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

# Trust tokens of the CNPG cluster's service account `n8n-db` in the tenant namespace.
# (azurerm 4.65 renamed parent_id to user_assigned_identity_id; the resource group is
# implied by it.)
resource "azurerm_federated_identity_credential" "backup" {
  for_each = local.tenants

  name                      = "${each.key}-n8n-db"
  user_assigned_identity_id = azurerm_user_assigned_identity.backup[each.key].id
  issuer                    = azurerm_kubernetes_cluster.main.oidc_issuer_url
  subject                   = "system:serviceaccount:${each.key}:n8n-db"
  audience                  = ["api://AzureADTokenExchange"]
}

# Scoped to the container, not the account. With storage_account_id the container's
# `id` is its Resource Manager ID, which is what a role assignment scope needs.
resource "azurerm_role_assignment" "backup_blob_contributor" {
  for_each = local.tenants

  scope                = azurerm_storage_container.backup[each.key].id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.backup[each.key].principal_id
  # A just-created managed identity may not have replicated in Entra ID yet: without
  # this the assignment can fail with PrincipalNotFound on the first apply.
  principal_type                   = "ServicePrincipal"
  skip_service_principal_aad_check = true
}

# --- SAS option (backup.auth = "sas") ---------------------------------------------

data "azurerm_storage_account_blob_container_sas" "backup" {
  for_each = local.sas_tenants

  connection_string = azurerm_storage_account.backups.primary_connection_string
  container_name    = azurerm_storage_container.backup[each.key].name
  https_only        = true
  start             = var.backup_sas_start
  expiry            = var.backup_sas_expiry

  # barman-cloud writes base backups and WAL, lists them, and deletes expired ones.
  permissions {
    read   = true
    add    = true
    create = true
    write  = true
    delete = true
    list   = true
  }

  lifecycle {
    precondition {
      condition     = var.backup_sas_start != null && var.backup_sas_expiry != null
      error_message = "Tenant ${each.key} uses backup.auth = sas: set backup_sas_start and backup_sas_expiry."
    }
    precondition {
      condition     = try(timecmp(var.backup_sas_expiry, timeadd(var.backup_sas_start, "${local.hardening.sas_expiration_days * 24}h")) <= 0, false)
      error_message = "The backup SAS window is longer than the account's SAS policy (hardening.sas_expiration_days = ${local.hardening.sas_expiration_days})."
    }
  }
}

# The SAS is not write-only: the data source above already keeps it in the state.
# It is scoped to one container and expires at var.backup_sas_expiry.
resource "azurerm_key_vault_secret" "backup_sas" {
  for_each = local.sas_tenants

  name            = "${each.key}-backup-sas"
  value           = trimprefix(data.azurerm_storage_account_blob_container_sas.backup[each.key].sas, "?")
  key_vault_id    = azurerm_key_vault.main.id
  content_type    = "container SAS token"
  expiration_date = var.backup_sas_expiry

  # See kv_deployer_secrets_officer: the cluster is the wait for role propagation.
  depends_on = [azurerm_role_assignment.kv_deployer_secrets_officer, azurerm_kubernetes_cluster.main]
}

# The Secrets Store CSI driver can only sync what Key Vault holds, and the barman-cloud
# ObjectStore of a `sas` tenant reads the account name from the same synced Secret as
# the token (`backup-credentials`): keep the (non-secret) name in Key Vault too.
resource "azurerm_key_vault_secret" "backup_storage_account" {
  count = length(local.sas_tenants) > 0 ? 1 : 0

  name         = "backup-storage-account"
  value        = azurerm_storage_account.backups.name
  key_vault_id = azurerm_key_vault.main.id
  content_type = "storage account name"

  # See kv_deployer_secrets_officer: the cluster is the wait for role propagation.
  depends_on = [azurerm_role_assignment.kv_deployer_secrets_officer, azurerm_kubernetes_cluster.main]
}

# `sas` tenants also read their token and the (shared, non-secret) account name.
resource "azurerm_role_assignment" "secrets_backup_sas" {
  for_each = local.sas_tenants

  scope                            = azurerm_key_vault_secret.backup_sas[each.key].resource_versionless_id
  role_definition_name             = "Key Vault Secrets User"
  principal_id                     = azurerm_user_assigned_identity.secrets[each.key].principal_id
  principal_type                   = "ServicePrincipal"
  skip_service_principal_aad_check = true
}

resource "azurerm_role_assignment" "secrets_backup_storage_account" {
  for_each = local.sas_tenants

  scope                            = azurerm_key_vault_secret.backup_storage_account[0].resource_versionless_id
  role_definition_name             = "Key Vault Secrets User"
  principal_id                     = azurerm_user_assigned_identity.secrets[each.key].principal_id
  principal_type                   = "ServicePrincipal"
  skip_service_principal_aad_check = true
}
