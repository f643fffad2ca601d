"""mercury: GitOps platform for managed n8n tenants on AKS, and its toolkit."""

__version__ = "0.1.0"
