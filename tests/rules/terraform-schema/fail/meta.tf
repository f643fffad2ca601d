# Terraform's own blocks around the provider's: lifecycle, dynamic, meta-arguments.
resource "random_password" "db" {
  length = 32

  lifecycle {
    prevent_destroy = true
    ignore_change   = [length] # expect: terraform-schema[unknown-argument]

    precondition { # expect: terraform-schema[missing-argument]
      condition = true
    }
  }
}

data "azurerm_client_config" "current" {
  lifecycle {
    create_before_destroy = true # expect: terraform-schema[unknown-argument]
  }
}

resource "azurerm_kubernetes_cluster" "main" {
  name                = "aks"
  location            = "westeurope"
  resource_group_name = "rg"
  dns_prefix          = "aks"

  dynamic "default_node_pool" {
    for_each = toset(["system"])
    iterate  = pool # expect: terraform-schema[unknown-argument]
    content {
      name    = default_node_pool.value
      vm_sise = "Standard_D2s_v3" # expect: terraform-schema[unknown-argument]
    }
  }

  dynamic "identity" { # expect: terraform-schema[missing-argument]; expect: terraform-schema[missing-block]
    iterator = id
  }

  dynamic "node_pools" { # expect: terraform-schema[unknown-block]
    for_each = []
    content {}
  }
}
