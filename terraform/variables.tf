# Inputs. Everything that describes the fleet (environments, tenants, sizes, names)
# lives in ../platform.yaml; variables only pick an environment and carry what
# platform.yaml cannot know (where the git repository is, SAS validity window).

variable "environment" {
  description = "Environment of platform.yaml to provision (a key of `environments`)."
  type        = string
  default     = "staging"

  validation {
    condition     = contains(keys(local.platform.environments), var.environment)
    error_message = "The environment must be one of the keys of `environments` in platform.yaml."
  }
}

variable "kubernetes_version" {
  description = "AKS Kubernetes version; null takes cluster.kubernetes_version from platform.yaml (default 1.35)."
  type        = string
  default     = null
}

variable "api_server_authorized_ip_ranges" {
  description = <<-EOT
    CIDR ranges allowed to reach the AKS API server (kubectl, mercury status/doctor/backup,
    CI). null takes hardening.api_server_authorized_ip_ranges from platform.yaml; an empty
    list leaves the API server open to the internet (Entra ID still guards it), which the
    production profile refuses. Flux and the Azure control plane need no entry.
  EOT
  type        = list(string)
  default     = null
}

variable "git_repository_url" {
  description = "URL Flux pulls this repository from (https://, ssh:// or git@)."
  type        = string

  validation {
    condition     = can(regex("^(https?://|ssh://|git@)", var.git_repository_url))
    error_message = "The git repository URL must start with http://, https://, ssh:// or git@."
  }
}

variable "git_branch" {
  description = "Branch of the repository Flux follows."
  type        = string
  default     = "main"
}

variable "db_password_versions" {
  description = <<-EOT
    Per-tenant version of the generated database password (tenant -> number, default 1).
    The password is write-only: Terraform sends a new random value to Key Vault only when
    this number changes, so bump it to rotate the password of one tenant.
  EOT
  type        = map(number)
  default     = {}
}

variable "backup_sas_start" {
  description = "Start of the container SAS tokens (RFC 3339), only used by tenants with backup.auth = sas."
  type        = string
  default     = null
}

variable "backup_sas_expiry" {
  description = <<-EOT
    Expiry of the container SAS tokens (RFC 3339), only used by tenants with backup.auth = sas.
    A SAS expires silently: WAL archiving then fails and WAL piles up until the disk fills,
    which is why workload identity is the default. Fixed dates (not timestamp()) keep plans stable.
  EOT
  type        = string
  default     = null
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
