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

  default_node_pool {
    name       = "system"
    node_count = local.cluster.node_count
    vm_size    = local.cluster.node_size
    # Lets Terraform change vm_size by rotating through a temporary pool.
    temporary_name_for_rotation = "rotation"

    upgrade_settings {
      max_surge = "10%"
    }
  }

  identity {
    type = "SystemAssigned"
  }

  # Patch releases of the pinned minor version and node image updates arrive by
  # themselves (in the default maintenance windows); minor upgrades stay a code change.
  automatic_upgrade_channel = "patch"
  node_os_upgrade_channel   = "NodeImage"

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
}
