# Blocks written as arguments and the reverse, block counts, labels.
resource "azurerm_kubernetes_cluster" "main" {
  name                = "aks"
  location            = "westeurope"
  resource_group_name = "rg"
  dns_prefix          = "aks"

  default_node_pool {
    name    = "system"
    vm_size = "Standard_D2s_v3"
  }

  identity = { # expect: terraform-schema[nesting]
    type = "SystemAssigned"
  }

  network_profile {
    network_plugin = "azure"
  }
  network_profile { # expect: terraform-schema[nesting]
    network_plugin = "kubenet"
  }

  key_vault_secrets_provider "csi" { # expect: terraform-schema[nesting]
    secret_rotation_enabled = true
  }

  tags { # expect: terraform-schema[nesting]
    team = "platform"
  }

  timeouts {
    create = "90m"
  }
  timeouts { # expect: terraform-schema[nesting]
    delete = "90m"
  }

  dynamic "tags" { # expect: terraform-schema[nesting]
    for_each = {}
    content {}
  }
}
