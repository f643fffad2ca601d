# The provider block against the provider's own schema.
provider "azurerm" {
  features {
    key_vaults { # expect: terraform-schema[unknown-block]
      purge_soft_delete_on_destroy = false
    }
  }
  resource_provider_to_register = ["Microsoft.KubernetesConfiguration"] # expect: terraform-schema[unknown-argument]
}

provider "kubernetes" { # expect: terraform-schema[no-schema] info
  host = "https://example.org"
}

resource "kubernetes_namespace" "n8n" {
  metadata {
    name = "n8n"
  }
}
