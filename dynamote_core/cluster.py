"""What a cluster offers Dynamote: reachability, Dynamo CRD, operator, GPUs, HF secret.

`get_cluster_status()` runs every check with read-only calls through
`kube.call()` and reports each failed check as a problem with its remedy, so
one missing permission does not hide the rest. It never reads a Secret's data:
the HF secret is checked by name with a metadata-only request.

Called by the app's cluster page, by `preflight.run_preflight()` and by
`deployments` (which lists DGDs through `list_graph_deployments()`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi, VersionApi
from pydantic import BaseModel, Field

from dynamote_core import kube
from dynamote_core.errors import (
    ClusterError,
    ClusterForbidden,
    ClusterNotFound,
    ClusterUnreachable,
)
from dynamote_core.kube import list_contexts

logger = logging.getLogger(__name__)

__all__ = [
    "ApiVersionSetting",
    "ClusterStatus",
    "GpuPool",
    "choose_api_version",
    "discover_served_versions",
    "get_cluster_status",
    "list_contexts",
    "list_gpu_pools",
    "list_graph_deployments",
    "object_name",
]

T = TypeVar("T")

DYNAMO_GROUP = "nvidia.com"
DGD_PLURAL = "dynamographdeployments"
KNOWN_VERSIONS = ("v1beta1", "v1alpha1")
OPERATOR_SELECTOR = "app.kubernetes.io/name=dynamo-operator"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_MEMORY_LABEL = "nvidia.com/gpu.memory"

ApiVersionSetting = Literal["auto", "v1beta1", "v1alpha1"]


class GpuPool(BaseModel):
    """GPUs of one product and memory size across the cluster's nodes.

    `free` is None when the pods using GPUs could not be listed.
    `max_free_per_node` matters because one worker's GPUs must share a node.
    """

    product: str
    memory_gib: float | None
    total: int
    free: int | None
    nodes: int
    max_free_per_node: int | None
    free_by_node: dict[str, int] | None = None


class ClusterStatus(BaseModel):
    """The answer of `get_cluster_status()`; None means "could not check"."""

    reachable: bool
    server_version: str | None = None
    context: str | None = None
    namespace: str
    namespace_exists: bool | None = None
    crd_installed: bool | None = None
    served_versions: list[str] = Field(default_factory=list)
    api_version: str
    operator_alive: bool | None = None
    gpus: list[GpuPool] = Field(default_factory=list)
    gpus_known: bool = True
    hf_secret_name: str | None = None
    hf_secret_exists: bool | None = None
    problems: list[str] = Field(default_factory=list)


def choose_api_version(
    served_versions: list[str], setting: ApiVersionSetting | str = "auto"
) -> str:
    """The DGD apiVersion to emit: the user's setting, else v1beta1 when served."""
    if setting in KNOWN_VERSIONS:
        return setting
    return "v1beta1" if "v1beta1" in served_versions else "v1alpha1"


def discover_served_versions(api_client: ApiClient) -> list[str]:
    """The DGD versions the cluster serves, from API discovery (`/apis/nvidia.com`).

    Discovery needs no RBAC. Returns [] when the nvidia.com group is absent.
    """
    try:
        group = kube.call(
            kube.request_json,
            api_client,
            "GET",
            f"/apis/{DYNAMO_GROUP}",
            verb="get",
            resource=f"apis/{DYNAMO_GROUP}",
        )
    except ClusterNotFound:
        return []
    versions = [str(v.get("version")) for v in group.get("versions") or []]
    return [v for v in versions if _serves_graph_deployments(api_client, v)]


def _serves_graph_deployments(api_client: ApiClient, version: str) -> bool:
    try:
        resources = kube.call(
            kube.request_json,
            api_client,
            "GET",
            f"/apis/{DYNAMO_GROUP}/{version}",
            verb="get",
            resource=f"apis/{DYNAMO_GROUP}/{version}",
        )
    except ClusterNotFound:
        return False
    names = {r.get("name") for r in resources.get("resources") or []}
    return DGD_PLURAL in names


def get_cluster_status(
    api_client: ApiClient,
    namespace: str,
    hf_secret_name: str | None,
    api_version_setting: ApiVersionSetting | str = "auto",
    context: str | None = None,
) -> ClusterStatus:
    """Check everything Dynamote needs from a cluster, one problem per failed check.

    Raises:
        ClusterUnreachable: the API server cannot be reached at all.
    """
    problems: list[str] = []
    server_version = _read_server_version(api_client)
    served = _check(
        problems, "API discovery", lambda: discover_served_versions(api_client)
    )
    crd_installed = None if served is None else bool(served)
    if crd_installed is False:
        problems.append(
            "The DynamoGraphDeployment CRD is not installed: install the Dynamo "
            "platform (its operator applies the CRDs)."
        )

    namespace_exists = _check(
        problems, "namespace", lambda: _namespace_exists(api_client, namespace)
    )
    operator_alive = _check(problems, "operator", lambda: is_operator_alive(api_client))
    gpus = _check(problems, "GPUs", lambda: list_gpu_pools(api_client, problems))
    secret_exists = None
    if hf_secret_name:
        secret_exists = _check(
            problems,
            "HF secret",
            lambda: has_secret(api_client, namespace, hf_secret_name),
        )

    status = ClusterStatus(
        reachable=True,
        server_version=server_version,
        context=context,
        namespace=namespace,
        namespace_exists=namespace_exists,
        crd_installed=crd_installed,
        served_versions=served or [],
        api_version=choose_api_version(served or [], api_version_setting),
        operator_alive=operator_alive,
        gpus=gpus or [],
        gpus_known=gpus is not None,
        hf_secret_name=hf_secret_name,
        hf_secret_exists=secret_exists,
        problems=problems,
    )
    _explain_status(status)
    return status


def _read_server_version(api_client: ApiClient) -> str | None:
    try:
        info = kube.call_json(
            VersionApi(api_client).get_code, verb="get", resource="version"
        )
    except ClusterUnreachable:
        raise
    except ClusterError as exc:
        logger.debug("server version unknown: %s", exc)
        return None
    return str(info.get("gitVersion") or "") or None


def _check(problems: list[str], what: str, check: Callable[[], T]) -> T | None:
    """Run one check; any failure but "unreachable" becomes a problem, not an error."""
    try:
        return check()
    except ClusterUnreachable:
        raise
    except ClusterForbidden as exc:
        problems.append(
            f"Cannot check {what}: missing permission to {exc.verb} {exc.resource}. "
            f"Check with: {exc.can_i}"
        )
    except ClusterError as exc:
        problems.append(f"Cannot check {what}: {exc}")
    return None


def _namespace_exists(api_client: ApiClient, namespace: str) -> bool:
    try:
        kube.call_json(
            CoreV1Api(api_client).read_namespace,
            namespace,
            verb="get",
            resource="namespaces",
        )
    except ClusterNotFound:
        return False
    return True


def is_operator_alive(api_client: ApiClient) -> bool:
    """True when a dynamo-operator pod is Running and Ready in any namespace."""
    pods = kube.call_json(
        CoreV1Api(api_client).list_pod_for_all_namespaces,
        verb="list",
        resource="pods",
        label_selector=OPERATOR_SELECTOR,
    )
    return any(is_pod_ready(pod) for pod in pods.get("items") or [])


def is_pod_ready(pod: dict[str, Any]) -> bool:
    """True when a pod is Running and its Ready condition is True."""
    status = pod.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return status.get("phase") == "Running" and ready


def has_secret(api_client: ApiClient, namespace: str, name: str) -> bool:
    """True when the Secret exists; asks for metadata only and never reads its body."""
    return kube.call(
        kube.is_found,
        api_client,
        f"/api/v1/namespaces/{namespace}/secrets/{name}",
        verb="get",
        resource="secrets",
        namespace=namespace,
    )


def list_gpu_pools(
    api_client: ApiClient, problems: list[str] | None = None
) -> list[GpuPool]:
    """GPU capacity and free GPUs grouped by product and memory.

    Free GPUs are allocatable minus the GPU requests of pods not yet finished.
    When those pods cannot be listed, `free` is None and a problem is added.
    """
    core = CoreV1Api(api_client)
    nodes = kube.call_json(core.list_node, verb="list", resource="nodes")["items"]
    gpu_nodes = [node for node in nodes if _allocatable_gpus(node) > 0]
    used = _gpus_in_use(api_client, problems if problems is not None else [])
    pools: dict[tuple[str, float | None], list[dict[str, Any]]] = {}
    for node in gpu_nodes:
        pools.setdefault(_gpu_kind(node), []).append(node)
    return [
        _build_pool(kind, members, used)
        for kind, members in sorted(pools.items(), key=str)
    ]


def _build_pool(
    kind: tuple[str, float | None],
    nodes: list[dict[str, Any]],
    used: dict[str, int] | None,
) -> GpuPool:
    totals = {_node_name(node): _allocatable_gpus(node) for node in nodes}
    free_by_node = (
        None
        if used is None
        else {name: max(0, total - used.get(name, 0)) for name, total in totals.items()}
    )
    return GpuPool(
        product=kind[0],
        memory_gib=kind[1],
        total=sum(totals.values()),
        free=None if free_by_node is None else sum(free_by_node.values()),
        nodes=len(nodes),
        max_free_per_node=None if free_by_node is None else max(free_by_node.values()),
        free_by_node=free_by_node,
    )


def _node_name(node: dict[str, Any]) -> str:
    return str((node.get("metadata") or {}).get("name") or "")


def _allocatable_gpus(node: dict[str, Any]) -> int:
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    return _parse_count(allocatable.get(GPU_RESOURCE))


def _gpu_kind(node: dict[str, Any]) -> tuple[str, float | None]:
    labels = (node.get("metadata") or {}).get("labels") or {}
    product = labels.get(GPU_PRODUCT_LABEL) or "unknown GPU"
    memory_mib = _parse_count(labels.get(GPU_MEMORY_LABEL))
    return product, round(memory_mib / 1024, 1) if memory_mib else None


def _gpus_in_use(api_client: ApiClient, problems: list[str]) -> dict[str, int] | None:
    try:
        pods = kube.call_json(
            CoreV1Api(api_client).list_pod_for_all_namespaces,
            verb="list",
            resource="pods",
            field_selector="status.phase!=Succeeded,status.phase!=Failed",
        )["items"]
    except ClusterForbidden as exc:
        problems.append(
            "Cannot count free GPUs: missing permission to list pods in all "
            f"namespaces. Check with: {exc.can_i}"
        )
        return None
    used: dict[str, int] = {}
    for pod in pods:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name:
            used[node_name] = used.get(node_name, 0) + pod_gpu_request(pod)
    return used


def pod_gpu_request(pod: dict[str, Any]) -> int:
    """GPUs a pod holds, summed over containers (a GPU limit implies the request)."""
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        amounts = (resources.get("requests") or {}) | (resources.get("limits") or {})
        total += _parse_count(amounts.get(GPU_RESOURCE))
    return total


def _parse_count(value: object) -> int:
    try:
        return int(str(value)) if value is not None else 0
    except ValueError:
        return 0


def _explain_status(status: ClusterStatus) -> None:
    problems = status.problems
    if status.namespace_exists is False:
        problems.append(
            f"Namespace {status.namespace} does not exist: "
            f"kubectl create namespace {status.namespace}"
        )
    if status.operator_alive is False:
        problems.append(
            "No running Dynamo operator pod (label app.kubernetes.io/name="
            "dynamo-operator): install the Dynamo platform or check its pods."
        )
    if status.gpus_known and not status.gpus:
        problems.append(
            "No node offers nvidia.com/gpu: install the NVIDIA GPU operator or "
            "device plugin, or use a cluster with GPU nodes."
        )
    if status.hf_secret_exists is False:
        problems.append(
            f"Secret {status.hf_secret_name} is missing in {status.namespace}: "
            f"kubectl create secret generic {status.hf_secret_name} "
            f"--from-literal=HF_TOKEN=<your token> -n {status.namespace}"
        )


def list_graph_deployments(
    api_client: ApiClient, namespace: str, api_version: str
) -> list[dict[str, Any]]:
    """The DGDs of a namespace as dicts, sorted by name.

    Raises:
        ClusterError: the list failed; the subclass says why.
    """
    listing = kube.call_json(
        CustomObjectsApi(api_client).list_namespaced_custom_object,
        DYNAMO_GROUP,
        api_version,
        namespace,
        DGD_PLURAL,
        verb="list",
        resource=DGD_PLURAL,
        namespace=namespace,
    )
    items = listing.get("items") or []
    return sorted(items, key=object_name)


def object_name(obj: dict[str, Any]) -> str:
    """The `metadata.name` of a Kubernetes object dict, "" when it has none."""
    return str((obj.get("metadata") or {}).get("name") or "")
