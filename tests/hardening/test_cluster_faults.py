"""Cluster faults, races and missing permissions, through the core entry points.

tests/core/test_kube.py covers `kube.call()` itself (retry counts per status,
timeouts, refused connections, 403 per raw request); this file checks what the
pages call: `cluster.get_cluster_status` and the `deployments` functions, with
the same client a session keeps (`kube.new_api_client`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient

from dynamote_core import chat, deployments, kube
from dynamote_core.catalog import load_catalog
from dynamote_core.cluster import get_cluster_status
from dynamote_core.deployments import (
    create_deployment,
    delete_deployment,
    deploy,
    get_deployment_details,
    list_deployments,
    run_preflight,
)
from dynamote_core.errors import (
    AlreadyExists,
    ClusterError,
    ClusterForbidden,
    ClusterRateLimited,
    ClusterServerError,
    ClusterTimeout,
    ClusterUnreachable,
)
from dynamote_core.rbac import REQUIRED_PERMISSIONS, Permission
from dynamote_core.sandbox import Sandbox
from tests.fixtures_sandbox import (
    make_deployment_config,
    make_graph_deployment,
    wait_until,
)

NAMESPACE = "dynamo-system"
SECRET = "hf-token-secret"
DGD_PATH = f"/apis/nvidia.com/v1beta1/namespaces/{NAMESPACE}/dynamographdeployments"


@pytest.fixture(autouse=True)
def _fast_create_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deployments, "CREATE_CHECK_DELAYS", (0.1, 0.2, 0.3))


def make_manifest(name: str = "qwen") -> dict[str, Any]:
    return make_graph_deployment(make_deployment_config(name, NAMESPACE))


def requests_to(sandbox: Sandbox, path: str, method: str = "GET") -> int:
    return sum(
        1
        for record in sandbox.request_log
        if record.method == method and record.path.split("?")[0] == path
    )


def dgd_names(api: ApiClient) -> list[str]:
    return [row.name for row in list_deployments(api, NAMESPACE, "v1beta1")]


# ---------------------------------------------------------------- down, lost, back


def test_cluster_down_at_start_is_unreachable_with_a_remedy(
    sandbox: Sandbox, api: ApiClient, sleeps: list[float]
) -> None:
    sandbox.faults.refuse_connections(True)

    with pytest.raises(ClusterUnreachable) as raised:
        get_cluster_status(api, NAMESPACE, SECRET)

    assert not isinstance(raised.value, ClusterTimeout)
    assert "kubectl cluster-info" in raised.value.remedy
    assert raised.value.remedy in str(raised.value)
    assert len(sleeps) <= kube.MAX_RETRIES


def test_cluster_lost_mid_session_then_back_recovers_with_the_same_client(
    sandbox: Sandbox, api: ApiClient, sleeps: list[float]
) -> None:
    deploy(api, make_manifest(), "v1beta1")
    assert dgd_names(api) == ["qwen"]
    sandbox.faults.refuse_connections(True)
    with pytest.raises(ClusterUnreachable):
        list_deployments(api, NAMESPACE, "v1beta1")
    with pytest.raises(ClusterUnreachable):
        get_cluster_status(api, NAMESPACE, SECRET)

    sandbox.faults.refuse_connections(False)
    status = get_cluster_status(api, NAMESPACE, SECRET)

    assert status.reachable
    assert dgd_names(api) == ["qwen"]
    assert get_deployment_details(api, NAMESPACE, "qwen", "v1beta1").deployment


# ---------------------------------------------------------------- 5xx and 429


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, ClusterServerError), (503, ClusterServerError), (429, ClusterRateLimited)],
    ids=["500", "503", "429"],
)
def test_list_deployments_retries_at_most_three_times(
    sandbox: Sandbox, api: ApiClient, sleeps: list[float], status: int, error: type
) -> None:
    sandbox.faults.fail_next(100, status=status, retry_after=0, path=DGD_PATH)

    with pytest.raises(error) as raised:
        list_deployments(api, NAMESPACE, "v1beta1")

    assert requests_to(sandbox, DGD_PATH) == 1 + kube.MAX_RETRIES == 4
    assert raised.value.remedy


@pytest.mark.parametrize("status", [500, 503, 429], ids=["500", "503", "429"])
def test_transient_failures_heal_within_the_retries(
    sandbox: Sandbox, api: ApiClient, sleeps: list[float], status: int
) -> None:
    sandbox.faults.fail_next(3, status=status, retry_after=0, path=DGD_PATH)

    rows = list_deployments(api, NAMESPACE, "v1beta1")

    assert rows == []
    assert requests_to(sandbox, DGD_PATH) == 4


def test_cluster_status_survives_one_failing_check(
    sandbox: Sandbox, api: ApiClient, sleeps: list[float]
) -> None:
    sandbox.faults.fail_next(100, status=503, path="/api/v1/nodes")

    status = get_cluster_status(api, NAMESPACE, SECRET)

    assert status.reachable
    assert status.namespace_exists
    assert requests_to(sandbox, "/api/v1/nodes") == 4
    assert any("GPUs" in problem for problem in status.problems)


def test_create_answered_503_is_not_retried_and_stores_nothing(
    sandbox: Sandbox, api: ApiClient, sleeps: list[float]
) -> None:
    manifest = make_manifest()
    deployments.dry_run_deployment(api, manifest, "v1beta1")
    sandbox.faults.fail_next(1, status=503, method="POST", path=DGD_PATH)

    with pytest.raises(ClusterServerError):
        create_deployment(api, manifest, "v1beta1")

    assert requests_to(sandbox, DGD_PATH, "POST") == 2  # the dry run, the create
    assert dgd_names(api) == []


def test_dry_run_is_retried_but_the_create_is_sent_once(
    sandbox: Sandbox, api: ApiClient, sleeps: list[float]
) -> None:
    sandbox.faults.fail_next(2, status=503, method="POST", path=DGD_PATH)

    result = deploy(api, make_manifest(), "v1beta1")

    assert result.name == "qwen"
    assert requests_to(sandbox, DGD_PATH, "POST") == 4  # 2 failed + 1 dry run + 1
    assert dgd_names(api) == ["qwen"]


# ---------------------------------------------------------------- hangs


@pytest.mark.parametrize(
    ("action", "path"),
    [
        (lambda api: list_deployments(api, NAMESPACE, "v1beta1"), DGD_PATH),
        (
            lambda api: get_cluster_status(api, NAMESPACE, SECRET),
            "/version",
        ),
    ],
    ids=["list_deployments", "get_cluster_status"],
)
def test_hang_past_the_timeout_is_cluster_timeout(
    sandbox: Sandbox,
    api: ApiClient,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
    action: Callable[[ApiClient], Any],
    path: str,
) -> None:
    monkeypatch.setattr(kube, "TIMEOUT_SECONDS", 0.15)
    sandbox.faults.hang_next(100, seconds=0.6, path=path)

    with pytest.raises(ClusterTimeout) as raised:
        action(api)

    assert "did not answer" in str(raised.value)
    assert "within 0.15 s" in str(raised.value)
    assert len(sleeps) == kube.MAX_RETRIES
    sandbox.faults.reset()


def test_deploy_whose_create_times_out_after_storing_is_not_duplicated(
    sandbox: Sandbox, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube, "TIMEOUT_SECONDS", 0.2)
    # deploy() in its two steps, so the hang hits the create and not the dry run
    deployments.dry_run_deployment(api, make_manifest(), "v1beta1")
    sandbox.faults.hang_next(1, seconds=0.5, method="POST", path=DGD_PATH)

    result = create_deployment(api, make_manifest(), "v1beta1")

    assert result.recovered is True
    assert requests_to(sandbox, DGD_PATH, "POST") == 2  # the dry run, the create
    assert dgd_names(api) == ["qwen"]
    with pytest.raises(AlreadyExists) as raised:
        deploy(api, make_manifest(), "v1beta1")
    assert "already exists" in str(raised.value)


def test_create_lost_for_good_says_to_refresh_before_deploying_again(
    sandbox: Sandbox, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube, "TIMEOUT_SECONDS", 0.2)
    # the create hangs past the timeout, then fails: nothing is stored
    sandbox.faults.hang_next(1, seconds=0.3, method="POST", path=DGD_PATH)
    sandbox.faults.fail_next(1, status=503, method="POST", path=DGD_PATH)

    with pytest.raises(ClusterTimeout) as raised:
        create_deployment(api, make_manifest(), "v1beta1")

    assert "Refresh the Deployments page" in raised.value.remedy
    assert requests_to(sandbox, DGD_PATH, "POST") == 1
    assert dgd_names(api) == []


# ---------------------------------------------------------------- concurrency


@pytest.mark.parametrize("round_", range(3), ids=lambda n: f"round-{n}")
def test_two_sessions_deploying_one_name_make_one_deployment(
    sandbox_kubeconfig: Path, round_: int
) -> None:
    manifest = make_manifest(f"race-{round_}")
    clients = [kube.new_api_client(str(sandbox_kubeconfig)) for _ in range(2)]
    start = threading.Barrier(2)
    outcomes: list[object] = []

    def run(client: ApiClient) -> None:
        start.wait()
        try:
            outcomes.append(deploy(client, manifest, "v1beta1"))
        except ClusterError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    errors = [o for o in outcomes if isinstance(o, Exception)]
    results = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(results) == 1 and len(errors) == 1
    assert isinstance(errors[0], AlreadyExists)
    assert f"race-{round_} already exists in {NAMESPACE}" in str(errors[0])
    assert dgd_names(clients[0]) == [f"race-{round_}"]
    for client in clients:
        client.close()


# ---------------------------------------------------------------- RBAC


def deployed(api: ApiClient) -> None:
    deploy(api, make_manifest(), "v1beta1")


def raises_forbidden(action: Callable[[ApiClient], Any]) -> Callable[..., None]:
    def check(api: ApiClient, perm: Permission) -> None:
        with pytest.raises(ClusterForbidden) as raised:
            action(api)
        namespace = NAMESPACE if perm.scope == "namespaced" else None
        assert (raised.value.verb, raised.value.resource) == (perm.verb, perm.resource)
        assert raised.value.namespace == namespace
        assert raised.value.can_i in str(raised.value)
        assert str(raised.value).count("kubectl auth can-i") == 1

    return check


def reports_problem(api: ApiClient, perm: Permission) -> None:
    status = get_cluster_status(api, NAMESPACE, SECRET)
    line = f"kubectl auth can-i {perm.verb} {perm.resource}"
    assert status.reachable
    assert any(line in problem for problem in status.problems), status.problems


def details_name_it(api: ApiClient, perm: Permission) -> None:
    found = details(api)
    line = f"kubectl auth can-i {perm.verb} {perm.resource} -n {NAMESPACE}"
    assert found.deployment.name == "qwen"
    assert any(line in problem for problem in found.problems), found.problems


def details_with_problems(api: ApiClient) -> Any:
    found = details(api)
    return found if found.problems else None


def chat_once(api: ApiClient) -> None:
    messages = [{"role": "user", "content": "hi"}]
    list(chat.stream_chat(api, NAMESPACE, "qwen", "Qwen/Qwen3-0.6B", messages, 8, 0))


def details(api: ApiClient) -> Any:
    return get_deployment_details(api, NAMESPACE, "qwen", "v1beta1")


# What the app does with each permission denied: the call that needs it fails
# with ClusterForbidden (naming verb, resource, can-i), or the cluster status
# lists it as a problem with the can-i line. Keyed by (verb, resource, scope).
NEEDS: dict[tuple[str, str, str], Callable[[ApiClient, Permission], None]] = {
    ("get", "dynamographdeployments", "namespaced"): raises_forbidden(details),
    ("list", "dynamographdeployments", "namespaced"): raises_forbidden(
        lambda api: list_deployments(api, NAMESPACE, "v1beta1")
    ),
    ("create", "dynamographdeployments", "namespaced"): raises_forbidden(
        lambda api: deploy(api, make_manifest("other"), "v1beta1")
    ),
    ("delete", "dynamographdeployments", "namespaced"): raises_forbidden(
        lambda api: delete_deployment(api, NAMESPACE, "qwen", "v1beta1")
    ),
    ("list", "pods", "namespaced"): raises_forbidden(details),
    # Crash logs are read for failing pods only; the healthy graph reads none.
    ("get", "pods/log", "namespaced"): lambda api, perm: None,
    ("list", "events", "namespaced"): details_name_it,
    ("get", "services", "namespaced"): details_name_it,
    ("get", "services/proxy", "namespaced"): raises_forbidden(
        lambda api: chat.list_served_models(api, NAMESPACE, "qwen")
    ),
    ("create", "services/proxy", "namespaced"): raises_forbidden(chat_once),
    ("get", "secrets", "namespaced"): reports_problem,
    ("get", "namespaces", "cluster"): reports_problem,
    ("list", "nodes", "cluster"): reports_problem,
    ("list", "pods", "cluster"): reports_problem,
}

# Calls that need none of a permission's neighbours: they must keep working.
KEEPS_WORKING: dict[str, Callable[[ApiClient], Any]] = {
    "cluster status": lambda api: get_cluster_status(api, NAMESPACE, SECRET),
    "list": lambda api: list_deployments(api, NAMESPACE, "v1beta1"),
    "details": details,
}
USES: dict[str, set[tuple[str, str]]] = {
    "cluster status": set(),  # turns every forbidden check into a problem
    "list": {("list", "dynamographdeployments"), ("list", "pods")},
    # events, services, pods/log and the operator check are optional there
    "details": {("get", "dynamographdeployments"), ("list", "pods")},
}


def test_every_required_permission_has_a_check() -> None:
    keys = {(p.verb, p.resource, p.scope) for p in REQUIRED_PERMISSIONS}

    assert keys == set(NEEDS)


@pytest.mark.parametrize(
    "perm",
    REQUIRED_PERMISSIONS,
    ids=[f"{p.verb}-{p.resource}-{p.scope}" for p in REQUIRED_PERMISSIONS],
)
def test_each_denied_permission_is_named_and_the_rest_keeps_working(
    sandbox: Sandbox, api: ApiClient, sleeps: list[float], perm: Permission
) -> None:
    deployed(api)
    # A namespaced grant is denied in the namespace only, so the same verb at
    # cluster scope (pods for the operator check) still works, as in RBAC.
    sandbox.deny(
        perm.verb, perm.resource, NAMESPACE if perm.scope == "namespaced" else None
    )

    NEEDS[(perm.verb, perm.resource, perm.scope)](api, perm)

    denied = (perm.verb, perm.resource)
    for name, action in KEEPS_WORKING.items():
        # the sandbox cannot deny pods at cluster scope only, so a cluster-wide
        # denial of `list pods` also stops the namespaced lists
        if denied in USES[name]:
            continue
        assert action(api) is not None, name


def test_denied_logs_leave_details_and_list_working(
    sandbox: Sandbox, api: ApiClient
) -> None:
    manifest = make_manifest()
    manifest["metadata"]["annotations"]["sandbox.dynamote.io/fail"] = "crash-loop"
    deploy(api, manifest, "v1beta1")
    sandbox.deny("get", "pods/log", NAMESPACE)

    # The crash loop (and so the log read) starts after a few operator steps.
    found = wait_until(lambda: details_with_problems(api), timeout=10)
    rows = list_deployments(api, NAMESPACE, "v1beta1")

    assert found.deployment.name == "qwen"
    assert any("kubectl auth can-i get pods/log" in p for p in found.problems)
    assert [row.name for row in rows] == ["qwen"]


def test_preflight_names_a_denied_list_as_a_warning_not_a_crash(
    sandbox: Sandbox, api: ApiClient
) -> None:
    config = make_deployment_config("qwen", NAMESPACE)
    sandbox.deny("list", "dynamographdeployments", NAMESPACE)

    checks = run_preflight(api, config, load_catalog().get(config.model_id), "v1beta1")

    name_check = next(check for check in checks if check.name == "name")
    assert name_check.verdict == "warn"
    assert "kubectl auth can-i list dynamographdeployments" in name_check.message
