"""Try it tab (ui/try_it.py): serving state, streamed chat, stats, errors, fallback.

`render_try_it` runs in a one-line script (AppTest.from_function) against an
in-process sandbox. Tests marked `dynamo` use the real Dynamo frontend and mocker
(skipped only when .dynamo-venv is absent); the error paths need no runtime.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient, CustomObjectsApi
from streamlit.testing.v1 import AppTest

from dynamote_core.catalog import load_catalog
from dynamote_core.chat import check_serving
from dynamote_core.config import validate_config
from dynamote_core.manifest import build_graph_deployment
from dynamote_core.sandbox import Sandbox
from tests.app.conftest import ROOT, assert_no_exception
from tests.fixtures_sandbox import wait_until
from ui import state
from ui.try_it import try_it_key

NAMESPACE = "dynamo-system"
MODEL = "Qwen/Qwen3-0.6B"
GROUP, VERSION, PLURAL = "nvidia.com", "v1beta1", "dynamographdeployments"
TIMEOUT = 20


def try_it_script(
    root: str, kubeconfig: str, name: str, model: str | None, timeout: float = 60
) -> None:
    import sys

    sys.path.insert(0, root)
    from dynamote_core import kube
    from ui.try_it import render_try_it

    client = kube.new_api_client(kubeconfig=kubeconfig)
    try:
        render_try_it(client, "dynamo-system", name, model, read_timeout=timeout)
    finally:
        client.close()


def open_try_it(
    kubeconfig: Path, name: str, model: str | None = MODEL, timeout: float = 60
) -> AppTest:
    at = AppTest.from_function(
        try_it_script,
        args=(str(ROOT), str(kubeconfig), name, model, timeout),
        default_timeout=TIMEOUT,
    )
    return at.run()


def send(at: AppTest, name: str, text: str) -> AppTest:
    key = try_it_key(state.TRY_IT_INPUT_PREFIX, NAMESPACE, name)
    return at.chat_input(key=key).set_value(text).run()


def deploy(api_client: ApiClient, name: str, **changes: Any) -> str:
    catalog = load_catalog()
    settings = {
        "name": name,
        "namespace": NAMESPACE,
        "model_id": MODEL,
        "engine": "vllm",
        **changes,
    }
    config = validate_config(settings, catalog)
    manifest = build_graph_deployment(config, catalog.get(MODEL))  # type: ignore[arg-type]
    CustomObjectsApi(api_client).create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, manifest
    )
    return name


def wait_until_serving(api_client: ApiClient, name: str) -> None:
    wait_until(
        lambda: check_serving(api_client, NAMESPACE, name, MODEL).serving,
        timeout=15,
        interval=0.1,
    )


def replies(at: AppTest) -> list[Any]:
    return [m for m in at.chat_message if m.name == "assistant"]


def raw_texts(elements: Any) -> str:
    return " ".join(str(e.value) for e in elements)


def texts(elements: Any) -> str:
    """The elements' text as a reader sees it (markdown escapes removed)."""
    return raw_texts(elements).replace("\\", "")


@pytest.mark.dynamo
def test_chat_streams_a_reply_with_stats(
    dynamo_api_client: ApiClient, dynamo_kubeconfig: Path
) -> None:
    name = deploy(dynamo_api_client, "chat")
    wait_until_serving(dynamo_api_client, name)
    at = open_try_it(dynamo_kubeconfig, name)
    assert "Serving" in texts(at.success)

    send(at, name, "Hello, who are you?")

    assert_no_exception(at)
    [reply] = replies(at)
    assert len(texts(reply.markdown).split()) == 64
    caption = texts(reply.caption)
    assert "time to first token" in caption and "tokens/s" in caption
    assert "stopped at max tokens" in caption
    history = at.session_state[try_it_key(state.TRY_IT_HISTORY_PREFIX, NAMESPACE, name)]
    assert [entry["role"] for entry in history] == ["user", "assistant"]
    assert "port-forward svc/chat-frontend" in texts(at.code)
    clear = at.button(key=try_it_key(state.TRY_IT_CLEAR_PREFIX, NAMESPACE, name))
    clear.click().run()
    assert replies(at) == []
    assert not history


@pytest.mark.dynamo
def test_kv_router_repeated_prompt_shows_cached_tokens(
    dynamo_api_client: ApiClient, dynamo_kubeconfig: Path
) -> None:
    name = deploy(dynamo_api_client, "kv", router_mode="kv", replicas=2)
    wait_until_serving(dynamo_api_client, name)
    at = open_try_it(dynamo_kubeconfig, name)
    at.number_input(
        key=try_it_key(state.TRY_IT_MAX_TOKENS_PREFIX, NAMESPACE, name)
    ).set_value(4).run()

    for _ in range(3):
        send(at, name, "remember this long sentence about kv cache reuse " * 12)

    assert_no_exception(at)
    captions = [texts(reply.caption) for reply in replies(at)]
    assert len(captions) == 3
    assert any("cached prompt tokens" in caption for caption in captions), captions


@pytest.mark.dynamo
def test_disaggregated_deployment_answers(
    dynamo_api_client: ApiClient, dynamo_kubeconfig: Path
) -> None:
    name = deploy(dynamo_api_client, "disagg", mode="disaggregated")
    wait_until_serving(dynamo_api_client, name)
    at = open_try_it(dynamo_kubeconfig, name)

    send(at, name, "Split prefill from decode.")

    assert_no_exception(at)
    [reply] = replies(at)
    assert texts(reply.markdown).strip()
    assert not reply.error


@pytest.mark.dynamo
def test_model_text_is_never_markup(
    dynamo_api_client: ApiClient, dynamo_kubeconfig: Path
) -> None:
    name = deploy(dynamo_api_client, "plain")
    wait_until_serving(dynamo_api_client, name)
    at = open_try_it(dynamo_kubeconfig, name)

    send(at, name, "<b>bold</b> # heading [link](http://x)")

    [question] = [m for m in at.chat_message if m.name == "user"]
    shown = raw_texts(question.markdown)
    assert "\\<b\\>" in shown and "\\# heading" in shown and "\\[link\\]" in shown


@pytest.fixture
def serve_error() -> Iterator[Callable[[int, bytes], str]]:
    """Start stand-in frontends on loopback that answer every request with an error."""
    servers: list[ThreadingHTTPServer] = []

    def start(status: int, body: bytes) -> str:
        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sandbox_kubeconfig_path(sandbox: Sandbox, tmp_path: Path) -> Path:
    return sandbox.write_kubeconfig(tmp_path / "kubeconfig")


def test_frontend_without_backend_is_not_serving_and_the_chat_explains(
    sandbox: Sandbox, kube_api_client: ApiClient, sandbox_kubeconfig_path: Path
) -> None:
    name = deploy(kube_api_client, "nobackend")
    wait_until(lambda: sandbox.store.get("services", NAMESPACE, f"{name}-frontend"))
    at = open_try_it(sandbox_kubeconfig_path, name)

    send(at, name, "Anyone there?")

    assert_no_exception(at)
    assert "Running but not serving yet" in texts(at.warning)
    [reply] = replies(at)
    assert "could not reach nobackend-frontend" in texts(reply.error)


def test_missing_service_is_explained(
    sandbox: Sandbox, sandbox_kubeconfig_path: Path
) -> None:
    at = open_try_it(sandbox_kubeconfig_path, "ghost")

    send(at, "ghost", "Hello?")

    assert_no_exception(at)
    [reply] = replies(at)
    assert "Service ghost-frontend not found" in texts(reply.error)


@pytest.mark.parametrize("verb", ["get", "create"], ids=["check", "chat"])
def test_forbidden_proxy_names_the_permission_and_falls_back(
    sandbox: Sandbox,
    kube_api_client: ApiClient,
    sandbox_kubeconfig_path: Path,
    verb: str,
) -> None:
    name = deploy(kube_api_client, f"denied-{verb}")
    sandbox.deny(verb, "services/proxy")
    at = open_try_it(sandbox_kubeconfig_path, name)

    send(at, name, "Hello?")

    assert_no_exception(at)
    code = texts(at.code)
    assert f"kubectl auth can-i {verb} services/proxy" in code
    assert f"kubectl port-forward svc/{name}-frontend 8000:8000" in code
    assert f"Missing permission: {verb} services/proxy" in texts(at.markdown)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            404,
            b'{"message": "Model not found: Qwen/Qwen3-0.6B"}',
            "does not list the model yet",
        ),
        (500, b"<html><script>alert(1)</script></html>", "answered 500 without"),
        (
            503,
            b'{"error": {"message": "no workers"}}',
            "The frontend answered 503: no workers",
        ),
    ],
    ids=["model-not-listed", "html-500", "frontend-503"],
)
def test_frontend_errors_are_explained_in_the_chat(
    sandbox: Sandbox,
    kube_api_client: ApiClient,
    sandbox_kubeconfig_path: Path,
    serve_error: Callable[[int, bytes], str],
    status: int,
    body: bytes,
    expected: str,
) -> None:
    name = deploy(kube_api_client, f"err{status}")
    sandbox.register_service_backend(
        NAMESPACE, f"{name}-frontend", 8000, serve_error(status, body)
    )
    at = open_try_it(sandbox_kubeconfig_path, name)

    send(at, name, "Hello?")

    assert_no_exception(at)
    [reply] = replies(at)
    assert expected in texts(reply.error)
    shown = [at.markdown, at.error, at.warning, at.code, at.caption, at.success]
    assert not any("alert" in texts(elements) for elements in shown)


@pytest.mark.parametrize(
    ("arm", "expected"),
    [
        (
            lambda sb: sb.faults.hang_next(seconds=1.5, method="POST"),
            "No answer from slow-frontend in dynamo-system within 0.5 s",
        ),
        (
            lambda sb: sb.faults.fail_next(status=500, method="POST"),
            "The API server failed; try again",
        ),
    ],
    ids=["timeout", "api-server-500"],
)
def test_api_server_trouble_is_explained_in_the_chat(
    sandbox: Sandbox,
    kube_api_client: ApiClient,
    sandbox_kubeconfig_path: Path,
    arm: Callable[[Sandbox], None],
    expected: str,
) -> None:
    name = deploy(kube_api_client, "slow")
    at = open_try_it(sandbox_kubeconfig_path, name, timeout=0.5)
    arm(sandbox)

    send(at, name, "Hello?")

    assert_no_exception(at)
    [reply] = replies(at)
    assert expected in texts(reply.error)
