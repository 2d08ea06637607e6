"""DynamoGraphDeployments on a cluster: deploy, list, details, delete.

Reads and writes DGDs and their pods through `kube.call()` only, so every
request has the timeout, the retry policy and the error translation. A list of
deployments costs exactly two requests (DGDs, then pods by label), whatever
their number. Status is computed from what the operator has observed, never
assumed from what was asked.

It never builds a manifest (that is `manifest`), never reads a Secret's data,
and never retries a create. Called by the app's deploy, deployments and details
pages. The pre-flight checks live in `preflight`; `run_preflight` and
`PreflightCheck` are re-exported here for the callers that import them from here.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any, Literal

from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi
from pydantic import BaseModel, Field

from dynamote_core import kube
from dynamote_core.cluster import (
    is_operator_alive,
    list_graph_deployments,
    object_name,
)
from dynamote_core.config import DeploymentConfig
from dynamote_core.errors import (
    AlreadyExists,
    ClusterError,
    ClusterForbidden,
    ClusterNotFound,
    ClusterTimeout,
    ClusterUnreachable,
)
from dynamote_core.explain import (
    Explanation,
    KubeEvent,
    PodStatus,
    explain_failures,
    parse_timestamp,
)
from dynamote_core.preflight import PreflightCheck, run_preflight

logger = logging.getLogger(__name__)

__all__ = [
    "ComponentStatus",
    "DeployResult",
    "Deployment",
    "DeploymentDetails",
    "Explanation",
    "FrontendService",
    "KubeEvent",
    "PodStatus",
    "PreflightCheck",
    "compute_status",
    "create_deployment",
    "delete_deployment",
    "deploy",
    "describe_forbidden",
    "dry_run_deployment",
    "get_deployment_details",
    "is_delete_stuck",
    "list_deployments",
    "run_preflight",
    "sort_events_newest_first",
]

GROUP = "nvidia.com"
PLURAL = "dynamographdeployments"
DGD_LABEL = "nvidia.com/dynamo-graph-deployment-name"
COMPONENT_LABEL = "nvidia.com/dynamo-component"
COMPONENT_TYPE_LABEL = "nvidia.com/dynamo-component-type"
FINALIZER = "nvidia.com/finalizer"
CONFIG_ANNOTATION = "dynamote.io/config"
STUCK_DELETE_SECONDS = 60
STUCK_DELETE_REASON = (
    "Deletion is stuck: waiting for the Dynamo operator to remove its finalizer; "
    "is the operator running?"
)
LOG_TAIL_LINES = 20
FRONTEND_PORT = 8000
# Seconds between read-backs after a create got no answer; tests lower them.
CREATE_CHECK_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0)

DeploymentState = Literal["Pending", "Deploying", "Running", "Failed", "Terminating"]


class ComponentStatus(BaseModel):
    """One component of a graph: what was asked and what the operator reports."""

    name: str
    type: str
    desired: int
    ready: int


class Deployment(BaseModel):
    """One row of the Deployments page."""

    name: str
    namespace: str
    model: str | None = None
    engine: str | None = None
    mode: str | None = None
    status: DeploymentState
    status_reason: str = ""
    ready_replicas: int = 0
    desired_replicas: int = 0
    age_seconds: float | None = None
    created: datetime | None = None
    pod_health: str = "no pods"
    pods: list[PodStatus] = Field(default_factory=list)
    delete_stuck: bool = False


class FrontendService(BaseModel):
    """The `<name>-frontend` Service the operator creates for the frontend."""

    name: str
    port: int = FRONTEND_PORT
    exists: bool = False


class DeploymentDetails(BaseModel):
    """Everything the details page shows about one deployment.

    `config` is the `DeploymentConfig` read back from the dynamote.io/config
    annotation, or None for a DGD Dynamote did not create. `problems` names the
    optional parts left out because a permission is missing, each with its
    `kubectl auth can-i` line.
    """

    deployment: Deployment
    config: DeploymentConfig | None = None
    components: list[ComponentStatus] = Field(default_factory=list)
    pods: list[PodStatus] = Field(default_factory=list)
    events: list[KubeEvent] = Field(default_factory=list)
    frontend_service: FrontendService | None = None
    port_forward: str | None = None
    explanations: list[Explanation] = Field(default_factory=list)
    manifest: dict[str, Any] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)


class DeployResult(BaseModel):
    """The created DGD; `recovered` when a timed-out create was found to have landed."""

    name: str
    namespace: str
    api_version: str
    uid: str | None = None
    recovered: bool = False
    message: str = ""


# ---------------------------------------------------------------- read


def list_deployments(
    api_client: ApiClient, namespace: str, api_version: str
) -> list[Deployment]:
    """The DGDs of a namespace with their status, in two API calls in total.

    One list of DGDs and one list of pods by the DGD-name label; pods are matched
    to their DGD here, never fetched per deployment.
    """
    # With 2,000 pods the two answers are ~100,000 dicts and lists; the cycle
    # collector walked them again and again, longer than the parse itself took
    # (see kube.paused_garbage_collector). They are dropped when _build_table
    # returns, before the collector resumes, so it never has to walk them.
    with kube.paused_garbage_collector():
        return _build_table(api_client, namespace, api_version)


def _build_table(
    api_client: ApiClient, namespace: str, api_version: str
) -> list[Deployment]:
    dgds = list_graph_deployments(api_client, namespace, api_version)
    pods_by_dgd = _group_pods(_list_dgd_pods(api_client, namespace, None))
    now = _now()
    return [
        summarize_deployment(dgd, pods_by_dgd.get(object_name(dgd), []), now)
        for dgd in dgds
    ]


def get_deployment_details(
    api_client: ApiClient,
    namespace: str,
    name: str,
    api_version: str,
    *,
    operator_alive: bool | None = None,
) -> DeploymentDetails:
    """One deployment in full: settings, components, pods, events, Service, failures.

    The DGD and its pods are required; events, the frontend Service, crash logs
    and the operator check are optional: a permission missing for one of them
    leaves it out and adds a line to `.problems` instead of failing the whole.

    Raises:
        ClusterNotFound: no DGD of that name in the namespace.
        ClusterForbidden: the DGD or its pods may not be read.
    """
    dgd = read_graph_deployment(api_client, namespace, name, api_version)
    pods = [
        to_pod_status(pod, _now())
        for pod in _list_dgd_pods(api_client, namespace, name)
    ]

    problems: list[str] = []
    events = _read_events(
        api_client, namespace, {name} | {p.name for p in pods}, problems
    )
    logs = _read_failing_logs(api_client, namespace, pods, problems)
    if operator_alive is None:
        operator_alive = _peek_operator(api_client, problems)
    frontend = _read_frontend_service(api_client, dgd, problems)

    now = _now()
    service_name = frontend_service_name(dgd)
    return DeploymentDetails(
        deployment=summarize_deployment(dgd, pods, now),
        config=read_config_annotation(dgd),
        components=list_components(dgd),
        pods=pods,
        events=events,
        frontend_service=frontend,
        port_forward=port_forward_command(service_name, namespace)
        if service_name
        else None,
        explanations=explain_failures(
            dgd, pods, events, logs, now, operator_alive=operator_alive
        ),
        manifest=dgd,
        problems=problems,
    )


def describe_forbidden(consequence: str, error: ClusterForbidden) -> str:
    """One line on what is left out, the permission missing, and its can-i check."""
    scope = (
        f"in namespace {error.namespace}" if error.namespace else "across the cluster"
    )
    return (
        f"{consequence}: this account may not '{error.verb}' '{error.resource}' "
        f"{scope}. Check with: {error.can_i}"
    )


def _read_events(
    api_client: ApiClient, namespace: str, object_names: set[str], problems: list[str]
) -> list[KubeEvent]:
    try:
        return _list_events(api_client, namespace, object_names)
    except ClusterForbidden as error:
        problems.append(describe_forbidden("Events are hidden", error))
        return []


def _peek_operator(api_client: ApiClient, problems: list[str]) -> bool | None:
    try:
        return is_operator_alive(api_client)
    except ClusterUnreachable:
        raise
    except ClusterForbidden as error:
        problems.append(
            describe_forbidden("Whether the Dynamo operator runs is unknown", error)
        )
        return None
    except ClusterError:
        return None


def read_graph_deployment(
    api_client: ApiClient, namespace: str, name: str, api_version: str
) -> dict[str, Any]:
    """One DGD as a dict. Raises ClusterNotFound when it does not exist."""
    return kube.call_json(
        CustomObjectsApi(api_client).get_namespaced_custom_object,
        GROUP,
        api_version,
        namespace,
        PLURAL,
        name,
        verb="get",
        resource=PLURAL,
        namespace=namespace,
    )


def _list_dgd_pods(
    api_client: ApiClient, namespace: str, name: str | None
) -> list[dict[str, Any]]:
    selector = f"{DGD_LABEL}={name}" if name else DGD_LABEL
    return _list_json(
        CoreV1Api(api_client).list_namespaced_pod,
        namespace,
        resource="pods",
        label_selector=selector,
    )


def _list_events(
    api_client: ApiClient, namespace: str, object_names: set[str]
) -> list[KubeEvent]:
    # One list of the namespace's events, filtered here: a field selector per
    # object would cost one call per pod.
    raw = _list_json(
        CoreV1Api(api_client).list_namespaced_event, namespace, resource="events"
    )
    mine = [
        item
        for item in raw
        if (item.get("involvedObject") or {}).get("name") in object_names
    ]
    return [to_event(item) for item in sort_events_newest_first(mine)]


def sort_events_newest_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """core/v1 Event dicts, the most recently seen first.

    Kubernetes stamps `lastTimestamp` to the second, so events of one second
    (Scheduled, Pulling, Pulled) tie; the later-written one, with the higher
    `resourceVersion`, goes first.
    """
    return sorted(items, key=_event_order, reverse=True)


def _event_order(item: dict[str, Any]) -> tuple[datetime, int]:
    never = datetime.min.replace(tzinfo=UTC)
    version = str((item.get("metadata") or {}).get("resourceVersion") or "")
    # resourceVersion is opaque by contract but an etcd revision in practice.
    return (
        parse_timestamp(_event_time(item)) or never,
        int(version) if version.isdigit() else 0,
    )


def _event_time(item: dict[str, Any]) -> object:
    """When the event was last seen: the first of the fields clients fill in."""
    return (
        item.get("lastTimestamp")
        or item.get("eventTime")
        or item.get("firstTimestamp")
        or (item.get("metadata") or {}).get("creationTimestamp")
    )


def _list_json(
    fn: Any, namespace: str, *, resource: str, **kwargs: Any
) -> list[dict[str, Any]]:
    listing = kube.call_json(
        fn, namespace, verb="list", resource=resource, namespace=namespace, **kwargs
    )
    items = listing.get("items") or []
    return [item for item in items if isinstance(item, dict)]


def _read_failing_logs(
    api_client: ApiClient, namespace: str, pods: list[PodStatus], problems: list[str]
) -> dict[str, list[str]]:
    logs: dict[str, list[str]] = {}
    for pod in pods:
        if pod.reason not in {"CrashLoopBackOff", "OOMKilled", "Error"}:
            continue
        try:
            logs[pod.name] = _read_log_tail(api_client, namespace, pod.name)
        except ClusterForbidden as error:
            # The same grant covers every pod: one line says it, no more reads.
            problems.append(describe_forbidden("Crash logs are hidden", error))
            break
    return logs


def _read_log_tail(api_client: ApiClient, namespace: str, pod_name: str) -> list[str]:
    """The last log lines of a pod's crashed container (previous run first)."""
    core = CoreV1Api(api_client)
    for previous in (True, False):
        try:
            text = kube.call(
                core.read_namespaced_pod_log,
                pod_name,
                namespace,
                verb="get",
                resource="pods/log",
                namespace=namespace,
                tail_lines=LOG_TAIL_LINES,
                previous=previous,
            )
        except (ClusterUnreachable, ClusterForbidden):
            raise
        except ClusterError as exc:
            logger.debug(
                "no %s log for %s: %s",
                "previous" if previous else "current",
                pod_name,
                exc,
            )
            continue
        lines = str(text or "").splitlines()
        if lines:
            return lines[-LOG_TAIL_LINES:]
    return []


def _read_frontend_service(
    api_client: ApiClient, dgd: dict[str, Any], problems: list[str]
) -> FrontendService | None:
    name = frontend_service_name(dgd)
    if name is None:
        return None
    namespace = _namespace(dgd)
    try:
        service = kube.call_json(
            CoreV1Api(api_client).read_namespaced_service,
            name,
            namespace,
            verb="get",
            resource="services",
            namespace=namespace,
        )
    except ClusterNotFound:
        return FrontendService(name=name, exists=False)
    except ClusterForbidden as error:
        problems.append(describe_forbidden("The frontend Service is unknown", error))
        return None
    ports = (service.get("spec") or {}).get("ports") or []
    port = int(ports[0].get("port") or FRONTEND_PORT) if ports else FRONTEND_PORT
    return FrontendService(name=name, port=port, exists=True)


def frontend_service_name(dgd: dict[str, Any]) -> str | None:
    """`<dgd>-<frontend component, lower-cased>`, as the operator names it."""
    for component in list_components(dgd):
        if component.type == "frontend":
            raw = f"{object_name(dgd)}-{component.name.lower()}"
            return raw.replace(".", "-")
    return None


def port_forward_command(service_name: str, namespace: str) -> str:
    """The kubectl line that makes the frontend reachable on localhost:8000."""
    return (
        f"kubectl port-forward svc/{service_name} {FRONTEND_PORT}:{FRONTEND_PORT} "
        f"-n {namespace}"
    )


# ---------------------------------------------------------------- status


def summarize_deployment(
    dgd: dict[str, Any], pods: list[PodStatus] | list[dict[str, Any]], now: datetime
) -> Deployment:
    """One Deployments-page row from a DGD dict and its pods."""
    pod_statuses = [
        p if isinstance(p, PodStatus) else to_pod_status(p, now) for p in pods
    ]
    metadata = dgd.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    components = list_components(dgd)
    state, reason = compute_status(dgd, pod_statuses)
    delete_stuck = is_delete_stuck(dgd, now)
    if delete_stuck:
        reason = STUCK_DELETE_REASON
    created = parse_timestamp(metadata.get("creationTimestamp"))
    desired = sum(c.desired for c in components)
    return Deployment(
        name=object_name(dgd),
        namespace=_namespace(dgd),
        model=annotations.get("dynamote.io/model"),
        engine=annotations.get("dynamote.io/engine")
        or (dgd.get("spec") or {}).get("backendFramework"),
        mode=annotations.get("dynamote.io/mode"),
        status=state,
        status_reason=reason,
        ready_replicas=sum(min(c.ready, c.desired) for c in components),
        desired_replicas=desired,
        age_seconds=(now - created).total_seconds() if created else None,
        created=created,
        pod_health=describe_pod_health(pod_statuses),
        pods=pod_statuses,
        delete_stuck=delete_stuck,
    )


def compute_status(
    dgd: dict[str, Any], pods: list[PodStatus]
) -> tuple[DeploymentState, str]:
    """The truthful status of a DGD and the one-line reason for it.

    Running only when the operator has observed the latest generation, every
    component has all replicas ready, and the operator says so.
    """
    metadata = dgd.get("metadata") or {}
    status = dgd.get("status") or {}
    failing = [p for p in pods if p.is_failing]
    if metadata.get("deletionTimestamp"):
        return (
            "Terminating",
            "Deletion requested; waiting for the operator to clean up.",
        )
    if status.get("state") == "failed":
        return "Failed", "The operator reports state failed."
    if failing:
        return "Failed", f"Pod {failing[0].name} is stuck in {failing[0].reason}."
    if not status:
        return "Pending", "The operator has not reported any status yet."
    if any(p.reason == "Unschedulable" for p in pods):
        return "Pending", "Pods cannot be scheduled yet."
    if is_ready(dgd):
        return "Running", "Every component is ready."
    return "Deploying", _describe_progress(dgd)


def is_ready(dgd: dict[str, Any]) -> bool:
    """True when the operator has seen the latest spec and every component is ready."""
    metadata = dgd.get("metadata") or {}
    status = dgd.get("status") or {}
    observed = status.get("observedGeneration")
    if observed is None or observed != metadata.get("generation"):
        return False
    components = list_components(dgd)
    if not components or any(c.ready < c.desired for c in components):
        return False
    ready_true = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return bool(status.get("state") == "successful" or ready_true)


def _describe_progress(dgd: dict[str, Any]) -> str:
    metadata = dgd.get("metadata") or {}
    status = dgd.get("status") or {}
    if status.get("observedGeneration") != metadata.get("generation"):
        return "The operator has not processed the latest spec yet."
    waiting = [c.name for c in list_components(dgd) if c.ready < c.desired]
    if waiting:
        return "Waiting for ready replicas of: " + ", ".join(waiting) + "."
    return "Waiting for the operator to report Ready."


def list_components(dgd: dict[str, Any]) -> list[ComponentStatus]:
    """Components with desired (spec) and ready (status) replicas, either API version.

    v1beta1 has `spec.components` (list) and `status.components`; v1alpha1 has
    `spec.services` (map) and `status.services`.
    """
    spec = dgd.get("spec") or {}
    status = dgd.get("status") or {}
    reported = status.get("components") or status.get("services") or {}
    components = []
    for name, type_, desired in _spec_components(spec):
        ready = (reported.get(name) or {}).get("readyReplicas")
        components.append(
            ComponentStatus(
                name=name, type=type_, desired=desired, ready=int(ready or 0)
            )
        )
    return components


def _spec_components(spec: dict[str, Any]) -> list[tuple[str, str, int]]:
    if isinstance(spec.get("components"), list):
        return [
            (str(c.get("name")), str(c.get("type") or "worker"), _replicas(c))
            for c in spec["components"]
            if isinstance(c, dict)
        ]
    services = spec.get("services") or {}
    return [
        (str(name), _alpha_type(s), _replicas(s))
        for name, s in services.items()
        if isinstance(s, dict)
    ]


def _alpha_type(service: dict[str, Any]) -> str:
    return str(
        service.get("subComponentType") or service.get("componentType") or "worker"
    )


def _replicas(component: dict[str, Any]) -> int:
    value = component.get("replicas")
    return 1 if value is None else int(value)


def describe_pod_health(pods: list[PodStatus]) -> str:
    """ "3/3 ready", "1 failing" or "no pods"."""
    if not pods:
        return "no pods"
    failing = sum(1 for p in pods if p.is_failing)
    if failing:
        return f"{failing} failing"
    ready = sum(1 for p in pods if p.ready)
    return f"{ready}/{len(pods)} ready"


def is_delete_stuck(dgd: dict[str, Any], now: datetime | None = None) -> bool:
    """True when a DGD has waited over a minute on the operator's finalizer.

    The finalizer is removed by the operator; when the operator is gone the
    DGD stays Terminating for ever.
    """
    metadata = dgd.get("metadata") or {}
    deleted = parse_timestamp(metadata.get("deletionTimestamp"))
    if deleted is None or FINALIZER not in (metadata.get("finalizers") or []):
        return False
    return ((now or _now()) - deleted).total_seconds() > STUCK_DELETE_SECONDS


def to_pod_status(pod: dict[str, Any], now: datetime) -> PodStatus:
    """A pod dict (as the API returns it) reduced to a `PodStatus`."""
    metadata = pod.get("metadata") or {}
    labels = metadata.get("labels") or {}
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    reason, message = _pod_failure(status, containers)
    created = parse_timestamp(metadata.get("creationTimestamp"))
    return PodStatus(
        name=str(metadata.get("name") or ""),
        component=labels.get(COMPONENT_LABEL),
        component_type=labels.get(COMPONENT_TYPE_LABEL),
        phase=str(status.get("phase") or "Unknown"),
        ready=bool(containers) and all(c.get("ready") for c in containers),
        restarts=sum(int(c.get("restartCount") or 0) for c in containers),
        node=(pod.get("spec") or {}).get("nodeName"),
        reason=reason,
        message=message,
        age_seconds=(now - created).total_seconds() if created else None,
        image=_main_image(pod, containers),
    )


def _pod_failure(
    status: dict[str, Any], containers: list[dict[str, Any]]
) -> tuple[str | None, str | None]:
    """The most telling reason a pod is not ready, with its message."""
    for container in containers:
        for state_key in ("state", "lastState"):
            terminated = (container.get(state_key) or {}).get("terminated") or {}
            if terminated.get("reason") == "OOMKilled":
                return "OOMKilled", terminated.get(
                    "message"
                ) or "Container killed: out of memory."
    for container in containers:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") and waiting.get("reason") != "ContainerCreating":
            return str(waiting["reason"]), waiting.get("message")
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
        ):
            return str(condition.get("reason") or "Unschedulable"), condition.get(
                "message"
            )
    for container in containers:
        terminated = (container.get("state") or {}).get("terminated") or {}
        if terminated.get("reason") and terminated.get("exitCode"):
            return str(terminated["reason"]), terminated.get("message")
    return None, status.get("message")


def _main_image(pod: dict[str, Any], containers: list[dict[str, Any]]) -> str | None:
    spec_containers = (pod.get("spec") or {}).get("containers") or []
    for container in spec_containers:
        if container.get("name") == "main":
            return str(container.get("image"))
    if spec_containers:
        return str(spec_containers[0].get("image"))
    return str(containers[0].get("image")) if containers else None


def to_event(item: dict[str, Any]) -> KubeEvent:
    """A core/v1 Event dict as a `KubeEvent`."""
    involved = item.get("involvedObject") or {}
    last_seen = _event_time(item)
    return KubeEvent(
        type=str(item.get("type") or "Normal"),
        reason=str(item.get("reason") or ""),
        message=kube.shorten(str(item.get("message") or "")),
        object=f"{involved.get('kind', '')}/{involved.get('name', '')}",
        count=int(item.get("count") or 1),
        last_seen=parse_timestamp(last_seen),
    )


def _group_pods(pods: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        owner = ((pod.get("metadata") or {}).get("labels") or {}).get(DGD_LABEL)
        if owner:
            grouped.setdefault(owner, []).append(pod)
    return grouped


def read_config_annotation(dgd: dict[str, Any]) -> DeploymentConfig | None:
    """The `DeploymentConfig` stored in the dynamote.io/config annotation, if valid."""
    raw = ((dgd.get("metadata") or {}).get("annotations") or {}).get(CONFIG_ANNOTATION)
    if not raw:
        return None
    try:
        return DeploymentConfig.model_validate_json(raw)
    except ValueError as exc:
        logger.warning(
            "annotation %s of %s is not a valid config: %s",
            CONFIG_ANNOTATION,
            object_name(dgd),
            exc,
        )
        return None


# ---------------------------------------------------------------- write


def deploy(
    api_client: ApiClient, manifest: dict[str, Any], api_version: str
) -> DeployResult:
    """Dry-run then create one DGD; never creates twice.

    Raises:
        ClusterInvalid: the dry run (or create) was rejected; `.causes` per field.
        AlreadyExists: a DGD of that name exists.
        OperatorUnavailable: the Dynamo admission webhook did not answer.
        ClusterTimeout: the create got no answer and the DGD has not appeared.
    """
    dry_run_deployment(api_client, manifest, api_version)
    return create_deployment(api_client, manifest, api_version)


def dry_run_deployment(
    api_client: ApiClient, manifest: dict[str, Any], api_version: str
) -> None:
    """Let the API server and the operator's webhooks judge a DGD without storing it.

    Raises:
        ClusterInvalid: rejected; `.causes` lists each field at fault.
        AlreadyExists: a DGD of that name exists.
    """
    namespace = _namespace(manifest)
    try:
        # A dry run persists nothing, so repeating it on a transient error is safe.
        kube.call(
            CustomObjectsApi(api_client).create_namespaced_custom_object,
            *(GROUP, api_version, namespace, PLURAL),
            verb="create",
            resource=PLURAL,
            namespace=namespace,
            retry=True,
            body=manifest,
            dry_run="All",
        )
    except AlreadyExists as exc:
        raise _already_exists(object_name(manifest), namespace) from exc


def create_deployment(
    api_client: ApiClient, manifest: dict[str, Any], api_version: str
) -> DeployResult:
    """Create one DGD, once.

    A create that timed out or lost its connection is never sent again: the DGD
    is read back by name (a few times, as the create may still be in flight) and
    accepted only when it carries this manifest's config.
    """
    namespace, name = _namespace(manifest), object_name(manifest)
    try:
        created = kube.call_json(
            CustomObjectsApi(api_client).create_namespaced_custom_object,
            *(GROUP, api_version, namespace, PLURAL),
            verb="create",
            resource=PLURAL,
            namespace=namespace,
            retry=False,
            body=manifest,
        )
    except AlreadyExists as exc:
        raise _already_exists(name, namespace) from exc
    except ClusterUnreachable as exc:
        return _recover_create(api_client, manifest, api_version, exc)
    return DeployResult(
        name=name,
        namespace=namespace,
        api_version=api_version,
        uid=(created.get("metadata") or {}).get("uid"),
        message=f"Created DynamoGraphDeployment {name} in {namespace}.",
    )


def _recover_create(
    api_client: ApiClient,
    manifest: dict[str, Any],
    api_version: str,
    failure: ClusterUnreachable,
) -> DeployResult:
    """After a create with no answer: find out whether it landed, do not repeat it."""
    name, namespace = object_name(manifest), _namespace(manifest)
    logger.warning("create of %s in %s got no answer; reading it back", name, namespace)
    existing = _find_after_lost_create(api_client, namespace, name, api_version)
    if existing is None:
        raise ClusterTimeout(
            f"The create of {name} in {namespace} got no answer, and the "
            "DynamoGraphDeployment has not appeared so far.",
            remedy="Refresh the Deployments page before deploying again: the "
            "create may still land.",
        ) from failure
    if not is_same_deployment(existing, manifest):
        raise _already_exists(name, namespace) from failure
    logger.warning("create of %s in %s confirmed after no answer", name, namespace)
    return DeployResult(
        name=name,
        namespace=namespace,
        api_version=api_version,
        uid=(existing.get("metadata") or {}).get("uid"),
        recovered=True,
        message=f"Created DynamoGraphDeployment {name} in {namespace} "
        "(confirmed after a timeout).",
    )


def _find_after_lost_create(
    api_client: ApiClient, namespace: str, name: str, api_version: str
) -> dict[str, Any] | None:
    # The server may still be processing the create we gave up on, so one
    # 404 is not proof; a few spaced reads are.
    for delay in (0.0, *CREATE_CHECK_DELAYS):
        time.sleep(delay)
        try:
            return read_graph_deployment(api_client, namespace, name, api_version)
        except ClusterNotFound:
            continue
    return None


def is_same_deployment(existing: dict[str, Any], manifest: dict[str, Any]) -> bool:
    """True when the cluster's DGD is the one this manifest created.

    Compares the dynamote.io/config annotation when the manifest has one, else
    checks that the manifest's spec is contained in the cluster's (which the
    webhook may have defaulted further).
    """
    ours = ((manifest.get("metadata") or {}).get("annotations") or {}).get(
        CONFIG_ANNOTATION
    )
    if ours:
        theirs = ((existing.get("metadata") or {}).get("annotations") or {}).get(
            CONFIG_ANNOTATION
        )
        return bool(theirs == ours)
    return _is_contained(manifest.get("spec"), existing.get("spec"))


def _is_contained(part: object, whole: object) -> bool:
    if isinstance(part, dict) and isinstance(whole, dict):
        return all(k in whole and _is_contained(v, whole[k]) for k, v in part.items())
    if isinstance(part, list) and isinstance(whole, list):
        return len(part) == len(whole) and all(
            _is_contained(p, w) for p, w in zip(part, whole, strict=True)
        )
    return part == whole


def _already_exists(name: str, namespace: str) -> AlreadyExists:
    return AlreadyExists(
        f"A DynamoGraphDeployment named {name} already exists in {namespace}.",
        status=409,
        remedy="Choose another name, or delete the existing deployment first.",
    )


def delete_deployment(
    api_client: ApiClient, namespace: str, name: str, api_version: str
) -> None:
    """Delete a DGD with background propagation (the operator removes its children).

    Raises:
        ClusterNotFound: no DGD of that name.
    """
    kube.call(
        CustomObjectsApi(api_client).delete_namespaced_custom_object,
        GROUP,
        api_version,
        namespace,
        PLURAL,
        name=name,  # by keyword, so the write's log line names it
        verb="delete",
        resource=PLURAL,
        namespace=namespace,
        propagation_policy="Background",
    )


# ---------------------------------------------------------------- helpers


def _namespace(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "default")


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _now() -> datetime:
    return datetime.now(UTC)
