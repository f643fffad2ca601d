# Flux, installed as the AKS extension and configured to sync this repository.
#
# Values known only after apply (tenant ID, Key Vault name, identity client IDs) reach
# the manifests through post_build.substitute, where they are written as
# ${AZURE_TENANT_ID} etc. Nobody copies IDs from `terraform output` into YAML by hand.
# The names below are fixed by docs/contracts.md (mercury build/verify read them).

locals {
  # The same for every tenant.
  flux_platform_substitutions = {
    AZURE_TENANT_ID        = data.azurerm_client_config.current.tenant_id
    KEY_VAULT_NAME         = azurerm_key_vault.main.name
    BACKUP_STORAGE_ACCOUNT = azurerm_storage_account.backups.name
    ACME_EMAIL             = local.env.acme_email
  }

  # BACKUP_CLIENT_ID_<TENANT>, one per tenant whose backups use workload identity (a
  # `sas` tenant's manifests never read it). A substitution variable name allows only
  # letters, digits and underscores, hence upper-case and '-' -> '_'.
  flux_backup_client_ids = {
    for tenant, settings in local.tenants :
    "BACKUP_CLIENT_ID_${upper(replace(tenant, "-", "_"))}" => azurerm_user_assigned_identity.backup[tenant].client_id
    if settings.backup_auth == "workload-identity"
  }

  # SECRETS_CLIENT_ID_<TENANT>: the tenant's own Key Vault identity (SecretProviderClass
  # `clientID`), one per tenant.
  flux_secrets_client_ids = {
    for tenant in keys(local.tenants) :
    "SECRETS_CLIENT_ID_${upper(replace(tenant, "-", "_"))}" => azurerm_user_assigned_identity.secrets[tenant].client_id
  }

  flux_substitutions = merge(local.flux_platform_substitutions, local.flux_backup_client_ids, local.flux_secrets_client_ids)
}

# Multi-tenancy off. By default the AKS extension runs Flux in its multi-tenant lockdown:
# helm-controller and kustomize-controller impersonate the ServiceAccount `flux-applier`
# of the object's own namespace (it exists only in the configuration's namespace,
# flux-system) and refuse cross-namespace references. Every HelmRelease here lives in
# its controller's namespace, so none would install. The platform operator writes every
# Flux object in this repository and tenants never author any (a tenant is an n8n
# instance, not a Kubernetes user), so the lockdown protects nothing here; tenant
# isolation comes from namespaces, network policies, Pod Security and per-tenant
# identities instead. `mercury verify` (rule aks-flux-multitenancy) flags the layout
# that would break if this setting were removed.
resource "azurerm_kubernetes_cluster_extension" "flux" {
  name           = "flux"
  cluster_id     = azurerm_kubernetes_cluster.main.id
  extension_type = "microsoft.flux"

  configuration_settings = {
    "multiTenancy.enforce" = "false"
  }
}

# One GitRepository and three Kustomizations. AKS prefixes the Kustomization objects
# with the configuration name (mercury-infra-controllers, ...); depends_on uses the
# short names. Controllers first (they bring the CRDs), then their configs (e.g.
# ClusterIssuers), then the tenants.
resource "azurerm_kubernetes_flux_configuration" "mercury" {
  name       = "mercury"
  cluster_id = azurerm_kubernetes_cluster.main.id
  namespace  = "flux-system"
  scope      = "cluster"

  git_repository {
    url             = var.git_repository_url
    reference_type  = "branch"
    reference_value = var.git_branch
  }

  # garbage_collection_enabled is Flux's `prune`: an object removed from git (e.g. a
  # tenant removed from platform.yaml) is removed from the cluster. It defaults to false.
  kustomizations {
    name                       = "infra-controllers"
    path                       = "./infrastructure/controllers/${var.environment}"
    sync_interval_in_seconds   = 300
    garbage_collection_enabled = true

    post_build {
      substitute = local.flux_substitutions
    }
  }

  kustomizations {
    name                       = "infra-configs"
    path                       = "./infrastructure/configs/${var.environment}"
    depends_on                 = ["infra-controllers"]
    sync_interval_in_seconds   = 300
    garbage_collection_enabled = true

    post_build {
      substitute = local.flux_substitutions
    }
  }

  kustomizations {
    name                       = "apps"
    path                       = "./apps/${var.environment}"
    depends_on                 = ["infra-configs"]
    sync_interval_in_seconds   = 300
    garbage_collection_enabled = true

    post_build {
      substitute = local.flux_substitutions
    }
  }

  depends_on = [azurerm_kubernetes_cluster_extension.flux]
}
