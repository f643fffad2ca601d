# Required arguments and required blocks (min_items) left out, at the top and nested.
resource "azurerm_kubernetes_cluster" "main" { # expect: terraform-schema[missing-argument]; expect: terraform-schema[missing-block]
  name       = "aks"
  location   = "westeurope"
  dns_prefix = "aks"

  identity { # expect: terraform-schema[missing-argument]
    identity_ids = []
  }
}

resource "random_password" "db" {} # expect: terraform-schema[missing-argument]
