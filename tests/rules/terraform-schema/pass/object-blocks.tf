# A list-of-object argument may be written as blocks (Terraform's "attributes as blocks").
resource "azurerm_eventgrid_topic" "events" {
  name                = "egt"
  location            = "westeurope"
  resource_group_name = "rg"

  inbound_ip_rule {
    ip_mask = "10.0.0.0/16"
    action  = "Allow"
  }
  inbound_ip_rule {
    ip_mask = "10.1.0.0/16"
  }
}

resource "azurerm_eventgrid_domain" "events" {
  name                = "egd"
  location            = "westeurope"
  resource_group_name = "rg"
  inbound_ip_rule = [{
    ip_mask = "10.0.0.0/16"
    action  = "Allow"
  }]
}
