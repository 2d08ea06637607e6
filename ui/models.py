"""The model catalog and memory estimates, cached for the server process."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dynamote_core.catalog import load_catalog
from dynamote_core.memory import estimate_memory


@st.cache_resource(show_spinner=False)
def get_catalog() -> Any:
    """The catalog, loaded and validated once per process."""
    return load_catalog()


def find_model(model_id: str | None) -> Any | None:
    """The catalog model with this Hugging Face id, or None."""
    if not model_id:
        return None
    catalog = get_catalog()
    return catalog.get(model_id) if model_id in catalog else None


@st.cache_data(show_spinner=False, max_entries=2048)
def estimate_model_memory(
    model_id: str, context_length: int, gpus_per_worker: int
) -> Any:
    """The memory estimate for one catalog model, memoised by its inputs."""
    model = find_model(model_id)
    if model is None:
        raise KeyError(model_id)
    return estimate_memory(model, context_length, gpus_per_worker)
