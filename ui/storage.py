"""Per-browser settings: kept in a cookie, read on a session's first run.

Defaults come from the process settings (environment variables). The stored copy
arrives with the session itself (`st.context.cookies` holds the cookies the
browser sent when the page opened), so the first run already uses it: no page is
drawn with the defaults first and no extra rerun is needed to learn them.
Wherever no browser sends the cookie (AppTest, a first visit), the defaults
apply and saving still updates the session. Validation reuses `load_settings`,
so the browser settings obey the same rules as the environment variables.

Writing needs the browser: a tiny component of our own (Streamlit custom
component v2) sets or removes the cookie, and is rendered only while a write is
waiting, so pages that only read settings load no component code at all. It
confirms each write with one rerun, never more. The cookie holds the settings'
names (namespace, secret name, context, versions), never a token.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import unquote

import streamlit as st

from dynamote_core.errors import ConfigError, FieldError
from dynamote_core.settings import AppSettings, load_settings
from ui import form, state

log = logging.getLogger(__name__)

STORAGE_ITEM = "dynamote.settings"
API_VERSION_CHOICES = ("auto", "v1beta1", "v1alpha1")

COOKIE_MAX_AGE_SECONDS = 400 * 24 * 3600  # the longest browsers keep a cookie

# `sent` lives as long as the page: the module is imported once per page load, and
# a repeated call with the same data must not write (and rerun) twice.
_STORAGE_JS = """
const sent = new Set();

function readCookie(item) {
    const prefix = `${encodeURIComponent(item)}=`;
    const found = document.cookie.split("; ").find((c) => c.startsWith(prefix));
    if (found === undefined) {
        return null;
    }
    try {
        return JSON.parse(decodeURIComponent(found.slice(prefix.length)));
    } catch (error) {
        return null;
    }
}

function writeCookie(item, value, maxAge) {
    const name = encodeURIComponent(item);
    const attributes = "path=/; SameSite=Strict";
    if (value === null) {
        document.cookie = `${name}=; max-age=0; ${attributes}`;
    } else {
        const text = encodeURIComponent(JSON.stringify(value));
        document.cookie = `${name}=${text}; max-age=${maxAge}; ${attributes}`;
    }
}

export default function ({ data, setStateValue }) {
    const { item, session, write, maxAge } = data;
    const mark = `${session}:write:${write.id}`;
    if (sent.has(mark)) {
        return;
    }
    sent.add(mark);
    writeCookie(item, write.value, maxAge);
    setStateValue("sync", { stored: readCookie(item), acked: write.id });
}
"""

_STORAGE_COMPONENT = st.components.v2.component(
    name="dynamote.browser_storage",
    html="<div hidden></div>",
    js=_STORAGE_JS,
)


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


def read_browser_storage() -> None:
    """Take in the stored settings and the component's last report; call first.

    On a session's first run, loads the settings from the cookie the browser
    sent. Later, drops the queued write once the component has confirmed it.
    """
    if not st.session_state.get(state.SETTINGS_LOADED):
        st.session_state[state.SETTINGS_LOADED] = True
        load_stored_settings(read_settings_cookie())
    reported = st.session_state.get(state.BROWSER_STORAGE)
    sync = reported.get("sync") if isinstance(reported, Mapping) else None
    pending = st.session_state.get(state.STORAGE_PENDING)
    acked = (sync.get("acked") or 0) if isinstance(sync, Mapping) else 0
    if pending is not None and pending["id"] <= acked:
        st.session_state.pop(state.STORAGE_PENDING, None)


def read_settings_cookie() -> Any:
    """The settings the browser sent in its cookie (see `decode_settings_cookie`)."""
    return decode_settings_cookie(st.context.cookies.get(STORAGE_ITEM))


def decode_settings_cookie(raw: object) -> Any:
    """The cookie's value as the component wrote it (URL-encoded JSON), or None.

    Anything but a non-empty string counts as no cookie (AppTest's stand-in
    client answers with a mock object).
    """
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return json.loads(unquote(raw))
    except ValueError:
        log.warning("Ignoring a settings cookie that is not JSON")
        return None


def render_browser_storage() -> None:
    """Render the storage component while a write waits; call last thing on every run.

    Last, because its confirmation reruns the app: coming after the page has
    rendered, that rerun cannot cut the run short. (A run cut short before a
    seeded widget reached the browser left that widget empty in the browser,
    which then sent the empty value back on the next interaction.)
    """
    write = st.session_state.get(state.STORAGE_PENDING)
    if write is None:
        return
    session = st.session_state.setdefault(state.STORAGE_SESSION, uuid.uuid4().hex)
    data = {
        "item": STORAGE_ITEM,
        "session": session,
        "write": write,
        "maxAge": COOKIE_MAX_AGE_SECONDS,
    }
    # The event container adds no space to the page (a 0 px element would).
    with st._event:
        _STORAGE_COMPONENT(
            key=state.BROWSER_STORAGE,
            data=data,
            default={"sync": None},
            on_sync_change=lambda: None,
            height=0,
        )


def load_stored_settings(stored: Any) -> None:
    """Use the browser's saved settings when they are valid; warn and skip if not."""
    if not isinstance(stored, dict):
        return
    settings, errors = validate_browser_settings(
        {**asdict(current_settings()), **stored}
    )
    if settings is None:
        log.warning("Ignoring saved browser settings: %s", "; ".join(map(str, errors)))
        return
    st.session_state[state.SETTINGS] = settings


def queue_browser_write(value: dict[str, str] | None) -> None:
    """Ask the component to store `value` (None removes the item) on its next render."""
    pending = st.session_state.get(state.STORAGE_PENDING)
    next_id = (
        pending["id"] if pending else st.session_state.get(state.STORAGE_LAST_ID, 0)
    ) + 1
    st.session_state[state.STORAGE_LAST_ID] = next_id
    st.session_state[state.STORAGE_PENDING] = {"id": next_id, "value": value}


def is_write_pending() -> bool:
    """True until the browser has confirmed the last queued write.

    Where no browser runs the component (AppTest) it stays True.
    """
    return state.STORAGE_PENDING in st.session_state


def save_settings(settings: BrowserSettings) -> None:
    """Use `settings` for this session and store them in the browser."""
    form.follow_settings(current_settings(), settings)
    st.session_state[state.SETTINGS] = settings
    queue_browser_write(asdict(settings))


def reset_settings() -> BrowserSettings:
    """Go back to the environment's defaults and forget the stored copy."""
    defaults = read_default_settings()
    form.follow_settings(current_settings(), defaults)
    st.session_state[state.SETTINGS] = defaults
    queue_browser_write(None)
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
