"""Catalog page: search as you type, filter chips, cards, Configure opens the model."""

from __future__ import annotations

from dynamote_core.catalog import load_catalog
from tests.app.conftest import assert_no_exception
from ui import state

PAGE = "views/catalog.py"


def shown_model_ids(at) -> list[str]:
    prefix = state.CATALOG_CONFIGURE_PREFIX
    return [
        button.key[len(prefix) :]
        for button in at.button
        if button.key.startswith(prefix)
    ]


def test_cards_show_every_model_with_memory_needed(open_page) -> None:
    catalog = load_catalog()

    at = open_page(PAGE)

    assert_no_exception(at)
    assert shown_model_ids(at) == catalog.ids
    captions = [caption.value for caption in at.caption]
    assert any("GiB GPU memory per worker" in caption for caption in captions)


def test_search_filters_by_typed_words(open_page) -> None:
    at = open_page(PAGE)
    total = len(shown_model_ids(at))
    word = load_catalog().models[0].family

    at.text_input(key=state.CATALOG_SEARCH).input(word).run()

    shown = shown_model_ids(at)
    assert 0 < len(shown) < total
    assert at.text_input(key=state.CATALOG_SEARCH).proto.HasField("live_debounce_ms")


def test_search_without_match_says_so(open_page) -> None:
    at = open_page(PAGE)

    at.text_input(key=state.CATALOG_SEARCH).input("no-such-model-anywhere").run()

    assert shown_model_ids(at) == []
    assert "No model matches" in at.info[0].value


def test_task_chip_keeps_only_that_task(open_page) -> None:
    catalog = load_catalog()
    task = sorted({model.task for model in catalog.models})[0]
    at = open_page(PAGE)

    at.pills(key=state.CATALOG_TASKS).set_value([task]).run()

    shown = shown_model_ids(at)
    assert shown
    assert all(catalog.get(model_id).task == task for model_id in shown)


def test_engine_chip_keeps_models_that_run_on_it(open_page) -> None:
    catalog = load_catalog()
    at = open_page(PAGE)

    at.pills(key=state.CATALOG_ENGINES).set_value(["sglang"]).run()

    shown = shown_model_ids(at)
    assert shown
    assert all("sglang" in catalog.get(model_id).engines for model_id in shown)


def test_configure_button_opens_configure_with_that_model(open_page) -> None:
    model_id = load_catalog().ids[1]
    at = open_page(PAGE)

    at.button(key=f"{state.CATALOG_CONFIGURE_PREFIX}{model_id}").click().run()

    assert_no_exception(at)
    assert at.selectbox(key=state.CONFIG_MODEL).value == model_id
    assert at.query_params[state.QUERY_MODEL] == model_id
