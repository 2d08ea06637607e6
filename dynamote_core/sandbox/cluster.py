"""The sandbox cluster's shape: nodes with GPUs, namespaces, the HF token secret.

Builds the objects a fresh sandbox starts with, from a compact node spec such as
"2x8xA100-80,1x4xL4-24,1xcpu". Pure builders; `Sandbox` stores what they return.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

DEFAULT_NODES = "2x8xA100-80,1x4xL4-24,1xcpu"
NAMESPACES = ("default", "dynamo-system", "kube-system")
OPERATOR_NAMESPACE = "dynamo-system"
HF_SECRET = "hf-token-secret"  # noqa: S105 - a Secret name, not a password
KUBE_VERSION = {
    "major": "1",
    "minor": "33",
    "emulationMajor": "1",
    "emulationMinor": "33",
    "gitVersion": "v1.33.4-dynamote-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-10-01T00:00:00Z",
    "goVersion": "go1.24.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}

# Product label and memory (MiB) as GPU feature discovery reports them.
_KNOWN_GPUS = {
    "A100-80": ("NVIDIA-A100-SXM4-80GB", 81920),
    "A100-40": ("NVIDIA-A100-SXM4-40GB", 40960),
    "H100-80": ("NVIDIA-H100-80GB-HBM3", 81559),
    "H200-141": ("NVIDIA-H200", 143771),
    "L4-24": ("NVIDIA-L4", 23034),
    "L40S-48": ("NVIDIA-L40S", 46068),
}
_GROUP = re.compile(r"^(\d+)x(?:(\d+)x([A-Za-z0-9]+)-(\d+)|cpu)$")


@dataclass(frozen=True)
class NodeGroup:
    """`count` identical nodes with `gpus` GPUs each (0 for CPU-only)."""

    count: int
    gpus: int = 0
    model: str = ""
    memory_gb: int = 0

    @property
    def product(self) -> str:
        known = _KNOWN_GPUS.get(f"{self.model}-{self.memory_gb}")
        return known[0] if known else f"NVIDIA-{self.model}-{self.memory_gb}GB"

    @property
    def memory_mib(self) -> int:
        known = _KNOWN_GPUS.get(f"{self.model}-{self.memory_gb}")
        return known[1] if known else self.memory_gb * 1024


def parse_node_spec(spec: str) -> list[NodeGroup]:
    """Parse "2x8xA100-80,1x4xL4-24,1xcpu" into node groups.

    Raises:
        ValueError: a group does not read COUNTxGPUSxMODEL-GB or COUNTxcpu.
    """
    groups = []
    for raw in spec.split(","):
        match = _GROUP.match(raw.strip())
        if not match:
            raise ValueError(
                f"node group {raw.strip()!r} must look like 2x8xA100-80 or 1xcpu"
            )
        count, gpus, model, memory = match.groups()
        if gpus is None:
            groups.append(NodeGroup(int(count)))
        else:
            groups.append(NodeGroup(int(count), int(gpus), model, int(memory)))
    return groups


def build_nodes(groups: list[NodeGroup]) -> list[Obj]:
    """Node objects named gpu-<model>-<i> or cpu-<i>."""
    nodes: list[Obj] = []
    seen: dict[str, int] = {}
    for group in groups:
        prefix = f"gpu-{group.model.lower()}" if group.gpus else "cpu"
        for _ in range(group.count):
            index = seen.get(prefix, 0)
            seen[prefix] = index + 1
            nodes.append(_build_node(f"{prefix}-{index}", group))
    return nodes


def _build_node(name: str, group: NodeGroup) -> Obj:
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    resources = {
        "cpu": "64",
        "memory": "512Gi",
        "pods": "110",
        "ephemeral-storage": "1Ti",
    }
    if group.gpus:
        labels |= {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": group.product,
            "nvidia.com/gpu.memory": str(group.memory_mib),
            "nvidia.com/gpu.count": str(group.gpus),
        }
        resources["nvidia.com/gpu"] = str(group.gpus)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady"}
            ],
            "nodeInfo": _node_info(name),
        },
    }


def _node_info(name: str) -> Obj:
    return {
        "architecture": "amd64",
        "bootID": f"boot-{name}",
        "containerRuntimeVersion": "containerd://2.0.5",
        "kernelVersion": "6.8.0-sandbox",
        "kubeProxyVersion": KUBE_VERSION["gitVersion"],
        "kubeletVersion": KUBE_VERSION["gitVersion"],
        "machineID": f"machine-{name}",
        "operatingSystem": "linux",
        "osImage": "Ubuntu 24.04.2 LTS",
        "systemUUID": f"uuid-{name}",
    }


def build_namespace(name: str) -> Obj:
    """An Active namespace."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def build_token_secret(token: str, namespace: str = OPERATOR_NAMESPACE) -> Obj:
    """The Opaque secret `hf-token-secret` holding HF_TOKEN."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": HF_SECRET, "namespace": namespace},
        "data": {"HF_TOKEN": base64.b64encode(token.encode()).decode()},
    }
