"""Build a DynamoGraphDeployment from a `DeploymentConfig`, and render it.

Pure: returns dicts and text, talks to no cluster. The graph follows the
official Dynamo 1.6.1 examples: one component `Frontend` (so its Service is
`<name>-frontend` on port 8000) and the workers in one DGD. Every manifest is
checked by `schema.validate_graph_deployment` before it is returned.

Callers: the app's deploy page (preview and deploy), `deployments`, the CLI.
The HF token never appears here: only the Secret's name is referenced.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from dynamote_core.catalog import Model
from dynamote_core.config import ApiVersion, DeploymentConfig
from dynamote_core.engines import (
    WORKING_DIRS,
    Role,
    runtime_image,
    worker_args,
    worker_command,
)
from dynamote_core.errors import ManifestError
from dynamote_core.schema import is_image_version_tag, validate_graph_deployment

FRONTEND_NAME = "Frontend"
FRONTEND_PORT = 8000
EPHEMERAL_STORAGE = "2Gi"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "dynamote"
ANNOTATION_PREFIX = "dynamote.io/"
CONFIG_ANNOTATION = "dynamote.io/config"
GRAPH_NAME_LABEL = "nvidia.com/dynamo-graph-deployment-name"
TOP_LEVEL_ORDER = ("apiVersion", "kind", "metadata", "spec")


@dataclass(frozen=True)
class KubectlCommands:
    """Copy-paste commands for one deployment (token shown as a placeholder)."""

    apply: str
    port_forward: str
    create_secret: str | None
    get_pods: str
    curl: str
    delete: str

    def as_list(self) -> list[str]:
        """The commands in the order a user runs them, secret first when needed."""
        steps = [
            self.create_secret,
            self.apply,
            self.get_pods,
            self.port_forward,
            self.curl,
        ]
        return [step for step in steps if step]


@dataclass(frozen=True)
class _Worker:
    name: str
    role: Role
    component_type: str
    replicas: int


def build_graph_deployment(
    config: DeploymentConfig, model: Model, api_version: ApiVersion = "v1beta1"
) -> dict[str, Any]:
    """The DynamoGraphDeployment for `config`, in `api_version`'s shape.

    Raises:
        ManifestError: the result fails the CRD schema or admission rules (a
            bug, or a custom image/setting the operator would refuse).
    """
    spec: dict[str, Any]
    if api_version == "v1beta1":
        spec = {"components": _beta_components(config, model)}
    else:
        spec = {"services": _alpha_services(config, model)}
    manifest = {
        "apiVersion": f"nvidia.com/{api_version}",
        "kind": "DynamoGraphDeployment",
        "metadata": _metadata(config),
        "spec": spec,
    }
    errors = validate_graph_deployment(manifest)
    if errors:
        raise ManifestError(errors)
    return manifest


def render_manifest_yaml(manifest: Mapping[str, Any]) -> str:
    """YAML with apiVersion, kind, metadata, spec first and no null values."""
    return yaml.safe_dump(
        _ordered(_drop_nulls(manifest)),
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,
    )


def render_manifest_json(manifest: Mapping[str, Any]) -> str:
    """Indented JSON in the same key order as the YAML, no null values."""
    return json.dumps(_ordered(_drop_nulls(manifest)), indent=2) + "\n"


def kubectl_commands(config: DeploymentConfig, file_name: str = "") -> KubectlCommands:
    """The kubectl lines (and a test request) for deploying `config` by hand."""
    namespace = shlex.quote(config.namespace)
    file_name = file_name or f"{config.name}.yaml"
    request = json.dumps(
        {
            "model": config.effective_served_model_name,
            "messages": [{"role": "user", "content": "Hello!"}],
            "max_tokens": 64,
        }
    )
    secret = config.hf_secret_name
    return KubectlCommands(
        apply=f"kubectl apply -f {shlex.quote(file_name)} -n {namespace}",
        port_forward=(
            f"kubectl port-forward svc/{config.name}-frontend "
            f"{FRONTEND_PORT}:{FRONTEND_PORT} -n {namespace}"
        ),
        create_secret=create_secret_command(secret, namespace) if secret else None,
        get_pods=f"kubectl get pods -n {namespace} -l {GRAPH_NAME_LABEL}={config.name}",
        curl=(
            f"curl localhost:{FRONTEND_PORT}/v1/chat/completions "
            f"-H 'Content-Type: application/json' -d {shlex.quote(request)}"
        ),
        delete=f"kubectl delete dynamographdeployment {config.name} -n {namespace}",
    )


def _metadata(config: DeploymentConfig) -> dict[str, Any]:
    return {
        "name": config.name,
        "namespace": config.namespace,
        "labels": {MANAGED_BY_LABEL: MANAGED_BY},
        "annotations": {
            f"{ANNOTATION_PREFIX}model": config.model_id,
            f"{ANNOTATION_PREFIX}engine": config.engine,
            f"{ANNOTATION_PREFIX}mode": config.mode,
            f"{ANNOTATION_PREFIX}router-mode": config.router_mode,
            CONFIG_ANNOTATION: config.to_json(),
        },
    }


def _workers(config: DeploymentConfig) -> list[_Worker]:
    if config.mode == "aggregated":
        return [_Worker("worker", "worker", "worker", config.replicas)]
    return [
        _Worker("prefill", "prefill", "prefill", config.prefill_replicas),
        _Worker("decode", "decode", "decode", config.decode_replicas),
    ]


def _image(config: DeploymentConfig) -> str:
    return config.image or runtime_image(config.engine, config.dynamo_version)


def _runtime_version_override(config: DeploymentConfig) -> dict[str, str]:
    # The operator (1.4+) reads the runtime version from the image tag and
    # refuses tags it cannot parse unless told the version explicitly.
    if is_image_version_tag(_image(config)):
        return {}
    return {"runtimeVersionOverride": config.dynamo_version}


def _frontend_env(config: DeploymentConfig) -> list[dict[str, str]]:
    if config.router_mode == "none":
        return []
    return [{"name": "DYN_ROUTER_MODE", "value": config.router_mode}]


def create_secret_command(secret: str, namespace: str) -> str:
    """The kubectl line that creates the HF token secret; the token is a placeholder."""
    return (
        f"kubectl create secret generic {secret} "
        f"--from-literal=HF_TOKEN=<your token> -n {namespace}"
    )


def _secret_ref(config: DeploymentConfig, model: Model) -> list[dict[str, Any]]:
    if not config.hf_secret_name:
        return []
    ref: dict[str, Any] = {"name": config.hf_secret_name}
    if not model.gated:
        # public models start without the Secret; with it they avoid rate limits
        ref["optional"] = True
    return [{"secretRef": ref}]


def _worker_resources(config: DeploymentConfig, alpha: bool) -> dict[str, Any]:
    gpus = str(config.gpus_per_worker)
    limits: dict[str, str] = {"gpu": gpus} if alpha else {"nvidia.com/gpu": gpus}
    requests: dict[str, Any] = (
        {"custom": {"ephemeral-storage": EPHEMERAL_STORAGE}}
        if alpha
        else {"ephemeral-storage": EPHEMERAL_STORAGE}
    )
    if config.memory:
        limits["memory"] = config.memory
        requests["memory"] = config.memory
    return {"limits": limits, "requests": requests}


def _beta_components(config: DeploymentConfig, model: Model) -> list[dict[str, Any]]:
    image = _image(config)
    secret = _secret_ref(config, model)
    frontend_container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "command": ["python3"],
        "args": ["-m", "dynamo.frontend"],
    }
    if _frontend_env(config):
        frontend_container["env"] = _frontend_env(config)
    if secret:
        frontend_container["envFrom"] = secret
    components = [
        {
            "name": FRONTEND_NAME,
            "type": "frontend",
            "replicas": 1,
            **_runtime_version_override(config),
            "podTemplate": {"spec": {"containers": [frontend_container]}},
        }
    ]
    for worker in _workers(config):
        container: dict[str, Any] = {
            "name": "main",
            "image": image,
            "workingDir": WORKING_DIRS[config.engine],
            "command": worker_command(config.engine),
            "args": worker_args(config, model, worker.role),
        }
        if secret:
            container["envFrom"] = secret
        container["resources"] = _worker_resources(config, alpha=False)
        components.append(
            {
                "name": worker.name,
                "type": worker.component_type,
                "replicas": worker.replicas,
                **_runtime_version_override(config),
                "podTemplate": {"spec": {"containers": [container]}},
            }
        )
    return components


def _alpha_services(config: DeploymentConfig, model: Model) -> dict[str, Any]:
    image = _image(config)
    frontend: dict[str, Any] = {"componentType": "frontend", "replicas": 1}
    frontend.update(_runtime_version_override(config))
    frontend.update(_alpha_secret(config, model))
    if _frontend_env(config):
        frontend["envs"] = _frontend_env(config)
    frontend["extraPodSpec"] = {
        "mainContainer": {
            "image": image,
            "command": ["python3"],
            "args": ["-m", "dynamo.frontend"],
            **_alpha_optional_secret(config, model),
        }
    }
    services: dict[str, Any] = {FRONTEND_NAME: frontend}
    for worker in _workers(config):
        service: dict[str, Any] = {"componentType": "worker"}
        if worker.role != "worker":
            service["subComponentType"] = worker.role
        service["replicas"] = worker.replicas
        service.update(_runtime_version_override(config))
        service.update(_alpha_secret(config, model))
        service["resources"] = _worker_resources(config, alpha=True)
        service["extraPodSpec"] = {
            "mainContainer": {
                "image": image,
                "workingDir": WORKING_DIRS[config.engine],
                "command": worker_command(config.engine),
                "args": worker_args(config, model, worker.role),
                **_alpha_optional_secret(config, model),
            }
        }
        services[worker.name] = service
    return services


def _alpha_secret(config: DeploymentConfig, model: Model) -> dict[str, str]:
    # v1alpha1's envFromSecret cannot be optional, so it is used for gated
    # models only (they cannot start without the token anyway).
    if config.hf_secret_name and model.gated:
        return {"envFromSecret": config.hf_secret_name}
    return {}


def _alpha_optional_secret(config: DeploymentConfig, model: Model) -> dict[str, Any]:
    # Public models reference the Secret on the main container instead, where
    # a Kubernetes envFrom may be optional; conversion keeps it on `main`.
    if config.hf_secret_name and not model.gated:
        return {"envFrom": _secret_ref(config, model)}
    return {}


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key: _drop_nulls(item) for key, item in value.items() if item is not None
        }
    if isinstance(value, list):
        return [_drop_nulls(item) for item in value]
    return value


def _ordered(manifest: Mapping[str, Any]) -> dict[str, Any]:
    first = {key: manifest[key] for key in TOP_LEVEL_ORDER if key in manifest}
    rest = {key: value for key, value in manifest.items() if key not in first}
    return {**first, **rest}
