# Everything Terraform itself adds around the providers' schemas, used correctly.
terraform {
  required_version = ">= 1.11"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.81"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }
}

provider "azurerm" {
  resource_providers_to_register = ["Microsoft.KubernetesConfiguration"]
  features {}
}

provider "azurerm" {
  alias           = "west"
  subscription_id = "00000000-0000-0000-0000-000000000000"
  features {
    key_vault {
      purge_soft_delete_on_destroy = false
    }
  }
}

variable "pools" {
  type    = map(string)
  default = { system = "Standard_D2s_v3" }
}

locals {
  tags = { team = "platform" } # } in a comment, "quotes" too
  script = <<-EOT
    resource "not_a_block" "inside_a_heredoc" {
      bogus = "${var.pools["system"]}"
    }
  EOT
}

data "azurerm_client_config" "current" {
  provider = azurerm.west
}

resource "azurerm_resource_group" "main" {
  for_each = toset(["a", "b"])
  name     = "rg-${each.key}-${lookup({ "a" = "x" }, each.key, "}")}"
  location = "westeurope"
  tags     = merge(local.tags, { for k, v in var.pools : k => v if v != "" })

  lifecycle {
    create_before_destroy = true
    prevent_destroy       = false
    ignore_changes        = [tags]
    replace_triggered_by  = [terraform_data.trigger]
    precondition {
      condition     = length(each.key) > 0
      error_message = "A name is needed."
    }
  }

  provisioner "local-exec" {
    command = "echo ${self.name}"
  }
  connection {
    host = "example.org"
  }
  depends_on = [data.azurerm_client_config.current]
}

resource "terraform_data" "trigger" {
  input = "v1"
}

resource "azurerm_kubernetes_cluster" "main" {
  count               = 1
  provider            = azurerm.west
  name                = "aks"
  location            = "westeurope"
  resource_group_name = "rg"
  dns_prefix          = "aks"
  id                  = null /* optional and computed: may be set */

  dynamic "default_node_pool" {
    for_each = var.pools
    iterator = pool
    content {
      name    = pool.key
      vm_size = pool.value

      dynamic "upgrade_settings" {
        for_each = [1]
        content {
          max_surge = "10%"
        }
      }
    }
  }

  identity { type = "SystemAssigned" }

  timeouts {
    create = "90m"
  }
}

ephemeral "random_password" "db" {
  length  = 32
  special = false
}

resource "random_password" "kept" {
  length = 32
}

check "vault_reachable" {
  data "azurerm_client_config" "scoped" {}

  assert {
    condition     = data.azurerm_client_config.scoped.tenant_id != ""
    error_message = "no tenant"
  }
}

module "elsewhere" {
  source = "./modules/none"
  bogus  = "a module's inputs are not provider schema"
}

output "kube" {
  value     = azurerm_kubernetes_cluster.main[0].kube_config_raw
  sensitive = true
}
