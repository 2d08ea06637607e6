"""Every DGD Dynamote generates (engine x mode x version) runs in the sandbox."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from kubernetes.client import CoreV1Api, CustomObjectsApi

from dynamote_core.catalog import load_catalog
from dynamote_core.config import validate_config
from dynamote_core.manifest import build_graph_deployment
from tests.fixtures_sandbox import wait_until
from tests.sandbox.conftest import GROUP, NAMESPACE, PLURAL

GRID = list(
    itertools.product(
        ("vllm", "sglang", "trtllm"),
        ("aggregated", "disaggregated"),
        ("v1beta1", "v1alpha1"),
    )
)


def build(engine: str, mode: str, version: str, **changes: Any) -> dict[str, Any]:
    catalog = load_catalog()
    settings = {
        "name": f"q-{engine}-{mode[:3]}",
        "namespace": NAMESPACE,
        "model_id": "Qwen/Qwen3-0.6B",
        "engine": engine,
        "mode": mode,
        **changes,
    }
    config = validate_config(settings, catalog)
    return build_graph_deployment(config, catalog.get(config.model_id), version)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("engine", "mode", "version"), GRID, ids=["-".join(c) for c in GRID]
)
def test_generated_dgd_reaches_running(
    custom: CustomObjectsApi, core: CoreV1Api, engine: str, mode: str, version: str
) -> None:
    manifest = build(engine, mode, version)
    name = manifest["metadata"]["name"]

    custom.create_namespaced_custom_object(GROUP, version, NAMESPACE, PLURAL, manifest)

    final = wait_until(
        lambda: (
            custom.get_namespaced_custom_object(
                GROUP, "v1beta1", NAMESPACE, PLURAL, name
            )
            .get("status", {})
            .get("state")
            == "successful"
        )
    )
    pods = core.list_namespaced_pod(
        NAMESPACE, label_selector=f"nvidia.com/dynamo-graph-deployment-name={name}"
    ).items
    assert final
    assert pods
    assert all(p.status.phase == "Running" for p in pods)
    assert (
        core.read_namespaced_service(f"{name}-frontend", NAMESPACE).spec.ports[0].port
        == 8000
    )


def test_generated_dgd_with_too_many_gpus_stays_pending(
    custom: CustomObjectsApi, core: CoreV1Api
) -> None:
    manifest = build("vllm", "aggregated", "v1beta1", gpus_per_worker=8, replicas=3)
    name = manifest["metadata"]["name"]

    custom.create_namespaced_custom_object(
        GROUP, "v1beta1", NAMESPACE, PLURAL, manifest
    )

    selector = (
        f"nvidia.com/dynamo-graph-deployment-name={name},"
        "nvidia.com/dynamo-component-type=worker"
    )
    wait_until(
        lambda: [
            p
            for p in core.list_namespaced_pod(NAMESPACE, label_selector=selector).items
            if p.status.conditions and p.status.conditions[0].reason == "Unschedulable"
        ]
    )
    events = core.list_namespaced_event(
        NAMESPACE, field_selector="reason=FailedScheduling"
    ).items
    assert events[0].message.startswith(
        "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
    )
