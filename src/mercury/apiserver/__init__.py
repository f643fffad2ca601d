"""An ephemeral real API server (etcd + kube-apiserver on 127.0.0.1) as the judge of validity."""

from mercury.apiserver.launch import (
    ApiServer,
    ApiServerUnavailable,
    EphemeralApiServer,
    find_binaries,
    launch,
    missing_reason,
    start_apiserver,
)

__all__ = [
    "ApiServer",
    "ApiServerUnavailable",
    "EphemeralApiServer",
    "find_binaries",
    "launch",
    "missing_reason",
    "start_apiserver",
]
