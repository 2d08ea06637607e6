"""Tests for dynamote_core.schema: shipped schemas, CRD validation, admission rules."""

from __future__ import annotations

import copy
import functools
import importlib.util
import itertools
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from dynamote_core.catalog import Catalog, load_catalog
from dynamote_core.config import API_VERSIONS, MODES, ROUTER_MODES, validate_config
from dynamote_core.manifest import build_graph_deployment
from dynamote_core.schema import (
    SCHEMA_DIR,
    image_tag,
    is_image_version_tag,
    validate_graph_deployment,
)

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT.parent / "shared/dynamo/crds/nvidia.com_dynamographdeployments.yaml"
GRID = list(
    itertools.product(("vllm", "sglang", "trtllm"), MODES, ROUTER_MODES, API_VERSIONS)
)


@functools.cache
def _trim_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "trim", ROOT / "scripts/trim_crd_schema.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _full_crd_validator(version: str) -> Draft7Validator:
    """The CRD's own schema, untrimmed and lenient, only made readable by jsonschema."""
    crd = _trim_script().load_crd(CRD)
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return Draft7Validator(_allow_int_or_string(served["schema"]["openAPIV3Schema"]))


def _allow_int_or_string(node: Any) -> Any:
    if isinstance(node, list):
        return [_allow_int_or_string(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _allow_int_or_string(value) for key, value in node.items()}
    if node.get("x-kubernetes-int-or-string"):
        converted.pop("type", None)
        converted["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return converted


@functools.cache
def _older_alpha_validator(release: str) -> Draft7Validator:
    crd = _trim_script().load_crd(CRD.parent / "older" / release / CRD.name)
    return Draft7Validator(_trim_script().trim_crd(crd)["v1alpha1"])


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _manifest(
    catalog: Catalog, version: str = "v1beta1", **changes: Any
) -> dict[str, Any]:
    settings = {
        "name": "qwen3",
        "namespace": "default",
        "model_id": "Qwen/Qwen3-0.6B",
        "engine": "vllm",
        **changes,
    }
    config = validate_config(settings, catalog)
    return build_graph_deployment(config, catalog.get(config.model_id), version)  # type: ignore[arg-type]


def _fields(manifest: Any) -> list[str]:
    return [error.field for error in validate_graph_deployment(manifest)]


def test_shipped_schemas_are_what_the_trim_script_makes_from_the_crd() -> None:
    rendered = _trim_script().render_crd_files(CRD)

    shipped = {path.name: path.read_text() for path in SCHEMA_DIR.glob("*.json")}

    assert rendered == shipped
    assert set(shipped) == {"dgd-v1beta1.json", "dgd-v1alpha1.json"}


def test_trimmed_schemas_keep_no_descriptions() -> None:
    for path in SCHEMA_DIR.glob("*.json"):
        assert '"description"' not in path.read_text()


def test_trim_makes_objects_strict_and_translates_kubernetes_keywords() -> None:
    trim = _trim_script().trim_node
    node = {
        "type": "object",
        "description": "dropped",
        "properties": {
            "port": {"x-kubernetes-int-or-string": True},
            "note": {"type": "string", "nullable": True},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    }

    trimmed = trim(node)

    assert trimmed["additionalProperties"] is False
    assert trimmed["properties"]["port"] == {
        "anyOf": [{"type": "integer"}, {"type": "string"}]
    }
    assert trimmed["properties"]["note"] == {"type": ["string", "null"]}
    assert trimmed["properties"]["free"] == {"type": "object"}


@pytest.mark.parametrize(
    ("engine", "mode", "router", "version"),
    GRID,
    ids=["-".join(combo) for combo in GRID],
)
def test_every_combination_passes_the_full_crd_schema(
    catalog: Catalog, engine: str, mode: str, router: str, version: str
) -> None:
    manifest = _manifest(catalog, version, engine=engine, mode=mode, router_mode=router)

    errors = list(_full_crd_validator(version).iter_errors(manifest))

    assert errors == []


@pytest.mark.parametrize("version", API_VERSIONS)
def test_every_option_at_once_passes_the_full_crd_schema(
    catalog: Catalog, version: str
) -> None:
    manifest = _manifest(
        catalog,
        version,
        engine="trtllm",
        mode="disaggregated",
        router_mode="kv",
        context_length=8192,
        enforce_eager=True,
        prefix_caching=False,
        trust_remote_code=True,
        gpus_per_worker=2,
        memory="32Gi",
        image="r.io/rt:custom",
        engine_args="max-num-seqs: 8",
        served_model_name="chat",
    )

    assert list(_full_crd_validator(version).iter_errors(manifest)) == []
    assert validate_graph_deployment(manifest) == []


@pytest.mark.parametrize(
    "example",
    sorted(
        p.name for p in (ROOT.parent / "shared/dynamo/examples/v1.6.1").glob("*.yaml")
    ),
)
def test_official_1_6_1_examples_pass(example: str) -> None:
    path = ROOT.parent / "shared/dynamo/examples/v1.6.1" / example
    manifest = yaml.safe_load(path.read_text())

    assert validate_graph_deployment(manifest) == []


def test_unknown_fields_are_errors_with_a_json_path(catalog: Catalog) -> None:
    manifest = _manifest(catalog)
    manifest["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0][
        "imag"
    ] = "x"
    manifest["spec"]["colour"] = "blue"

    fields = _fields(manifest)

    assert "spec.components[1].podTemplate.spec.containers[0].imag" in fields
    assert "spec.colour" in fields


def test_wrong_types_point_at_the_value(catalog: Catalog) -> None:
    manifest = _manifest(catalog)
    manifest["spec"]["components"][1]["replicas"] = "two"
    manifest["spec"]["components"][0]["type"] = "router"

    fields = _fields(manifest)

    assert "spec.components[1].replicas" in fields
    assert "spec.components[0].type" in fields


@pytest.mark.parametrize(
    ("break_it", "field", "words"),
    [
        (lambda m: m["spec"].update(components=[]), "spec.components", "at least one"),
        (
            lambda m: m["spec"]["components"][1]["podTemplate"]["spec"]["containers"][
                0
            ].update(image=""),
            "spec.components[1].podTemplate.spec.containers[0].image",
            "empty",
        ),
        (
            lambda m: m["spec"]["components"][1]["podTemplate"]["spec"]["containers"][
                0
            ].update(image="my/runtime:latest"),
            "spec.components[1].runtimeVersionOverride",
            "latest",
        ),
        (
            lambda m: m["spec"]["components"][1]["podTemplate"]["spec"]["containers"][
                0
            ].update(name="engine"),
            "spec.components[1].podTemplate.spec.containers",
            "'main'",
        ),
        (
            lambda m: m["spec"]["components"][1].update(name="frontend"),
            "spec.components[1].name",
            "another component",
        ),
        (
            lambda m: m["metadata"].update(name="Bad_Name"),
            "metadata.name",
            "not a valid name",
        ),
        (lambda m: m.update(apiVersion="nvidia.com/v2"), "apiVersion", "v2"),
        (lambda m: m.update(kind="Deployment"), "kind", "Deployment"),
    ],
    ids=[
        "no-components",
        "empty-image",
        "latest-tag",
        "no-main",
        "duplicate-name",
        "bad-name",
        "api-version",
        "kind",
    ],
)
def test_admission_rules(
    catalog: Catalog, break_it: Any, field: str, words: str
) -> None:
    manifest = _manifest(catalog)
    break_it(manifest)

    errors = validate_graph_deployment(manifest)

    matching = [error for error in errors if error.field == field]
    assert matching, errors
    assert words in str(matching[0])


def test_runtime_version_override_allows_any_tag(catalog: Catalog) -> None:
    manifest = _manifest(catalog)
    for component in manifest["spec"]["components"]:
        component["podTemplate"]["spec"]["containers"][0]["image"] = "my/runtime:latest"
        component["runtimeVersionOverride"] = "1.6.1"

    assert validate_graph_deployment(manifest) == []


def test_v1alpha1_admission_rules(catalog: Catalog) -> None:
    manifest = _manifest(catalog, "v1alpha1")
    worker = manifest["spec"]["services"]["worker"]
    worker["extraPodSpec"]["mainContainer"]["image"] = "my/runtime:my-tag"
    empty = copy.deepcopy(manifest)
    empty["spec"]["services"] = {}

    assert _fields(manifest) == ["spec.services.worker.runtimeVersionOverride"]
    assert _fields(empty) == ["spec.services"]


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        3,
        "text",
        [],
        {},
        {"apiVersion": 5},
        {"apiVersion": "nvidia.com/v1beta1"},
        {
            "apiVersion": "nvidia.com/v1beta1",
            "kind": "DynamoGraphDeployment",
            "metadata": [],
            "spec": {"components": [None, 1, {"podTemplate": "x"}]},
        },
        {
            "apiVersion": "nvidia.com/v1alpha1",
            "kind": "DynamoGraphDeployment",
            "metadata": {"name": "a"},
            "spec": {"services": {"a": None, "b": {"extraPodSpec": 1}}},
        },
    ],
    ids=[
        "none",
        "int",
        "str",
        "list",
        "empty",
        "bad-api",
        "no-kind",
        "bad-beta",
        "bad-alpha",
    ],
)
def test_garbage_gives_errors_not_exceptions(garbage: Any) -> None:
    errors = validate_graph_deployment(garbage)

    assert errors
    assert all(isinstance(error.field, str) for error in errors)


def test_validation_is_fast(catalog: Catalog) -> None:
    manifest = _manifest(catalog, mode="disaggregated", router_mode="kv")
    validate_graph_deployment(manifest)

    started = time.perf_counter()
    for _ in range(50):
        validate_graph_deployment(manifest)
    per_call = (time.perf_counter() - started) / 50

    assert per_call < 0.02


@pytest.mark.parametrize(
    ("image", "tag", "is_version"),
    [
        ("nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.4.0", "1.4.0", True),
        ("repo/x:v1.4.0", "v1.4.0", True),
        ("repo/x:1.4.0-efa", "1.4.0-efa", True),
        ("repo/x:1.2.0-cuda13", "1.2.0-cuda13", True),
        ("localhost:5000/x:1.6.1", "1.6.1", True),
        ("repo/x:latest", "latest", False),
        ("repo/x:my-tag", "my-tag", False),
        ("repo/x:0.7.0.post1", "0.7.0.post1", False),
        ("repo/x@sha256:abcd", None, False),
        ("localhost:5000/x", None, False),
    ],
    ids=lambda value: value if isinstance(value, str) and "/" in value else None,
)
def test_image_tags(image: str, tag: str | None, is_version: bool) -> None:
    assert image_tag(image) == tag
    assert is_image_version_tag(image) is is_version


@pytest.mark.parametrize(
    "release", ["v0.8.0-main-2025-12-19", "v1.0.0-main-2026-02-25"], ids=["0.8", "1.0"]
)
@pytest.mark.parametrize("mode", MODES)
def test_v1alpha1_manifests_fit_older_operators_crds(
    catalog: Catalog, release: str, mode: str
) -> None:
    path = CRD.parent / "older" / release / CRD.name
    older = Draft7Validator(
        _trim_script().trim_crd(_trim_script().load_crd(path))["v1alpha1"]
    )
    manifest = _manifest(
        catalog, "v1alpha1", engine="trtllm", mode=mode, router_mode="kv", memory="8Gi"
    )

    errors = [error.message for error in older.iter_errors(manifest)]

    assert errors == []
