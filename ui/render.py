"""Small render helpers shared by the pages.

Text from users or the cluster is shown as text: `st.text`, `st.code`,
`st.dataframe`, or, where only a markdown-rendering element fits (captions,
badges, alerts), after `escape_markdown`. Nothing here uses HTML.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import streamlit as st

from dynamote_core.catalog import ENGINE_LABELS
from dynamote_core.errors import ClusterError, ClusterForbidden, DynamoteError

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# Every character CommonMark (and Streamlit's extensions: $ for LaTeX, : for
# emoji and icon shortcodes, ~ for strikethrough) may read as markup.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:=^])")

STATUS_ICONS = {
    "Running": "✅",
    "Deploying": "⏳",
    "Pending": "🕓",
    "Failed": "❌",
    "Terminating": "🗑️",
}
VERDICT_ICONS = {"pass": "✅", "warn": "⚠️", "fail": "❌"}
MODE_LABELS = {
    "aggregated": "Aggregated",
    "disaggregated": "Disaggregated (prefill + decode)",
}


def label_engine(engine: str) -> str:
    """An engine's display name: vllm to vLLM."""
    return ENGINE_LABELS.get(engine, engine)


def escape_markdown(text: object) -> str:
    """`text` with every markdown special character backslash-escaped."""
    escaped = _MARKDOWN_SPECIALS.sub(r"\\\1", str(text))
    # Newlines would start new blocks (lists, headings) in some elements.
    return escaped.replace("\n", " ")


def label_status(status: str) -> str:
    """A deployment status as icon and word, so it never relies on colour."""
    return f"{STATUS_ICONS.get(status, '❔')} {status}"


def label_verdict(verdict: str) -> str:
    """A pre-flight verdict as icon and word."""
    return f"{VERDICT_ICONS.get(verdict, '❔')} {verdict.upper()}"


def format_age(seconds: float | None) -> str:
    """Seconds as a short human age, like kubectl: 45s, 3m, 2h, 5d."""
    if seconds is None or seconds < 0:
        return "-"
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def format_context(tokens: int) -> str:
    """A context length in tokens as 4k, 32k, 128k."""
    if tokens >= 1024 and tokens % 1024 == 0:
        return f"{tokens // 1024}k"
    if tokens >= 1000:
        return f"{tokens / 1000:.0f}k"
    return str(tokens)


def show_missing_namespace(namespace: str, remedy: str) -> None:
    """Say the namespace is not on the cluster, with the command that creates it."""
    st.warning(
        escape_markdown(
            f"Namespace {namespace} does not exist on the cluster: deployments "
            f"cannot be created there. {remedy}"
        ),
        icon=":material/folder_off:",
    )
    st.code(f"kubectl create namespace {namespace}", language="bash")


def show_error(error: DynamoteError, *, prefix: str = "") -> None:
    """A Dynamote error as a plain-text error box, with the `can-i` line if any."""
    message = f"{prefix}{error}" if prefix else str(error)
    st.error(escape_markdown(message), icon=":material/error:")
    if isinstance(error, ClusterForbidden):
        st.code(error.can_i, language="bash")


def show_cluster_problem(error: ClusterError | str, *, retry_key: str) -> bool:
    """Say the cluster cannot be reached, with the remedy; True on Retry."""
    st.warning(
        escape_markdown(f"Cluster not reachable: {error}"), icon=":material/cloud_off:"
    )
    return st.button("Retry", key=retry_key, icon=":material/refresh:")


def report_unexpected(error: Exception) -> None:
    """Log an unexpected exception and show a short message without a traceback."""
    log.exception("Unexpected error while rendering a page")
    st.error(
        "Something went wrong on this page and it was logged. Reload the page; if it "
        f"happens again, report it with the server log. ({type(error).__name__})",
        icon=":material/error:",
    )


@contextmanager
def guard_page() -> Iterator[None]:
    """Run a page body so no traceback reaches the page.

    Streamlit's own control flow (rerun, stop, switch_page) derives from
    BaseException, so catching Exception leaves it alone.
    """
    try:
        yield
    except DynamoteError as error:
        log.warning("Page stopped on %s: %s", type(error).__name__, error)
        show_error(error)
    except Exception as error:
        report_unexpected(error)


def guarded(func: Callable[P, None]) -> Callable[P, None]:
    """`guard_page` as a decorator, for fragments that rerun on their own."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        with guard_page():
            func(*args, **kwargs)

    return wrapper


def model_badges_markdown(model: Any, gated_label: str) -> str:
    """Task, size and license badges, plus the gated one, as one line of markdown.

    One markdown element instead of a badge element each: the browser draws one
    element where it drew five, which is what keeps the catalog quick to filter.
    """
    badges = [
        ("blue", "category", model.task),
        ("gray", "straighten", model.size_label),
        ("violet", "gavel", model.license),
    ]
    if model.gated:
        badges.append(("orange", "lock", gated_label))
    return " ".join(
        f":{color}-badge[:material/{icon}: {escape_markdown(text)}]"
        for color, icon, text in badges
    )


def render_model_badges(model: Any, gated_label: str) -> None:
    """The model's badges (see `model_badges_markdown`) as their own line."""
    st.markdown(model_badges_markdown(model, gated_label))
