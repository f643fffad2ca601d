# Attributes only the provider sets (computed, neither optional nor required).
resource "azurerm_user_assigned_identity" "n8n" {
  name                = "id-n8n"
  location            = "westeurope"
  resource_group_name = "rg"
  principal_id        = "00000000-0000-0000-0000-000000000000" # expect: terraform-schema[computed]
}

resource "azurerm_kubernetes_cluster" "main" {
  name                = "aks"
  location            = "westeurope"
  resource_group_name = "rg"
  dns_prefix          = "aks"
  fqdn                = "aks.example.org" # expect: terraform-schema[computed]

  default_node_pool {
    name    = "system"
    vm_size = "Standard_D2s_v3"
  }

  identity {
    type      = "SystemAssigned"
    tenant_id = "00000000-0000-0000-0000-000000000000" # expect: terraform-schema[computed]
  }
}
