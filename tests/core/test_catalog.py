"""Tests for dynamote_core.catalog: the bundled catalog, loading errors, search."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dynamote_core.catalog import (
    CATALOG_ENV_VAR,
    DEFAULT_CATALOG_PATH,
    Catalog,
    Model,
    load_catalog,
    search_models,
)
from dynamote_core.errors import CatalogError

FACTS_PATH = Path(__file__).resolve().parents[3] / "shared/models/facts.json"
REQUIRED_MODELS = [
    "Qwen/Qwen3-0.6B",
    "Qwen/Qwen2.5-1.5B-Instruct",
    "deepseek-ai/DeepSeek-R1-Distill-Llama-8B",
    "meta-llama/Llama-3.2-1B-Instruct",
    "meta-llama/Llama-3.2-3B-Instruct",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "microsoft/Phi-3-mini-4k-instruct",
    "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
]
# catalog field -> facts.json field, for every number and fact taken from there
FACT_FIELDS = {
    "context_length": "context_length",
    "max_position_embeddings": "max_position_embeddings",
    "license": "license",
    "gated": "gated",
    "publisher": "publisher",
    "family": "family",
    "task": "task",
    "architecture": "architecture",
    "is_moe": "is_moe",
    "num_layers": "num_hidden_layers",
    "num_attention_heads": "num_attention_heads",
    "num_kv_heads": "num_key_value_heads",
    "head_dim": "head_dim",
    "dtype": "torch_dtype",
    "sliding_window": "sliding_window",
    "kv_bytes_per_token": "kv_cache_bytes_per_token_16bit",
    "weights_gib": "weights_gib_estimate",
}


def _facts() -> dict[str, dict[str, Any]]:
    return {entry["hf_id"]: entry for entry in json.loads(FACTS_PATH.read_text())}


def _raw_catalog() -> list[dict[str, Any]]:
    return json.loads(DEFAULT_CATALOG_PATH.read_text())


def _write_catalog(tmp_path: Path, entries: Any) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(entries))
    return path


def test_bundled_catalog_holds_every_model_of_the_facts_file() -> None:
    catalog = load_catalog()

    ids = [model.id for model in catalog.models]

    assert ids == list(_facts())
    assert set(REQUIRED_MODELS) <= set(ids)


@pytest.mark.parametrize("entry", _raw_catalog(), ids=lambda entry: entry["id"])
def test_catalog_numbers_match_the_facts_file(entry: dict[str, Any]) -> None:
    facts = _facts()[entry["id"]]

    expected = {field: facts[source] for field, source in FACT_FIELDS.items()}
    actual = {field: entry.get(field) for field in FACT_FIELDS}

    assert actual == expected
    stated = facts["params_total_b"]
    computed = round(facts["params_total_computed"] / 1e9, 2)
    assert entry["parameters_b"] == (stated if stated is not None else computed)
    supported = [name for name, ok in facts["engine_support"].items() if ok]
    assert sorted(entry["engines"]) == sorted(supported)


@pytest.mark.parametrize("entry", _raw_catalog(), ids=lambda entry: entry["id"])
def test_catalog_descriptions_are_our_own_words(entry: dict[str, Any]) -> None:
    facts = _facts()[entry["id"]]

    assert entry["description"] != facts["description"]
    assert len(entry["description"]) >= 40


def test_stored_kv_bytes_agree_with_the_architecture() -> None:
    catalog = load_catalog()

    for model in catalog.models:
        assert model.num_layers and model.num_kv_heads and model.head_dim
        computed = 2 * model.num_layers * model.num_kv_heads * model.head_dim * 2
        assert model.kv_bytes_per_token == computed, model.id


def test_get_names_a_missing_model() -> None:
    catalog = load_catalog()

    with pytest.raises(CatalogError, match="no/such-model"):
        catalog.get("no/such-model")


def test_environment_variable_overrides_the_catalog_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_catalog(tmp_path, _raw_catalog()[:2])
    monkeypatch.setenv(CATALOG_ENV_VAR, str(path))

    catalog = load_catalog()

    assert len(catalog) == 2
    assert catalog.source == str(path)


def test_an_extended_catalog_loads_a_minimal_new_model(tmp_path: Path) -> None:
    extra = {
        "id": "acme/Tiny-Chat",
        "display_name": "Acme Tiny Chat",
        "description": "An in-house test model.",
        "task": "text-generation",
        "size_label": "1B",
        "parameters_b": 1.0,
        "context_length": 4096,
        "license": "apache-2.0",
        "gated": False,
        "engines": ["vllm"],
        "publisher": "Acme",
        "family": "Acme",
    }
    path = _write_catalog(tmp_path, [*_raw_catalog(), extra])

    model = load_catalog(path).get("acme/Tiny-Chat")

    assert model.kv_cache_bytes_per_token is None
    assert model.weights_gib_estimate == pytest.approx(1.86, abs=0.01)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"context_length": -1},
            "entry 3 (meta-llama/Llama-3.2-1B-Instruct): "
            "context_length: must be a positive integer",
        ),
        ({"context_length": "long"}, "context_length: must be a positive integer"),
        ({"engines": ["tgi"]}, "engines.0"),
        ({"gated": "maybe"}, "gated"),
        ({"homepage": "x"}, "homepage: is not a known catalog field"),
    ],
    ids=[
        "negative-context",
        "text-context",
        "unknown-engine",
        "bad-gated",
        "extra-field",
    ],
)
def test_a_broken_entry_names_the_entry_and_the_field(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    entries = _raw_catalog()
    entries[3].update(change)
    path = _write_catalog(tmp_path, entries)

    with pytest.raises(CatalogError) as caught:
        load_catalog(path)

    assert "entry 3 (meta-llama/Llama-3.2-1B-Instruct)" in str(caught.value)
    assert message in str(caught.value)


def test_a_missing_field_is_named(tmp_path: Path) -> None:
    entries = _raw_catalog()
    del entries[0]["license"]
    path = _write_catalog(tmp_path, entries)

    with pytest.raises(
        CatalogError, match=r"entry 0 \(Qwen/Qwen3-0.6B\): license: is required"
    ):
        load_catalog(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"a": 1}', "expected a JSON list"),
        ("[3]", "entry 0"),
    ],
    ids=["not-json", "not-a-list", "entry-not-object"],
)
def test_a_malformed_file_fails_with_a_catalog_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(text)

    with pytest.raises(CatalogError, match=message):
        load_catalog(path)


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"

    with pytest.raises(CatalogError, match=r"nowhere\.json"):
        load_catalog(path)


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    entries = _raw_catalog()
    path = _write_catalog(tmp_path, [*entries, entries[0]])

    with pytest.raises(CatalogError, match="duplicates entry 0"):
        load_catalog(path)


def test_models_are_frozen() -> None:
    model = load_catalog().models[0]

    with pytest.raises(ValueError, match="frozen"):
        model.gated = True  # type: ignore[misc]


@pytest.fixture(scope="module")
def models() -> list[Model]:
    return load_catalog().models


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("tinyllama", ["TinyLlama/TinyLlama-1.1B-Chat-v1.0"]),
        ("PHI-3", ["microsoft/Phi-3-mini-4k-instruct"]),
        ("qwen3 0.6b", ["Qwen/Qwen3-0.6B"]),
        ("gpt-oss", ["openai/gpt-oss-20b", "openai/gpt-oss-120b"]),
        ("images", ["google/gemma-3-27b-it"]),
        ("zzz-nothing", []),
    ],
    ids=[
        "by-id",
        "case-insensitive",
        "all-words",
        "by-family",
        "by-description",
        "none",
    ],
)
def test_search_matches_name_id_family_and_description(
    models: list[Model], query: str, expected: list[str]
) -> None:
    found = search_models(models, query)

    assert [model.id for model in found] == expected


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("gated", lambda m: m.gated),
        ("vllm", lambda m: "vllm" in m.engines),
        ("tensorrt", lambda m: "trtllm" in m.engines),
        ("apache-2.0", lambda m: m.license == "apache-2.0"),
        ("image-text", lambda m: m.task == "image-text-to-text"),
    ],
    ids=["gated", "engine-id", "engine-label", "license", "task"],
)
def test_search_finds_the_words_a_card_shows(
    models: list[Model], query: str, kept: Callable[[Model], bool]
) -> None:
    found = search_models(models, query)

    assert found, query
    assert found == [model for model in models if kept(model)]


def test_search_with_an_empty_query_keeps_every_model(models: list[Model]) -> None:
    found = search_models(models)

    assert found == models


def test_search_filters_by_task_and_engine(models: list[Model]) -> None:
    by_task = search_models(models, tasks=["image-text-to-text"])
    by_engine = search_models(models, engines=["tgi"])

    assert [model.id for model in by_task] == ["google/gemma-3-27b-it"]
    assert by_engine == []


def test_catalog_accepts_models_in_code() -> None:
    models = load_catalog().models[:3]

    catalog = Catalog(models, source="test")

    assert catalog.ids == [model.id for model in models]
    assert models[1].id in catalog
