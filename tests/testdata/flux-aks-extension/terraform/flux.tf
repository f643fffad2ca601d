resource "azurerm_kubernetes_cluster_extension" "flux" {
  name           = "flux"
  cluster_id     = azurerm_kubernetes_cluster.main.id
  extension_type = "microsoft.flux"
  configuration_settings = {
    "multiTenancy.enforce" = "false"
  }
}

resource "azurerm_kubernetes_flux_configuration" "main" {
  name       = "fleet"
  cluster_id = azurerm_kubernetes_cluster.main.id
  namespace  = "cluster-config"
  scope      = "cluster"

  git_repository {
    url             = "https://example.org/fleet.git"
    reference_type  = "branch"
    reference_value = "main"
  }

  kustomizations {
    name                       = "infra"
    path                       = "./infra"
    sync_interval_in_seconds   = 300
    garbage_collection_enabled = true
  }

  kustomizations {
    name                       = "apps"
    path                       = "./apps"
    depends_on                 = ["infra"]
    sync_interval_in_seconds   = 300
    garbage_collection_enabled = true
  }

  depends_on = [azurerm_kubernetes_cluster_extension.flux]
}
