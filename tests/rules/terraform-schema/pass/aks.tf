# The same cluster the fail fixtures get wrong, right.
resource "azurerm_kubernetes_cluster" "main" {
  name                = "aks"
  location            = "westeurope"
  resource_group_name = "rg"
  dns_prefix          = "aks"
  sku_tier            = "Free"

  default_node_pool {
    name    = "system"
    vm_size = "Standard_D2s_v3"
  }

  identity {
    type = "SystemAssigned"
  }

  key_vault_secrets_provider {
    secret_rotation_enabled = true
  }

  tags = { team = "platform" }
}

resource "azurerm_federated_identity_credential" "backup" {
  name                      = "customer1-n8n-db"
  user_assigned_identity_id = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id"
  issuer                    = azurerm_kubernetes_cluster.main.oidc_issuer_url
  subject                   = "system:serviceaccount:customer1:n8n-db"
  audience                  = ["api://AzureADTokenExchange"]
}
