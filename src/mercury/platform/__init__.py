"""platform.yaml: the model and its loader."""

from mercury.platform.load import PLATFORM_FILE, load_platform, parse_platform
from mercury.platform.model import Backup, Database, Environment, Platform, Tenant

__all__ = ["PLATFORM_FILE", "Backup", "Database", "Environment", "Platform", "Tenant",
           "load_platform", "parse_platform"]
