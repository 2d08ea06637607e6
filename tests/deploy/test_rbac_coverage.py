"""Every API call the app's core flows make is granted, and every grant is used.

The app's cluster functions run against the sandbox through the real kubernetes
client; the sandbox's request log says what was asked, which is mapped to RBAC
terms here the way the API server's request info does it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client import ApiClient

from dynamote_core import chat, cluster, deployments, kube
from dynamote_core.catalog import load_catalog
from dynamote_core.config import ApiVersion, DeploymentConfig
from dynamote_core.errors import ClusterError
from dynamote_core.rbac import REQUIRED_PERMISSIONS, Permission
from dynamote_core.sandbox import CONTEXT, Sandbox
from dynamote_core.sandbox.operator import FAIL_ANNOTATION
from tests.fixtures_sandbox import make_deployment_config, make_graph_deployment

NAMESPACE = "dynamo-system"
HF_SECRET = "hf-token-secret"
API_VERSION: ApiVersion = "v1beta1"
MODEL_ID = "Qwen/Qwen3-0.6B"
WAIT_SECONDS = 10.0

# Requests that need no RBAC grant: discovery and the server version.
NON_RESOURCE_PREFIXES = ("/version", "/openapi")
DISCOVERY_DEPTH = {"api": 2, "apis": 3}
WRITE_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def to_permission(method: str, path: str) -> Permission | None:
    """The RBAC permission a request needs, or None for discovery and /version.

    GET on a collection is taken as `list`: the request log keeps no query, and
    Dynamote never watches (a watch would need its own grant).
    """
    parts = [part for part in path.split("/") if part]
    if path.startswith(NON_RESOURCE_PREFIXES) or not parts:
        return None
    depth = DISCOVERY_DEPTH.get(parts[0])
    if depth is None or len(parts) <= depth:
        return None
    group = "" if parts[0] == "api" else parts[1]
    rest = parts[depth:]
    namespaced = rest[0] == "namespaces" and len(rest) >= 3
    if namespaced:
        rest = rest[2:]
    resource, name, sub = rest[0], _at(rest, 1), _at(rest, 2)
    if sub is not None:
        resource = f"{resource}/{sub}"
    verb = _verb(method, has_name=name is not None, is_proxy=sub == "proxy")
    return Permission(group, resource, verb, "namespaced" if namespaced else "cluster")


def _at(parts: list[str], index: int) -> str | None:
    return parts[index] if len(parts) > index else None


def _verb(method: str, *, has_name: bool, is_proxy: bool) -> str:
    if method == "GET":
        return "get" if has_name or is_proxy else "list"
    return WRITE_VERBS[method]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/version", None),
        ("GET", "/apis/nvidia.com", None),
        ("GET", "/apis/nvidia.com/v1beta1", None),
        ("GET", "/api/v1/nodes", ("", "nodes", "list", "cluster")),
        ("GET", "/api/v1/pods", ("", "pods", "list", "cluster")),
        ("GET", "/api/v1/namespaces/ns", ("", "namespaces", "get", "cluster")),
        (
            "GET",
            "/api/v1/namespaces/ns/pods/p/log",
            ("", "pods/log", "get", "namespaced"),
        ),
        (
            "POST",
            "/api/v1/namespaces/ns/services/s:8000/proxy/v1/chat/completions",
            ("", "services/proxy", "create", "namespaced"),
        ),
        (
            "DELETE",
            "/apis/nvidia.com/v1beta1/namespaces/ns/dynamographdeployments/d",
            ("nvidia.com", "dynamographdeployments", "delete", "namespaced"),
        ),
    ],
    ids=[
        "version",
        "group",
        "group-version",
        "nodes",
        "all-pods",
        "namespace",
        "pod-log",
        "proxy-post",
        "dgd-delete",
    ],
)
def test_requests_map_to_permissions(
    method: str, path: str, expected: tuple[str, ...] | None
) -> None:
    permission = to_permission(method, path)

    assert permission == (None if expected is None else Permission(*expected))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(speed=0.01) as running:
        yield running


@pytest.fixture(scope="module")
def api_client(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiClient]:
    kubeconfig = sandbox.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")
    client = kube.new_api_client(str(kubeconfig), context=CONTEXT)
    yield client
    client.close()


def build_manifest(
    name: str, fail: str | None = None
) -> tuple[dict[str, Any], DeploymentConfig]:
    config = make_deployment_config(name, NAMESPACE, MODEL_ID)
    manifest = make_graph_deployment(config, API_VERSION)
    if fail:
        manifest["metadata"].setdefault("annotations", {})[FAIL_ANNOTATION] = fail
    return manifest, config


def wait_for_crash_loop(api_client: ApiClient, name: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        details = deployments.get_deployment_details(
            api_client, NAMESPACE, name, API_VERSION
        )
        # Details read a pod's log once it crash-loops.
        if any(pod.reason == "CrashLoopBackOff" for pod in details.pods):
            return
        time.sleep(0.05)
    pytest.fail(f"no crash loop for {name} within {WAIT_SECONDS}s")


def run_app_flows(api_client: ApiClient) -> None:
    """What the pages do: status, pre-flight, deploy, list, details, chat, delete."""
    manifest, config = build_manifest("rbac-ok")
    crashing, _ = build_manifest("rbac-crash", fail="crash-loop")
    model = load_catalog().get(MODEL_ID)

    cluster.get_cluster_status(api_client, NAMESPACE, HF_SECRET)
    deployments.run_preflight(api_client, config, model, API_VERSION)
    deployments.deploy(api_client, manifest, API_VERSION)
    deployments.deploy(api_client, crashing, API_VERSION)
    deployments.list_deployments(api_client, NAMESPACE, API_VERSION)
    wait_for_crash_loop(api_client, "rbac-crash")

    chat.check_serving(api_client, NAMESPACE, "rbac-ok", MODEL_ID)
    # No frontend runs in the sandbox here: the proxy answers 503, and the
    # request itself is what this test needs.
    with contextlib.suppress(ClusterError):
        messages = [{"role": "user", "content": "hi"}]
        list(
            chat.stream_chat(
                api_client, NAMESPACE, "rbac-ok", MODEL_ID, messages, 8, 0.0
            )
        )
    for name in ("rbac-ok", "rbac-crash"):
        deployments.delete_deployment(api_client, NAMESPACE, name, API_VERSION)


def test_app_uses_exactly_the_required_permissions(
    sandbox: Sandbox, api_client: ApiClient
) -> None:
    run_app_flows(api_client)

    used = {
        permission
        for record in sandbox.request_log
        if (permission := to_permission(record.method, record.path)) is not None
    }

    assert sorted(used - set(REQUIRED_PERMISSIONS)) == [], "used but not granted"
    assert sorted(set(REQUIRED_PERMISSIONS) - used) == [], "granted but never used"
