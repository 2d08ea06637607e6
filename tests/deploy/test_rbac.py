"""RBAC in deploy/ grants exactly dynamote_core.rbac.REQUIRED_PERMISSIONS."""

from __future__ import annotations

from typing import Any

import pytest

from dynamote_core.rbac import REQUIRED_PERMISSIONS, Permission, render_role_rules

Manifest = dict[str, Any]

ROLE_SCOPES = {"Role": "namespaced", "ClusterRole": "cluster"}


def expand_rules(rules: list[dict[str, Any]], scope: str) -> list[Permission]:
    """One Permission per (group, resource, verb) a list of RBAC rules grants."""
    return [
        Permission(group, resource, verb, scope)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
    ]


def strip_resource_names(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {key: value for key, value in rule.items() if key != "resourceNames"}
        for rule in rules
    ]


@pytest.mark.parametrize("kind", ["Role", "ClusterRole"])
def test_role_grants_exactly_the_required_permissions(
    built_by_kind: dict[str, Manifest], kind: str
) -> None:
    scope = ROLE_SCOPES[kind]
    rules = built_by_kind[kind]["rules"]

    granted = expand_rules(rules, scope)

    required = [perm for perm in REQUIRED_PERMISSIONS if perm.scope == scope]
    assert sorted(granted) == sorted(required)


@pytest.mark.parametrize("kind", ["Role", "ClusterRole"])
def test_role_rules_read_as_rendered(
    built_by_kind: dict[str, Manifest], kind: str
) -> None:
    rules = built_by_kind[kind]["rules"]

    rendered = render_role_rules(ROLE_SCOPES[kind])

    assert strip_resource_names(rules) == rendered


def test_secret_read_is_limited_to_the_default_token_secret(
    built_by_kind: dict[str, Manifest],
) -> None:
    rules = built_by_kind["Role"]["rules"]
    default_secret = built_by_kind["ConfigMap"]["data"]["DEFAULT_HF_SECRET"]

    limited = {rule["resources"][0]: rule.get("resourceNames") for rule in rules}

    assert limited.pop("secrets") == [default_secret]
    assert set(limited.values()) == {None}


def test_required_permissions_have_no_wildcards_or_duplicates() -> None:
    fields = {value for perm in REQUIRED_PERMISSIONS for value in perm[:3]}

    assert "*" not in fields
    assert len(set(REQUIRED_PERMISSIONS)) == len(REQUIRED_PERMISSIONS)


@pytest.mark.parametrize(
    ("binding", "role"),
    [("RoleBinding", "Role"), ("ClusterRoleBinding", "ClusterRole")],
)
def test_binding_gives_the_role_to_the_pods_service_account(
    built_by_kind: dict[str, Manifest], binding: str, role: str
) -> None:
    bound = built_by_kind[binding]
    account = built_by_kind["ServiceAccount"]["metadata"]
    pod_spec = built_by_kind["Deployment"]["spec"]["template"]["spec"]

    [subject] = bound["subjects"]

    assert bound["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": role,
        "name": built_by_kind[role]["metadata"]["name"],
    }
    assert (subject["kind"], subject["name"]) == ("ServiceAccount", account["name"])
    assert subject["namespace"] == account["namespace"]
    assert pod_spec["serviceAccountName"] == account["name"]
