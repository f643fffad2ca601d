# Deprecated arguments, blocks, resource types and provider settings (warnings).
provider "azurerm" {
  skip_provider_registration = true # expect: terraform-schema[deprecated] warning
  version                    = "~> 4.81" # expect: terraform-schema[deprecated] warning
  features {}
}

resource "azurerm_federated_identity_credential" "backup" {
  name      = "customer1-n8n-db"
  parent_id = "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id" # expect: terraform-schema[deprecated] warning
  issuer    = "https://oidc.example.org"
  subject   = "system:serviceaccount:customer1:n8n-db"
  audience  = ["api://AzureADTokenExchange"]
}

resource "azurerm_key_vault" "main" {
  name                = "kv"
  location            = "westeurope"
  resource_group_name = "rg"
  tenant_id           = "00000000-0000-0000-0000-000000000000"
  sku_name            = "standard"

  contact { # expect: terraform-schema[deprecated] warning
    email = "ops@example.org"
  }
}

resource "azurerm_app_service_plan" "old" { # expect: terraform-schema[deprecated] warning
  name                = "plan"
  location            = "westeurope"
  resource_group_name = "rg"

  sku {
    tier = "Basic"
    size = "B1"
  }
}
