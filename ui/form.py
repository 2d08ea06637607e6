"""Configure page support: widget keys per DeploymentConfig field, defaults, errors.

Keeps the page itself to reading widgets, calling the core and rendering.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dynamote_core.config import (
    DeploymentConfig,
    default_deployment_name,
    describe_field_error,
)
from dynamote_core.errors import ConfigError
from dynamote_core.memory import suggest_gpus_per_worker
from ui import models, state
from ui.render import escape_markdown

# DeploymentConfig field -> widget key. The page renders one widget per entry.
FIELD_KEYS = {
    "engine": state.CONFIG_ENGINE,
    "mode": state.CONFIG_MODE,
    "router_mode": state.CONFIG_ROUTER_MODE,
    "replicas": state.CONFIG_REPLICAS,
    "prefill_replicas": state.CONFIG_PREFILL_REPLICAS,
    "decode_replicas": state.CONFIG_DECODE_REPLICAS,
    "name": state.CONFIG_NAME,
    "served_model_name": state.CONFIG_SERVED_MODEL_NAME,
    "hf_secret_name": state.CONFIG_HF_SECRET,
    "context_length": state.CONFIG_CONTEXT_LENGTH,
    "gpus_per_worker": state.CONFIG_GPUS_PER_WORKER,
    "memory": state.CONFIG_MEMORY,
    "enforce_eager": state.CONFIG_ENFORCE_EAGER,
    "prefix_caching": state.CONFIG_PREFIX_CACHING,
    "trust_remote_code": state.CONFIG_TRUST_REMOTE_CODE,
    "engine_args": state.CONFIG_ENGINE_ARGS,
    "dynamo_version": state.CONFIG_DYNAMO_VERSION,
    "image": state.CONFIG_IMAGE,
}


# The engine the custom args were written for (the page warns when it changes).
ARGS_ENGINE_KEY = "config_engine_args_engine"
# Number inputs where empty is a value of its own: the config's None.
NULLABLE_NUMBERS = frozenset({"context_length"})


def field_default(field: str) -> Any:
    """DeploymentConfig's own default for a field, or None when it has none."""
    info = DeploymentConfig.model_fields.get(field)
    if info is None or info.is_required():
        return None
    return info.get_default(call_default_factory=True)


# Where the cluster's GPUs are unknown, size workers for the common 80 GB cards.
REFERENCE_GPU_MEMORY_GIB = 80.0


def seed_form(model: Any, settings: Any, gpu_memory_gib: float | None = None) -> None:
    """Fill the form with defaults for `model`; called when the model changes.

    GPUs per worker starts at the fewest GPUs of `gpu_memory_gib` (the cluster's
    largest, when known) that hold the model at its default context.
    """
    engine = st.session_state.get(state.CONFIG_ENGINE)
    if engine not in model.engines:
        engine = model.engines[0]
    values = {field: field_default(field) for field in FIELD_KEYS}
    values |= {
        "engine": engine,
        "name": default_deployment_name(model.id, engine),
        "served_model_name": model.id,
        "hf_secret_name": settings.hf_secret,
        "context_length": model.context_length,
        "dynamo_version": settings.dynamo_version,
        "gpus_per_worker": suggest_gpus(model, gpu_memory_gib),
    }
    for field, key in FIELD_KEYS.items():
        st.session_state[key] = _widget_value(field, values[field])
    st.session_state[state.CONFIG_DEFAULT_NAME] = values["name"]
    st.session_state[state.CONFIG_FORM_MODEL] = model.id
    note_args_engine()


# Form fields whose default is a setting: (form field, BrowserSettings attribute).
SETTING_FIELDS = (("hf_secret_name", "hf_secret"), ("dynamo_version", "dynamo_version"))


def follow_settings(old: Any, new: Any) -> None:
    """Carry saved settings into a Configure form filled earlier.

    A field still holding the old setting takes the new one; a value the user
    typed there stays.
    """
    for field, setting in SETTING_FIELDS:
        key = FIELD_KEYS[field]
        if key in st.session_state and st.session_state[key] == getattr(old, setting):
            st.session_state[key] = getattr(new, setting)


def suggest_gpus(model: Any, gpu_memory_gib: float | None) -> int:
    """GPUs per worker for `model` at its default context; 1 when nothing fits."""
    estimate = models.estimate_model_memory(model.id, model.context_length, 1)
    memory = gpu_memory_gib or REFERENCE_GPU_MEMORY_GIB
    return suggest_gpus_per_worker(estimate, memory, model) or 1


def _widget_value(field: str, value: Any) -> Any:
    # Text widgets hold "" where the config holds None; nullable numbers hold None.
    if value is None and field not in NULLABLE_NUMBERS:
        return ""
    return value


def note_args_engine() -> None:
    """Remember the engine the custom args are written for (on seeding or editing)."""
    st.session_state[ARGS_ENGINE_KEY] = st.session_state.get(state.CONFIG_ENGINE)


def args_engine_changed() -> str | None:
    """The engine custom args were written for, when they are set and it changed."""
    written_for = st.session_state.get(ARGS_ENGINE_KEY)
    args = st.session_state.get(state.CONFIG_ENGINE_ARGS) or ""
    if args.strip() and written_for != st.session_state.get(state.CONFIG_ENGINE):
        return str(written_for)
    return None


def follow_default_name(model_id: str) -> None:
    """After an engine change, keep a default name in step; keep an edited one."""
    engine = st.session_state[state.CONFIG_ENGINE]
    old_default = st.session_state.get(state.CONFIG_DEFAULT_NAME)
    new_default = default_deployment_name(model_id, engine)
    if st.session_state.get(state.CONFIG_NAME) in ("", old_default):
        st.session_state[state.CONFIG_NAME] = new_default
    st.session_state[state.CONFIG_DEFAULT_NAME] = new_default


def read_form(model_id: str, namespace: str) -> dict[str, Any]:
    """The form's values as validate_config expects them."""
    values = {field: st.session_state.get(key) for field, key in FIELD_KEYS.items()}
    # Empty optional text means "not set"; required text stays "" so the
    # error says the field is required.
    values = {
        field: None if value == "" and _is_optional(field) else value
        for field, value in values.items()
    }
    return values | {"model_id": model_id, "namespace": namespace}


def _is_optional(field: str) -> bool:
    info = DeploymentConfig.model_fields[field]
    return not info.is_required() and info.get_default() is None


class FieldErrors:
    """The ConfigError of this run, shown field by field under each widget."""

    def __init__(self, error: ConfigError | None) -> None:
        self.error = error
        self.shown: set[int] = set()

    def has(self, field: str) -> bool:
        """Whether this run has an error about `field`."""
        return self.error is not None and bool(self.error.for_field(field))

    def show(self, *fields: str) -> None:
        if self.error is None:
            return
        for field in fields:
            for field_error in self.error.for_field(field):
                self._render(field_error)

    def show_rest(self) -> None:
        """Errors no widget showed (e.g. about the combination of fields)."""
        if self.error is None:
            return
        for field_error in self.error.field_errors:
            self._render(field_error)

    def _render(self, field_error: Any) -> None:
        if id(field_error) in self.shown:
            return
        self.shown.add(id(field_error))
        st.error(
            escape_markdown(describe_field_error(field_error)),
            icon=":material/error:",
        )
