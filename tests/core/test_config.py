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
    context_length_warning,
    default_deployment_name,
    describe_field_error,
    max_context_length,
    parse_engine_args,
    validate_config,
)
from dynamote_core.errors import ConfigError, FieldError


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
        ({"name": "3-qwen"}, "name", "starting with a letter"),
        ({"name": "qwen_3"}, "name", "DNS-1123"),
        ({"name": "a" * 31}, "name", "at most 30"),
        ({"name": ""}, "name", "is required"),
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
        ({"memory": "64"}, "memory", "is 64 bytes"),
        ({"memory": "512Mi"}, "memory", "between 1Gi and 16Ti"),
        ({"memory": "99999999Ti"}, "memory", "between 1Gi and 16Ti"),
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
        ("model: other/model", "--model", "the Model choice"),
        (
            "--served-model-name: x",
            "--served-model-name",
            "'Served model name' setting",
        ),
        (
            '{"tensor_parallel_size": 2}',
            "--tensor_parallel_size",
            "'GPUs per worker' setting",
        ),
        ("tp: 2", "--tp", "'GPUs per worker' setting"),
        ("disaggregation-mode: prefill", "--disaggregation-mode", "'Mode' setting"),
        ("port: 9000", "--port", "Remove it"),
        ("max-model-len: 100", "--max-model-len", "'Context length' setting"),
        ("kv-events-config: {}", "--kv-events-config", "'Router' setting"),
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


@pytest.mark.parametrize(
    ("engine", "flag", "advice"),
    [
        ("vllm", "enable-chunked-prefill", "no-enable-chunked-prefill: true"),
        ("sglang", "enable-mixed-chunk", "disable-"),
        ("trtllm", "enable-chunked-prefill", "leave the flag out"),
        ("vllm", "disable-log-stats", "acts only when given"),
    ],
    ids=["vllm", "sglang", "trtllm", "already-an-off-switch"],
)
def test_a_false_engine_arg_is_refused_with_the_engine_off_switch(
    catalog: Catalog, engine: str, flag: str, advice: str
) -> None:
    model = next(m for m in catalog.models if m.supports(engine))

    errors = _errors(
        catalog, model_id=model.id, engine=engine, engine_args=f"{flag}: false"
    )

    assert f"--{flag}: false" in errors["engine_args"]
    assert advice in errors["engine_args"]


@pytest.mark.parametrize(
    ("field", "label"),
    [
        ("name", "Deployment name"),
        ("dynamo_version", "Dynamo version"),
        ("model_id", "Model"),
        ("namespace", "Namespace"),
    ],
    ids=["name", "version", "model", "namespace"],
)
@pytest.mark.parametrize("blank", ["", None], ids=["empty", "none"])
def test_blank_required_text_reads_as_required_under_its_label(
    catalog: Catalog, field: str, label: str, blank: str | None
) -> None:
    with pytest.raises(ConfigError) as raised:
        validate_config(_settings(**{field: blank}), catalog)

    (error,) = raised.value.for_field(field)
    assert describe_field_error(error).startswith(f"{label} is required.")
    assert "None" not in error.problem


def test_a_blank_name_says_how_to_write_one(catalog: Catalog) -> None:
    with pytest.raises(ConfigError) as raised:
        validate_config(_settings(name=None), catalog)

    (error,) = raised.value.for_field("name")
    assert describe_field_error(error) == (
        "Deployment name is required. Use lower-case letters, digits and '-', "
        "starting with a letter (e.g. qwen3-0-6b-vllm)."
    )


@pytest.mark.parametrize("blank", [None, ""], ids=["none", "empty"])
def test_empty_optional_values_mean_the_default(
    catalog: Catalog, blank: str | None
) -> None:
    config = validate_config(
        _settings(context_length=None, engine_args=blank, image=blank), catalog
    )

    assert config.context_length is None
    assert config.engine_args == ""
    assert config.image is None


def test_context_errors_and_warnings_share_one_maximum(catalog: Catalog) -> None:
    model = next(m for m in catalog.models if m.max_position_embeddings)
    limit = max_context_length(model)
    above_card = model.context_length + 1

    errors = _errors(catalog, model_id=model.id, context_length=limit + 1)
    at_limit = validate_config(
        _settings(model_id=model.id, context_length=limit), catalog
    )

    assert f"at most {limit} tokens" in errors["context_length"]
    assert at_limit.context_length == limit
    assert context_length_warning(model, limit + 1) is None
    assert context_length_warning(model, model.context_length) is None
    if above_card <= limit:
        warning = context_length_warning(model, above_card)
        assert warning is not None
        assert str(model.context_length) in warning
        assert str(limit) in warning
        assert "max_position_embeddings" in warning


def test_a_huge_context_is_one_error(catalog: Catalog) -> None:
    with pytest.raises(ConfigError) as raised:
        validate_config(_settings(context_length=10**10), catalog)

    assert [e.field for e in raised.value.field_errors] == ["context_length"]


@pytest.mark.parametrize(
    ("problem", "shown"),
    [
        ("0 is too small.", "Context length: 0 is too small."),
        ("is required.", "Context length is required."),
    ],
    ids=["value-first", "verb-first"],
)
def test_describe_field_error_leads_with_the_label(problem: str, shown: str) -> None:
    text = describe_field_error(FieldError("context_length", problem, ""))

    assert text == shown


@pytest.mark.parametrize(
    ("model_id", "gpus", "fix"),
    [
        ("Qwen/Qwen3-0.6B", 3, "Use 1, 2, 4 or 8 GPUs per worker."),
        ("Qwen/Qwen2.5-1.5B-Instruct", 8, "Use 1, 2, 4 or 6 GPUs per worker."),
    ],
)
def test_gpus_that_cannot_split_the_heads_are_refused(
    catalog: Catalog, model_id: str, gpus: int, fix: str
) -> None:
    values = {
        "name": "tp",
        "namespace": "dynamo-system",
        "model_id": model_id,
        "engine": "vllm",
        "gpus_per_worker": gpus,
    }

    with pytest.raises(ConfigError) as raised:
        validate_config(values, catalog)

    (error,) = raised.value.field_errors
    assert error.field == "gpus_per_worker"
    assert f"{gpus} GPUs cannot share {model_id}'s" in error.problem
    assert error.fix == fix


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "--max-num-seqs 64 --enforce-eager",
            {"max-num-seqs": 64, "enforce-eager": True},
        ),
        ("--block-size=16\n--swap-space 4", {"block-size": 16, "swap-space": 4}),
        (
            '--kv-events-config \'{"publisher": "zmq", "endpoint": "tcp://*:5557"}\'',
            {"kv-events-config": {"publisher": "zmq", "endpoint": "tcp://*:5557"}},
        ),
        ("--seed -5 --host *:8000", {"seed": -5, "host": "*:8000"}),
    ],
    ids=["space", "equals-and-lines", "quoted-json", "negative-and-glob"],
)
def test_engine_args_as_on_a_command_line(text: str, expected: dict[str, Any]) -> None:
    assert parse_engine_args(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("--a 1 stray", "has 'stray' where a flag was expected"),
        ('--a "open', "is not a valid command line"),
        ("--a 1 --a 2", "repeats"),
        ("--a=", "has no value"),
    ],
)
def test_bad_command_line_engine_args_say_what_is_wrong(
    text: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_engine_args(text)
