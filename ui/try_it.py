"""The "Try it" tab: chat with a deployed model through the API server's service proxy.

Shows whether the deployment really serves (its model listed on the frontend's
`/v1/models`), a chat whose replies stream in as they arrive, the reply's timing, and
the equivalent port-forward and curl lines. Everything a model or the cluster says is
shown as plain text (escaped markdown, `st.code`), never as HTML. Errors are explained
in the chat; a forbidden proxy names the missing permission and falls back to the
port-forward instructions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import streamlit as st

from dynamote_core import chat
from dynamote_core.errors import ClusterForbidden, DynamoteError
from ui import state
from ui.render import escape_markdown

DEFAULT_MAX_TOKENS = 64
MAX_MAX_TOKENS = 4096
DEFAULT_TEMPERATURE = 0.7
CURL_PROMPT = "Hello! Who are you?"

ApiClientSource = Any | Callable[[], Any]


@dataclass
class Reply:
    """What one streamed reply produced: its text, stats, or the error that ended it."""

    text: str = ""
    stats: chat.ChatStats | None = None
    error: DynamoteError | None = None


def try_it_key(prefix: str, namespace: str, dgd_name: str) -> str:
    """A widget or session key of one deployment's Try it tab."""
    return f"{prefix}{namespace}/{dgd_name}"


def render_try_it(
    api_client_or_getter: ApiClientSource,
    namespace: str,
    dgd_name: str,
    served_model_name: str | None,
    deployment_status: str = "Running",
    *,
    read_timeout: float = chat.CHAT_READ_TIMEOUT_SECONDS,
) -> None:
    """The Try it tab of one deployment.

    Args:
        api_client_or_getter: an ApiClient, or a function returning one.
        served_model_name: the name the workers serve; None picks the only model
            the frontend lists.
        deployment_status: the DGD's status word; "Serving" needs "Running".
        read_timeout: the longest wait for the next piece of a reply, in seconds.
    """
    api_client = (
        api_client_or_getter()
        if callable(api_client_or_getter)
        else api_client_or_getter
    )
    serving = chat.check_serving(
        api_client, namespace, dgd_name, served_model_name or ""
    )
    model = served_model_name or pick_only_model(serving.models)
    if not served_model_name and model:
        serving = chat.check_serving(api_client, namespace, dgd_name, model)
    render_serving_state(
        chat.summarize_serving(deployment_status, model or "the model", serving),
        serving.error,
        namespace,
        dgd_name,
    )
    max_tokens, temperature = render_controls(namespace, dgd_name)
    render_chat(
        api_client,
        namespace,
        dgd_name,
        model,
        (max_tokens, temperature, read_timeout),
    )
    render_curl(namespace, dgd_name, model, max_tokens, temperature)


def pick_only_model(models: list[str]) -> str | None:
    return models[0] if len(models) == 1 else None


def render_serving_state(
    summary: chat.ServingSummary,
    error: DynamoteError | None,
    namespace: str,
    dgd_name: str,
) -> None:
    """ "Serving", or why not yet with the likely causes, and a button to look again."""
    if summary.serving:
        st.success(
            escape_markdown(f"{summary.label}: {summary.detail}"),
            icon=":material/check_circle:",
        )
        return
    st.warning(
        escape_markdown(f"{summary.label}. {summary.detail}"),
        icon=":material/hourglass_top:",
    )
    if summary.causes:
        st.markdown(
            "Likely causes:\n"
            + "\n".join(f"- {escape_markdown(cause)}" for cause in summary.causes)
        )
    if isinstance(error, ClusterForbidden):
        render_forbidden_fallback(error, namespace, dgd_name)
    st.button(
        "Check again",
        key=try_it_key(state.TRY_IT_RECHECK_PREFIX, namespace, dgd_name),
        icon=":material/refresh:",
    )


def render_forbidden_fallback(
    error: ClusterForbidden, namespace: str, dgd_name: str
) -> None:
    """The missing permission, how to check it, and the port-forward way instead."""
    st.markdown(
        escape_markdown(
            f"Missing permission: {error.verb} {error.resource} in namespace "
            f"{error.namespace or namespace}. Check it with:"
        )
    )
    st.code(error.can_i, language="bash", wrap_lines=True)
    st.markdown("Meanwhile, chat through a port-forward:")
    st.code(
        chat.port_forward_command(namespace, dgd_name), language="bash", wrap_lines=True
    )


def render_controls(namespace: str, dgd_name: str) -> tuple[int, float]:
    """max_tokens (the mocker needs one) and temperature."""
    left, right = st.columns(2)
    with left:
        max_tokens = st.number_input(
            "Max tokens",
            min_value=1,
            max_value=MAX_MAX_TOKENS,
            value=DEFAULT_MAX_TOKENS,
            step=16,
            key=try_it_key(state.TRY_IT_MAX_TOKENS_PREFIX, namespace, dgd_name),
            help="The longest reply, in tokens.",
        )
    with right:
        temperature = st.slider(
            "Temperature",
            min_value=0.0,
            max_value=2.0,
            value=DEFAULT_TEMPERATURE,
            step=0.1,
            key=try_it_key(state.TRY_IT_TEMPERATURE_PREFIX, namespace, dgd_name),
            help="0 always picks the likeliest token; higher is more varied.",
        )
    return int(max_tokens), float(temperature)


def render_chat(
    api_client: Any,
    namespace: str,
    dgd_name: str,
    model: str | None,
    options: tuple[int, float, float],
) -> None:
    """The history, the input, and the streamed answer to a new message.

    `options` are max_tokens, temperature and the read timeout.
    """
    history_key = try_it_key(state.TRY_IT_HISTORY_PREFIX, namespace, dgd_name)
    history: list[dict[str, Any]] = st.session_state.setdefault(history_key, [])
    # Filled last, so the button shows in the same run as the first reply; its
    # callback empties the history before the next run draws it.
    clear_slot = st.container()
    messages = st.container()
    with messages:
        for entry in history:
            render_entry(entry, namespace, dgd_name)
    prompt = st.chat_input(
        "Send a message",
        key=try_it_key(state.TRY_IT_INPUT_PREFIX, namespace, dgd_name),
    )
    if prompt:
        with messages:
            send_prompt(api_client, (namespace, dgd_name), model, options, prompt)
    if history:
        with clear_slot:
            st.button(
                "Clear chat",
                key=try_it_key(state.TRY_IT_CLEAR_PREFIX, namespace, dgd_name),
                icon=":material/delete_sweep:",
                type="tertiary",
                on_click=history.clear,
            )


def send_prompt(
    api_client: Any,
    target: tuple[str, str],
    model: str | None,
    options: tuple[int, float, float],
    prompt: str,
) -> None:
    """Show the prompt, stream the answer, and add both to the history."""
    namespace, dgd_name = target
    history = st.session_state[
        try_it_key(state.TRY_IT_HISTORY_PREFIX, namespace, dgd_name)
    ]
    conversation = build_conversation(history, prompt)
    history.append({"role": "user", "content": prompt})
    render_entry(history[-1], namespace, dgd_name)
    with st.chat_message("assistant"):
        reply = Reply()
        if model is None:
            reply.error = chat.ModelNotListed(
                "The frontend lists no model to chat with yet.",
                remedy="Wait until the deployment shows Serving.",
            )
        else:
            st.write_stream(
                stream_reply(
                    api_client,
                    namespace,
                    dgd_name,
                    model,
                    conversation,
                    options,
                    reply,
                )
            )
        entry = record_reply(reply)
        render_reply_footer(entry, namespace, dgd_name)
    history.append(entry)


def build_conversation(
    history: list[dict[str, Any]], prompt: str
) -> list[dict[str, str]]:
    """OpenAI-style messages: the history's exchanges that worked, then the prompt."""
    sent = [
        {"role": e["role"], "content": e["content"]}
        for e in history
        if e["content"] and not e.get("error")
    ]
    return [*sent, {"role": "user", "content": prompt}]


def stream_reply(
    api_client: Any,
    namespace: str,
    dgd_name: str,
    model: str,
    messages: list[dict[str, str]],
    options: tuple[int, float, float],
    reply: Reply,
) -> Iterator[str]:
    """Escaped text as it arrives; fills `reply` with the text, stats or error."""
    max_tokens, temperature, read_timeout = options
    try:
        for chunk in chat.stream_chat(
            api_client,
            namespace,
            dgd_name,
            model,
            messages,
            max_tokens,
            temperature,
            read_timeout=read_timeout,
        ):
            if chunk.stats is not None:
                reply.stats = chunk.stats
            elif chunk.text:
                reply.text += chunk.text
                yield to_plain_markdown(chunk.text)
    except DynamoteError as error:
        reply.error = error


def to_plain_markdown(text: str) -> str:
    """Model text that markdown shows literally: escaped, line breaks kept."""
    return "  \n".join(escape_markdown(line) for line in text.split("\n"))


def record_reply(reply: Reply) -> dict[str, Any]:
    """The history entry of a reply; only plain data, so reruns render it again."""
    entry: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.stats is not None:
        entry["caption"] = format_stats(reply.stats)
    if reply.error is not None:
        entry["error"] = str(reply.error)
        if isinstance(reply.error, ClusterForbidden):
            entry["forbidden"] = {
                "verb": reply.error.verb,
                "resource": reply.error.resource,
                "namespace": reply.error.namespace,
            }
    return entry


def render_entry(entry: dict[str, Any], namespace: str, dgd_name: str) -> None:
    with st.chat_message(entry["role"]):
        if entry["content"]:
            st.markdown(to_plain_markdown(entry["content"]))
        if entry["role"] == "assistant":
            render_reply_footer(entry, namespace, dgd_name)


def render_reply_footer(entry: dict[str, Any], namespace: str, dgd_name: str) -> None:
    """The stats caption, or the error in plain text with what to do."""
    if entry.get("caption"):
        st.caption(entry["caption"])
    if not entry.get("error"):
        return
    st.error(escape_markdown(entry["error"]), icon=":material/error:")
    forbidden = entry.get("forbidden")
    if forbidden:
        render_forbidden_fallback(
            ClusterForbidden(
                entry["error"],
                verb=forbidden["verb"],
                resource=forbidden["resource"],
                namespace=forbidden["namespace"],
            ),
            namespace,
            dgd_name,
        )


def format_stats(stats: chat.ChatStats) -> str:
    """Time to first token, tokens per second, tokens, and cached tokens when any."""
    parts = []
    if stats.time_to_first_token is not None:
        parts.append(f"time to first token {stats.time_to_first_token * 1000:.0f} ms")
    if stats.tokens_per_second is not None:
        parts.append(f"{stats.tokens_per_second:.1f} tokens/s")
    usage = stats.usage
    if usage is not None:
        parts.append(f"{usage.completion_tokens} tokens")
        if usage.cached_tokens:
            parts.append(f"{usage.cached_tokens} cached prompt tokens")
    if stats.finish_reason == "length":
        parts.append("stopped at max tokens")
    return " · ".join(parts) or "no tokens"


def render_curl(
    namespace: str,
    dgd_name: str,
    model: str | None,
    max_tokens: int,
    temperature: float,
) -> None:
    """The same chat from a terminal, through a port-forward."""
    with st.expander("The same request with curl"):
        st.caption("Forward the frontend's port, then send the request:")
        st.code(
            chat.port_forward_command(namespace, dgd_name),
            language="bash",
            wrap_lines=True,
        )
        st.code(
            chat.curl_command(
                namespace,
                dgd_name,
                model or "<served model name>",
                CURL_PROMPT,
                max_tokens=max_tokens,
                temperature=temperature,
            ),
            language="bash",
            wrap_lines=True,
        )
