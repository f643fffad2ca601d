resource "azurerm_kubernetes_flux_configuration" "main" {
  name       = "mercury"
  cluster_id = azurerm_kubernetes_cluster.main.id
  namespace  = "flux-system"
  scope      = "cluster"

  git_repository {
    url             = "https://example.org/mercury.git"
    reference_type  = "branch"
    reference_value = "main"
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
    name                       = "infra-controllers"
    path                       = "./infrastructure/controllers/${var.environment}"
    sync_interval_in_seconds   = 300
    garbage_collection_enabled = true
    post_build {
      substitute = local.flux_substitutions
    }
  }
}
