"""The rule registry: a literal list, no import scanning (docs and --list-rules come from it).

Rules live in one small module per family; schema.py, terraform.py and apiserver.py are the
engine's (they need a schema store, Terraform, a real API server; no YAML fixtures).
"""

from __future__ import annotations

from mercury.verify.rules import apiserver, schema, terraform
from mercury.verify.rules.aks import AksFluxMultitenancy
from mercury.verify.rules.base import Rule
from mercury.verify.rules.capacity import CapacityRule
from mercury.verify.rules.certmanager import IssuerRefRule
from mercury.verify.rules.cnpg import (
    BackupScheduleRule,
    CnpgBackupConsistencyRule,
    CnpgDeprecatedBarmanRule,
    CnpgInstancesRule,
)
from mercury.verify.rules.flux import FluxDependsOnRule, HelmSourceRule, UnsubstitutedVarRule
from mercury.verify.rules.ingress import DuplicateHostRule, IngressBackendRule, IngressClassRule
from mercury.verify.rules.isolation import TenantSecretIsolation
from mercury.verify.rules.n8n import N8nEncryptionKeyRule, N8nProbesRule, N8nReplicasRule
from mercury.verify.rules.n8n_semantics import N8nConfigRule
from mercury.verify.rules.namespaces import NamespaceMissingRule
from mercury.verify.rules.network import NetworkFlowRule, NetworkIsolationRule
from mercury.verify.rules.reference_table import ReferenceMissingRule
from mercury.verify.rules.references import ConfigMapRefRule, PvcRefRule, ServiceAccountRefRule
from mercury.verify.rules.secrets import CsiReloaderRule, SecretDataCommittedRule, SecretRefRule
from mercury.verify.rules.secrets_store import SpcIdentityRule, SpcTenantIdRule
from mercury.verify.rules.security import (
    ImageTagRule,
    NetworkDefaultDenyRule,
    PodSecurityRestrictedRule,
)
from mercury.verify.rules.services import ServiceSelectorRule, ServiceTargetPortRule
from mercury.verify.rules.terraform_schema import TerraformSchemaRule
from mercury.verify.rules.terraform_validate import TerraformValidateRule
from mercury.verify.rules.tfwiring import TerraformWiringRule

CROSS_OBJECT_RULES: list[Rule] = [
    # Flux wiring
    FluxDependsOnRule(),
    HelmSourceRule(),
    UnsubstitutedVarRule(),
    NamespaceMissingRule(),
    AksFluxMultitenancy(),
    # ingress and TLS
    IngressClassRule(),
    IngressBackendRule(),
    DuplicateHostRule(),
    IssuerRefRule(),
    # secrets and Azure identities
    SpcTenantIdRule(),
    SpcIdentityRule(),
    SecretRefRule(),
    SecretDataCommittedRule(),
    CsiReloaderRule(),
    TenantSecretIsolation(),
    TerraformWiringRule(),
    # workloads and services
    ServiceSelectorRule(),
    ServiceTargetPortRule(),
    ConfigMapRefRule(),
    PvcRefRule(),
    ServiceAccountRefRule(),
    ReferenceMissingRule(),
    ImageTagRule(),
    PodSecurityRestrictedRule(),
    NetworkDefaultDenyRule(),
    CapacityRule(),
    NetworkFlowRule(),
    NetworkIsolationRule(),
    # CloudNativePG
    BackupScheduleRule(),
    CnpgBackupConsistencyRule(),
    CnpgDeprecatedBarmanRule(),
    CnpgInstancesRule(),
    # n8n
    N8nEncryptionKeyRule(),
    N8nReplicasRule(),
    N8nProbesRule(),
    N8nConfigRule(),
]

# terraform/ against the providers: their schemas offline, `terraform validate` where it can
TERRAFORM_RULES: list[Rule] = [TerraformSchemaRule(), TerraformValidateRule()]

ALL_RULES: list[Rule] = [*schema.RULES, *apiserver.RULES, *terraform.RULES, *TERRAFORM_RULES,
                         *CROSS_OBJECT_RULES]
