"""Plain-language explanations of why a DynamoGraphDeployment is not serving.

`explain_failures()` reads what `deployments` already fetched (the DGD, its
pods, events and the last log lines of crash-looping containers) and names the
common failures with a fix each. It is pure: no I/O, no clock of its own (the
caller passes `now`), so every rule is easy to test.

Also home of the small read models both modules share (`PodStatus`,
`KubeEvent`, `Explanation`); `deployments` re-exports them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

NO_STATUS_GRACE_SECONDS = 120
LOG_LINES_SHOWN = 10
INSUFFICIENT_GPU = "Insufficient nvidia.com/gpu"
IMAGE_PULL_REASONS = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName"})
FAILURE_REASONS = IMAGE_PULL_REASONS | {
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "OOMKilled",
}
_MISSING_SECRET = re.compile(r'secret "([^"]+)" not found')


class PodStatus(BaseModel):
    """One pod of a deployment, reduced to what a user needs to see.

    `reason` is the most telling failure: OOMKilled, ImagePullBackOff,
    ErrImagePull, CrashLoopBackOff, CreateContainerConfigError, Unschedulable…
    """

    name: str
    component: str | None = None
    component_type: str | None = None
    phase: str = "Unknown"
    ready: bool = False
    restarts: int = 0
    node: str | None = None
    reason: str | None = None
    message: str | None = None
    age_seconds: float | None = None
    image: str | None = None

    @property
    def is_failing(self) -> bool:
        """True when the pod is stuck in a state that will not heal by itself."""
        return self.reason in FAILURE_REASONS


class KubeEvent(BaseModel):
    """One Kubernetes event about the DGD or one of its pods."""

    type: str = "Normal"
    reason: str = ""
    message: str = ""
    object: str = ""
    count: int = 1
    last_seen: datetime | None = None


class Explanation(BaseModel):
    """A failure in plain words: what happened, why, what to do, what shows it."""

    title: str
    cause: str
    fix: str
    evidence: list[str] = Field(default_factory=list)


def explain_failures(
    dgd: dict[str, Any],
    pods: list[PodStatus],
    events: list[KubeEvent],
    logs: dict[str, list[str]],
    now: datetime,
    *,
    operator_alive: bool | None = None,
) -> list[Explanation]:
    """Every failure explanation that applies to one deployment, most basic first.

    Args:
        dgd: the DynamoGraphDeployment as a dict (either API version).
        pods: its pods; events: of the DGD and its pods.
        logs: last log lines of failing pods, by pod name.
        now: the current time (timezone-aware), for "no status after 2 min".
        operator_alive: from the cluster status, when known.
    """
    namespace = str(dgd.get("metadata", {}).get("namespace") or "default")
    found = [
        explain_operator_missing(dgd, events, now, operator_alive),
        explain_operator_failure(dgd),
        explain_insufficient_gpus(dgd, pods, events),
        explain_image_pull(pods),
        explain_missing_secret(pods, events, namespace),
        explain_oom(pods),
        explain_crash_loop(pods, logs),
    ]
    return [explanation for explanation in found if explanation is not None]


def explain_operator_missing(
    dgd: dict[str, Any],
    events: list[KubeEvent],
    now: datetime,
    operator_alive: bool | None,
) -> Explanation | None:
    """No operator reconciling: a webhook failure, a dead operator, or no status."""
    webhook = [e.message for e in events if "failed calling webhook" in e.message]
    waited = _seconds_since(dgd.get("metadata", {}).get("creationTimestamp"), now)
    silent = not dgd.get("status") and (waited or 0) > NO_STATUS_GRACE_SECONDS
    if not webhook and not silent and operator_alive is not False:
        return None

    evidence = webhook[:3]
    if silent:
        evidence.append(f"No status written {int(waited or 0)} s after creation.")
    if operator_alive is False:
        evidence.append(
            "No Running pod with label app.kubernetes.io/name=dynamo-operator."
        )
    return Explanation(
        title="The Dynamo operator is not handling this deployment",
        cause=(
            "Nothing reconciles the DynamoGraphDeployment: the Dynamo operator or "
            "its admission webhook is not running, so no pods are created."
        ),
        fix=(
            "Check the operator: kubectl get pods -A -l "
            "app.kubernetes.io/name=dynamo-operator, then its logs; install or "
            "restart the Dynamo platform if it is missing."
        ),
        evidence=evidence,
    )


def explain_operator_failure(dgd: dict[str, Any]) -> Explanation | None:
    """The operator itself marked the DGD failed; show its Ready condition."""
    status = dgd.get("status") or {}
    if status.get("state") != "failed":
        return None
    condition = ready_condition(dgd)
    detail = f"{condition.get('reason', '')}: {condition.get('message', '')}".strip(
        ": "
    )
    return Explanation(
        title="The operator reports the deployment as failed",
        cause=detail or "The operator set state=failed without a message.",
        fix=(
            "Read the operator's message above; fix the setting it names and "
            "deploy again, or check the operator logs."
        ),
        evidence=[detail] if detail else [],
    )


def explain_insufficient_gpus(
    dgd: dict[str, Any], pods: list[PodStatus], events: list[KubeEvent]
) -> Explanation | None:
    """Pods that cannot be scheduled for lack of GPUs."""
    evidence = [
        f"{e.object}: {e.message}"
        for e in events
        if e.reason == "FailedScheduling" and INSUFFICIENT_GPU in e.message
    ]
    evidence += [
        f"Pod/{p.name}: {p.message}"
        for p in pods
        if p.reason == "Unschedulable" and INSUFFICIENT_GPU in (p.message or "")
    ]
    if ready_condition(dgd).get("reason") == "insufficient_capacity":
        evidence.append(
            str(ready_condition(dgd).get("message") or "insufficient_capacity")
        )
    if not evidence:
        return None
    return Explanation(
        title="Not enough free GPUs",
        cause=(
            "The scheduler cannot find a node with enough free nvidia.com/gpu for "
            "a worker, so its pods stay Pending."
        ),
        fix=(
            "Lower the worker replicas or GPUs per worker (tensor parallel size), "
            "pick a smaller model, free GPUs by deleting other deployments, or add "
            "GPU nodes."
        ),
        evidence=_unique(evidence),
    )


def explain_image_pull(pods: list[PodStatus]) -> Explanation | None:
    """Pods whose image cannot be pulled; names the image."""
    failing = [p for p in pods if p.reason in IMAGE_PULL_REASONS]
    if not failing:
        return None
    images = _unique([p.image or "?" for p in failing])
    return Explanation(
        title=f"The image cannot be pulled: {', '.join(images)}",
        cause=(
            "The node cannot download the container image: the tag does not "
            "exist, the registry is unreachable, or it needs credentials."
        ),
        fix=(
            "Check the image tag (it should match the Dynamo operator version), "
            "that the registry is reachable from the nodes, and that an image pull "
            "secret for the registry exists in the namespace."
        ),
        evidence=_unique(
            [f"Pod/{p.name}: {p.reason}: {p.message or ''}" for p in failing]
        ),
    )


def explain_missing_secret(
    pods: list[PodStatus], events: list[KubeEvent], namespace: str
) -> Explanation | None:
    """Pods that cannot start because a referenced Secret does not exist."""
    texts = [
        f"Pod/{p.name}: {p.message}"
        for p in pods
        if p.reason == "CreateContainerConfigError" and p.message
    ]
    texts += [
        f"{e.object}: {e.message}" for e in events if _MISSING_SECRET.search(e.message)
    ]
    names = _unique([m.group(1) for t in texts if (m := _MISSING_SECRET.search(t))])
    if not names:
        return None
    name = names[0]
    return Explanation(
        title=f"Secret {name} is missing",
        cause=(
            f"The pods reference Secret {name} (the Hugging Face token), which does "
            f"not exist in namespace {namespace}, so their containers cannot start."
        ),
        fix=(
            f"kubectl create secret generic {name} "
            f"--from-literal=HF_TOKEN=<your token> -n {namespace}"
        ),
        evidence=_unique(texts),
    )


def explain_oom(pods: list[PodStatus]) -> Explanation | None:
    """Containers killed for using more memory than allowed."""
    killed = [p for p in pods if p.reason == "OOMKilled"]
    if not killed:
        return None
    return Explanation(
        title="A worker ran out of memory (OOMKilled)",
        cause=(
            "The container used more memory than its limit or the node had, and "
            "was killed; it restarts and is killed again."
        ),
        fix=(
            "Give the worker more memory, lower the context length (max model "
            "length), or spread the model over more GPUs (tensor parallel size)."
        ),
        evidence=[f"Pod/{p.name}: OOMKilled, {p.restarts} restarts" for p in killed],
    )


def explain_crash_loop(
    pods: list[PodStatus], logs: dict[str, list[str]]
) -> Explanation | None:
    """Containers that start and exit again, with their last log lines."""
    looping = [p for p in pods if p.reason == "CrashLoopBackOff"]
    if not looping:
        return None
    evidence = [
        f"Pod/{p.name}: CrashLoopBackOff, {p.restarts} restarts" for p in looping
    ]
    for pod in looping:
        lines = logs.get(pod.name) or []
        evidence += [f"{pod.name}| {line}" for line in lines[-LOG_LINES_SHOWN:]]
    return Explanation(
        title="A container keeps crashing (CrashLoopBackOff)",
        cause="The container exits soon after it starts; its last log lines say why.",
        fix=(
            "Read the log lines below; usual causes are a wrong model id, a gated "
            "model without a valid token, unsupported engine arguments, or a model "
            "that does not fit the GPU."
        ),
        evidence=evidence,
    )


def ready_condition(dgd: dict[str, Any]) -> dict[str, Any]:
    """The DGD's `Ready` condition, or {}."""
    for condition in (dgd.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition
    return {}


def parse_timestamp(value: object) -> datetime | None:
    """A Kubernetes RFC 3339 timestamp (string or datetime) as an aware datetime."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _seconds_since(value: object, now: datetime) -> float | None:
    then = parse_timestamp(value)
    return None if then is None else (now - then).total_seconds()


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
