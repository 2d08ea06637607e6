"""The Kubernetes API permissions Dynamote uses, in one list.

`REQUIRED_PERMISSIONS` is the single source of truth for RBAC: the manifests in
`deploy/` grant exactly these (tests/deploy/test_rbac.py compares them), and a
sandbox test checks that the app's calls need all of them and nothing else.
Adding a cluster call to `kube`, `cluster` or `deployments` means adding its
permission here, then to `deploy/`.

This module does no I/O. Callers: the deploy tests, and the app when it explains
which permission a forbidden call lacked.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Scope = Literal["namespaced", "cluster"]

DYNAMO_GROUP = "nvidia.com"
CORE_GROUP = ""


class Permission(NamedTuple):
    """One RBAC grant: a verb on a resource (or subresource) of an API group."""

    api_group: str
    resource: str
    verb: str
    scope: Scope


def _grant(
    group: str, resource: str, verbs: str, scope: Scope
) -> tuple[Permission, ...]:
    return tuple(Permission(group, resource, verb, scope) for verb in verbs.split())


# Derived from the calls in `cluster`, `deployments` and `chat`; the sandbox
# test in tests/deploy/test_rbac_coverage.py fails when they drift apart.
# API discovery (/api, /apis, /apis/nvidia.com) and /version need no grant:
# every authenticated user has them through system:discovery.
REQUIRED_PERMISSIONS: tuple[Permission, ...] = (
    # Deploy is a dry-run create, then a create; nothing patches or watches.
    *_grant(
        DYNAMO_GROUP, "dynamographdeployments", "get list create delete", "namespaced"
    ),
    *_grant(CORE_GROUP, "pods", "list", "namespaced"),
    *_grant(CORE_GROUP, "pods/log", "get", "namespaced"),
    *_grant(CORE_GROUP, "events", "list", "namespaced"),
    *_grant(CORE_GROUP, "services", "get", "namespaced"),
    # The chat page reaches a deployment's frontend through the API server proxy.
    *_grant(CORE_GROUP, "services/proxy", "get create", "namespaced"),
    # Only the HF token Secret's existence is checked, by name, metadata only.
    *_grant(CORE_GROUP, "secrets", "get", "namespaced"),
    *_grant(CORE_GROUP, "namespaces", "get", "cluster"),
    *_grant(CORE_GROUP, "nodes", "list", "cluster"),
    # Pods of all namespaces: GPUs in use per node, and the operator's pod
    # wherever it runs. Without it the app still works and says it cannot tell.
    *_grant(CORE_GROUP, "pods", "list", "cluster"),
)


def list_permissions(scope: Scope) -> tuple[Permission, ...]:
    """The required permissions of one scope, in `REQUIRED_PERMISSIONS` order."""
    return tuple(perm for perm in REQUIRED_PERMISSIONS if perm.scope == scope)


def render_role_rules(scope: Scope) -> list[dict[str, list[str]]]:
    """RBAC `rules` for a Role (`namespaced`) or a ClusterRole (`cluster`).

    One rule per resource, verbs in `REQUIRED_PERMISSIONS` order, so the result
    reads like the manifests in `deploy/`.
    """
    rules: dict[tuple[str, str], list[str]] = {}
    for perm in list_permissions(scope):
        rules.setdefault((perm.api_group, perm.resource), []).append(perm.verb)
    return [
        {"apiGroups": [group], "resources": [resource], "verbs": verbs}
        for (group, resource), verbs in rules.items()
    ]
