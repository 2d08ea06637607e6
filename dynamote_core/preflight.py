"""Pre-flight: judge a deployment against the cluster before anything is written.

Each check returns a `PreflightCheck` (pass, warn or fail, what was found, what
to do). Read-only: it never writes to the cluster and never reads a Secret's
data (the HF secret is checked by name through `cluster.get_cluster_status()`).
It never builds a manifest.

Called by the app's deploy page through `deployments`, which re-exports
`run_preflight` and `PreflightCheck`.
"""

from __future__ import annotations

from typing import Literal

from kubernetes.client import ApiClient
from pydantic import BaseModel

from dynamote_core.catalog import Model
from dynamote_core.cluster import (
    ClusterStatus,
    GpuPool,
    get_cluster_status,
    list_graph_deployments,
    object_name,
)
from dynamote_core.config import DEFAULT_SECRET_NAME, FIELD_LABELS, DeploymentConfig
from dynamote_core.errors import ClusterError, ClusterUnreachable
from dynamote_core.memory import estimate_memory

__all__ = [
    "PreflightCheck",
    "Verdict",
    "check_crd",
    "check_gpus",
    "check_hf_secret",
    "check_name",
    "check_namespace",
    "check_operator",
    "count_workers",
    "estimate_gpu_need_gib",
    "place_workers",
    "run_preflight",
]

Verdict = Literal["pass", "warn", "fail"]


class PreflightCheck(BaseModel):
    """One check before a deploy: verdict, what was found, what to do."""

    name: str
    verdict: Verdict
    message: str
    fix: str = ""


def run_preflight(
    api_client: ApiClient, config: DeploymentConfig, model: Model, api_version: str
) -> list[PreflightCheck]:
    """Check a deployment against the cluster before any write.

    Covers the namespace, the Dynamo CRD and served API version, the operator,
    the name (taken, or a prefix of another graph's name), the HF secret and
    free GPUs. Read-only.

    Raises:
        ClusterUnreachable: the API server cannot be reached.
    """
    status = get_cluster_status(
        api_client, config.namespace, config.hf_secret_name, api_version
    )
    checks = [
        check_namespace(status),
        check_crd(status, api_version),
        check_operator(status),
    ]
    if status.namespace_exists and status.crd_installed and status.served_versions:
        names = _list_names_or_check(api_client, config, api_version, checks)
        if names is not None:
            checks += check_name(config, names)
    checks.append(check_hf_secret(status, config, model))
    checks.append(check_gpus(status, config, model))
    return checks


def _list_names_or_check(
    api_client: ApiClient,
    config: DeploymentConfig,
    api_version: str,
    checks: list[PreflightCheck],
) -> list[str] | None:
    try:
        dgds = list_graph_deployments(api_client, config.namespace, api_version)
    except ClusterUnreachable:
        raise
    except ClusterError as exc:
        checks.append(
            PreflightCheck(
                name="name",
                verdict="warn",
                message=f"Cannot list the deployments of {config.namespace}: {exc}",
                fix="Grant list on dynamographdeployments to check names.",
            )
        )
        return None
    return [object_name(dgd) for dgd in dgds]


def check_namespace(status: ClusterStatus) -> PreflightCheck:
    """The target namespace exists."""
    ns = status.namespace
    return _judge_presence(
        "namespace",
        status.namespace_exists,
        found=f"Namespace {ns} exists.",
        unknown=f"Cannot tell whether namespace {ns} exists.",
        how_to_check=f"kubectl get namespace {ns}",
        missing=f"Namespace {ns} does not exist.",
        fix=f"kubectl create namespace {ns}",
    )


def check_crd(status: ClusterStatus, api_version: str) -> PreflightCheck:
    """The DGD CRD is installed and serves the chosen API version."""
    if status.crd_installed is None:
        return PreflightCheck(
            name="crd",
            verdict="warn",
            message="Cannot tell whether the Dynamo CRDs are installed.",
        )
    if not status.crd_installed:
        return PreflightCheck(
            name="crd",
            verdict="fail",
            message="The DynamoGraphDeployment CRD is not installed.",
            fix="Install the Dynamo platform chart; its operator applies the CRDs.",
        )
    if api_version not in status.served_versions:
        served = ", ".join(status.served_versions)
        return PreflightCheck(
            name="crd",
            verdict="fail",
            message=f"The cluster does not serve nvidia.com/{api_version} "
            f"(it serves {served}).",
            fix=f"Choose API version {status.served_versions[0]} in the settings, "
            "or upgrade the Dynamo operator.",
        )
    return PreflightCheck(
        name="crd", verdict="pass", message=f"nvidia.com/{api_version} is served."
    )


def check_operator(status: ClusterStatus) -> PreflightCheck:
    """A dynamo-operator pod is Running."""
    return _judge_presence(
        "operator",
        status.operator_alive,
        found="The Dynamo operator is running.",
        unknown="Cannot tell whether the Dynamo operator is running.",
        how_to_check="kubectl get pods -A -l app.kubernetes.io/name=dynamo-operator",
        missing="No Dynamo operator pod is running; nothing would create the pods.",
        fix="Install the Dynamo platform, or check: kubectl get pods -A -l "
        "app.kubernetes.io/name=dynamo-operator",
    )


def _judge_presence(
    name: str,
    present: bool | None,
    *,
    found: str,
    unknown: str,
    how_to_check: str,
    missing: str,
    fix: str,
    missing_verdict: Verdict = "fail",
) -> PreflightCheck:
    """Pass when present, warn when the cluster cannot tell, else `missing_verdict`."""
    if present:
        return PreflightCheck(name=name, verdict="pass", message=found)
    if present is None:
        return PreflightCheck(
            name=name,
            verdict="warn",
            message=unknown,
            fix=f"Check with: {how_to_check}",
        )
    return PreflightCheck(name=name, verdict=missing_verdict, message=missing, fix=fix)


def check_name(config: DeploymentConfig, existing: list[str]) -> list[PreflightCheck]:
    """The name is free and neither a prefix of another graph's name nor the reverse.

    Dynamo frontends find workers by name prefix, so `foo` and `foo-bar` in
    one namespace would route requests to each other's workers.
    """
    name, ns = config.name, config.namespace
    if name in existing:
        taken = PreflightCheck(
            name="name",
            verdict="fail",
            message=f"A deployment named {name} already exists in {ns}.",
            fix="Choose another name, or delete the existing deployment first.",
        )
    else:
        taken = PreflightCheck(
            name="name", verdict="pass", message=f"The name {name} is free."
        )
    clashes = [
        o for o in existing if o != name and (o.startswith(name) or name.startswith(o))
    ]
    if not clashes:
        prefix = PreflightCheck(
            name="name_prefix",
            verdict="pass",
            message="No other deployment name overlaps.",
        )
    else:
        prefix = PreflightCheck(
            name="name_prefix",
            verdict="fail",
            message=f"{name} and {', '.join(clashes)} in {ns} are prefixes of one "
            "another; Dynamo frontends find workers by name prefix, so their "
            "requests would cross.",
            fix="Choose a name that neither starts another deployment's name nor "
            "starts with one.",
        )
    return [taken, prefix]


def check_hf_secret(
    status: ClusterStatus, config: DeploymentConfig, model: Model
) -> PreflightCheck:
    """The HF token secret exists; only gated models cannot do without it."""
    secret, ns = config.hf_secret_name, config.namespace
    create = (
        f"kubectl create secret generic {secret} "
        f"--from-literal=HF_TOKEN=<your token> -n {ns}"
    )
    if not secret:
        verdict: Verdict = "fail" if model.gated else "pass"
        return PreflightCheck(
            name="hf_secret",
            verdict=verdict,
            message=f"No HF token secret is set; {model.id} "
            f"{'is gated and needs one' if model.gated else 'is public'}.",
            fix=(
                f"Enter the secret's name in '{FIELD_LABELS['hf_secret_name']}' "
                "(and save it as the default in Settings); create the secret "
                f"first if it is missing: kubectl create secret generic "
                f"{DEFAULT_SECRET_NAME} --from-literal=HF_TOKEN=<your token> -n {ns}"
                if model.gated
                else ""
            ),
        )
    if model.gated:
        consequence = f"; {model.id} is gated and cannot be downloaded without it."
    else:
        consequence = (
            "; the public model downloads without it, but may be rate-limited."
        )
    return _judge_presence(
        "hf_secret",
        status.hf_secret_exists,
        found=f"Secret {secret} exists.",
        unknown=f"Cannot tell whether secret {secret} exists in {ns}.",
        how_to_check=f"kubectl auth can-i get secrets -n {ns}",
        missing=f"Secret {secret} does not exist in {ns}" + consequence,
        fix=create,
        missing_verdict="fail" if model.gated else "warn",
    )


def check_gpus(
    status: ClusterStatus, config: DeploymentConfig, model: Model
) -> PreflightCheck:
    """Enough free GPUs with enough memory, each worker's GPUs on one node."""
    workers = count_workers(config)
    per_worker = config.gpus_per_worker
    need_gib = estimate_gpu_need_gib(config, model)
    if not status.gpus_known:
        return PreflightCheck(
            name="gpus",
            verdict="warn",
            message="Cannot read the cluster's GPUs.",
            fix="Check with: kubectl auth can-i list nodes",
        )
    pools = [
        p for p in status.gpus if need_gib is None or (p.memory_gib or 0) >= need_gib
    ]
    if any(p.free_by_node is None for p in pools):
        return PreflightCheck(
            name="gpus",
            verdict="warn",
            message="Cannot count free GPUs (pods in all namespaces cannot be listed).",
            fix="Check with: kubectl auth can-i list pods -A",
        )
    placed = place_workers(
        [dict(p.free_by_node or {}) for p in pools], workers, per_worker
    )
    memory = f" with at least {need_gib:.0f} GiB each" if need_gib else ""
    wanted = f"{workers} worker(s) × {per_worker} GPU(s){memory}"
    if placed == workers:
        return PreflightCheck(
            name="gpus", verdict="pass", message=f"Free GPUs fit {wanted}."
        )
    return PreflightCheck(
        name="gpus",
        verdict="fail",
        message=f"Only {placed} of {wanted} fit on free GPUs "
        f"({_describe_pools(status.gpus)}).",
        fix="Lower replicas or GPUs per worker, pick a smaller model or context "
        "length, or free GPUs by deleting other deployments.",
    )


def count_workers(config: DeploymentConfig) -> int:
    """Worker pods the graph asks for (the frontend needs no GPU)."""
    if config.mode == "disaggregated":
        return config.prefill_replicas + config.decode_replicas
    return config.replicas


def estimate_gpu_need_gib(config: DeploymentConfig, model: Model) -> float:
    """GiB one worker needs on each of its GPUs."""
    estimate = estimate_memory(model, config.context_length, config.gpus_per_worker)
    return estimate.per_gpu_gib


def place_workers(
    nodes_free: list[dict[str, int]], workers: int, per_worker: int
) -> int:
    """How many workers fit, each needing `per_worker` GPUs on a single node."""
    free = sorted((n for pool in nodes_free for n in pool.values()), reverse=True)
    placed = 0
    for _ in range(workers):
        for i, available in enumerate(free):
            if available >= per_worker:
                free[i] -= per_worker
                placed += 1
                break
        else:
            break
    return placed


def _describe_pools(pools: list[GpuPool]) -> str:
    if not pools:
        return "the cluster has no GPUs"
    return "; ".join(
        f"{p.product} {p.memory_gib or '?'} GiB: {'?' if p.free is None else p.free}"
        f" of {p.total} free"
        for p in pools
    )
