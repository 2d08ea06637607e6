"""The simulated operator: rollouts, GPU accounting, the failures users meet."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import CoreV1Api, CustomObjectsApi

from dynamote_core.sandbox import Sandbox
from tests.fixtures_sandbox import wait_until
from tests.sandbox.conftest import GROUP, NAMESPACE, PLURAL, make_dgd

WORKERS = "nvidia.com/dynamo-component=worker"


def create(
    custom: CustomObjectsApi, body: dict[str, Any], namespace: str = NAMESPACE
) -> None:
    custom.create_namespaced_custom_object(GROUP, "v1beta1", namespace, PLURAL, body)


def status(
    custom: CustomObjectsApi, name: str, namespace: str = NAMESPACE
) -> dict[str, Any]:
    found: dict[str, Any] = custom.get_namespaced_custom_object(
        GROUP, "v1beta1", namespace, PLURAL, name
    )
    return found.get("status") or {}


def worker_pods(core: CoreV1Api, dgd: str, namespace: str = NAMESPACE) -> list[Any]:
    selector = f"nvidia.com/dynamo-graph-deployment-name={dgd},{WORKERS}"
    return list(core.list_namespaced_pod(namespace, label_selector=selector).items)


def waiting_reason(pod: Any) -> str | None:
    state = (
        pod.status.container_statuses[0].state
        if pod.status.container_statuses
        else None
    )
    return state.waiting.reason if state and state.waiting else None


def events_of(core: CoreV1Api, pod: Any) -> list[tuple[str, str, str]]:
    selector = f"involvedObject.name={pod.metadata.name}"
    return [
        (e.type, e.reason, e.message)
        for e in core.list_namespaced_event(
            pod.metadata.namespace, field_selector=selector
        ).items
    ]


def test_dgd_becomes_successful_with_component_status(custom: CustomObjectsApi) -> None:
    create(custom, make_dgd("ok", replicas=2))

    final = wait_until(
        lambda: (
            status(custom, "ok").get("state") == "successful" and status(custom, "ok")
        )
    )

    ready = final["conditions"][0]
    assert (ready["type"], ready["status"], ready["reason"]) == (
        "Ready",
        "True",
        "all_resources_are_ready",
    )
    assert final["components"]["worker"] == {
        "componentKind": "Deployment",
        "componentNames": final["components"]["worker"]["componentNames"],
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
    }
    assert final["observedGeneration"] == 1


def test_not_ready_condition_names_the_component(custom: CustomObjectsApi) -> None:
    create(custom, make_dgd("slow", worker_gpus=9))

    pending = wait_until(
        lambda: status(custom, "slow").get("conditions") and status(custom, "slow")
    )

    ready = pending["conditions"][0]
    assert pending["state"] == "pending"
    assert ready["reason"] == "some_resources_are_not_ready"
    assert ready["message"].startswith("Resources not ready: slow-worker-")


def test_scaling_adds_and_removes_pods(
    custom: CustomObjectsApi, core: CoreV1Api
) -> None:
    create(custom, make_dgd("scale"))
    wait_until(lambda: status(custom, "scale").get("state") == "successful")
    components = make_dgd("scale")["spec"]["components"]
    components[1]["replicas"] = 3

    custom.patch_namespaced_custom_object(
        GROUP,
        "v1beta1",
        NAMESPACE,
        PLURAL,
        "scale",
        {"spec": {"components": components}},
    )

    wait_until(
        lambda: (
            len(worker_pods(core, "scale")) == 3
            and status(custom, "scale").get("observedGeneration") == 2
            and status(custom, "scale")["state"] == "successful"
        )
    )
    components[1]["replicas"] = 1
    custom.patch_namespaced_custom_object(
        GROUP,
        "v1beta1",
        NAMESPACE,
        PLURAL,
        "scale",
        {"spec": {"components": components}},
    )
    wait_until(lambda: len(worker_pods(core, "scale")) == 1)


def test_arg_change_replaces_pods(custom: CustomObjectsApi, core: CoreV1Api) -> None:
    create(custom, make_dgd("roll"))
    before = wait_until(
        lambda: [
            p.metadata.name
            for p in worker_pods(core, "roll")
            if p.status.phase == "Running"
        ]
    )
    components = make_dgd("roll")["spec"]["components"]
    components[1]["podTemplate"]["spec"]["containers"][0]["args"] = [
        "--model",
        "Qwen/Qwen3-8B",
    ]

    custom.patch_namespaced_custom_object(
        GROUP,
        "v1beta1",
        NAMESPACE,
        PLURAL,
        "roll",
        {"spec": {"components": components}},
    )

    after = wait_until(
        lambda: [
            p
            for p in worker_pods(core, "roll")
            if p.metadata.name not in before and not p.metadata.deletion_timestamp
        ]
    )
    wait_until(lambda: len(worker_pods(core, "roll")) == 1)
    assert after[0].spec.containers[0].args == ["--model", "Qwen/Qwen3-8B"]


def test_too_many_gpus_stays_pending_then_starts_when_freed(
    custom: CustomObjectsApi, core: CoreV1Api
) -> None:
    create(custom, make_dgd("big", worker_gpus=8, replicas=2))
    wait_until(lambda: status(custom, "big").get("state") == "successful")

    create(custom, make_dgd("extra", worker_gpus=8))
    pod = wait_until(
        lambda: [p for p in worker_pods(core, "extra") if p.status.conditions]
    )[0]
    wait_until(lambda: any(e[1] == "FailedScheduling" for e in events_of(core, pod)))

    event = next(e for e in events_of(core, pod) if e[1] == "FailedScheduling")
    assert pod.status.phase == "Pending"
    assert event[0] == "Warning"
    assert event[2].startswith(
        "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
    )
    custom.delete_namespaced_custom_object(GROUP, "v1beta1", NAMESPACE, PLURAL, "big")
    wait_until(lambda: status(custom, "extra").get("state") == "successful")


def test_missing_secret_is_create_container_config_error(
    custom: CustomObjectsApi, core: CoreV1Api
) -> None:
    create(custom, make_dgd("nosecret", secret="absent"), namespace="default")

    pod = wait_until(
        lambda: [
            p
            for p in worker_pods(core, "nosecret", "default")
            if waiting_reason(p) == "CreateContainerConfigError"
        ]
    )[0]

    assert (
        pod.status.container_statuses[0].state.waiting.message
        == 'secret "absent" not found'
    )
    assert ("Warning", "Failed", 'Error: secret "absent" not found') in events_of(
        core, pod
    )
    core.create_namespaced_secret(
        "default", {"metadata": {"name": "absent"}, "stringData": {"HF_TOKEN": "t"}}
    )
    wait_until(
        lambda: status(custom, "nosecret", "default").get("state") == "successful",
        timeout=10,
    )


def test_optional_secret_does_not_block(custom: CustomObjectsApi) -> None:
    body = make_dgd("optional", secret="absent")
    for component in body["spec"]["components"]:
        component["podTemplate"]["spec"]["containers"][0]["envFrom"] = [
            {"secretRef": {"name": "absent", "optional": True}}
        ]

    create(custom, body)

    wait_until(lambda: status(custom, "optional").get("state") == "successful")


def test_image_pull_failure_backs_off(
    custom: CustomObjectsApi, core: CoreV1Api
) -> None:
    create(
        custom, make_dgd("pull", annotations={"sandbox.dynamote.io/fail": "image-pull"})
    )

    pod = wait_until(
        lambda: [
            p
            for p in worker_pods(core, "pull")
            if waiting_reason(p) == "ImagePullBackOff"
        ]
    )[0]

    reasons = {(kind, reason) for kind, reason, _ in events_of(core, pod)}
    messages = {message for _, _, message in events_of(core, pod)}
    assert {
        ("Warning", "Failed"),
        ("Normal", "BackOff"),
        ("Normal", "Pulling"),
    } <= reasons
    assert {"Error: ErrImagePull", "Error: ImagePullBackOff"} <= messages
    assert pod.status.phase == "Pending"


def wait_for_restarted_worker(core: CoreV1Api, name: str, restarts: int) -> Any:
    """The first worker pod of `name` restarted at least `restarts` times."""
    return wait_until(
        lambda: [
            p
            for p in worker_pods(core, name)
            if p.status.container_statuses
            and p.status.container_statuses[0].restart_count >= restarts
        ]
    )[0]


def test_crash_loop_restarts_with_logs(
    custom: CustomObjectsApi, core: CoreV1Api
) -> None:
    create(
        custom,
        make_dgd("crash", annotations={"sandbox.dynamote.io/fail": "crash-loop"}),
    )

    pod = wait_for_restarted_worker(core, "crash", restarts=2)

    container = pod.status.container_statuses[0]
    assert container.last_state.terminated.exit_code == 1
    assert any(reason == "BackOff" for _, reason, _ in events_of(core, pod))
    log = core.read_namespaced_pod_log(pod.metadata.name, NAMESPACE, previous=True)
    assert "RuntimeError" in log
    assert "crash-loop" in log


def test_oom_kill_shows_in_last_state(
    custom: CustomObjectsApi, core: CoreV1Api
) -> None:
    create(custom, make_dgd("oom", annotations={"sandbox.dynamote.io/fail": "oom"}))

    pod = wait_for_restarted_worker(core, "oom", restarts=1)

    terminated = pod.status.container_statuses[0].last_state.terminated
    assert (terminated.reason, terminated.exit_code) == ("OOMKilled", 137)


def failure_shown(pod: Any) -> str | None:
    """What a failing worker shows: its waiting reason, or OOMKilled once killed."""
    statuses = pod.status.container_statuses or []
    last = statuses[0].last_state.terminated if statuses else None
    if last is not None and last.reason == "OOMKilled":
        return "OOMKilled"
    return waiting_reason(pod)


def _is_running_ready(pod: Any) -> bool:
    statuses = pod.status.container_statuses or []
    return pod.status.phase == "Running" and bool(statuses) and statuses[0].ready


def annotate_fail(custom: CustomObjectsApi, name: str, mode: str | None) -> None:
    """Set (or with None, remove) the sandbox's failure trigger by merge patch."""
    custom.patch_namespaced_custom_object(
        GROUP,
        "v1beta1",
        NAMESPACE,
        PLURAL,
        name,
        {"metadata": {"annotations": {"sandbox.dynamote.io/fail": mode}}},
    )


@pytest.mark.parametrize(
    ("mode", "shown"),
    [
        ("crash-loop", "CrashLoopBackOff"),
        ("image-pull", "ImagePullBackOff"),
        ("oom", "OOMKilled"),
    ],
    ids=["crash-loop", "image-pull", "oom"],
)
def test_fail_annotation_on_running_dgd_rolls_pods_and_recovers(
    custom: CustomObjectsApi, core: CoreV1Api, mode: str, shown: str
) -> None:
    create(custom, make_dgd("late"))
    wait_until(lambda: status(custom, "late").get("state") == "successful")
    healthy = {p.metadata.name for p in worker_pods(core, "late")}

    annotate_fail(custom, "late", mode)
    failing = wait_until(
        lambda: [p for p in worker_pods(core, "late") if failure_shown(p) == shown]
    )
    annotate_fail(custom, "late", None)
    recovered = wait_until(
        lambda: (
            status(custom, "late").get("state") == "successful"
            and [p for p in worker_pods(core, "late") if _is_running_ready(p)]
        )
    )

    assert failing[0].metadata.name not in healthy
    assert failing[0].metadata.name not in {p.metadata.name for p in recovered}


def test_deletion_removes_pods_services_and_frees_gpus(
    sandbox: Sandbox, custom: CustomObjectsApi, core: CoreV1Api
) -> None:
    create(custom, make_dgd("del", worker_gpus=8, replicas=2))
    wait_until(lambda: status(custom, "del").get("state") == "successful")

    custom.delete_namespaced_custom_object(GROUP, "v1beta1", NAMESPACE, PLURAL, "del")

    wait_until(
        lambda: (
            not custom.list_namespaced_custom_object(
                GROUP, "v1beta1", NAMESPACE, PLURAL
            )["items"]
        )
    )
    assert not core.list_namespaced_pod(
        NAMESPACE, label_selector="nvidia.com/dynamo-graph-deployment-name=del"
    ).items
    assert not [
        s
        for s in core.list_namespaced_service(NAMESPACE).items
        if s.metadata.name.startswith("del-")
    ]
    create(custom, make_dgd("again", worker_gpus=8, replicas=2))
    wait_until(lambda: status(custom, "again").get("state") == "successful")


@pytest.mark.parametrize(
    "spec", ["1x4xL4-24", "2x8xH100-80,1xcpu"], ids=["one-l4-node", "h100-and-cpu"]
)
def test_node_spec_shapes_the_cluster(spec: str) -> None:
    with Sandbox(nodes=spec, speed=0.01) as sandbox:
        nodes = sandbox.store.list("nodes")

    gpus = sum(
        int(n["status"]["allocatable"].get("nvidia.com/gpu", "0")) for n in nodes
    )
    assert gpus == {"1x4xL4-24": 4, "2x8xH100-80,1xcpu": 16}[spec]
