"""Talk to a deployed model: serving check and streamed chat through the service proxy.

Requests go to the DGD's frontend Service (`<name>-frontend`, port 8000) through the
Kubernetes API server's service proxy
(`/api/v1/namespaces/<ns>/services/<name>-frontend:8000/proxy/v1/...`) with the app's
own credentials, so no port-forward is needed. Streamed replies are read as they
arrive and parsed from server-sent events (`data:` lines, ending at `[DONE]`).

Failures become `errors.py` classes whose messages are plain text: a forbidden proxy
names the RBAC verb and the port-forward fallback; the frontend's own errors keep only
their `message`, cut short; a body that is not JSON (an HTML error page) is never shown.

Must not: import streamlit, render anything, log request or response bodies.
Called by the app's "Try it" tab and by the serving check of deployment details.
"""

from __future__ import annotations

import json
import logging
import shlex
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from dynamote_core.errors import (
    ClusterError,
    ClusterForbidden,
    ClusterNotFound,
    ClusterTimeout,
)
from dynamote_core.kube import parse_status_body, translate_api_exception

logger = logging.getLogger(__name__)

FRONTEND_PORT = 8000
PROXY_RESOURCE = "services/proxy"
MODELS_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 10.0
CHAT_READ_TIMEOUT_SECONDS = 60.0
MESSAGE_LIMIT = 300
ERROR_BODY_LIMIT = 65536
READ_SIZE = 8192
DONE_MARKER = "[DONE]"


class FrontendUnavailable(ClusterError):
    """The proxy could not reach the frontend: no ready endpoints, or a refused dial."""


class ModelNotListed(ClusterError):
    """The frontend does not know the model (404): its workers have not registered."""


class FrontendError(ClusterError):
    """The frontend answered a request with an error status, or a stream error."""


@dataclass(frozen=True)
class ServingState:
    """Whether a DGD's frontend lists its served model.

    Attributes:
        serving: the served model is listed on `/v1/models`.
        models: the model ids the frontend lists (empty when it did not answer).
        reason: why it is not serving, plain text; empty when serving.
        error: the failure that prevented the check, if any (e.g. ClusterForbidden).
    """

    serving: bool
    models: list[str] = field(default_factory=list)
    reason: str = ""
    error: ClusterError | None = None


@dataclass(frozen=True)
class ChatUsage:
    """Token counts the frontend reports at the end of a reply."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int | None = None


@dataclass(frozen=True)
class ChatStats:
    """Timing and usage of one streamed reply.

    Attributes:
        time_to_first_token: seconds from sending the request to the first text.
        tokens_per_second: completion tokens over the time after the first token.
    """

    time_to_first_token: float | None
    tokens_per_second: float | None
    elapsed: float
    finish_reason: str | None
    usage: ChatUsage | None


@dataclass(frozen=True)
class ChatChunk:
    """One piece of a streamed reply: text, or (last of all) the reply's stats."""

    text: str = ""
    stats: ChatStats | None = None


def frontend_service_name(dgd_name: str) -> str:
    """The Service the Dynamo operator creates for a DGD's frontend."""
    return f"{dgd_name}-frontend"


def build_proxy_path(namespace: str, dgd_name: str, path: str) -> str:
    """The API server path that proxies `path` (e.g. `v1/models`) to the frontend."""
    service = frontend_service_name(dgd_name)
    return (
        f"/api/v1/namespaces/{namespace}/services/{service}:{FRONTEND_PORT}"
        f"/proxy/{path.lstrip('/')}"
    )


def port_forward_command(namespace: str, dgd_name: str) -> str:
    """The kubectl line that makes the frontend answer on localhost:8000."""
    service = frontend_service_name(dgd_name)
    return (
        f"kubectl port-forward svc/{service} {FRONTEND_PORT}:{FRONTEND_PORT} "
        f"-n {namespace}"
    )


def curl_command(
    namespace: str,
    dgd_name: str,
    model: str,
    prompt: str,
    *,
    max_tokens: int = 64,
    temperature: float | None = None,
) -> str:
    """The curl line for the same chat, against the port-forwarded endpoint.

    `namespace` and `dgd_name` are accepted so callers pass one deployment's
    identity everywhere; the command itself targets localhost:8000 (see
    `port_forward_command`).
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": True,
    }
    if temperature is not None:
        body["temperature"] = temperature
    return (
        f"curl -N http://localhost:{FRONTEND_PORT}/v1/chat/completions "
        "-H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(body))}"
    )


def list_served_models(
    api_client: ApiClient, namespace: str, dgd_name: str
) -> list[str]:
    """The model ids a DGD's frontend lists on `/v1/models`.

    Raises:
        ClusterError: see `open_proxy_request` for the classes.
    """
    response = open_proxy_request(
        api_client,
        "GET",
        namespace,
        dgd_name,
        "v1/models",
        timeout=MODELS_TIMEOUT_SECONDS,
    )
    try:
        document = json.loads(response.read())
    except ValueError as exc:
        raise FrontendError(
            f"The frontend of {namespace}/{dgd_name} answered /v1/models with "
            "something that is not JSON.",
            remedy="Check that the Service points at a Dynamo frontend.",
        ) from exc
    finally:
        response.release_conn()
    entries = document.get("data") if isinstance(document, dict) else None
    return [str(entry["id"]) for entry in entries or [] if "id" in entry]


def check_serving(
    api_client: ApiClient, namespace: str, dgd_name: str, served_model_name: str
) -> ServingState:
    """Whether the DGD really serves its model: listed on the frontend's `/v1/models`.

    Never raises for cluster failures: they come back in `.error` with a reason.
    """
    try:
        models = list_served_models(api_client, namespace, dgd_name)
    except ClusterError as error:
        return ServingState(serving=False, reason=str(error), error=error)
    if served_model_name in models:
        return ServingState(serving=True, models=models)
    return ServingState(
        serving=False,
        models=models,
        reason=describe_not_listed(served_model_name, models),
    )


SERVING = "Serving"
NOT_SERVING_YET = "Running but not serving yet"
NOT_RUNNING = "Not serving: the deployment is not Running"
UNKNOWN = "Serving state unknown"


@dataclass(frozen=True)
class ServingSummary:
    """What a deployment's details show about serving: a label and likely causes.

    Attributes:
        label: SERVING, NOT_SERVING_YET, NOT_RUNNING or UNKNOWN.
        detail: one plain-text sentence on what was seen.
        causes: likely causes, most likely first; empty when serving.
    """

    label: str
    serving: bool
    detail: str = ""
    causes: list[str] = field(default_factory=list)


def summarize_serving(
    deployment_status: str, served_model_name: str, state: ServingState
) -> ServingSummary:
    """ "Serving" only when the model is listed; otherwise what is wrong and why.

    Args:
        deployment_status: the DGD's status word (Running, Deploying, ...).
        state: the result of `check_serving`.
    """
    if state.serving:
        return ServingSummary(SERVING, True, f"{served_model_name} is listed.")
    if deployment_status != "Running":
        return ServingSummary(
            NOT_RUNNING,
            False,
            f"The deployment is {deployment_status}; it can serve once Running.",
        )
    if isinstance(state.error, ClusterForbidden):
        return ServingSummary(UNKNOWN, False, str(state.error))
    if state.error is not None:
        return ServingSummary(
            NOT_SERVING_YET,
            False,
            str(state.error),
            [
                "The frontend pod is not Ready yet, or its Service has no endpoints.",
                "The frontend crashed: check its pod's log.",
            ],
        )
    return ServingSummary(
        NOT_SERVING_YET,
        False,
        describe_listed(state.models),
        list_not_listed_causes(served_model_name, state.models),
    )


def describe_listed(models: list[str]) -> str:
    listed = ", ".join(models) if models else "no model yet"
    return f"The frontend answers and lists {listed}."


def list_not_listed_causes(served_model_name: str, models: list[str]) -> list[str]:
    """Likely reasons an answering frontend does not list the model, likeliest first."""
    loading = (
        "The workers are still loading the model (large models take minutes; "
        "watch the worker pods' logs)."
    )
    router = (
        "The frontend's router has not found the workers yet (check the frontend's "
        "log for discovery errors, and that workers and frontend share the graph)."
    )
    crashed = (
        "A worker crashed or cannot download the model (check the worker pods and "
        "the Hugging Face token secret)."
    )
    if not models:
        return [loading, router, crashed]
    mismatch = (
        f"The workers serve another name: the frontend lists {', '.join(models)}, "
        f"not {served_model_name} (check --served-model-name)."
    )
    return [mismatch, loading, router]


def describe_not_listed(served_model_name: str, models: list[str]) -> str:
    """Why a frontend that answers may not list the model yet, with likely causes."""
    listed = ", ".join(models) if models else "no model"
    return (
        f"The frontend is up but lists {listed}, not {served_model_name!r}. "
        "Likely causes: the workers are still loading the model (large models take "
        "minutes), a worker crashed or cannot download the model (check the worker "
        "pods' logs and the HF token secret), or the workers serve it under another "
        "name (--served-model-name)."
    )


def stream_chat(
    api_client: ApiClient,
    namespace: str,
    dgd_name: str,
    model: str,
    messages: list[dict[str, str]],
    max_tokens: int,
    temperature: float,
    *,
    read_timeout: float = CHAT_READ_TIMEOUT_SECONDS,
) -> Iterator[ChatChunk]:
    """Stream a chat completion: text chunks as they arrive, then one with the stats.

    Args:
        messages: OpenAI-style `{"role": ..., "content": ...}` dicts.
        read_timeout: the longest wait for the next bytes of the reply.

    Raises:
        ClusterForbidden: the credentials may not `create services/proxy`.
        FrontendUnavailable: no ready frontend endpoint behind the Service.
        ModelNotListed: the frontend does not (yet) serve `model`.
        FrontendError: another error status, or an error inside the stream.
        ClusterTimeout: no answer, or no next token, within the timeout.
    """
    body = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.monotonic()
    response = open_proxy_request(
        api_client,
        "POST",
        namespace,
        dgd_name,
        "v1/chat/completions",
        body=body,
        timeout=read_timeout,
    )
    try:
        yield from summarize_stream(
            iter_sse_data(read_chunks(response, read_timeout)), started
        )
    finally:
        # The reader may stop before the end; a half-read connection must not go
        # back to the pool as if it were idle.
        response.close()
        response.release_conn()


def summarize_stream(events: Iterable[str], started: float) -> Iterator[ChatChunk]:
    """Text chunks from OpenAI-style completion chunk events, then the stats."""
    first_token_at: float | None = None
    finish_reason: str | None = None
    usage: ChatUsage | None = None
    pieces = 0
    for event in events:
        if event == DONE_MARKER:
            break
        chunk = parse_event(event)
        usage = parse_usage(chunk) or usage
        for choice in chunk.get("choices") or []:
            finish_reason = choice.get("finish_reason") or finish_reason
            text = (choice.get("delta") or {}).get("content") or ""
            if text:
                first_token_at = first_token_at or time.monotonic()
                pieces += 1
                yield ChatChunk(text=text)
    ended = time.monotonic()
    yield ChatChunk(
        stats=build_stats(started, first_token_at, ended, pieces, finish_reason, usage)
    )


def build_stats(
    started: float,
    first_token_at: float | None,
    ended: float,
    pieces: int,
    finish_reason: str | None,
    usage: ChatUsage | None,
) -> ChatStats:
    """Time to first token and tokens per second of one reply."""
    tokens = usage.completion_tokens if usage else pieces
    rate: float | None = None
    if first_token_at is not None and tokens > 1 and ended > first_token_at:
        # The first token's time belongs to time-to-first-token, not to the rate.
        rate = (tokens - 1) / (ended - first_token_at)
    return ChatStats(
        time_to_first_token=None
        if first_token_at is None
        else first_token_at - started,
        tokens_per_second=rate,
        elapsed=ended - started,
        finish_reason=finish_reason,
        usage=usage,
    )


def parse_event(event: str) -> dict[str, Any]:
    """One `data:` payload as a dict; raises FrontendError for an error event."""
    try:
        chunk = json.loads(event)
    except ValueError as exc:
        raise FrontendError("The frontend sent a malformed stream event.") from exc
    if not isinstance(chunk, dict):
        raise FrontendError("The frontend sent a malformed stream event.")
    if "error" in chunk:
        message = extract_error_message(chunk) or "unknown error"
        raise FrontendError(f"The model stopped with an error: {message}")
    return chunk


def parse_usage(chunk: dict[str, Any]) -> ChatUsage | None:
    """The `usage` of a completion chunk, with cached prompt tokens when reported."""
    usage = chunk.get("usage")
    if not isinstance(usage, dict):
        return None
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return ChatUsage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        total_tokens=int(usage.get("total_tokens") or 0),
        cached_tokens=int(cached) if cached is not None else None,
    )


def iter_sse_data(chunks: Iterable[bytes]) -> Iterator[str]:
    """The `data` of each server-sent event, as soon as its blank line arrives.

    Lines end in LF or CRLF; the `data:` lines of one event are joined with newlines;
    comments (`:`) and other fields are skipped. An `event: error` raises FrontendError.
    """
    buffer = b""
    data_lines: list[str] = []
    event_type = ""
    for chunk in chunks:
        *lines, buffer = (buffer + chunk).split(b"\n")
        for raw in lines:
            line = raw.removesuffix(b"\r").decode("utf-8", errors="replace")
            if line:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    data_lines.append(value)
                elif name == "event":
                    event_type = value
                continue
            if data_lines:
                yield finish_event(event_type, data_lines)
            data_lines, event_type = [], ""
    if data_lines:
        yield finish_event(event_type, data_lines)


def finish_event(event_type: str, data_lines: list[str]) -> str:
    """The data of a complete event; an `error` event raises FrontendError."""
    data = "\n".join(data_lines)
    if event_type == "error":
        message = extract_error_message(parse_status_body(data)) or shorten(data)
        raise FrontendError(f"The model stopped with an error: {message}")
    return data


def read_chunks(response: Any, read_timeout: float) -> Iterator[bytes]:
    """The response body in pieces as they arrive (never waits for a full buffer)."""
    while True:
        try:
            data = response.read1(READ_SIZE)
        except urllib3.exceptions.TimeoutError as exc:
            raise ClusterTimeout(
                f"The model sent nothing for {read_timeout:g} s.",
                remedy="Try a smaller max_tokens, or check the workers' logs.",
            ) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise FrontendUnavailable(
                f"The reply stream broke off ({type(exc).__name__}).",
                remedy="Send the message again; check the frontend pod if it persists.",
            ) from exc
        if not data:
            return
        yield data


def open_proxy_request(
    api_client: ApiClient,
    method: str,
    namespace: str,
    dgd_name: str,
    path: str,
    *,
    body: dict[str, Any] | None = None,
    timeout: float,
) -> Any:
    """Send one request through the service proxy; return the unread urllib3 response.

    Raises:
        ClusterForbidden: 403 from the API server (verb get or create on
            services/proxy), with the port-forward fallback in the message.
        ClusterNotFound: the frontend Service does not exist.
        FrontendUnavailable: 502/503 from the proxy (no endpoints, dial failed).
        ModelNotListed: 404 from the frontend itself.
        FrontendError: another 4xx/5xx from the frontend.
        ClusterTimeout, ClusterUnreachable: the API server did not answer.
    """
    verb = "get" if method == "GET" else "create"
    headers = {"Accept": "application/json, text/event-stream"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    serialized = api_client.param_serialize(
        method=method,
        resource_path=build_proxy_path(namespace, dgd_name, path),
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    logger.debug("%s %s via %s/%s", method, path, namespace, dgd_name)
    try:
        rest_response = api_client.call_api(
            *serialized, _request_timeout=(CONNECT_TIMEOUT_SECONDS, timeout)
        )
    except urllib3.exceptions.NewConnectionError as exc:
        # A refused connection subclasses ConnectTimeoutError; it is no timeout.
        raise translate_api_exception(
            exc, verb=verb, resource=PROXY_RESOURCE, namespace=namespace
        ) from exc
    except urllib3.exceptions.TimeoutError as exc:
        raise ClusterTimeout(
            f"No answer from {frontend_service_name(dgd_name)} in {namespace} "
            f"within {timeout:g} s.",
            remedy="Check that the cluster and the frontend pod are up; try again.",
        ) from exc
    except (ApiException, urllib3.exceptions.HTTPError) as exc:
        raise translate_api_exception(
            exc, verb=verb, resource=PROXY_RESOURCE, namespace=namespace
        ) from exc

    response = rest_response.response
    if not 200 <= response.status <= 299:
        error_body = response.read(ERROR_BODY_LIMIT)
        response.release_conn()
        raise translate_proxy_error(
            response.status, error_body, verb, namespace, dgd_name
        )
    return response


def translate_proxy_error(
    status: int, body: bytes, verb: str, namespace: str, dgd_name: str
) -> ClusterError:
    """The Dynamote error for a non-2xx answer of the service proxy or the frontend."""
    document = parse_status_body(body)
    from_api_server = document.get("kind") == "Status"
    service = frontend_service_name(dgd_name)
    fallback = (
        f"Meanwhile, chat through a port-forward: "
        f"{port_forward_command(namespace, dgd_name)}"
    )
    if status == 403 and (from_api_server or not document):
        return ClusterForbidden(
            f"Permission denied: cannot {verb} {PROXY_RESOURCE} in namespace "
            f"{namespace}, which chatting through the API server needs. {fallback}",
            verb=verb,
            resource=PROXY_RESOURCE,
            namespace=namespace,
        )
    if from_api_server and status == 404:
        return ClusterNotFound(
            f"Service {service} not found in namespace {namespace}.",
            status=404,
            remedy="The operator creates it with the frontend; check the DGD's status.",
        )
    if status in (502, 503) and (from_api_server or not document):
        detail = extract_error_message(document)
        return FrontendUnavailable(
            f"The API server could not reach {service} in {namespace}"
            f"{': ' + detail if detail else ''}.",
            status=status,
            remedy="Check that the frontend pod is Running and Ready "
            f"(kubectl get pods -n {namespace}). {fallback}",
        )
    if from_api_server:
        return translate_api_exception(
            ApiException(status=status, body=body.decode("utf-8", errors="replace")),
            verb=verb,
            resource=PROXY_RESOURCE,
            namespace=namespace,
        )
    return translate_frontend_error(status, document)


def translate_frontend_error(status: int, document: dict[str, Any]) -> ClusterError:
    """The error for a frontend's own error answer; keeps only its message."""
    message = extract_error_message(document)
    if status == 404:
        detail = f": {message}" if message else ""
        return ModelNotListed(
            f"The frontend does not list the model yet{detail}.",
            status=404,
            remedy="Wait until the deployment shows Serving; the workers may still "
            "be loading the model.",
        )
    if status == 503:
        return FrontendError(
            f"The frontend answered 503: {message or 'service unavailable'}.",
            status=503,
            remedy="The model's workers are not all ready yet (a disaggregated "
            "deployment needs both its prefill and decode workers); try again in a "
            "moment, and check the worker pods if it persists.",
        )
    if message:
        return FrontendError(
            f"The frontend answered {status}: {message}", status=status
        )
    # A body that is not a JSON error (e.g. an HTML page) is never shown.
    return FrontendError(
        f"The frontend answered {status} without an error message.", status=status
    )


def extract_error_message(document: dict[str, Any]) -> str:
    """`error.message` (OpenAI style) or `message` (Dynamo, Kubernetes), cut short."""
    error = document.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return shorten(error["message"])
    if isinstance(error, str):
        return shorten(error)
    message = document.get("message")
    return shorten(message) if isinstance(message, str) else ""


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Whitespace collapsed and cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
