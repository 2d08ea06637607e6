"""Any settings, any catalog file: a valid manifest or field errors, nothing else.

Property-based (hypothesis) over every `DeploymentConfig` field and over catalog
files, with hostile text: markup and script payloads, unicode, huge strings,
deep YAML, alias bombs, non-mapping YAML and Python tags.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamote_core import config as config_module
from dynamote_core.catalog import Catalog, load_catalog
from dynamote_core.config import (
    FIELD_LABELS,
    MANAGED_FLAGS,
    MAX_ENGINE_ARGS_BYTES,
    MAX_ENGINE_ARGS_DEPTH,
    MAX_ENGINE_ARGS_FLAGS,
    DeploymentConfig,
    validate_config,
)
from dynamote_core.errors import CatalogError, ConfigError
from dynamote_core.manifest import build_graph_deployment
from dynamote_core.memory import estimate_memory
from dynamote_core.schema import validate_graph_deployment

FIELDS = tuple(DeploymentConfig.model_fields)
PAYLOADS = (
    "<script>alert(1)</script>",
    "**bold** [x](javascript:alert(1))",
    '<img src=x onerror="alert(1)">',
    "$(rm -rf /); `id` | sh -c 'x' && echo",
    "{{7*7}} ${HOME} %s %n",
    "\u202eevil\u200b\x00\x1b[31m",
    "名前-モデル-🚀",
    "a" * 100_000,
    "\n",
    " ",
    "",
)
BASE = {
    "name": "qwen3-0-6b-vllm",
    "namespace": "default",
    "model_id": "Qwen/Qwen3-0.6B",
    "engine": "vllm",
}
PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# ---------------------------------------------------------------- strategies

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(PAYLOADS),
    st.text(max_size=60),
    st.binary(max_size=10),
)
junk = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def plausible_values(field: str) -> st.SearchStrategy[Any]:
    """Values a form could really send for `field`, valid or nearly so."""
    choices: dict[str, st.SearchStrategy[Any]] = {
        "name": st.from_regex(r"[a-z][-a-z0-9]{0,34}", fullmatch=True),
        "namespace": st.sampled_from(["default", "dynamo-system", "Team", "a" * 64]),
        "model_id": st.sampled_from(
            ["Qwen/Qwen3-0.6B", "meta-llama/Llama-3.2-1B-Instruct", "nope/none"]
        ),
        "engine": st.sampled_from(["vllm", "sglang", "trtllm", "VLLM", ""]),
        "mode": st.sampled_from(["aggregated", "disaggregated", "both"]),
        "router_mode": st.sampled_from(["none", "kv", "round-robin", "random"]),
        "replicas": st.integers(-1, 6) | st.sampled_from(["2", " 3 ", "x"]),
        "prefill_replicas": st.integers(-1, 6),
        "decode_replicas": st.integers(-1, 6),
        "gpus_per_worker": st.integers(0, 10) | st.sampled_from(["4", "1.5"]),
        "context_length": st.none() | st.integers(-5, 300_000) | st.just(""),
        "hf_secret_name": st.sampled_from(["", "hf-token-secret", "Bad_Name", "a.b"]),
        "served_model_name": st.sampled_from(["", "my model", "qwen", "x" * 300]),
        "memory": st.sampled_from(["", "32Gi", "64G", "1.5Ti", "lots", "32Gi\n"]),
        "dynamo_version": st.sampled_from(["1.6.1", "0.8.0", "1.6", "1.6.1\n"]),
        "image": st.sampled_from(["", "reg/repo:1.6.1", "reg/repo:latest", "a b"]),
        "enforce_eager": st.booleans() | st.sampled_from(["true", "no", "maybe"]),
        "prefix_caching": st.booleans(),
        "trust_remote_code": st.booleans(),
        "engine_args": engine_args_texts(),
    }
    return choices.get(field, junk)


def engine_args_texts() -> st.SearchStrategy[str]:
    flags = st.from_regex(r"-{0,2}[a-z][a-z0-9_-]{0,15}", fullmatch=True)
    values = st.recursive(
        st.booleans()
        | st.integers(-1000, 10**6)
        | st.sampled_from(PAYLOADS[:7])
        | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3)
        ),
        max_leaves=6,
    )
    as_json = st.dictionaries(flags, values, max_size=6).map(json.dumps)
    return st.one_of(as_json, st.sampled_from(list(HOSTILE_YAML.values())), st.text())


def billion_laughs(levels: int, width: int) -> str:
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        items = ", ".join([f"*l{level - 1}"] * width)
        lines.append(f"l{level}: &l{level} [{items}]")
    return "\n".join(lines) + "\n"


HOSTILE_YAML = {
    "billion-laughs": billion_laughs(9, 9),
    "wide-laughs": billion_laughs(3, 200),
    "deep-flow": "x: " + "[" * 5000 + "]" * 5000,
    "deep-block": "".join(f"{'  ' * i}k{i}:\n" for i in range(40)) + "  " * 40 + "v",
    "python-object": "x: !!python/object/apply:os.system ['touch /tmp/pwned']",
    "python-name": "x: !!python/name:os.system",
    "python-tuple": "x: !!python/tuple [1, 2]",
    "list": "- max-num-seqs\n- 8",
    "scalar": "max-num-seqs=8",
    "null": "~",
    "date": "x: 2024-01-01",
    "binary": "x: !!binary aGVsbG8=",
    "set": "x: !!set {a, b}",
    "int-key": "8: 8",
    "html-key": "'<script>': 1",
    "no-value": "x:",
    "unclosed": "x: [1, 2",
    "tab-indent": "x:\n\t- 1",
    "huge": "x: " + "a" * (MAX_ENGINE_ARGS_BYTES + 1),
    "many-flags": "\n".join(f"f{i}: {i}" for i in range(MAX_ENGINE_ARGS_FLAGS + 1)),
    "repeated-flag": "max-num-seqs: 8\nmax_num_seqs: 9",
    "shell": "x: \"$(id); rm -rf / && sh -c 'echo pwned'\"",
}


# ---------------------------------------------------------------- the property


def assert_manifest_or_field_errors(values: dict[str, Any], catalog: Catalog) -> None:
    """The property: field errors naming real settings, or valid manifests."""
    try:
        config = validate_config(values, catalog)
    except ConfigError as error:
        assert error.field_errors
        fields = {e.field.split(".")[0] for e in error.field_errors}
        assert fields <= set(FIELDS) | {str(key) for key in values}
        assert all(e.problem for e in error.field_errors)
        return

    model = catalog.get(config.model_id)
    for api_version in ("v1beta1", "v1alpha1"):
        manifest = build_graph_deployment(config, model, api_version)
        assert validate_graph_deployment(manifest) == []
        json.dumps(manifest, allow_nan=False)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_any_plausible_settings_give_a_manifest_or_field_errors(
    catalog: Catalog, data: st.DataObject
) -> None:
    changed = data.draw(st.sets(st.sampled_from(FIELDS), max_size=len(FIELDS)))
    values = dict(BASE)
    for field in sorted(changed):
        values[field] = data.draw(plausible_values(field), label=field)

    assert_manifest_or_field_errors(values, catalog)


@PROPERTY_SETTINGS
@given(
    overrides=st.dictionaries(st.sampled_from(FIELDS), junk, min_size=1, max_size=4),
    extra=st.dictionaries(st.sampled_from(PAYLOADS[:6]), junk, max_size=1),
)
def test_any_junk_in_any_field_gives_field_errors_not_exceptions(
    catalog: Catalog, overrides: dict[str, Any], extra: dict[str, Any]
) -> None:
    values = BASE | overrides | extra

    assert_manifest_or_field_errors(values, catalog)


@PROPERTY_SETTINGS
@given(text=engine_args_texts())
def test_any_engine_args_text_gives_argv_or_an_engine_args_error(
    catalog: Catalog, text: str
) -> None:
    values = BASE | {"engine_args": text}

    assert_manifest_or_field_errors(values, catalog)


# ---------------------------------------------------------------- engine args


@pytest.mark.parametrize("text", HOSTILE_YAML.values(), ids=HOSTILE_YAML.keys())
def test_hostile_engine_args_are_refused_or_harmless(
    catalog: Catalog, text: str
) -> None:
    values = BASE | {"engine_args": text}

    assert_manifest_or_field_errors(values, catalog)


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("billion-laughs", "nested too deeply"),
        ("wide-laughs", "more than 1024 values"),
        ("deep-flow", "nested too deeply"),
        ("deep-block", "nested too deeply"),
        ("huge", "at most 16 KiB"),
        ("many-flags", f"at most {MAX_ENGINE_ARGS_FLAGS}"),
        ("repeated-flag", "repeats"),
        ("date", "quote it"),
        ("binary", "quote it"),
        ("python-object", "not valid YAML"),
        ("python-name", "not valid YAML"),
        ("python-tuple", "not valid YAML"),
        ("list", "mapping of flag to value"),
        ("scalar", "mapping of flag to value"),
    ],
    ids=lambda value: value if " " not in value else None,
)
def test_engine_args_limits_are_clear_field_errors(
    catalog: Catalog, name: str, needle: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        validate_config(BASE | {"engine_args": HOSTILE_YAML[name]}, catalog)

    errors = raised.value.for_field("engine_args")
    assert errors
    assert needle in errors[0].problem


def test_python_tags_are_never_constructed(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "pwned"
    text = f"x: !!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path ['{target}']]"  # noqa: E501

    with pytest.raises(ConfigError):
        validate_config(BASE | {"engine_args": text}, catalog)

    assert not target.exists()


def test_limits_are_what_the_docs_promise() -> None:
    assert MAX_ENGINE_ARGS_BYTES == 16 * 1024
    assert MAX_ENGINE_ARGS_DEPTH == 4
    assert MAX_ENGINE_ARGS_FLAGS == 64


def test_values_at_the_depth_limit_are_accepted(catalog: Catalog) -> None:
    text = json.dumps({"speculative-config": {"a": {"b": [1, 2]}}})

    config = validate_config(BASE | {"engine_args": text}, catalog)

    assert config.parsed_engine_args == {"speculative-config": {"a": {"b": [1, 2]}}}


MANAGED_SPELLINGS = [
    spelling
    for flag in sorted(MANAGED_FLAGS)
    for spelling in (flag, f"--{flag}", flag.replace("-", "_"))
]


@pytest.mark.parametrize("flag", MANAGED_SPELLINGS)
@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_flags_dynamote_manages_are_refused_with_the_setting_to_use(
    catalog: Catalog, flag: str, engine: str
) -> None:
    values = BASE | {"engine": engine, "engine_args": f"{flag}: '1'"}

    with pytest.raises(ConfigError) as raised:
        validate_config(values, catalog)

    problem = str(raised.value.for_field("engine_args")[0])
    assert "set by Dynamote and cannot be overridden" in problem
    setting = MANAGED_FLAGS[flag.lstrip("-").replace("_", "-")]
    assert _expected_fix(setting) in problem


def _expected_fix(setting: str) -> str:
    if not setting:
        return "Remove it"
    if setting == "model_id":
        return "the Model choice"
    return f"'{FIELD_LABELS[setting]}' setting"


@pytest.mark.parametrize(
    "flag",
    [
        "model",
        "served-model-name",
        "disaggregation-mode",
        "port",
        "tensor-parallel-size",
        "kv-events-config",
    ],
)
def test_the_issue_s_managed_flags_are_in_the_list(flag: str) -> None:
    assert flag in config_module.MANAGED_FLAGS


# ---------------------------------------------------------------- catalog files

VALID_ENTRY: dict[str, Any] = {
    "id": "acme/tiny-1b",
    "display_name": "Tiny 1B",
    "description": "A tiny model.",
    "task": "text-generation",
    "size_label": "1B",
    "parameters_b": 1.0,
    "context_length": 4096,
    "license": "apache-2.0",
    "gated": False,
    "engines": ["vllm"],
    "publisher": "Acme",
    "family": "Tiny",
}
CATALOG_FIELDS = (*VALID_ENTRY, "num_layers", "num_kv_heads", "head_dim", "weights_gib")


def mutated_entries() -> st.SearchStrategy[dict[str, Any]]:
    json_junk = st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(10**20), 10**20)
        | st.floats(allow_nan=False)
        | st.sampled_from(PAYLOADS[:7])
        | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=5,
    )
    return st.builds(
        lambda changes, dropped: {
            k: v for k, v in (VALID_ENTRY | changes).items() if k not in dropped
        },
        st.dictionaries(st.sampled_from(CATALOG_FIELDS), json_junk, max_size=3),
        st.sets(st.sampled_from(CATALOG_FIELDS), max_size=2),
    )


def catalog_documents() -> st.SearchStrategy[bytes]:
    entries = st.lists(mutated_entries(), max_size=3).map(
        lambda items: json.dumps(items).encode()
    )
    special = st.sampled_from(
        [
            b"",
            b"{}",
            b"null",
            b"[1, 2]",
            b"\xff\xfe[]",
            b"[" * 5000 + b"]" * 5000,
            b'[{"id": "a/b", "parameters_b": Infinity}]',
            b'[{"id": "a/b", "context_length": NaN}]',
        ]
    )
    return st.one_of(entries, special, st.binary(max_size=40))


@PROPERTY_SETTINGS
@given(document=catalog_documents())
def test_any_catalog_file_loads_or_raises_catalog_error(
    tmp_path_factory: pytest.TempPathFactory, document: bytes
) -> None:
    path = tmp_path_factory.mktemp("catalog") / "catalog.json"
    path.write_bytes(document)

    try:
        loaded = load_catalog(path)
    except CatalogError as error:
        assert str(error)
        return

    for model in loaded.models:
        estimate = estimate_memory(model, None)
        assert math.isfinite(estimate.total_gib)
        values = BASE | {"model_id": model.id, "engine": model.engines[0]}
        assert_manifest_or_field_errors(values, loaded)


def test_infinite_numbers_in_a_catalog_are_refused(tmp_path: Path) -> None:
    entry = json.dumps([VALID_ENTRY | {"parameters_b": float("inf")}])
    path = tmp_path / "catalog.json"
    path.write_text(entry)

    with pytest.raises(CatalogError) as raised:
        load_catalog(path)

    assert "parameters_b" in str(raised.value)
