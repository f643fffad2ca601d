# Provider pins. azurerm 4.x is required for the names used here
# (`rbac_authorization_enabled`, `storage_account_id`, `value_wo`, Flux `post_build`);
# 5.x renames more fields, so stay on the 4.x line until this code is migrated.
# Terraform >= 1.11 is needed for write-only arguments (`value_wo`) fed by ephemeral
# resources: generated secrets then reach Key Vault without ever touching the state.
terraform {
  required_version = ">= 1.11"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.81"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7" # 3.7 added the ephemeral random_password
    }
  }

  # The state holds resource IDs and, for `sas` tenants, the container SAS tokens:
  # keep it in a private remote backend, e.g.
  #   terraform init -backend-config=backend.hcl   (with a `backend "azurerm" {}` block)
}

provider "azurerm" {
  # The Flux extension and configuration are Microsoft.KubernetesConfiguration
  # resources, which azurerm's default ("legacy") set does not register: on a fresh
  # subscription the extension would fail with MissingSubscriptionRegistration.
  resource_providers_to_register = ["Microsoft.KubernetesConfiguration"]
  # Storage data plane (containers, blob properties) through Entra ID, not account keys:
  # the backup account has no keys unless a `sas` tenant needs them.
  storage_use_azuread = true

  features {}
}
