"""Catalog: search and filter the models, then pick one to configure."""

import streamlit as st

from dynamote_core.catalog import search_models
from ui import models, state
from ui.render import (
    escape_markdown,
    format_context,
    guarded,
    label_engine,
    model_badges_markdown,
)

# Two cards a row fill the main column at both 1280 px (sidebar open) and
# 768 px (sidebar collapsed) without a strip left empty; narrower screens stack.
CARDS_PER_ROW = 2


def render_card(model) -> None:
    """One model as a bordered card with its facts and a Configure button.

    Five elements a card (box, text, footnote, space, button): every search
    redraws the cards it shows, and the browser's time grows with the element
    count. The space takes what a shorter card has left, so the buttons of a
    row line up.
    """
    with st.container(border=True, height="stretch"):
        st.markdown(describe_card(model))
        st.caption(
            escape_markdown(describe_memory(model))
            + "  \n"
            + escape_markdown("Engines: " + ", ".join(map(label_engine, model.engines)))
        )
        st.space("stretch")
        if st.button(
            "Configure",
            key=f"{state.CATALOG_CONFIGURE_PREFIX}{model.id}",
            icon=":material/tune:",
            type="primary",
            help=f"Configure a deployment of {model.id}",
        ):
            st.session_state[state.SELECTED_MODEL] = model.id
            st.switch_page(
                "views/configure.py", query_params={state.QUERY_MODEL: model.id}
            )


def describe_card(model) -> str:
    """The card's text as markdown: name, Hugging Face id, badges, description."""
    return "\n\n".join(
        (
            f"**{escape_markdown(model.display_name)}**  \n"
            f":small[:gray[{escape_markdown(model.id)}]]",
            model_badges_markdown(model, gated_label="Gated"),
            escape_markdown(model.description),
        )
    )


def describe_memory(model) -> str:
    """'≈ 18 GiB per worker at 32k context' for the model's default context."""
    estimate = models.estimate_model_memory(model.id, model.context_length, 1)
    context = format_context(model.context_length)
    return f"≈ {estimate.total_gib:.0f} GiB GPU memory per worker at {context} context"


FILTER_KEYS = (state.CATALOG_SEARCH, state.CATALOG_TASKS, state.CATALOG_ENGINES)


def restore_filters() -> None:
    """Put back the search and chips the user left when they went to another page."""
    kept = st.session_state.get(state.CATALOG_KEPT, {})
    for key in FILTER_KEYS:
        if key not in st.session_state and key in kept:
            st.session_state[key] = kept[key]


def keep_filters() -> None:
    st.session_state[state.CATALOG_KEPT] = {
        key: st.session_state.get(key) for key in FILTER_KEYS
    }


@st.fragment
@guarded
def browse_catalog() -> None:
    """Search box, filter chips and the card grid; typing reruns only this part."""
    catalog = models.get_catalog()
    restore_filters()
    query = st.text_input(
        "Search models",
        key=state.CATALOG_SEARCH,
        type="search",
        # Commit on every change: the rerun it costs is ~10 ms of server time,
        # well under the gap between two keystrokes, so a pause would only add
        # its length to every search (a paste is one change, not many).
        live="0ms",
        placeholder="Name, Hugging Face id, family…",
    )
    with st.container(horizontal=True, gap="large"):
        tasks = st.pills(
            "Task",
            sorted({model.task for model in catalog.models}),
            selection_mode="multi",
            key=state.CATALOG_TASKS,
        )
        engines = st.pills(
            "Engine",
            sorted({engine for model in catalog.models for engine in model.engines}),
            selection_mode="multi",
            format_func=label_engine,
            key=state.CATALOG_ENGINES,
        )

    keep_filters()
    found = search_models(catalog.models, query or "", tasks or [], engines or [])
    st.caption(f"{len(found)} of {len(catalog.models)} models")
    if not found:
        st.info(
            "No model matches. Clear the search or the filters.",
            icon=":material/search_off:",
        )
        return
    for start in range(0, len(found), CARDS_PER_ROW):
        row = found[start : start + CARDS_PER_ROW]
        for column, model in zip(
            st.columns(CARDS_PER_ROW, gap="medium"), row, strict=False
        ):
            with column:
                render_card(model)


if state.QUERY_MODEL in st.query_params:
    # Left by Back from Configure (Streamlit records the switch to Configure as
    # two history entries, the first being this page with Configure's ?model=).
    del st.query_params[state.QUERY_MODEL]
st.title("Model catalog", anchor=False)
st.caption("Pick a Hugging Face model to serve with NVIDIA Dynamo.")
browse_catalog()
