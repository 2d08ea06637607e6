"""chat: serving check, streamed chat and errors, through the real kubernetes client.

A tiny HTTP server in this file stands in for the API server's service proxy: each test
scripts its answers. The streaming test holds the rest of the reply back until the
client has seen the first piece, which proves the reply is read as it arrives.
"""

from __future__ import annotations

import json
import shlex
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kubernetes.client import ApiClient, Configuration

from dynamote_core import chat
from dynamote_core.chat import (
    ChatChunk,
    FrontendError,
    FrontendUnavailable,
    ModelNotListed,
    ServingState,
    check_serving,
    curl_command,
    iter_sse_data,
    list_served_models,
    port_forward_command,
    stream_chat,
    summarize_serving,
)
from dynamote_core.errors import (
    ClusterError,
    ClusterForbidden,
    ClusterNotFound,
    ClusterTimeout,
    ClusterUnreachable,
)

NAMESPACE = "team"
DGD = "demo"
PROXY = "/api/v1/namespaces/team/services/demo-frontend:8000/proxy"
MESSAGES = [{"role": "user", "content": "hello"}]

Script = Callable[["ProxyHandler"], None]


class ProxyHandler(BaseHTTPRequestHandler):
    """Answers with the server's current script; records what it was asked."""

    protocol_version = "HTTP/1.1"
    server: FakeProxy

    def do_GET(self) -> None:
        self.handle_scripted()

    def do_POST(self) -> None:
        self.handle_scripted()

    def handle_scripted(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append((self.command, self.path, body))
        self.server.script(self)

    def send_body(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, document: object) -> None:
        self.send_body(status, json.dumps(document).encode(), "application/json")

    def start_chunked(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def send_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class FakeProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.requests: list[tuple[str, str, bytes]] = []
        self.script: Script = lambda handler: handler.send_json(200, {})


@pytest.fixture
def proxy() -> Iterator[FakeProxy]:
    server = FakeProxy()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def api_client(proxy: FakeProxy) -> Iterator[ApiClient]:
    configuration = Configuration(host=f"http://127.0.0.1:{proxy.server_port}")
    configuration.retries = False
    client = ApiClient(configuration)
    yield client
    client.close()


def sse(document: object) -> bytes:
    return b"data: " + json.dumps(document).encode() + b"\n\n"


def delta(text: str) -> dict[str, Any]:
    return {
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]
    }


FINAL_USAGE = {
    "choices": [],
    "usage": {
        "prompt_tokens": 24,
        "completion_tokens": 3,
        "total_tokens": 27,
        "prompt_tokens_details": {"cached_tokens": 16},
    },
}
LENGTH = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}


def collect(chunks: Iterator[ChatChunk]) -> tuple[str, list[ChatChunk]]:
    items = list(chunks)
    return "".join(item.text for item in items), items


# --- server-sent events -------------------------------------------------------------


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        ([b"data: a\n\n", b"data: b\n\n"], ["a", "b"]),
        ([b"da", b"ta: a", b"\n", b"\ndata: [DONE]\n\n"], ["a", "[DONE]"]),
        ([b"data: a\r\n\r\ndata:b\r\n\r\n"], ["a", "b"]),
        ([b"data: one\ndata: two\n\n"], ["one\ntwo"]),
        ([b": keep-alive\n\nevent: message\nid: 7\ndata: x\n\n"], ["x"]),
        ([b"data: tail-without-blank-line\n"], ["tail-without-blank-line"]),
        ([b"\n\n\n"], []),
    ],
    ids=[
        "two-events",
        "split-across-chunks",
        "crlf-and-no-space",
        "multi-line-data",
        "comments-and-other-fields",
        "unterminated-last-event",
        "blank-lines-only",
    ],
)
def test_iter_sse_data_yields_each_event(
    pieces: list[bytes], expected: list[str]
) -> None:
    events = list(iter_sse_data(pieces))

    assert events == expected


def test_iter_sse_data_raises_on_error_event() -> None:
    pieces = [b'event: error\ndata: {"message": "engine died"}\n\n']

    with pytest.raises(FrontendError, match="engine died"):
        list(iter_sse_data(pieces))


# --- streamed chat ------------------------------------------------------------------


def test_stream_chat_yields_text_before_the_rest_is_sent(
    proxy: FakeProxy, api_client: ApiClient
) -> None:
    first_seen = threading.Event()
    held_back: list[bool] = []

    def script(handler: ProxyHandler) -> None:
        handler.start_chunked()
        handler.send_chunk(sse(delta(" hello")))
        # Send the rest only once the client has shown the first piece.
        held_back.append(first_seen.wait(timeout=5))
        for piece in (sse(delta(" big")), sse(delta(" world")), sse(LENGTH)):
            handler.send_chunk(piece)
        handler.send_chunk(sse(FINAL_USAGE) + b"data: [DONE]\n\n")
        handler.send_chunk(b"")

    proxy.script = script
    chunks = stream_chat(api_client, NAMESPACE, DGD, "m", MESSAGES, 16, 0.5)

    first = next(chunks)
    first_seen.set()
    text, rest = collect(chunks)

    assert first.text == " hello"
    assert held_back == [True]
    assert text == " big world"
    stats = rest[-1].stats
    assert stats is not None
    assert stats.usage is not None
    assert (stats.usage.completion_tokens, stats.usage.cached_tokens) == (3, 16)
    assert stats.finish_reason == "length"
    assert stats.time_to_first_token is not None
    assert stats.tokens_per_second is not None and stats.tokens_per_second > 0


def test_stream_chat_posts_an_openai_request_through_the_proxy(
    proxy: FakeProxy, api_client: ApiClient
) -> None:
    proxy.script = lambda handler: handler.send_body(
        200, sse(delta("x")) + b"data: [DONE]\n\n", "text/event-stream"
    )

    text, _ = collect(stream_chat(api_client, NAMESPACE, DGD, "m", MESSAGES, 16, 0.5))

    method, path, body = proxy.requests[0]
    sent = json.loads(body)
    assert (method, path) == ("POST", f"{PROXY}/v1/chat/completions")
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert (sent["model"], sent["max_tokens"], sent["temperature"]) == ("m", 16, 0.5)
    assert sent["messages"] == MESSAGES
    assert text == "x"


def test_stream_chat_stats_without_usage_count_pieces(
    proxy: FakeProxy, api_client: ApiClient
) -> None:
    body = sse(delta("a")) + sse(delta("b")) + b"data: [DONE]\n\n"
    proxy.script = lambda handler: handler.send_body(200, body, "text/event-stream")

    _, items = collect(stream_chat(api_client, NAMESPACE, DGD, "m", MESSAGES, 16, 0.0))

    stats = items[-1].stats
    assert stats is not None
    assert stats.usage is None
    assert stats.time_to_first_token is not None


def test_stream_chat_raises_on_an_error_inside_the_stream(
    proxy: FakeProxy, api_client: ApiClient
) -> None:
    body = sse(delta("a")) + sse({"error": {"message": "worker lost"}})
    proxy.script = lambda handler: handler.send_body(200, body, "text/event-stream")

    with pytest.raises(FrontendError, match="worker lost"):
        collect(stream_chat(api_client, NAMESPACE, DGD, "m", MESSAGES, 16, 0.0))


def test_stream_chat_times_out_when_tokens_stop(
    proxy: FakeProxy, api_client: ApiClient
) -> None:
    release = threading.Event()

    def script(handler: ProxyHandler) -> None:
        handler.start_chunked()
        handler.send_chunk(sse(delta("a")))
        release.wait(timeout=5)

    proxy.script = script
    chunks = stream_chat(
        api_client, NAMESPACE, DGD, "m", MESSAGES, 16, 0.0, read_timeout=0.3
    )

    try:
        with pytest.raises(ClusterTimeout, match=r"sent nothing for 0\.3 s"):
            collect(chunks)
    finally:
        release.set()


# --- errors -------------------------------------------------------------------------


def status_body(code: int, reason: str, message: str) -> bytes:
    document = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return json.dumps(document).encode()


HTML = b"<html><body><h1>502 Bad Gateway</h1><script>x()</script></body></html>"


@pytest.mark.parametrize(
    ("status", "body", "content_type", "error_class", "needle"),
    [
        (
            403,
            status_body(403, "Forbidden", 'services "demo-frontend" is forbidden'),
            "application/json",
            ClusterForbidden,
            "kubectl port-forward svc/demo-frontend 8000:8000 -n team",
        ),
        (
            503,
            status_body(
                503, "ServiceUnavailable", "no endpoints available for service"
            ),
            "application/json",
            FrontendUnavailable,
            "no endpoints available",
        ),
        (
            404,
            status_body(404, "NotFound", 'services "demo-frontend" not found'),
            "application/json",
            ClusterNotFound,
            "Service demo-frontend not found in namespace team",
        ),
        (
            404,
            b'{"message":"Model not found","type":"Not Found","code":404}',
            "application/json",
            ModelNotListed,
            "does not list the model yet: Model not found",
        ),
        (
            400,
            b'{"message":"`max_tokens` is required","type":"Bad Request","code":400}',
            "application/json",
            FrontendError,
            "answered 400: `max_tokens` is required",
        ),
        (
            500,
            b'{"error":{"message":"engine   failed\\nbadly","type":"server_error"}}',
            "application/json",
            FrontendError,
            "answered 500: engine failed badly",
        ),
        (
            503,
            b'{"message":"Service temporarily unavailable","code":503}',
            "application/json",
            FrontendError,
            "503: Service temporarily unavailable. The model's workers are not all",
        ),
        (502, HTML, "text/html", FrontendUnavailable, "could not reach demo-frontend"),
        (500, HTML, "text/html", FrontendError, "without an error message"),
    ],
    ids=[
        "403-forbidden",
        "503-no-endpoints",
        "404-no-service",
        "404-model-not-found",
        "400-frontend-message",
        "500-openai-error",
        "503-frontend-workers-not-ready",
        "502-html-page",
        "500-html-page",
    ],
)
def test_stream_chat_maps_error_answers(
    proxy: FakeProxy,
    api_client: ApiClient,
    status: int,
    body: bytes,
    content_type: str,
    error_class: type[ClusterError],
    needle: str,
) -> None:
    proxy.script = lambda handler: handler.send_body(status, body, content_type)

    with pytest.raises(error_class) as caught:
        collect(stream_chat(api_client, NAMESPACE, DGD, "m", MESSAGES, 16, 0.0))

    assert needle in str(caught.value)
    assert "<" not in str(caught.value)
    assert caught.value.status == status


def test_forbidden_chat_names_the_create_verb_and_can_i_line(
    proxy: FakeProxy, api_client: ApiClient
) -> None:
    body = status_body(403, "Forbidden", "forbidden")
    proxy.script = lambda handler: handler.send_body(403, body, "application/json")

    with pytest.raises(ClusterForbidden) as caught:
        collect(stream_chat(api_client, NAMESPACE, DGD, "m", MESSAGES, 16, 0.0))

    error = caught.value
    assert (error.verb, error.resource, error.namespace) == (
        "create",
        "services/proxy",
        NAMESPACE,
    )
    assert error.can_i == "kubectl auth can-i create services/proxy -n team"


def test_forbidden_model_list_names_the_get_verb(
    proxy: FakeProxy, api_client: ApiClient
) -> None:
    body = status_body(403, "Forbidden", "forbidden")
    proxy.script = lambda handler: handler.send_body(403, body, "application/json")

    with pytest.raises(ClusterForbidden) as caught:
        list_served_models(api_client, NAMESPACE, DGD)

    assert caught.value.can_i == "kubectl auth can-i get services/proxy -n team"


def test_list_served_models_times_out(
    proxy: FakeProxy, api_client: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    proxy.script = lambda handler: release.wait(timeout=5) and None
    monkeypatch.setattr(chat, "MODELS_TIMEOUT_SECONDS", 0.3)

    try:
        with pytest.raises(ClusterTimeout, match=r"within 0\.3 s"):
            list_served_models(api_client, NAMESPACE, DGD)
    finally:
        release.set()


def test_refused_connection_is_unreachable_not_a_timeout() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), ProxyHandler)
    port = server.server_port
    server.server_close()
    configuration = Configuration(host=f"http://127.0.0.1:{port}")
    configuration.retries = False
    client = ApiClient(configuration)

    try:
        with pytest.raises(ClusterUnreachable) as caught:
            list_served_models(client, NAMESPACE, DGD)
    finally:
        client.close()

    assert not isinstance(caught.value, ClusterTimeout)


# --- serving check ------------------------------------------------------------------


def models_document(*names: str) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": name, "object": "model"} for name in names],
    }


def test_check_serving_is_true_when_the_model_is_listed(
    proxy: FakeProxy, api_client: ApiClient
) -> None:
    proxy.script = lambda handler: handler.send_json(200, models_document("a", "m"))

    state = check_serving(api_client, NAMESPACE, DGD, "m")

    assert state.serving and state.models == ["a", "m"] and state.reason == ""
    assert proxy.requests[0][:2] == ("GET", f"{PROXY}/v1/models")


def test_check_serving_explains_a_frontend_that_lists_nothing(
    proxy: FakeProxy, api_client: ApiClient
) -> None:
    proxy.script = lambda handler: handler.send_json(200, models_document())

    state = check_serving(api_client, NAMESPACE, DGD, "m")

    assert not state.serving and state.error is None
    assert "lists no model, not 'm'" in state.reason
    assert "still loading" in state.reason


def test_check_serving_returns_the_error_instead_of_raising(
    proxy: FakeProxy, api_client: ApiClient
) -> None:
    body = status_body(503, "ServiceUnavailable", "no endpoints available")
    proxy.script = lambda handler: handler.send_body(503, body, "application/json")

    state = check_serving(api_client, NAMESPACE, DGD, "m")

    assert not state.serving
    assert isinstance(state.error, FrontendUnavailable)
    assert "kubectl get pods -n team" in state.reason


# --- commands -----------------------------------------------------------------------


def test_curl_command_posts_the_prompt_to_localhost() -> None:
    command = curl_command(NAMESPACE, DGD, "org/model", 'it\'s "quoted"')

    argv = shlex.split(command)

    assert argv[:3] == ["curl", "-N", "http://localhost:8000/v1/chat/completions"]
    body = json.loads(argv[argv.index("-d") + 1])
    assert body["model"] == "org/model"
    assert body["messages"] == [{"role": "user", "content": 'it\'s "quoted"'}]


def test_port_forward_command_targets_the_frontend_service() -> None:
    command = port_forward_command(NAMESPACE, DGD)

    assert command == "kubectl port-forward svc/demo-frontend 8000:8000 -n team"


FORBIDDEN = ClusterForbidden("denied", verb="get", resource="services/proxy")


@pytest.mark.parametrize(
    ("status", "state", "label", "first_cause"),
    [
        ("Running", ServingState(serving=True, models=["m"]), "Serving", None),
        ("Deploying", ServingState(serving=False), "Not serving", None),
        ("Running", ServingState(serving=False), "Running but not", "still loading"),
        (
            "Running",
            ServingState(serving=False, models=["other"]),
            "Running but not",
            "serve another name",
        ),
        (
            "Running",
            ServingState(serving=False, error=FrontendUnavailable("no endpoints")),
            "Running but not",
            "not Ready",
        ),
        (
            "Running",
            ServingState(serving=False, error=FORBIDDEN),
            "Serving state unknown",
            None,
        ),
    ],
    ids=["serving", "deploying", "empty", "name-mismatch", "no-endpoints", "denied"],
)
def test_summarize_serving_says_serving_only_when_listed(
    status: str, state: ServingState, label: str, first_cause: str | None
) -> None:
    summary = summarize_serving(status, "m", state)

    assert summary.label.startswith(label)
    assert summary.serving is (label == "Serving")
    if first_cause is None:
        assert summary.causes == []
    else:
        assert first_cause in summary.causes[0]
