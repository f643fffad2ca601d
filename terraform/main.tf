# The cluster: one resource group and one AKS cluster per environment.

data "azurerm_client_config" "current" {}

resource "azurerm_resource_group" "main" {
  name     = local.env.resource_group
  location = local.env.location
  tags     = local.tags
}

resource "azurerm_kubernetes_cluster" "main" {
  name                = local.cluster.name
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  dns_prefix          = local.cluster.name
  kubernetes_version  = local.cluster.kubernetes_version
  # Free in staging; Standard (financially backed API server uptime SLA) in production.
  sku_tier = local.hardening.aks_sku_tier

  default_node_pool {
    name       = "system"
    node_count = local.cluster.node_count
    vm_size    = local.cluster.node_size
    # Spread over the region's zones where it has them (profiles.tf), else null.
    zones = local.hardening.availability_zones
    # Lets Terraform change vm_size by rotating through a temporary pool.
    temporary_name_for_rotation = "rotation"

    upgrade_settings {
      max_surge = "10%"
    }
  }

  identity {
    type = "SystemAssigned"
  }

  # Entra ID only: no local admin kubeconfig (`az aks get-credentials --admin` fails);
  # access to the Kubernetes API is an Azure role (azurerm_role_assignment.aks_deployer
  # below) or membership of admin_group_object_ids, checked by Azure RBAC.
  local_account_disabled = local.hardening.local_account_disabled
  azure_active_directory_role_based_access_control {
    azure_rbac_enabled     = true
    tenant_id              = data.azurerm_client_config.current.tenant_id
    admin_group_object_ids = local.hardening.admin_group_object_ids
  }

  # Who may reach the API server at all (var.api_server_authorized_ip_ranges or
  # platform.yaml). No block: open to the internet, still behind Entra ID.
  dynamic "api_server_access_profile" {
    for_each = length(local.hardening.api_server_authorized_ip_ranges) > 0 ? [1] : []
    content {
      authorized_ip_ranges = local.hardening.api_server_authorized_ip_ranges
    }
  }

  # Patch releases of the pinned minor version and node image updates arrive by
  # themselves, in the weekly window of the profile (staging a day before production);
  # minor upgrades stay a code change.
  automatic_upgrade_channel = "patch"
  node_os_upgrade_channel   = "NodeImage"
  maintenance_window_auto_upgrade {
    frequency   = "Weekly"
    interval    = 1
    day_of_week = local.hardening.maintenance_window.day_of_week
    start_time  = local.hardening.maintenance_window.start_time
    utc_offset  = local.hardening.maintenance_window.utc_offset
    duration    = local.hardening.maintenance_window.duration_hours
  }
  maintenance_window_node_os {
    frequency   = "Weekly"
    interval    = 1
    day_of_week = local.hardening.maintenance_window.day_of_week
    start_time  = local.hardening.maintenance_window.start_time
    utc_offset  = local.hardening.maintenance_window.utc_offset
    duration    = local.hardening.maintenance_window.duration_hours
  }

  # Azure Policy add-on (Gatekeeper with Azure's built-in policies) and Container
  # Insights (monitoring.tf): on in production, off in staging unless overridden.
  azure_policy_enabled = local.hardening.azure_policy
  dynamic "oms_agent" {
    for_each = local.hardening.monitoring ? [1] : []
    content {
      log_analytics_workspace_id      = azurerm_log_analytics_workspace.main[0].id
      msi_auth_for_monitoring_enabled = true
    }
  }

  # Azure CNI overlay with the Cilium data plane: pods get overlay IPs (no VNet sizing),
  # and Cilium enforces the tenants' NetworkPolicies (default-deny per namespace).
  network_profile {
    network_plugin      = "azure"
    network_plugin_mode = "overlay"
    network_data_plane  = "cilium"
    network_policy      = "cilium"
  }

  # Workload identity: CloudNativePG's backup pods exchange their service account
  # token for an Entra token (see backups.tf), so no storage key lives in the cluster.
  oidc_issuer_enabled       = true
  workload_identity_enabled = true

  # Secrets Store CSI driver for Key Vault. Rotation on: a secret changed in Key Vault
  # reaches the synced Kubernetes Secret, and Reloader then restarts n8n.
  key_vault_secrets_provider {
    secret_rotation_enabled = true
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = local.hardening.profile != "production" || length(local.hardening.api_server_authorized_ip_ranges) > 0
      error_message = "The production profile needs API server ranges: set -var api_server_authorized_ip_ranges or hardening.api_server_authorized_ip_ranges in platform.yaml."
    }
  }
}

# With local accounts disabled, whoever runs Terraform still operates the cluster
# (kubectl through kubelogin, mercury status/doctor/backup): cluster admin through Azure
# RBAC, on this cluster only.
resource "azurerm_role_assignment" "aks_deployer" {
  scope                = azurerm_kubernetes_cluster.main.id
  role_definition_name = "Azure Kubernetes Service RBAC Cluster Admin"
  principal_id         = data.azurerm_client_config.current.object_id
}
