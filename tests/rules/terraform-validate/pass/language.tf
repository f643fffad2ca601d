# The same outputs, right.
variable "greeting" {
  type    = string
  default = "hello"
}

locals {
  loud = upper(var.greeting)
}

output "undeclared" {
  value = var.greeting
}

output "arguments" {
  value = local.loud
}

resource "terraform_data" "marker" {
  input = local.loud
}
