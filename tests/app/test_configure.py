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
        ("text_input", state.CONFIG_NAME, "Bad_Name!", "Deployment name\\:"),
        ("number_input", state.CONFIG_REPLICAS, 9, "Workers\\:"),
        ("number_input", state.CONFIG_CONTEXT_LENGTH, 10_000_000, "Context length\\:"),
        (
            "text_area",
            state.CONFIG_ENGINE_ARGS,
            "{not: [valid",
            "Custom engine args\\:",
        ),
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
    # The checks made before the create are gone; a second Deploy cannot start.
    assert at.button(key=state.CONFIG_DEPLOY).disabled
    page_text = " ".join(m.value for m in at.markdown)
    assert "is free" not in page_text
    assert any("change the deployment name" in c.value for c in at.caption)


def test_a_cleared_context_length_means_the_model_default(open_page, model_id) -> None:
    at = open_page(PAGE, model=model_id)

    at.number_input(key=state.CONFIG_CONTEXT_LENGTH).set_value(None).run()

    assert_no_exception(at)
    assert not error_texts(at)
    assert at.number_input(key=state.CONFIG_CONTEXT_LENGTH).value is None
    assert "max-model-len" not in manifest_text(at)


def test_a_huge_context_length_is_one_error_and_no_memory_warnings(
    open_page, model_id
) -> None:
    at = open_page(PAGE, model=model_id)

    at.number_input(key=state.CONFIG_CONTEXT_LENGTH).set_value(10**10).run()

    assert len(error_texts(at)) == 1, error_texts(at)
    assert not [w.value for w in at.warning if "GiB" in w.value]


def test_a_context_above_the_card_warns_why(open_page) -> None:
    model = next(m for m in load_catalog().models if m.max_position_embeddings)
    assert model.max_position_embeddings > model.context_length
    at = open_page(PAGE, model=model.id)

    at.number_input(key=state.CONFIG_CONTEXT_LENGTH).set_value(
        model.max_position_embeddings
    ).run()

    assert not error_texts(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "max\\_position\\_embeddings" in warnings


def test_a_cleared_name_says_it_is_required(open_page, model_id) -> None:
    at = open_page(PAGE, model=model_id)

    at.text_input(key=state.CONFIG_NAME).input("").run()

    assert any(
        text.startswith("Deployment name is required") for text in error_texts(at)
    ), error_texts(at)


def test_the_image_placeholder_and_args_warning_follow_the_engine(open_page) -> None:
    model = next(m for m in load_catalog().models if len(m.engines) > 1)
    at = open_page(PAGE, model=model.id)
    at.text_area(key=state.CONFIG_ENGINE_ARGS).input("max-num-seqs: 8").run()
    other = model.engines[1]

    at.selectbox(key=state.CONFIG_ENGINE).set_value(other).run()

    placeholder = at.text_input(key=state.CONFIG_IMAGE).placeholder
    assert f"{other}-runtime" in placeholder or other in placeholder
    warnings = " ".join(w.value for w in at.warning)
    assert "passed to" in warnings and "as written" in warnings
    assert "or clear them" in warnings


def test_preflight_checks_render_as_readable_blocks(open_page, model_id) -> None:
    at = open_page(PAGE, model=model_id)

    markdown = " ".join(m.value for m in at.markdown)

    assert_no_exception(at)
    assert "PASS" in markdown or "WARN" in markdown or "FAIL" in markdown
    assert not [df for df in at.dataframe if "Fix" in df.value.columns]


@pytest.mark.parametrize(
    ("model_id", "gpus"),
    [("Qwen/Qwen3-0.6B", 1), ("meta-llama/Llama-3.3-70B-Instruct", 4)],
    ids=["small-model", "70b-on-the-sandbox-80gb-gpus"],
)
def test_gpus_per_worker_starts_at_what_the_model_needs(
    open_page, model_id, gpus
) -> None:
    at = open_page(PAGE, model=model_id)

    assert_no_exception(at)
    assert at.number_input(key=state.CONFIG_GPUS_PER_WORKER).value == gpus
    assert not [text for text in at.warning if "per GPU" in text.value]


def test_unknown_model_in_url_says_which_model_is_shown_instead(open_page) -> None:
    at = open_page(PAGE, model="nope/nope")

    assert_no_exception(at)
    shown = at.selectbox(key=state.CONFIG_MODEL).value
    assert "nope/nope is not in the catalog" in at.warning[0].value.replace("\\", "")
    assert f"{shown} is shown instead" in at.warning[0].value.replace("\\", "")
