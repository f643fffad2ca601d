# Written as blocks, a list-of-object argument still has only its object's fields.
resource "azurerm_eventgrid_topic" "events" {
  name                = "egt"
  location            = "westeurope"
  resource_group_name = "rg"

  inbound_ip_rule {
    ip_range = "10.0.0.0/16" # expect: terraform-schema[unknown-argument]
  }
}
