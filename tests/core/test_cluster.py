"""cluster: status, API version discovery, GPUs and the HF secret, on the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient

from dynamote_core import cluster, kube
from dynamote_core.cluster import discover_served_versions, get_cluster_status
from dynamote_core.errors import ClusterUnreachable
from dynamote_core.sandbox import Sandbox
from tests.fixtures_sandbox import wait_until

NAMESPACE = "dynamo-system"
SECRET = "hf-token-secret"


def new_client(sandbox: Sandbox, tmp_path: Path) -> ApiClient:
    return kube.new_api_client(str(sandbox.write_kubeconfig(tmp_path / "kubeconfig")))


def test_fresh_sandbox_status_has_no_problem(api: ApiClient) -> None:
    status = get_cluster_status(api, NAMESPACE, SECRET, context="sandbox")

    assert status.reachable and status.server_version
    assert (status.namespace_exists, status.crd_installed) == (True, True)
    assert status.served_versions == ["v1beta1", "v1alpha1"]
    assert status.api_version == "v1beta1"
    assert status.operator_alive is True
    assert status.hf_secret_exists is True
    assert status.context == "sandbox"
    assert status.problems == []


def test_gpu_pools_group_nodes_by_product_and_memory(api: ApiClient) -> None:
    status = get_cluster_status(api, NAMESPACE, SECRET)

    pools = {(p.product, p.memory_gib): (p.total, p.free, p.nodes) for p in status.gpus}
    assert pools == {
        ("NVIDIA-A100-SXM4-80GB", 80.0): (16, 16, 2),
        ("NVIDIA-L4", 22.5): (4, 4, 1),
    }


def test_free_gpus_drop_by_the_gpus_pods_request(
    sandbox: Sandbox, api: ApiClient
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "trainer", "namespace": NAMESPACE},
        "spec": {
            "nodeName": "gpu-a100-0",
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "resources": {"limits": {"nvidia.com/gpu": "3"}},
                }
            ],
        },
        "status": {"phase": "Running"},
    }
    sandbox.store.create("pods", pod)

    status = get_cluster_status(api, NAMESPACE, SECRET)

    a100 = next(p for p in status.gpus if p.product.startswith("NVIDIA-A100"))
    assert (a100.free, a100.max_free_per_node) == (13, 8)
    assert a100.free_by_node == {"gpu-a100-0": 5, "gpu-a100-1": 8}


@pytest.mark.parametrize(
    ("served", "setting", "chosen"),
    [
        (("v1beta1", "v1alpha1"), "auto", "v1beta1"),
        (("v1beta1", "v1alpha1"), "v1alpha1", "v1alpha1"),
        (("v1alpha1",), "auto", "v1alpha1"),
    ],
    ids=["auto-picks-beta", "user-setting-wins", "old-operator-alpha-only"],
)
def test_api_version_follows_discovery_or_setting(
    tmp_path: Path, served: tuple[str, ...], setting: str, chosen: str
) -> None:
    with Sandbox(speed=0.01, served_versions=served) as running:
        api = new_client(running, tmp_path)

        status = get_cluster_status(api, NAMESPACE, SECRET, setting)
        discovered = discover_served_versions(api)

    assert discovered == list(served)
    assert status.api_version == chosen


def test_missing_secret_is_a_problem_with_the_create_line(api: ApiClient) -> None:
    status = get_cluster_status(api, "default", SECRET)

    assert status.hf_secret_exists is False
    assert status.problems == [
        "Secret hf-token-secret is missing in default: kubectl create secret generic "
        "hf-token-secret --from-literal=HF_TOKEN=<your token> -n default"
    ]


def test_secret_is_checked_by_metadata_only(
    api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, dict[str, Any], Any]] = []
    original = api.rest_client.pool_manager.request

    def spy(method: str, url: str, **options: Any) -> Any:
        response = original(method, url, **options)
        sent.append((url, options.get("headers") or {}, response))
        return response

    monkeypatch.setattr(api.rest_client.pool_manager, "request", spy)

    assert cluster.has_secret(api, NAMESPACE, SECRET) is True

    (url, headers, response), *_ = sent
    assert url.endswith(f"/namespaces/{NAMESPACE}/secrets/{SECRET}")
    assert "as=PartialObjectMetadata" in headers["Accept"]
    assert response.closed and response._body is None


def test_missing_namespace_is_a_problem(api: ApiClient) -> None:
    status = get_cluster_status(api, "nowhere", SECRET)

    assert status.namespace_exists is False
    assert any("kubectl create namespace nowhere" in p for p in status.problems)


def test_dead_operator_is_reported(sandbox: Sandbox, api: ApiClient) -> None:
    sandbox.operator_available = False

    status = wait_until(
        lambda: (
            (s := get_cluster_status(api, NAMESPACE, SECRET)).operator_alive is False
            and s
        )
    )

    assert any("dynamo-operator" in p for p in status.problems)


@pytest.mark.parametrize(
    ("verb", "resource", "unknown", "can_i"),
    [
        ("list", "nodes", "gpus_known", "kubectl auth can-i list nodes"),
        ("list", "pods", "operator_alive", "kubectl auth can-i list pods"),
        ("get", "secrets", "hf_secret_exists", "kubectl auth can-i get secrets -n"),
        ("get", "namespaces", "namespace_exists", "kubectl auth can-i get namespaces"),
    ],
    ids=["nodes", "pods", "secrets", "namespaces"],
)
def test_forbidden_check_is_unknown_not_an_error(
    sandbox: Sandbox, api: ApiClient, verb: str, resource: str, unknown: str, can_i: str
) -> None:
    sandbox.deny(verb, resource)

    status = get_cluster_status(api, NAMESPACE, SECRET)

    assert getattr(status, unknown) in (None, False)
    assert any(can_i in problem for problem in status.problems)
    assert status.reachable


def test_unreachable_cluster_raises(
    sandbox: Sandbox, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube.time, "sleep", lambda _: None)
    sandbox.faults.refuse_connections(True)

    with pytest.raises(ClusterUnreachable):
        get_cluster_status(api, NAMESPACE, SECRET)


def test_list_contexts_is_reexported(sandbox_kubeconfig: Path) -> None:
    names, current = cluster.list_contexts(str(sandbox_kubeconfig))

    assert current in names
