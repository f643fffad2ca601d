# Terraform's language, which no provider schema holds.
variable "greeting" {
  type    = string
  default = "hello"
}

output "undeclared" {
  value = var.greting # expect: terraform-validate
}

output "arguments" {
  value = upper(var.greeting, "x") # expect: terraform-validate
}

output "local" {
  value = local.missing # expect: terraform-validate
}
