"""explain_failures: one rule per common failure, each with its fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dynamote_core.explain import (
    Explanation,
    KubeEvent,
    PodStatus,
    explain_failures,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def make_dgd(*, age_seconds: float = 30, status: dict | None = None) -> dict:
    created = (NOW - timedelta(seconds=age_seconds)).isoformat().replace("+00:00", "Z")
    return {
        "apiVersion": "nvidia.com/v1beta1",
        "kind": "DynamoGraphDeployment",
        "metadata": {"name": "qwen", "namespace": "llm", "creationTimestamp": created},
        "spec": {"components": []},
        "status": status if status is not None else {"state": "pending"},
    }


def titles(explanations: list[Explanation]) -> list[str]:
    return [e.title for e in explanations]


def test_healthy_deployment_has_no_explanation() -> None:
    pods = [PodStatus(name="qwen-worker-0", phase="Running", ready=True)]

    found = explain_failures(make_dgd(), pods, [], {}, NOW)

    assert found == []


def test_insufficient_gpus_from_failed_scheduling_event() -> None:
    event = KubeEvent(
        type="Warning",
        reason="FailedScheduling",
        message="0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
        object="Pod/qwen-worker-0",
    )

    found = explain_failures(make_dgd(), [], [event], {}, NOW)

    assert titles(found) == ["Not enough free GPUs"]
    assert "Insufficient nvidia.com/gpu" in found[0].evidence[0]
    assert "replicas" in found[0].fix


def test_image_pull_error_names_the_image() -> None:
    pod = PodStatus(
        name="qwen-worker-0",
        phase="Pending",
        reason="ImagePullBackOff",
        message="Back-off pulling image",
        image="nvcr.io/nvidia/ai-dynamo/vllm-runtime:9.9.9",
    )

    found = explain_failures(make_dgd(), [pod], [], {}, NOW)

    assert len(found) == 1
    assert "nvcr.io/nvidia/ai-dynamo/vllm-runtime:9.9.9" in found[0].title
    assert "tag" in found[0].fix and "pull secret" in found[0].fix


def test_missing_secret_gives_the_create_secret_line() -> None:
    pod = PodStatus(
        name="qwen-frontend-0",
        phase="Pending",
        reason="CreateContainerConfigError",
        message='secret "hf-token-secret" not found',
    )

    found = explain_failures(make_dgd(), [pod], [], {}, NOW)

    assert titles(found) == ["Secret hf-token-secret is missing"]
    assert found[0].fix == (
        "kubectl create secret generic hf-token-secret "
        "--from-literal=HF_TOKEN=<your token> -n llm"
    )


def test_crash_loop_shows_the_last_log_lines() -> None:
    pod = PodStatus(
        name="qwen-worker-0", phase="Running", reason="CrashLoopBackOff", restarts=4
    )
    logs = {
        "qwen-worker-0": [f"line {i}" for i in range(30)] + ["ValueError: bad model"]
    }

    found = explain_failures(make_dgd(), [pod], [], logs, NOW)

    assert titles(found) == ["A container keeps crashing (CrashLoopBackOff)"]
    assert found[0].evidence[-1] == "qwen-worker-0| ValueError: bad model"
    assert "qwen-worker-0| line 0" not in found[0].evidence


def test_oom_killed_suggests_memory_context_or_gpus() -> None:
    pod = PodStatus(
        name="qwen-worker-0", phase="Running", reason="OOMKilled", restarts=3
    )

    found = explain_failures(make_dgd(), [pod], [], {}, NOW)

    assert titles(found) == ["A worker ran out of memory (OOMKilled)"]
    assert "memory" in found[0].fix and "context" in found[0].fix
    assert "GPUs" in found[0].fix


@pytest.mark.parametrize(
    ("dgd", "events", "operator_alive"),
    [
        (make_dgd(age_seconds=300, status={}), [], None),
        (
            make_dgd(),
            [
                KubeEvent(
                    reason="FailedCreate",
                    message='Internal error occurred: failed calling webhook "x"',
                )
            ],
            None,
        ),
        (make_dgd(), [], False),
    ],
    ids=["no-status-after-5-min", "webhook-event", "operator-not-running"],
)
def test_operator_missing(
    dgd: dict, events: list[KubeEvent], operator_alive: bool | None
) -> None:
    found = explain_failures(dgd, [], events, {}, NOW, operator_alive=operator_alive)

    assert titles(found) == ["The Dynamo operator is not handling this deployment"]
    assert "dynamo-operator" in found[0].fix


def test_young_dgd_without_status_is_not_blamed_on_the_operator() -> None:
    dgd = make_dgd(age_seconds=60, status={})

    found = explain_failures(dgd, [], [], {}, NOW)

    assert found == []


def test_operator_failed_state_quotes_the_ready_condition() -> None:
    condition = {
        "type": "Ready",
        "status": "False",
        "reason": "failed_to_reconcile_the_resources",
        "message": "cannot create deployment",
    }
    dgd = make_dgd(status={"state": "failed", "conditions": [condition]})

    found = explain_failures(dgd, [], [], {}, NOW)

    assert titles(found) == ["The operator reports the deployment as failed"]
    assert "cannot create deployment" in found[0].cause
