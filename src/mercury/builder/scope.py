"""Which kinds are cluster-scoped: never namespaced, whatever kustomize stamped on them.

kustomize's `namespace:` (and Flux's targetNamespace) sets a namespace on every kind it
does not know to be cluster-scoped, i.e. on most custom resources; the API server drops
it for a cluster-scoped kind. The answer comes from the CRDs in the build (spec.scope)
and from this list of built-in and common CRD kinds (checked against ../shared/crds by
the tests).
"""

from __future__ import annotations

from collections.abc import Iterable

from mercury.builder.model import K8sObject

CLUSTER_SCOPED = frozenset({
    # Kubernetes
    "Namespace", "Node", "PersistentVolume", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleBinding", "StorageClass", "PriorityClass", "IngressClass", "RuntimeClass",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService",
    "CSIDriver", "CSINode", "VolumeAttachment", "CertificateSigningRequest", "FlowSchema",
    "PriorityLevelConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding", "ComponentStatus", "GatewayClass", "DeviceClass",
    "VolumeSnapshotClass", "VolumeSnapshotContent", "IPAddress", "ServiceCIDR",
    # common CRDs
    "ClusterIssuer", "ClusterSecretStore", "ClusterExternalSecret", "ClusterImageCatalog",
    "ClusterPolicy", "ClusterCleanupPolicy", "ClusterPolicyReport",
    "CiliumClusterwideNetworkPolicy", "CiliumNode", "CiliumIdentity",
    "CiliumLoadBalancerIPPool", "CiliumBGPClusterConfig", "CiliumBGPPeerConfig",
    "CiliumBGPAdvertisement", "CiliumL2AnnouncementPolicy", "ClusterTriggerAuthentication",
    "GlobalNetworkPolicy", "ClusterSecret", "NodeFeatureRule",
})


def cluster_scoped_kinds(objects: Iterable[K8sObject]) -> frozenset[str]:
    """CLUSTER_SCOPED plus every kind a CRD among `objects` declares `scope: Cluster`
    (and minus a kind a CRD declares Namespaced)."""
    extra: set[str] = set()
    namespaced: set[str] = set()
    for obj in objects:
        if obj.kind != "CustomResourceDefinition":
            continue
        kind = (obj.spec.get("names") or {}).get("kind")
        if not isinstance(kind, str):
            continue
        (extra if obj.spec.get("scope") == "Cluster" else namespaced).add(kind)
    return (CLUSTER_SCOPED | extra) - (namespaced - extra)
