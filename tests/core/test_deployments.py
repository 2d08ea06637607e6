"""deployments against the sandbox: pre-flight, deploy, list, details, delete."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from kubernetes.client import ApiClient

from dynamote_core import deployments, kube
from dynamote_core.catalog import Model, load_catalog
from dynamote_core.config import DeploymentConfig
from dynamote_core.deployments import (
    Deployment,
    delete_deployment,
    deploy,
    get_deployment_details,
    is_delete_stuck,
    list_deployments,
    run_preflight,
)
from dynamote_core.errors import (
    AlreadyExists,
    ClusterForbidden,
    ClusterInvalid,
    OperatorUnavailable,
)
from dynamote_core.explain import parse_timestamp
from dynamote_core.manifest import build_graph_deployment
from dynamote_core.sandbox.runtime import Sandbox

NAMESPACE = "dynamo-system"  # the sandbox keeps hf-token-secret here
PUBLIC_MODEL = "Qwen/Qwen3-0.6B"
GATED_MODEL = "meta-llama/Llama-3.2-1B-Instruct"
FAIL_ANNOTATION = "sandbox.dynamote.io/fail"


def find_model(model_id: str) -> Model:
    return next(m for m in load_catalog().models if m.id == model_id)


def make_config(name: str = "qwen", **changes: Any) -> DeploymentConfig:
    values: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "model_id": PUBLIC_MODEL,
        "engine": "vllm",
    }
    return DeploymentConfig(**(values | changes))


def make_manifest(
    config: DeploymentConfig, api_version: str = "v1beta1", fail: str | None = None
) -> dict[str, Any]:
    manifest = build_graph_deployment(config, find_model(config.model_id), api_version)
    if fail:
        manifest["metadata"].setdefault("annotations", {})[FAIL_ANNOTATION] = fail
    return manifest


def wait_for(
    read: Callable[[], Any], done: Callable[[Any], bool], seconds: float = 15
) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def read_row(
    api: ApiClient, name: str, namespace: str = NAMESPACE, api_version: str = "v1beta1"
) -> Deployment | None:
    rows = list_deployments(api, namespace, api_version)
    return next((row for row in rows if row.name == name), None)


@pytest.fixture(autouse=True)
def _fast_create_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deployments, "CREATE_CHECK_DELAYS", (0.2, 0.4, 0.8))


# ---------------------------------------------------------------- deploy and read


@pytest.mark.parametrize("api_version", ["v1beta1", "v1alpha1"])
def test_deploy_reaches_running(kube_api_client: ApiClient, api_version: str) -> None:
    config = make_config()

    result = deploy(kube_api_client, make_manifest(config, api_version), api_version)
    row = wait_for(
        lambda: read_row(kube_api_client, "qwen", api_version=api_version),
        lambda r: r is not None and r.status == "Running",
    )

    assert (result.name, result.recovered) == ("qwen", False)
    assert row.status == "Running"
    assert (row.model, row.engine, row.mode) == (PUBLIC_MODEL, "vllm", "aggregated")
    assert row.ready_replicas == row.desired_replicas == 2
    assert row.pod_health == "2/2 ready"


def test_list_costs_two_requests_for_1_or_30_deployments(
    sandbox: Sandbox, kube_api_client: ApiClient
) -> None:
    def count_list_requests() -> tuple[int, int]:
        before = sandbox.request_count
        rows = list_deployments(kube_api_client, NAMESPACE, "v1beta1")
        return len(rows), sandbox.request_count - before

    deploy(kube_api_client, make_manifest(make_config("m00x")), "v1beta1")
    one = count_list_requests()
    for index in range(1, 30):
        deploy(kube_api_client, make_manifest(make_config(f"m{index:02d}x")), "v1beta1")

    thirty = count_list_requests()

    assert (one, thirty) == ((1, 2), (30, 2))


def test_list_leaves_the_cycle_collector_running(kube_api_client: ApiClient) -> None:
    deploy(kube_api_client, make_manifest(make_config()), "v1beta1")
    gc.enable()

    rows = list_deployments(kube_api_client, NAMESPACE, "v1beta1")

    assert [row.name for row in rows] == ["qwen"]
    assert gc.isenabled()


def test_failed_list_leaves_the_cycle_collector_running(
    sandbox: Sandbox, kube_api_client: ApiClient
) -> None:
    deploy(kube_api_client, make_manifest(make_config()), "v1beta1")
    sandbox.deny("list", "pods", NAMESPACE)
    gc.enable()

    with pytest.raises(ClusterForbidden):
        list_deployments(kube_api_client, NAMESPACE, "v1beta1")

    assert gc.isenabled()


def test_details_read_back_config_components_and_port_forward(
    kube_api_client: ApiClient,
) -> None:
    config = make_config()
    deploy(kube_api_client, make_manifest(config), "v1beta1")
    wait_for(
        lambda: read_row(kube_api_client, "qwen"),
        lambda r: r is not None and r.status == "Running",
    )

    details = get_deployment_details(kube_api_client, NAMESPACE, "qwen", "v1beta1")

    assert details.config == config
    assert [(c.type, c.desired, c.ready) for c in details.components] == [
        ("frontend", 1, 1),
        ("worker", 1, 1),
    ]
    assert details.frontend_service is not None and details.frontend_service.exists
    assert details.port_forward == (
        "kubectl port-forward svc/qwen-frontend 8000:8000 -n dynamo-system"
    )
    assert {p.node for p in details.pods} - {None}
    assert details.explanations == []


def make_event(name: str, reason: str, **times: str) -> dict[str, Any]:
    """A core/v1 Event about the DGD `qwen`, stamped with the given time fields."""
    return {
        "metadata": {"name": name, "namespace": NAMESPACE},
        "involvedObject": {"kind": "DynamoGraphDeployment", "name": "qwen"},
        "reason": reason,
        "message": "order check",
        "type": "Normal",
    } | times


def test_details_events_are_newest_first(
    sandbox: Sandbox, kube_api_client: ApiClient
) -> None:
    deploy(kube_api_client, make_manifest(make_config()), "v1beta1")
    second, later = "2026-01-01T10:00:00Z", "2026-01-01T10:00:01.500000Z"
    # Written in time order (the sandbox API takes no Event POST); Scheduled and
    # Pulled share one second, as they do on a real cluster.
    for event in [
        make_event("e-old", "Created", firstTimestamp="2026-01-01T09:00:00Z"),
        make_event("e-scheduled", "Scheduled", lastTimestamp=second),
        make_event("e-pulled", "Pulled", lastTimestamp=second),
        make_event("e-started", "Started", eventTime=later),
    ]:
        sandbox.store.create("events", event)

    details = get_deployment_details(kube_api_client, NAMESPACE, "qwen", "v1beta1")

    mine = [e.reason for e in details.events if e.message == "order check"]
    assert mine == ["Started", "Pulled", "Scheduled", "Created"]


@pytest.mark.parametrize(
    ("verb", "resource", "fail", "consequence"),
    [
        ("list", "events", None, "Events are hidden"),
        ("get", "services", None, "The frontend Service is unknown"),
        ("get", "pods/log", "crash-loop", "Crash logs are hidden"),
    ],
    ids=["events", "services", "pods-log"],
)
def test_denied_optional_part_is_named_and_details_still_load(
    sandbox: Sandbox,
    kube_api_client: ApiClient,
    verb: str,
    resource: str,
    fail: str | None,
    consequence: str,
) -> None:
    deploy(kube_api_client, make_manifest(make_config(), fail=fail), "v1beta1")
    sandbox.deny(verb, resource, NAMESPACE)

    details = wait_for(
        lambda: get_deployment_details(kube_api_client, NAMESPACE, "qwen", "v1beta1"),
        lambda d: bool(d.problems),
    )

    can_i = f"kubectl auth can-i {verb} {resource} -n {NAMESPACE}"
    assert details.problems == [
        f"{consequence}: this account may not '{verb}' '{resource}' in namespace "
        f"{NAMESPACE}. Check with: {can_i}"
    ]
    assert details.deployment.name == "qwen"
    assert details.pods
    assert details.port_forward is not None


def test_denied_crash_logs_keep_the_crash_explanation(
    sandbox: Sandbox, kube_api_client: ApiClient
) -> None:
    deploy(kube_api_client, make_manifest(make_config(), fail="crash-loop"), "v1beta1")
    sandbox.deny("get", "pods/log", NAMESPACE)

    details = wait_for(
        lambda: get_deployment_details(kube_api_client, NAMESPACE, "qwen", "v1beta1"),
        lambda d: any("CrashLoopBackOff" in e.title for e in d.explanations),
    )

    assert details.deployment.status == "Failed"
    assert len(details.problems) == 1


@pytest.mark.parametrize(
    ("verb", "resource"),
    [("get", "dynamographdeployments"), ("list", "pods")],
    ids=["get-dgd", "list-pods"],
)
def test_denied_required_part_fails_the_details(
    sandbox: Sandbox, kube_api_client: ApiClient, verb: str, resource: str
) -> None:
    deploy(kube_api_client, make_manifest(make_config()), "v1beta1")
    sandbox.deny(verb, resource, NAMESPACE)

    with pytest.raises(ClusterForbidden) as raised:
        get_deployment_details(kube_api_client, NAMESPACE, "qwen", "v1beta1")

    assert (raised.value.verb, raised.value.resource) == (verb, resource)


def test_details_on_full_access_have_no_problems(kube_api_client: ApiClient) -> None:
    deploy(kube_api_client, make_manifest(make_config()), "v1beta1")

    details = get_deployment_details(kube_api_client, NAMESPACE, "qwen", "v1beta1")

    assert details.problems == []


def test_dry_run_errors_are_reported_field_by_field(kube_api_client: ApiClient) -> None:
    manifest = make_manifest(make_config())
    manifest["spec"]["components"][1]["replicas"] = -1

    with pytest.raises(ClusterInvalid) as raised:
        deploy(kube_api_client, manifest, "v1beta1")

    assert raised.value.causes
    assert any("replicas" in cause.field for cause in raised.value.causes)
    assert read_row(kube_api_client, "qwen") is None


def test_second_deploy_of_a_name_is_already_exists(kube_api_client: ApiClient) -> None:
    manifest = make_manifest(make_config())
    deploy(kube_api_client, manifest, "v1beta1")

    with pytest.raises(AlreadyExists) as raised:
        deploy(kube_api_client, manifest, "v1beta1")

    assert "qwen already exists in dynamo-system" in str(raised.value)


def test_create_that_times_out_is_not_sent_twice(
    sandbox: Sandbox, kube_api_client: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube, "TIMEOUT_SECONDS", 0.3)
    sandbox.faults.hang_next(1, seconds=0.6, method="POST")

    result = deployments.create_deployment(
        kube_api_client, make_manifest(make_config()), "v1beta1"
    )

    posts = [r for r in sandbox.request_log if r.method == "POST"]
    assert result.recovered is True
    assert len(posts) == 1
    assert [
        r.name for r in list_deployments(kube_api_client, NAMESPACE, "v1beta1")
    ] == ["qwen"]


def test_dead_webhook_is_operator_unavailable(
    sandbox: Sandbox, kube_api_client: ApiClient
) -> None:
    sandbox.operator_available = False

    with pytest.raises(OperatorUnavailable) as raised:
        deploy(kube_api_client, make_manifest(make_config()), "v1beta1")

    assert "dynamo-operator" in raised.value.remedy
    assert len([r for r in sandbox.request_log if r.method == "POST"]) == 1


def test_delete_leaves_terminating_then_gone(kube_api_client: ApiClient) -> None:
    deploy(kube_api_client, make_manifest(make_config()), "v1beta1")

    delete_deployment(kube_api_client, NAMESPACE, "qwen", "v1beta1")
    row = wait_for(lambda: read_row(kube_api_client, "qwen"), lambda r: r is None)

    assert row is None


def delete_with_the_operator_stopped(sandbox: Sandbox, api_client: ApiClient) -> None:
    """Deploy qwen, wait for the operator's finalizer, stop the operator, delete."""
    deploy(api_client, make_manifest(make_config()), "v1beta1")
    wait_for(
        lambda: deployments.read_graph_deployment(
            api_client, NAMESPACE, "qwen", "v1beta1"
        ),
        lambda dgd: deployments.FINALIZER in (dgd["metadata"].get("finalizers") or []),
    )
    # The operator stops reconciling while its webhook still admits the delete.
    sandbox.operator.set_available(False)
    delete_deployment(api_client, NAMESPACE, "qwen", "v1beta1")


def test_delete_without_operator_is_reported_stuck(
    sandbox: Sandbox, kube_api_client: ApiClient
) -> None:
    delete_with_the_operator_stopped(sandbox, kube_api_client)
    dgd = deployments.read_graph_deployment(
        kube_api_client, NAMESPACE, "qwen", "v1beta1"
    )
    row = read_row(kube_api_client, "qwen")

    later = parse_timestamp(dgd["metadata"]["deletionTimestamp"])
    assert row is not None and row.status == "Terminating"
    assert not is_delete_stuck(dgd, later)
    assert is_delete_stuck(dgd, later + timedelta(seconds=61))


def test_stuck_delete_row_says_to_check_the_operator(
    sandbox: Sandbox, kube_api_client: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    delete_with_the_operator_stopped(sandbox, kube_api_client)
    later = deployments._now() + timedelta(minutes=2)
    monkeypatch.setattr(deployments, "_now", lambda: later)

    row = read_row(kube_api_client, "qwen")

    assert row is not None and row.delete_stuck
    assert row.status == "Terminating"
    assert "remove its finalizer; is the operator running?" in row.status_reason


# ---------------------------------------------------------------- pre-flight


def verdicts(checks: list[deployments.PreflightCheck]) -> dict[str, str]:
    return {check.name: check.verdict for check in checks}


def test_preflight_all_pass_on_a_fresh_sandbox(kube_api_client: ApiClient) -> None:
    config = make_config()

    checks = run_preflight(kube_api_client, config, find_model(PUBLIC_MODEL), "v1beta1")

    assert verdicts(checks) == {
        "namespace": "pass",
        "crd": "pass",
        "operator": "pass",
        "name": "pass",
        "name_prefix": "pass",
        "hf_secret": "pass",
        "gpus": "pass",
    }


@pytest.mark.parametrize(
    ("existing", "new", "check"),
    [
        ("qwen", "qwen", "name"),
        ("qwen-big", "qwen", "name_prefix"),
        ("qwen", "qwen-big", "name_prefix"),
    ],
    ids=["taken", "prefix-of-other", "other-is-prefix"],
)
def test_preflight_fails_on_names(
    kube_api_client: ApiClient, existing: str, new: str, check: str
) -> None:
    deploy(kube_api_client, make_manifest(make_config(existing)), "v1beta1")

    checks = run_preflight(
        kube_api_client, make_config(new), find_model(PUBLIC_MODEL), "v1beta1"
    )

    failed = next(c for c in checks if c.name == check)
    assert failed.verdict == "fail"
    assert existing in failed.message and failed.fix


@pytest.mark.parametrize(
    ("model_id", "verdict"),
    [(GATED_MODEL, "fail"), (PUBLIC_MODEL, "warn")],
    ids=["gated-fails", "public-warns"],
)
def test_preflight_missing_secret(
    kube_api_client: ApiClient, model_id: str, verdict: str
) -> None:
    config = make_config(namespace="default", model_id=model_id)

    checks = run_preflight(kube_api_client, config, find_model(model_id), "v1beta1")

    secret = next(c for c in checks if c.name == "hf_secret")
    assert secret.verdict == verdict
    assert secret.fix == (
        "kubectl create secret generic hf-token-secret "
        "--from-literal=HF_TOKEN=<your token> -n default"
    )


def test_preflight_gated_model_without_secret_points_to_the_field(
    kube_api_client: ApiClient,
) -> None:
    gated = next(m for m in load_catalog().models if m.gated)
    config = make_config(model_id=gated.id, hf_secret_name="")

    checks = run_preflight(kube_api_client, config, gated, "v1beta1")

    secret = next(c for c in checks if c.name == "hf_secret")
    assert secret.verdict == "fail"
    assert secret.fix.startswith("Enter the secret's name in 'HF token secret'")
    assert secret.fix.endswith(
        "kubectl create secret generic hf-token-secret "
        f"--from-literal=HF_TOKEN=<your token> -n {config.namespace}"
    )


def test_preflight_fails_when_gpus_do_not_fit(kube_api_client: ApiClient) -> None:
    config = make_config(replicas=4, gpus_per_worker=8)

    checks = run_preflight(kube_api_client, config, find_model(PUBLIC_MODEL), "v1beta1")

    gpus = next(c for c in checks if c.name == "gpus")
    assert gpus.verdict == "fail"
    assert "Only 2 of 4 worker(s)" in gpus.message


def test_preflight_counts_gpus_memory(kube_api_client: ApiClient) -> None:
    big = find_model("Qwen/Qwen3-32B")
    config = make_config(model_id=big.id, replicas=3, gpus_per_worker=1)

    checks = run_preflight(kube_api_client, config, big, "v1beta1")

    # 80 GiB A100s take it, 22 GiB L4s do not: 16 A100 GPUs fit three workers.
    assert next(c for c in checks if c.name == "gpus").verdict == "pass"


def test_preflight_namespace_missing(kube_api_client: ApiClient) -> None:
    config = make_config(namespace="nowhere")

    checks = run_preflight(kube_api_client, config, find_model(PUBLIC_MODEL), "v1beta1")

    namespace = next(c for c in checks if c.name == "namespace")
    assert (namespace.verdict, namespace.fix) == (
        "fail",
        "kubectl create namespace nowhere",
    )


def test_preflight_operator_missing(
    sandbox: Sandbox, kube_api_client: ApiClient
) -> None:
    sandbox.operator_available = False

    checks = run_preflight(
        kube_api_client, make_config(), find_model(PUBLIC_MODEL), "v1beta1"
    )

    assert verdicts(checks)["operator"] == "fail"


def test_preflight_api_version_not_served(tmp_path: Any) -> None:
    with Sandbox(served_versions=("v1alpha1",)) as old:
        api = kube.new_api_client(str(old.write_kubeconfig(tmp_path / "config")))

        checks = run_preflight(api, make_config(), find_model(PUBLIC_MODEL), "v1beta1")

    crd = next(c for c in checks if c.name == "crd")
    assert crd.verdict == "fail"
    assert "v1alpha1" in crd.fix


# ---------------------------------------------------------------- explanations


def wait_for_explanation(api: ApiClient, name: str, namespace: str = NAMESPACE) -> Any:
    return wait_for(
        lambda: get_deployment_details(api, namespace, name, "v1beta1"),
        lambda d: bool(d.explanations) and d.deployment.status in ("Failed", "Pending"),
    )


@pytest.mark.parametrize(
    ("fail", "title_part", "reason"),
    [
        ("image-pull", "image cannot be pulled", "ImagePullBackOff"),
        ("crash-loop", "CrashLoopBackOff", "CrashLoopBackOff"),
        ("oom", "OOMKilled", "OOMKilled"),
    ],
    ids=["image-pull", "crash-loop", "oom"],
)
def test_failure_trigger_is_explained(
    kube_api_client: ApiClient, fail: str, title_part: str, reason: str
) -> None:
    deploy(kube_api_client, make_manifest(make_config(), fail=fail), "v1beta1")

    details = wait_for(
        lambda: get_deployment_details(kube_api_client, NAMESPACE, "qwen", "v1beta1"),
        lambda d: any(title_part in e.title for e in d.explanations),
    )

    assert details.deployment.status == "Failed"
    assert any(p.reason == reason for p in details.pods)
    assert any(title_part in e.title for e in details.explanations)


def test_crash_loop_explanation_has_log_lines(kube_api_client: ApiClient) -> None:
    deploy(kube_api_client, make_manifest(make_config(), fail="crash-loop"), "v1beta1")

    details = wait_for(
        lambda: get_deployment_details(kube_api_client, NAMESPACE, "qwen", "v1beta1"),
        lambda d: any("CrashLoopBackOff" in e.title for e in d.explanations),
    )

    crash = next(e for e in details.explanations if "CrashLoopBackOff" in e.title)
    assert any("| " in line for line in crash.evidence)


def test_missing_secret_is_explained(kube_api_client: ApiClient) -> None:
    config = make_config(namespace="default", model_id=GATED_MODEL)
    deploy(kube_api_client, make_manifest(config), "v1beta1")

    details = wait_for(
        lambda: get_deployment_details(kube_api_client, "default", "qwen", "v1beta1"),
        lambda d: bool(d.explanations),
    )

    assert details.deployment.status == "Failed"
    assert [e.title for e in details.explanations] == [
        "Secret hf-token-secret is missing"
    ]


def test_too_many_gpus_is_explained(kube_api_client: ApiClient) -> None:
    config = make_config(replicas=4, gpus_per_worker=8)
    deploy(kube_api_client, make_manifest(config), "v1beta1")

    details = wait_for(
        lambda: get_deployment_details(kube_api_client, NAMESPACE, "qwen", "v1beta1"),
        lambda d: any(e.title == "Not enough free GPUs" for e in d.explanations),
    )

    assert details.deployment.status == "Pending"
    assert any(e.title == "Not enough free GPUs" for e in details.explanations)


def test_dgd_without_status_after_minutes_blames_the_operator(
    sandbox: Sandbox, kube_api_client: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The webhook still admits the create, but nothing reconciles it.
    sandbox.operator.set_available(False)
    deploy(kube_api_client, make_manifest(make_config()), "v1beta1")
    later = deployments._now() + timedelta(minutes=3)
    monkeypatch.setattr(deployments, "_now", lambda: later)

    details = get_deployment_details(kube_api_client, NAMESPACE, "qwen", "v1beta1")

    assert details.deployment.status == "Pending"
    assert [e.title for e in details.explanations] == [
        "The Dynamo operator is not handling this deployment"
    ]
    assert any("No status written" in line for line in details.explanations[0].evidence)
