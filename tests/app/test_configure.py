"""Configure page: inline validation, live preview, pre-flight, deploy."""

from __future__ import annotations

import uuid

import pytest

from dynamote_core.catalog import load_catalog
from tests.app.conftest import assert_no_exception, error_texts
from ui import state

PAGE = "views/configure.py"


def manifest_text(at) -> str:
    return next(code.value for code in at.code if code.language == "yaml")


@pytest.fixture
def model_id() -> str:
    return load_catalog().ids[0]


@pytest.mark.parametrize(
    ("widget", "key", "value", "field"),
    [
        ("text_input", state.CONFIG_NAME, "Bad_Name!", "name"),
        ("number_input", state.CONFIG_REPLICAS, 9, "replicas"),
        ("number_input", state.CONFIG_CONTEXT_LENGTH, 10_000_000, "context\\_length"),
        ("text_area", state.CONFIG_ENGINE_ARGS, "{not: [valid", "engine\\_args"),
    ],
    ids=["name", "replicas", "context-length", "engine-args"],
)
def test_bad_value_is_named_under_its_field_and_kept(
    open_page, model_id, widget, key, value, field
) -> None:
    at = open_page(PAGE, model=model_id)

    getattr(at, widget)(key=key).set_value(value).run()

    assert_no_exception(at)
    assert any(text.startswith(field) for text in error_texts(at)), error_texts(at)
    assert getattr(at, widget)(key=key).value == value
    assert at.button(key=state.CONFIG_DEPLOY).disabled
    assert not [code for code in at.code if code.language == "yaml"]


def test_query_param_chooses_the_model(open_page) -> None:
    other = load_catalog().ids[2]

    at = open_page(PAGE, model=other)

    assert at.selectbox(key=state.CONFIG_MODEL).value == other
    assert other in manifest_text(at)


def test_preview_follows_the_fields(open_page, model_id) -> None:
    at = open_page(PAGE, model=model_id)

    at.text_input(key=state.CONFIG_NAME).input("preview-check").run()
    at.number_input(key=state.CONFIG_REPLICAS).set_value(2).run()

    manifest = manifest_text(at)
    assert "name: preview-check" in manifest
    assert "replicas: 2" in manifest
    kubectl = " ".join(code.value for code in at.code if code.language == "bash")
    assert "kubectl apply" in kubectl
    assert "port-forward" in kubectl


def test_disaggregated_mode_asks_for_prefill_and_decode_workers(
    open_page, model_id
) -> None:
    at = open_page(PAGE, model=model_id)

    at.radio(key=state.CONFIG_MODE).set_value("disaggregated").run()

    assert_no_exception(at)
    assert at.number_input(key=state.CONFIG_PREFILL_REPLICAS).value >= 1
    assert at.number_input(key=state.CONFIG_DECODE_REPLICAS).value >= 1


def test_engine_choice_is_limited_to_the_model_engines(open_page, model_id) -> None:
    at = open_page(PAGE, model=model_id)

    options = at.selectbox(key=state.CONFIG_ENGINE).options

    assert len(options) == len(load_catalog().get(model_id).engines)


def test_deploy_creates_the_graph_deployment(
    open_page, model_id, custom_objects
) -> None:
    name = f"app-{uuid.uuid4().hex[:8]}"
    at = open_page(PAGE, model=model_id)
    at.text_input(key=state.CONFIG_NAME).input(name).run()
    assert not at.button(key=state.CONFIG_DEPLOY).disabled, error_texts(at)

    at.button(key=state.CONFIG_DEPLOY).click().run()

    assert_no_exception(at)
    found = custom_objects.get_namespaced_custom_object(
        "nvidia.com", "v1beta1", "dynamo-system", "dynamographdeployments", name
    )
    assert found["metadata"]["name"] == name
    link = at.get("page_link")[0]
    assert name in link.proto.label
    assert link.proto.page == "deployment"
