"""Per-browser settings: kept in the browser's localStorage, read once per session.

Defaults come from the process settings (environment variables). The stored
copy is read when the localStorage component has synced with the browser; until
then, and wherever no browser runs the component (AppTest), the defaults apply
and saving still updates the session. Validation reuses `load_settings`, so the
browser settings obey the same rules as the environment variables.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace
from typing import Any

import streamlit as st
from streamlit_extras.local_storage_manager import local_storage_manager

from dynamote_core.errors import ConfigError, FieldError
from dynamote_core.settings import AppSettings, load_settings
from ui import state

log = logging.getLogger(__name__)

STORAGE_ITEM = "dynamote_settings"
API_VERSION_CHOICES = ("auto", "v1beta1", "v1alpha1")


@dataclass(frozen=True)
class SettingField:
    """One browser setting: its attribute, label and the variable giving its default."""

    name: str
    label: str
    env_var: str


FIELDS = (
    SettingField("namespace", "Namespace", "DEFAULT_NAMESPACE"),
    SettingField("hf_secret", "HF token secret name", "DEFAULT_HF_SECRET"),
    SettingField("kube_context", "Kube context", "DYNAMOTE_KUBE_CONTEXT"),
    SettingField("dynamo_version", "Dynamo version", "DYNAMO_VERSION"),
    SettingField("api_version", "DGD API version", "DYNAMOTE_API_VERSION"),
)
_BY_ENV_VAR = {field.env_var: field for field in FIELDS}


@dataclass(frozen=True)
class BrowserSettings:
    """The settings one browser may change; the rest come from the environment."""

    namespace: str
    hf_secret: str
    kube_context: str
    dynamo_version: str
    api_version: str


def read_default_settings(app_settings: AppSettings | None = None) -> BrowserSettings:
    """Browser settings as the environment sets them."""
    settings = app_settings or load_settings()
    return BrowserSettings(
        namespace=settings.default_namespace,
        hf_secret=settings.default_hf_secret,
        kube_context=settings.kube_context or "",
        dynamo_version=settings.dynamo_version,
        api_version=settings.api_version,
    )


def validate_browser_settings(
    values: dict[str, Any],
) -> tuple[BrowserSettings | None, list[FieldError]]:
    """Check values against the environment variables' rules.

    Returns the settings and no errors, or None and one error per bad field
    (named by the field's label).
    """
    cleaned = {
        field.name: str(values.get(field.name) or "").strip() for field in FIELDS
    }
    errors = [
        FieldError(
            field.label,
            "must not be empty.",
            "Enter a value or press Reset to use the default.",
        )
        for field in FIELDS
        if field.name not in ("kube_context",) and not cleaned[field.name]
    ]
    environ = {field.env_var: cleaned[field.name] for field in FIELDS}
    try:
        load_settings(environ)
    except ConfigError as error:
        errors += [_relabel(field_error) for field_error in error.field_errors]
    if errors:
        return None, errors
    return BrowserSettings(**cleaned), []


def _relabel(error: FieldError) -> FieldError:
    field = _BY_ENV_VAR.get(error.field)
    return replace(error, field=field.label) if field else error


def current_settings() -> BrowserSettings:
    """This session's settings: saved ones once loaded, else the defaults."""
    settings = st.session_state.get(state.SETTINGS)
    if isinstance(settings, BrowserSettings):
        return settings
    defaults = read_default_settings()
    st.session_state[state.SETTINGS] = defaults
    return defaults


def sync_browser_storage() -> None:
    """Render the localStorage component and, once synced, load saved settings.

    Call on every run, before any page reads settings: pending writes reach the
    browser only when the component renders.
    """
    manager = local_storage_manager(key=state.LOCAL_STORAGE)
    st.session_state[state.LOCAL_STORAGE_MANAGER] = manager
    if st.session_state.get(state.SETTINGS_LOADED) or not manager.ready():
        return

    st.session_state[state.SETTINGS_LOADED] = True
    stored = manager.get(STORAGE_ITEM)
    if not isinstance(stored, dict):
        return
    settings, errors = validate_browser_settings(
        {**asdict(current_settings()), **stored}
    )
    if settings is None:
        log.warning("Ignoring saved browser settings: %s", "; ".join(map(str, errors)))
        return
    st.session_state[state.SETTINGS] = settings
    forget_settings_form()


def save_settings(settings: BrowserSettings) -> None:
    """Use `settings` for this session and store them in the browser."""
    st.session_state[state.SETTINGS] = settings
    manager = st.session_state.get(state.LOCAL_STORAGE_MANAGER)
    if manager is not None:
        manager.set(STORAGE_ITEM, asdict(settings))


def reset_settings() -> BrowserSettings:
    """Go back to the environment's defaults and forget the stored copy."""
    defaults = read_default_settings()
    st.session_state[state.SETTINGS] = defaults
    manager = st.session_state.get(state.LOCAL_STORAGE_MANAGER)
    if manager is not None and STORAGE_ITEM in manager:
        manager.delete(STORAGE_ITEM)
    forget_settings_form()
    return defaults


def forget_settings_form() -> None:
    """Drop the Settings page's widget values so they show the current settings."""
    for key in SETTINGS_WIDGET_KEYS.values():
        st.session_state.pop(key, None)


SETTINGS_WIDGET_KEYS = {
    "namespace": state.SETTINGS_NAMESPACE,
    "hf_secret": state.SETTINGS_HF_SECRET,
    "kube_context": state.SETTINGS_KUBE_CONTEXT,
    "dynamo_version": state.SETTINGS_DYNAMO_VERSION,
    "api_version": state.SETTINGS_API_VERSION,
}
