# Names the providers do not have: arguments, blocks, resource types, providers.
terraform {
  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
    }
  }
}

resource "azurerm_resource_group" "main" {
  name     = "rg-mercury"
  location = "westeurope"
  lcoation = "westeurope" # expect: terraform-schema[unknown-argument]

  tag { # expect: terraform-schema[unknown-block]
    team = "platform"
  }
}

resource "azurerm_resource_grup" "typo" { # expect: terraform-schema[unknown-type]
  name = "x"
}

data "azurerm_client_configuration" "current" {} # expect: terraform-schema[unknown-type]

ephemeral "azurerm_storage_account" "nope" { # expect: terraform-schema[unknown-type]
  name = "x"
}

resource "azurem_storage_account" "typo" { # expect: terraform-schema[unknown-provider]
  name = "x"
}
