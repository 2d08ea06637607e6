"""Tests for dynamote_core.config: field-level errors and the default name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dynamote_core.catalog import DEFAULT_CATALOG_PATH, Catalog, load_catalog
from dynamote_core.config import (
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    DeploymentConfig,
    default_deployment_name,
    validate_config,
)
from dynamote_core.errors import ConfigError


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _settings(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "qwen3-0-6b-vllm",
        "namespace": "default",
        "model_id": "Qwen/Qwen3-0.6B",
        "engine": "vllm",
    }
    return {**base, **changes}


def _errors(catalog: Catalog, **changes: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        validate_config(_settings(**changes), catalog)
    return {
        error.field: f"{error.problem} {error.fix}"
        for error in caught.value.field_errors
    }


def test_minimal_settings_get_the_documented_defaults(catalog: Catalog) -> None:
    config = validate_config(_settings(), catalog)

    assert config.mode == "aggregated"
    assert config.router_mode == "none"
    assert (config.replicas, config.prefill_replicas, config.decode_replicas) == (
        1,
        1,
        1,
    )
    assert config.hf_secret_name == "hf-token-secret"
    assert config.prefix_caching is True
    assert config.gpus_per_worker == 1
    assert config.dynamo_version == "1.6.1"
    assert config.effective_served_model_name == "Qwen/Qwen3-0.6B"


def test_text_values_from_a_form_are_converted(catalog: Catalog) -> None:
    config = validate_config(
        _settings(replicas="3", context_length="8192", enforce_eager="true"), catalog
    )

    assert config.replicas == 3
    assert config.context_length == 8192
    assert config.enforce_eager is True


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"name": "Qwen3"}, "name", "DNS-1123"),
        ({"name": "3-qwen"}, "name", "start with a letter"),
        ({"name": "qwen_3"}, "name", "DNS-1123"),
        ({"name": "a" * 31}, "name", "at most 30"),
        ({"name": ""}, "name", "empty"),
        ({"namespace": "Team A"}, "namespace", "DNS-1123"),
        ({"namespace": "n" * 40, "name": "x" * 25}, "name", "namespace plus name"),
        ({"replicas": 0}, "replicas", "at least 1"),
        ({"replicas": 9}, "replicas", "at most 4"),
        ({"prefill_replicas": 0}, "prefill_replicas", "at least 1"),
        ({"decode_replicas": 5}, "decode_replicas", "at most 4"),
        ({"replicas": "two"}, "replicas", "whole number"),
        ({"gpus_per_worker": 9}, "gpus_per_worker", "at most 8"),
        ({"gpus_per_worker": 0}, "gpus_per_worker", "at least 1"),
        ({"context_length": -1}, "context_length", "more than 0"),
        ({"context_length": "long"}, "context_length", "whole number"),
        ({"context_length": 10**6}, "context_length", "40960"),
        ({"engine": "tgi"}, "engine", "'tgi'"),
        ({"mode": "split"}, "mode", "aggregated or disaggregated"),
        ({"router_mode": "random"}, "router_mode", "none, kv or round-robin"),
        ({"model_id": "acme/unknown"}, "model_id", "not in the catalog"),
        ({"engine_args": "- a\n- b"}, "engine_args", "mapping"),
        ({"engine_args": "just text"}, "engine_args", "mapping"),
        ({"engine_args": "a: [1, 2"}, "engine_args", "not valid YAML"),
        ({"engine_args": "max-num-seqs:"}, "engine_args", "no value"),
        ({"engine_args": "'bad flag!': 1"}, "engine_args", "not a flag"),
        ({"hf_secret_name": "HF Token"}, "hf_secret_name", "Secret name"),
        ({"served_model_name": "my model"}, "served_model_name", "spaces"),
        ({"memory": "lots"}, "memory", "quantity"),
        ({"dynamo_version": "latest"}, "dynamo_version", "MAJOR.MINOR.PATCH"),
        ({"image": "my image"}, "image", "image reference"),
        ({"enforce_eager": "sometimes"}, "enforce_eager", "true or false"),
        ({"colour": "blue"}, "colour", "not a known setting"),
    ],
    ids=lambda value: (
        None if not isinstance(value, dict) else "-".join(map(str, value))
    ),
)
def test_invalid_values_name_the_field_the_problem_and_a_fix(
    catalog: Catalog, changes: dict[str, Any], field: str, words: str
) -> None:
    errors = _errors(catalog, **changes)

    assert field in errors, errors
    assert words in errors[field]


def test_every_problem_is_reported_at_once(catalog: Catalog) -> None:
    errors = _errors(catalog, name="Bad", replicas=0, context_length="x", engine="tgi")

    assert set(errors) == {"name", "replicas", "context_length", "engine"}


def test_a_model_the_engine_does_not_support_is_an_engine_error(tmp_path: Path) -> None:
    entries = json.loads(DEFAULT_CATALOG_PATH.read_text())
    entries[0]["engines"] = ["vllm"]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(entries))
    narrow = load_catalog(path)

    errors = _errors(narrow, engine="sglang")

    assert "does not support Qwen/Qwen3-0.6B" in errors["engine"]
    assert "vllm" in errors["engine"]


@pytest.mark.parametrize(
    ("engine_args", "flag", "setting"),
    [
        ("model: other/model", "--model", "model_id"),
        ("--served-model-name: x", "--served-model-name", "served_model_name"),
        ('{"tensor_parallel_size": 2}', "--tensor_parallel_size", "gpus_per_worker"),
        ("tp: 2", "--tp", "gpus_per_worker"),
        ("disaggregation-mode: prefill", "--disaggregation-mode", "mode"),
        ("port: 9000", "--port", "Remove it"),
        ("max-model-len: 100", "--max-model-len", "context_length"),
        ("kv-events-config: {}", "--kv-events-config", "router_mode"),
    ],
    ids=[
        "model",
        "served-name",
        "tp-underscores",
        "tp-short",
        "disagg",
        "port",
        "ctx",
        "kv",
    ],
)
def test_engine_args_may_not_override_managed_flags(
    catalog: Catalog, engine_args: str, flag: str, setting: str
) -> None:
    errors = _errors(catalog, engine_args=engine_args)

    assert flag in errors["engine_args"]
    assert setting in errors["engine_args"]


def test_engine_args_parse_yaml_and_json_to_the_same_mapping(catalog: Catalog) -> None:
    from_yaml = validate_config(
        _settings(engine_args="max-num-seqs: 8\n--block-size: 16"), catalog
    )
    from_json = validate_config(
        _settings(engine_args='{"max-num-seqs": 8, "block-size": 16}'), catalog
    )

    assert from_yaml.parsed_engine_args == {"max-num-seqs": 8, "block-size": 16}
    assert from_json.parsed_engine_args == from_yaml.parsed_engine_args


@pytest.mark.parametrize("blank", ["", "  ", None], ids=["empty", "spaces", "none"])
def test_a_blank_secret_name_means_no_secret(
    catalog: Catalog, blank: str | None
) -> None:
    config = validate_config(_settings(hf_secret_name=blank), catalog)

    assert config.hf_secret_name is None


def test_config_json_round_trips(catalog: Catalog) -> None:
    config = validate_config(
        _settings(engine_args="max-num-seqs: 8", memory="16Gi"), catalog
    )

    restored = validate_config(json.loads(config.to_json()), catalog)

    assert restored == config


def test_worker_replicas_and_total_gpus_count_prefill_and_decode(
    catalog: Catalog,
) -> None:
    config = validate_config(
        _settings(
            mode="disaggregated",
            prefill_replicas=2,
            decode_replicas=3,
            gpus_per_worker=2,
        ),
        catalog,
    )

    assert config.worker_replicas == 5
    assert config.total_gpus == 10


def test_config_is_frozen(catalog: Catalog) -> None:
    config = validate_config(_settings(), catalog)

    with pytest.raises(ValueError, match="frozen"):
        config.replicas = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("model_id", "engine", "expected"),
    [
        ("Qwen/Qwen3-0.6B", "vllm", "qwen3-0-6b-vllm"),
        (
            "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
            "sglang",
            "tinyllama-1-1b-chat-v1-sglang",
        ),
        (
            "mistralai/Mistral-Small-24B-Instruct-2501",
            "trtllm",
            "mistral-small-24b-instr-trtllm",
        ),
        ("acme/7b", "vllm", "m-7b-vllm"),
        ("acme/___", "vllm", "m-vllm"),
    ],
    ids=["qwen", "tinyllama", "long", "digit-first", "no-letters"],
)
def test_default_deployment_name(model_id: str, engine: str, expected: str) -> None:
    name = default_deployment_name(model_id, engine)

    assert name == expected


def test_default_names_of_every_catalog_model_are_valid(catalog: Catalog) -> None:
    for model in catalog.models:
        for engine in model.engines:
            name = default_deployment_name(model.id, engine)

            assert len(name) <= MAX_NAME_LENGTH
            assert NAME_PATTERN.match(name), name
            validate_config(
                _settings(name=name, model_id=model.id, engine=engine), catalog
            )


def test_deployment_config_validates_its_own_fields() -> None:
    with pytest.raises(ValueError, match="replicas"):
        DeploymentConfig(
            name="a",
            namespace="b",
            model_id="Qwen/Qwen3-0.6B",
            engine="vllm",
            replicas=0,
        )
