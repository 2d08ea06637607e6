"""Helpers for the sandbox contract tests: API objects and a small DGD factory."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi

GROUP, PLURAL = "nvidia.com", "dynamographdeployments"
NAMESPACE = "dynamo-system"
IMAGE = "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1"


def make_dgd(
    name: str = "demo",
    *,
    worker_gpus: int = 1,
    replicas: int = 1,
    secret: str | None = "hf-token-secret",  # noqa: S107 - a Secret name
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A small aggregated v1beta1 DGD: a Frontend and one GPU worker."""
    env_from = [{"secretRef": {"name": secret}}] if secret else []
    worker = {
        "name": "main",
        "image": IMAGE,
        "command": ["python3", "-m", "dynamo.vllm"],
        "args": ["--model", "Qwen/Qwen3-0.6B"],
        "envFrom": copy.deepcopy(env_from),
        "resources": {"limits": {"nvidia.com/gpu": str(worker_gpus)}},
    }
    return {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": "DynamoGraphDeployment",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "components": [
                {
                    "name": "Frontend",
                    "type": "frontend",
                    "replicas": 1,
                    "podTemplate": {
                        "spec": {
                            "containers": [
                                {"name": "main", "image": IMAGE, "envFrom": env_from}
                            ]
                        }
                    },
                },
                {
                    "name": "worker",
                    "type": "worker",
                    "replicas": replicas,
                    "podTemplate": {"spec": {"containers": [worker]}},
                },
            ]
        },
    }


@pytest.fixture
def core(kube_api_client: ApiClient) -> CoreV1Api:
    return CoreV1Api(kube_api_client)


@pytest.fixture
def custom(kube_api_client: ApiClient) -> CustomObjectsApi:
    return CustomObjectsApi(kube_api_client)
