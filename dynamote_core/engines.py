"""Per-engine launch details: images, working directories and worker flags.

Pure: turns a `DeploymentConfig` into argv lists; builds no manifest and does
no I/O. `manifest` is its caller. Flags follow the official Dynamo 1.6.1
examples and FACTS.md section 8; where they differ the 1.6.1 examples win
(vLLM prefill `kv_role` is `kv_producer`, TRT-LLM uses `--publish-kv-events`).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from dynamote_core.catalog import Engine, Model
from dynamote_core.config import DeploymentConfig, false_flag_error
from dynamote_core.errors import ManifestError

Role = Literal["worker", "prefill", "decode"]

IMAGE_REPOSITORY = "nvcr.io/nvidia/ai-dynamo"
RUNTIME_IMAGES: dict[Engine, str] = {
    "vllm": "vllm-runtime",
    "sglang": "sglang-runtime",
    "trtllm": "tensorrtllm-runtime",
}
WORKING_DIRS: dict[Engine, str] = {
    "vllm": "/workspace/examples/backends/vllm",
    "sglang": "/workspace/examples/backends/sglang",
    "trtllm": "/workspace/",
}
# TRT-LLM reads its engine settings from a YAML file; these ship in the runtime
# image and hold no model-specific values, so they serve any catalog model.
TRTLLM_ENGINE_CONFIGS: dict[Role, str] = {
    "worker": "./examples/backends/trtllm/engine_configs/qwen3/agg.yaml",
    "prefill": "./examples/backends/trtllm/engine_configs/qwen3/prefill.yaml",
    "decode": "./examples/backends/trtllm/engine_configs/qwen3/decode.yaml",
}

VLLM_KV_EVENTS = {
    "publisher": "zmq",
    "topic": "kv-events",
    "endpoint": "tcp://*:20080",
    "enable_kv_cache_events": True,
}
SGLANG_KV_EVENTS = {
    "publisher": "zmq",
    "topic": "kv-events",
    "endpoint": "tcp://*:5557",
}
VLLM_KV_TRANSFER = {"kv_connector": "NixlConnector", "kv_role": "kv_producer"}
SGLANG_BOOTSTRAP_PORT = "12345"


def runtime_image(engine: Engine, version: str) -> str:
    """The official runtime image of `engine` at Dynamo `version`."""
    return f"{IMAGE_REPOSITORY}/{RUNTIME_IMAGES[engine]}:{version}"


def worker_command(engine: Engine) -> list[str]:
    """The worker's command: the engine's Dynamo module, run by python3."""
    return ["python3", "-m", f"dynamo.{engine}"]


def worker_args(config: DeploymentConfig, model: Model, role: Role) -> list[str]:
    """The worker's argv after the command, for `role` (worker, prefill, decode).

    Options Dynamote manages come first, then the user's custom arguments.
    """
    builders = {"vllm": _vllm_args, "sglang": _sglang_args, "trtllm": _trtllm_args}
    args = builders[config.engine](config, model, role)
    return args + custom_args(config.parsed_engine_args, config.engine)


def custom_args(parsed: dict[str, Any], engine: str = "") -> list[str]:
    """Custom engine arguments as separate argv items (never a shell string).

    `true` becomes a bare flag, mappings and lists become compact JSON,
    anything else its text. `engine` names the engine for the error below.

    Raises:
        ManifestError: a flag is `false`; `validate_config` refuses that
            first, so this only guards configs built around it (a dropped
            flag would silently keep the option on).
    """
    args: list[str] = []
    for flag, value in parsed.items():
        if value is False:
            raise ManifestError([false_flag_error(engine, flag)])
        args.append(f"--{flag}")
        if value is True:
            continue
        args.append(_render_value(value))
    return args


def publishes_kv_events(config: DeploymentConfig, role: Role) -> bool:
    """Whether this worker publishes KV events for the KV router.

    In disaggregated graphs the router places requests on prefill workers, so
    only they publish (as the official router examples do).
    """
    return config.router_mode == "kv" and role in ("worker", "prefill")


def _vllm_args(config: DeploymentConfig, model: Model, role: Role) -> list[str]:
    args = ["--model", model.id]
    if config.served_model_name and config.served_model_name != model.id:
        args += ["--served-model-name", config.served_model_name]
    if role != "worker":
        args += ["--disaggregation-mode", role]
    if role == "prefill":
        args += ["--kv-transfer-config", _compact_json(VLLM_KV_TRANSFER)]
    if publishes_kv_events(config, role):
        args += ["--kv-events-config", _compact_json(VLLM_KV_EVENTS)]
    if config.context_length is not None:
        args += ["--max-model-len", str(config.context_length)]
    if config.gpus_per_worker > 1:
        args += ["--tensor-parallel-size", str(config.gpus_per_worker)]
    if config.enforce_eager:
        args.append("--enforce-eager")
    if not config.prefix_caching:
        args.append("--no-enable-prefix-caching")
    if config.trust_remote_code:
        args.append("--trust-remote-code")
    return args


def _sglang_args(config: DeploymentConfig, model: Model, role: Role) -> list[str]:
    args = ["--model-path", model.id]
    args += ["--served-model-name", config.effective_served_model_name]
    args += ["--page-size", "16", "--tp", str(config.gpus_per_worker)]
    if config.trust_remote_code:
        args.append("--trust-remote-code")
    if role != "worker":
        args += [
            "--disaggregation-mode",
            role,
            "--disaggregation-transfer-backend",
            "nixl",
        ]
        args += ["--disaggregation-bootstrap-port", SGLANG_BOOTSTRAP_PORT]
        args += ["--host", "0.0.0.0"]  # noqa: S104 - the pod must accept its peer's transfer
    if publishes_kv_events(config, role):
        args += ["--kv-events-config", _compact_json(SGLANG_KV_EVENTS)]
    if config.context_length is not None:
        args += ["--context-length", str(config.context_length)]
    if config.enforce_eager:
        args.append("--disable-cuda-graph")
    if not config.prefix_caching:
        args.append("--disable-radix-cache")
    return args


def _trtllm_args(config: DeploymentConfig, model: Model, role: Role) -> list[str]:
    args = ["--model-path", model.id]
    args += ["--served-model-name", config.effective_served_model_name]
    args += ["--extra-engine-args", TRTLLM_ENGINE_CONFIGS[role]]
    if role != "worker":
        args += ["--disaggregation-mode", role]
    if publishes_kv_events(config, role):
        args.append("--publish-kv-events")
    overrides = trtllm_overrides(config)
    if overrides:
        args += ["--override-engine-args", _compact_json(overrides)]
    return args


def trtllm_overrides(config: DeploymentConfig) -> dict[str, Any]:
    """TRT-LLM options Dynamote sets, as one `--override-engine-args` object.

    TRT-LLM has no CLI flag for several of them; the override is applied after
    the engine YAML, so it wins over the image's defaults.
    """
    overrides: dict[str, Any] = {}
    if config.context_length is not None:
        overrides["max_seq_len"] = config.context_length
    if config.gpus_per_worker > 1:
        overrides["tensor_parallel_size"] = config.gpus_per_worker
    if config.enforce_eager:
        # No eager flag exists; dropping the CUDA graph settings is the closest.
        overrides["cuda_graph_config"] = None
    if not config.prefix_caching:
        overrides["kv_cache_config"] = {"enable_block_reuse": False}
    if config.trust_remote_code:
        overrides["trust_remote_code"] = True
    return overrides


def _render_value(value: Any) -> str:
    if isinstance(value, dict | list):
        return _compact_json(value)
    return str(value)


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
