# Key Vault: the only home of tenant secrets. Nothing secret is typed into git; the
# manifests reference secrets by name (<tenant>-db-user, ...) through the CSI driver.

resource "azurerm_key_vault" "main" {
  name                = local.env.key_vault_name
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tenant_id           = data.azurerm_client_config.current.tenant_id
  sku_name            = "standard"

  # Azure RBAC instead of access policies: access is granted with role assignments
  # below, the same way as for storage.
  rbac_authorization_enabled = true
  # A deleted vault (and the n8n encryption keys in it) stays recoverable for 90 days.
  purge_protection_enabled   = true
  soft_delete_retention_days = 90

  # Firewall option (hardening.key_vault_network). Allow by default: the CSI driver
  # reads from the cluster's egress IP and Terraform from the deployer's, and neither is
  # known before apply. With Deny, list both in ip_rules.
  network_acls {
    bypass         = "AzureServices"
    default_action = local.hardening.key_vault_network.default_action
    ip_rules       = local.hardening.key_vault_network.ip_rules
  }

  tags = local.tags
}

# No vault-wide reader. The add-on's own identity (key_vault_secrets_provider) sits on
# every node and any pod that reaches the instance metadata endpoint can use it, so it
# gets no role here: each tenant reads its secrets with its own workload identity below.

# Whoever runs Terraform writes the generated secrets.
#
# RBAC propagation: a new role assignment takes minutes (Microsoft documents up to 10)
# to reach Key Vault's data plane, and a secret written before that fails with 403.
# Only azurerm and random are allowed here (no time_sleep), so the wait is the ordering:
# this assignment needs only the vault and is created early, in parallel with the AKS
# cluster, and every secret depends on both, so it is written after the cluster exists
# (5-10 minutes later). If a 403 still appears (e.g. the vault alone was recreated in
# an existing environment), run `terraform apply` again: nothing is half-created, the
# missing secrets are simply written on the second run. terraform/README.md has the
# two-step alternative (`-target` this assignment first).
resource "azurerm_role_assignment" "kv_deployer_secrets_officer" {
  scope                = azurerm_key_vault.main.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = data.azurerm_client_config.current.object_id
}

# Generated per tenant. Ephemeral resources are never stored in the state or the plan;
# they feed write-only arguments (`value_wo`), which Key Vault receives and Terraform
# forgets. Terraform sends a value only when `value_wo_version` changes, so the random
# value generated on later runs is simply not used.
ephemeral "random_password" "db_password" {
  for_each = local.tenants

  length  = 32
  special = false # ends up in a PostgreSQL connection string
}

ephemeral "random_password" "n8n_encryption_key" {
  for_each = local.tenants

  length  = 48
  special = false
}

resource "azurerm_key_vault_secret" "db_user" {
  for_each = local.tenants

  name         = "${each.key}-db-user"
  value        = "n8n" # not a secret: the owner of the tenant's `n8n` database
  key_vault_id = azurerm_key_vault.main.id
  content_type = "username"

  # See kv_deployer_secrets_officer: the cluster is the wait for role propagation.
  depends_on = [azurerm_role_assignment.kv_deployer_secrets_officer, azurerm_kubernetes_cluster.main]
}

resource "azurerm_key_vault_secret" "db_password" {
  for_each = local.tenants

  name             = "${each.key}-db-password"
  value_wo         = ephemeral.random_password.db_password[each.key].result
  value_wo_version = lookup(var.db_password_versions, each.key, 1)
  key_vault_id     = azurerm_key_vault.main.id
  content_type     = "password"

  # See kv_deployer_secrets_officer: the cluster is the wait for role propagation.
  depends_on = [azurerm_role_assignment.kv_deployer_secrets_officer, azurerm_kubernetes_cluster.main]
}

resource "azurerm_key_vault_secret" "n8n_encryption_key" {
  for_each = local.tenants

  name     = "${each.key}-n8n-encryption-key"
  value_wo = ephemeral.random_password.n8n_encryption_key[each.key].result
  # Fixed on purpose: n8n encrypts its stored credentials with this key, and a new key
  # makes every saved credential unreadable. Rotating it is a migration, not a bump.
  value_wo_version = 1
  key_vault_id     = azurerm_key_vault.main.id
  content_type     = "n8n encryption key"

  # See kv_deployer_secrets_officer: the cluster is the wait for role propagation.
  depends_on = [azurerm_role_assignment.kv_deployer_secrets_officer, azurerm_kubernetes_cluster.main]
}

# --- per-tenant Key Vault access (workload identity) --------------------------------
#
# One identity per tenant, trusted only for the tenant's ServiceAccount `n8n` (the pods
# that mount the SecretProviderClass run as it), with Key Vault Secrets User on that
# tenant's own secrets, one assignment per secret. `mercury verify` (rule
# tenant-secret-isolation) checks that no identity reachable from one tenant namespace
# can read another tenant's secret.
resource "azurerm_user_assigned_identity" "secrets" {
  for_each = local.tenants

  name                = "id-${local.cluster.name}-${each.key}-secrets"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = local.tags
}

resource "azurerm_federated_identity_credential" "secrets" {
  for_each = local.tenants

  name                      = "${each.key}-n8n"
  user_assigned_identity_id = azurerm_user_assigned_identity.secrets[each.key].id
  issuer                    = azurerm_kubernetes_cluster.main.oidc_issuer_url
  subject                   = "system:serviceaccount:${each.key}:n8n"
  audience                  = ["api://AzureADTokenExchange"]
}

resource "azurerm_role_assignment" "secrets_db_user" {
  for_each = local.tenants

  scope                            = azurerm_key_vault_secret.db_user[each.key].resource_versionless_id
  role_definition_name             = "Key Vault Secrets User"
  principal_id                     = azurerm_user_assigned_identity.secrets[each.key].principal_id
  principal_type                   = "ServicePrincipal"
  skip_service_principal_aad_check = true
}

resource "azurerm_role_assignment" "secrets_db_password" {
  for_each = local.tenants

  scope                            = azurerm_key_vault_secret.db_password[each.key].resource_versionless_id
  role_definition_name             = "Key Vault Secrets User"
  principal_id                     = azurerm_user_assigned_identity.secrets[each.key].principal_id
  principal_type                   = "ServicePrincipal"
  skip_service_principal_aad_check = true
}

resource "azurerm_role_assignment" "secrets_n8n_encryption_key" {
  for_each = local.tenants

  scope                            = azurerm_key_vault_secret.n8n_encryption_key[each.key].resource_versionless_id
  role_definition_name             = "Key Vault Secrets User"
  principal_id                     = azurerm_user_assigned_identity.secrets[each.key].principal_id
  principal_type                   = "ServicePrincipal"
  skip_service_principal_aad_check = true
}
