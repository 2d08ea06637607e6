"""Tests for dynamote_core.engines: each option becomes the flag its engine expects."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dynamote_core.catalog import Catalog, load_catalog
from dynamote_core.config import DeploymentConfig, validate_config
from dynamote_core.engines import Role, custom_args, runtime_image, worker_args
from dynamote_core.errors import ManifestError

ENGINES = ("vllm", "sglang", "trtllm")


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _config(catalog: Catalog, engine: str, **changes: Any) -> DeploymentConfig:
    settings = {
        "name": "qwen3",
        "namespace": "default",
        "model_id": "Qwen/Qwen3-0.6B",
        "engine": engine,
        **changes,
    }
    return validate_config(settings, catalog)


def _args(
    catalog: Catalog, engine: str, role: Role = "worker", **changes: Any
) -> list[str]:
    config = _config(catalog, engine, **changes)
    return worker_args(config, catalog.get(config.model_id), role)


def _value_after(args: list[str], flag: str) -> str | None:
    return args[args.index(flag) + 1] if flag in args else None


def _overrides(args: list[str]) -> dict[str, Any]:
    text = _value_after(args, "--override-engine-args")
    return json.loads(text) if text else {}


# (option, engine) -> (settings, what the worker's argv must then show):
# ("flag", name, value) means `name` followed by `value` (None: a bare flag);
# ("override", key, value) means TRT-LLM's --override-engine-args holds key=value.
OPTION_EXPECTATIONS: dict[tuple[str, str], tuple[dict[str, Any], tuple[Any, ...]]] = {
    ("served-name", "vllm"): (
        {"served_model_name": "chat"},
        ("flag", "--served-model-name", "chat"),
    ),
    ("served-name", "sglang"): (
        {"served_model_name": "chat"},
        ("flag", "--served-model-name", "chat"),
    ),
    ("served-name", "trtllm"): (
        {"served_model_name": "chat"},
        ("flag", "--served-model-name", "chat"),
    ),
    ("context", "vllm"): (
        {"context_length": 4096},
        ("flag", "--max-model-len", "4096"),
    ),
    ("context", "sglang"): (
        {"context_length": 4096},
        ("flag", "--context-length", "4096"),
    ),
    ("context", "trtllm"): (
        {"context_length": 4096},
        ("override", "max_seq_len", 4096),
    ),
    ("eager", "vllm"): ({"enforce_eager": True}, ("flag", "--enforce-eager", None)),
    ("eager", "sglang"): (
        {"enforce_eager": True},
        ("flag", "--disable-cuda-graph", None),
    ),
    ("eager", "trtllm"): (
        {"enforce_eager": True},
        ("override", "cuda_graph_config", None),
    ),
    ("no-prefix-cache", "vllm"): (
        {"prefix_caching": False},
        ("flag", "--no-enable-prefix-caching", None),
    ),
    ("no-prefix-cache", "sglang"): (
        {"prefix_caching": False},
        ("flag", "--disable-radix-cache", None),
    ),
    ("no-prefix-cache", "trtllm"): (
        {"prefix_caching": False},
        ("override", "kv_cache_config", {"enable_block_reuse": False}),
    ),
    ("trust-remote-code", "vllm"): (
        {"trust_remote_code": True},
        ("flag", "--trust-remote-code", None),
    ),
    ("trust-remote-code", "sglang"): (
        {"trust_remote_code": True},
        ("flag", "--trust-remote-code", None),
    ),
    ("trust-remote-code", "trtllm"): (
        {"trust_remote_code": True},
        ("override", "trust_remote_code", True),
    ),
    ("tensor-parallel", "vllm"): (
        {"gpus_per_worker": 2},
        ("flag", "--tensor-parallel-size", "2"),
    ),
    ("tensor-parallel", "sglang"): ({"gpus_per_worker": 2}, ("flag", "--tp", "2")),
    ("tensor-parallel", "trtllm"): (
        {"gpus_per_worker": 2},
        ("override", "tensor_parallel_size", 2),
    ),
    ("kv-router", "vllm"): (
        {"router_mode": "kv"},
        (
            "flag",
            "--kv-events-config",
            (
                '{"publisher":"zmq","topic":"kv-events","endpoint":"tcp://*:20080",'
                '"enable_kv_cache_events":true}'
            ),
        ),
    ),
    ("kv-router", "sglang"): (
        {"router_mode": "kv"},
        (
            "flag",
            "--kv-events-config",
            ('{"publisher":"zmq","topic":"kv-events","endpoint":"tcp://*:5557"}'),
        ),
    ),
    ("kv-router", "trtllm"): (
        {"router_mode": "kv"},
        ("flag", "--publish-kv-events", None),
    ),
}


def _shows(args: list[str], expectation: tuple[Any, ...]) -> bool:
    kind, key, value = expectation
    if kind == "override":
        overrides = _overrides(args)
        return key in overrides and overrides[key] == value
    if value is None:
        return key in args
    return _value_after(args, key) == value


@pytest.mark.parametrize(
    ("option", "engine"), list(OPTION_EXPECTATIONS), ids=lambda value: str(value)
)
def test_each_option_becomes_the_engines_flag(
    catalog: Catalog, option: str, engine: str
) -> None:
    settings, expectation = OPTION_EXPECTATIONS[(option, engine)]

    default_args = _args(catalog, engine)
    changed_args = _args(catalog, engine, **settings)

    assert not _shows(default_args, expectation)
    assert _shows(changed_args, expectation), changed_args


@pytest.mark.parametrize("engine", ENGINES)
def test_defaults_add_no_optional_flags(catalog: Catalog, engine: str) -> None:
    args = _args(catalog, engine)

    assert "--override-engine-args" not in args
    assert not {"--enforce-eager", "--trust-remote-code", "--max-model-len"} & set(args)


@pytest.mark.parametrize(
    ("engine", "role", "expected"),
    [
        (
            "vllm",
            "prefill",
            [
                "--disaggregation-mode",
                "prefill",
                "--kv-transfer-config",
                '{"kv_connector":"NixlConnector","kv_role":"kv_producer"}',
            ],
        ),
        ("vllm", "decode", ["--disaggregation-mode", "decode"]),
        (
            "sglang",
            "prefill",
            [
                "--disaggregation-mode",
                "prefill",
                "--disaggregation-transfer-backend",
                "nixl",
                "--disaggregation-bootstrap-port",
                "12345",
                "--host",
                "0.0.0.0",  # noqa: S104
            ],
        ),
        (
            "sglang",
            "decode",
            [
                "--disaggregation-mode",
                "decode",
                "--disaggregation-transfer-backend",
                "nixl",
                "--disaggregation-bootstrap-port",
                "12345",
                "--host",
                "0.0.0.0",  # noqa: S104
            ],
        ),
        (
            "trtllm",
            "prefill",
            [
                "--extra-engine-args",
                "./examples/backends/trtllm/engine_configs/qwen3/prefill.yaml",
                "--disaggregation-mode",
                "prefill",
            ],
        ),
        (
            "trtllm",
            "decode",
            [
                "--extra-engine-args",
                "./examples/backends/trtllm/engine_configs/qwen3/decode.yaml",
                "--disaggregation-mode",
                "decode",
            ],
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_disaggregated_roles_get_their_flags(
    catalog: Catalog, engine: str, role: Role, expected: list[str]
) -> None:
    args = _args(catalog, engine, role, mode="disaggregated")

    start = args.index(expected[0])
    assert args[start : start + len(expected)] == expected


@pytest.mark.parametrize("engine", ENGINES)
def test_kv_events_are_published_by_prefill_workers_only(
    catalog: Catalog, engine: str
) -> None:
    prefill = _args(catalog, engine, "prefill", mode="disaggregated", router_mode="kv")
    decode = _args(catalog, engine, "decode", mode="disaggregated", router_mode="kv")

    kv_flags = {"--kv-events-config", "--publish-kv-events"}
    assert kv_flags & set(prefill)
    assert not kv_flags & set(decode)


@pytest.mark.parametrize("engine", ENGINES)
def test_round_robin_adds_no_engine_flags(catalog: Catalog, engine: str) -> None:
    args = _args(catalog, engine, router_mode="round-robin")

    assert args == _args(catalog, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_custom_args_come_last_as_separate_items(catalog: Catalog, engine: str) -> None:
    text = "max-num-seqs: 8\nenable-chunked-prefill: true\n"
    text += 'speculative-config: {"method": "ngram", "n": 3}\nlist-arg: [1, 2]'

    args = _args(catalog, engine, engine_args=text)

    assert args[-7:] == [
        "--max-num-seqs",
        "8",
        "--enable-chunked-prefill",
        "--speculative-config",
        '{"method":"ngram","n":3}',
        "--list-arg",
        "[1,2]",
    ]


def test_a_false_custom_arg_is_refused_not_dropped() -> None:
    with pytest.raises(ManifestError) as raised:
        custom_args({"max-num-seqs": 8, "enable-chunked-prefill": False}, "vllm")

    (error,) = raised.value.field_errors
    assert error.field == "engine_args"
    assert "no-enable-chunked-prefill: true" in error.fix


def test_custom_args_with_shell_characters_stay_one_item() -> None:
    args = custom_args({"chat-template": "{{ x }}; rm -rf /"})

    assert args == ["--chat-template", "{{ x }}; rm -rf /"]


@pytest.mark.parametrize(
    ("engine", "image"),
    [
        ("vllm", "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1"),
        ("sglang", "nvcr.io/nvidia/ai-dynamo/sglang-runtime:1.6.1"),
        ("trtllm", "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:1.6.1"),
    ],
)
def test_runtime_images(engine: str, image: str) -> None:
    assert runtime_image(engine, "1.6.1") == image  # type: ignore[arg-type]
