"""DynamoGraphDeployment conversion between v1beta1 (stored) and v1alpha1 (served).

Plays the operator's conversion webhook for the sandbox: objects are stored as v1beta1
and converted when a client reads or writes v1alpha1. Pure functions; fields without
a mapping pass through unchanged. Called by the sandbox server only.
"""

from __future__ import annotations

import copy
from typing import Any

Obj = dict[str, Any]

GROUP = "nvidia.com"
GPU = "nvidia.com/gpu"
_SPLIT_TYPES = ("prefill", "decode")
_NAMED_QUANTITIES = ("cpu", "memory")


def to_alpha(obj: Obj) -> Obj:
    """A v1beta1 DGD as v1alpha1."""
    alpha = copy.deepcopy(obj)
    alpha["apiVersion"] = f"{GROUP}/v1alpha1"
    spec = alpha.get("spec") or {}
    if "components" in spec:
        spec["services"] = {
            component.get("name", ""): _component_to_alpha(component)
            for component in spec.pop("components") or []
        }
    _rename_key(spec, "env", "envs")
    _rename_key(alpha.get("status") or {}, "components", "services")
    return alpha


def to_beta(obj: Obj) -> Obj:
    """A v1alpha1 DGD as v1beta1."""
    beta = copy.deepcopy(obj)
    beta["apiVersion"] = f"{GROUP}/v1beta1"
    spec = beta.get("spec") or {}
    if "services" in spec:
        services = spec.pop("services") or {}
        spec["components"] = [
            _component_to_beta(name, service) for name, service in services.items()
        ]
    _rename_key(spec, "envs", "env")
    _rename_key(beta.get("status") or {}, "services", "components")
    return beta


def _rename_key(mapping: Obj, old: str, new: str) -> None:
    if old in mapping:
        mapping[new] = mapping.pop(old)


def _component_to_alpha(component: Obj) -> Obj:
    service = {
        k: v for k, v in component.items() if k not in ("name", "type", "podTemplate")
    }
    kind = component.get("type")
    if kind in _SPLIT_TYPES:
        service["componentType"] = "worker"
        service["subComponentType"] = kind
    elif kind:
        service["componentType"] = kind
    if "sharedMemorySize" in service:
        service["sharedMemory"] = {"size": service.pop("sharedMemorySize")}

    template = copy.deepcopy(component.get("podTemplate") or {})
    pod_spec = template.get("spec") or {}
    containers = pod_spec.pop("containers", []) or []
    main = next((c for c in containers if c.get("name") == "main"), None)
    others = [c for c in containers if c is not main]
    if others:
        pod_spec["containers"] = others
    if main is not None:
        _main_to_alpha(main, service)
        pod_spec["mainContainer"] = main
    if pod_spec:
        service["extraPodSpec"] = pod_spec
    if template.get("metadata"):
        service["extraPodMetadata"] = template["metadata"]
    return service


def _main_to_alpha(main: Obj, service: Obj) -> None:
    env_from = main.pop("envFrom", None) or []
    secrets = [e["secretRef"]["name"] for e in env_from if "secretRef" in e]
    if secrets:
        service["envFromSecret"] = secrets[0]
    rest = [e for e in env_from if "secretRef" not in e] + [
        {"secretRef": {"name": name}} for name in secrets[1:]
    ]
    if rest:
        main["envFrom"] = rest
    if "env" in main:
        service["envs"] = main.pop("env")
    if "resources" in main:
        service["resources"] = _resources_to_alpha(main.pop("resources") or {})


def _resources_to_alpha(resources: Obj) -> Obj:
    alpha: Obj = {}
    for section in ("requests", "limits"):
        quantities = dict(resources.get(section) or {})
        if not quantities:
            continue
        target: Obj = {}
        if GPU in quantities:
            target["gpu"] = quantities.pop(GPU)
        for name in _NAMED_QUANTITIES:
            if name in quantities:
                target[name] = quantities.pop(name)
        if quantities:
            target["custom"] = quantities
        alpha[section] = target
    return alpha


def _component_to_beta(name: str, service: Obj) -> Obj:
    service = copy.deepcopy(service)
    component: Obj = {"name": name}
    kind = service.pop("componentType", None)
    sub_kind = service.pop("subComponentType", None)
    if kind == "worker" and sub_kind in _SPLIT_TYPES:
        kind = sub_kind
    if kind:
        component["type"] = kind
    shared_memory = service.pop("sharedMemory", None)
    if isinstance(shared_memory, dict) and "size" in shared_memory:
        component["sharedMemorySize"] = shared_memory["size"]

    pod_spec = service.pop("extraPodSpec", None) or {}
    main = pod_spec.pop("mainContainer", None) or {}
    main.setdefault("name", "main")
    secret = service.pop("envFromSecret", None)
    if secret:
        main["envFrom"] = [
            {"secretRef": {"name": secret}},
            *(main.get("envFrom") or []),
        ]
    if "envs" in service:
        main["env"] = service.pop("envs")
    if "resources" in service:
        main["resources"] = _resources_to_beta(service.pop("resources") or {})
    pod_spec["containers"] = [main, *(pod_spec.get("containers") or [])]
    template: Obj = {"spec": pod_spec}
    if "extraPodMetadata" in service:
        template["metadata"] = service.pop("extraPodMetadata")
    component["podTemplate"] = template
    component.update(service)
    return component


def _resources_to_beta(resources: Obj) -> Obj:
    beta: Obj = {}
    for section in ("requests", "limits"):
        quantities = dict(resources.get(section) or {})
        if not quantities:
            continue
        target: Obj = dict(quantities.pop("custom", None) or {})
        if "gpu" in quantities:
            target[str(quantities.pop("gpuType", None) or GPU)] = quantities.pop("gpu")
        quantities.pop("gpuType", None)
        target.update(quantities)
        beta[section] = target
    return beta
