"""dynamo_runtime: the real Dynamo frontend and mocker on loopback; the model directory.

Tests marked `dynamo` start real processes from .dynamo-venv (scripts/test installs it)
and skip only when it is absent. The chat tests go through the sandbox's service proxy
(the shared `sandbox` fixture) with the real kubernetes client, as the app does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient

from dynamote_core.chat import check_serving
from dynamote_core.sandbox import Sandbox
from dynamote_core.sandbox.dynamo_runtime import (
    DynamoRuntime,
    DynamoRuntimeError,
    GraphOptions,
    Mode,
    RunningGraph,
    read_graph_options,
    worker_arg_lists,
)
from dynamote_core.sandbox.mocker_model import build_vocabulary, write_mocker_model
from tests.fixtures_sandbox import chat_once, is_pid_alive

NAMESPACE = "default"
MODEL = "sandbox/tiny-chat"
LONG_PROMPT = "please remember this rather long sentence about kv cache reuse " * 12


@pytest.fixture(scope="module")
def runtime() -> Iterator[DynamoRuntime]:
    runtime = DynamoRuntime()
    if not runtime.is_available():
        pytest.skip(
            f"The Dynamo runtime is not installed at {runtime.python}; "
            "run scripts/install_dynamo_runtime"
        )
    yield runtime
    runtime.stop_all()


def expose_graph(sb: Sandbox, graph: RunningGraph) -> None:
    """What the operator does for a DGD: a frontend Service, proxied to the graph."""
    service = f"{graph.dgd_name}-frontend"
    sb.store.create(
        "services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": service, "namespace": graph.namespace},
            "spec": {"ports": [{"name": "http", "port": 8000}]},
        },
    )
    sb.register_service_backend(graph.namespace, service, 8000, graph.url)


def find_graph_processes(graph: RunningGraph) -> list[int]:
    """Pids of live processes whose environment names this graph's discovery dir."""
    marker = f"DYN_FILE_KV={graph.workdir / 'discovery'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


# --- the model directory ----------------------------------------------------------


def test_vocabulary_has_words_where_the_mocker_samples() -> None:
    vocabulary = build_vocabulary()

    by_id = {index: token for token, index in vocabulary.items()}

    assert len(vocabulary) > 2000
    sampled = [by_id[i] for i in range(1000, 2000)]
    assert all(token.isalpha() and token.islower() for token in sampled)
    assert len(set(sampled)) == 1000


def test_write_mocker_model_is_deterministic(tmp_path: Path) -> None:
    first = write_mocker_model(tmp_path / "a")
    second = write_mocker_model(tmp_path / "b")

    names = sorted(p.name for p in first.iterdir())

    assert names == [
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes()
    config = json.loads((first / "tokenizer_config.json").read_text())
    assert "add_generation_prompt" in config["chat_template"]


# --- argument mapping -------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "kv", "expected_roles", "bootstrap"),
    [
        ("aggregated", False, ["worker-0", "worker-1"], False),
        ("disaggregated", False, ["prefill-0", "decode-0", "decode-1"], False),
        ("disaggregated", True, ["prefill-0", "decode-0", "decode-1"], True),
    ],
    ids=["agg-two-workers", "disagg", "disagg-kv-bootstrap"],
)
def test_worker_arg_lists_one_process_per_replica(
    mode: Mode, kv: bool, expected_roles: list[str], bootstrap: bool
) -> None:
    lists = worker_arg_lists(Path("/m"), MODEL, mode, 2, 1, 2, kv)

    roles = [role for role, _ in lists]
    prefill_args = dict(lists).get("prefill-0", [])

    assert roles == expected_roles
    assert all(args[:2] == ["-m", "dynamo.mocker"] for _, args in lists)
    assert ("--bootstrap-ports" in prefill_args) is bootstrap


def component(
    name: str,
    kind: str,
    replicas: int = 1,
    args: list[str] | None = None,
    env: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    main = {"name": "main", "image": "runtime:1.6.1", "args": args or [], "env": env}
    return {
        "name": name,
        "type": kind,
        "replicas": replicas,
        "podTemplate": {"spec": {"containers": [main]}},
    }


def dgd(*components: dict[str, Any], model: str = "") -> dict[str, Any]:
    annotations = {"dynamote.io/model": model} if model else {}
    return {
        "apiVersion": "nvidia.com/v1beta1",
        "kind": "DynamoGraphDeployment",
        "metadata": {
            "name": "demo",
            "namespace": NAMESPACE,
            "annotations": annotations,
        },
        "spec": {"components": list(components)},
    }


KV_ENV = [{"name": "DYN_ROUTER_MODE", "value": "kv"}]


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        (
            dgd(
                component("Frontend", "frontend", env=KV_ENV),
                component("worker", "worker", 2, ["--model", "Qwen/Qwen3-0.6B"]),
            ),
            GraphOptions("Qwen/Qwen3-0.6B", "kv", "aggregated", 2, 0, 0),
        ),
        (
            dgd(
                component("Frontend", "frontend", args=["--router-mode=random"]),
                component("prefill", "prefill", 1, ["--model-path", "org/m"]),
                component("decode", "decode", 3, ["--model-path", "org/m"]),
            ),
            GraphOptions("org/m", "random", "disaggregated", 0, 1, 3),
        ),
        (
            dgd(
                component("Frontend", "frontend"),
                component(
                    "worker",
                    "worker",
                    1,
                    ["--model", "a/b", "--served-model-name", "b"],
                ),
            ),
            GraphOptions("b", None, "aggregated", 1, 0, 0),
        ),
        (
            dgd(
                component("Frontend", "frontend"),
                component("w", "worker", 9),
                model="x/y",
            ),
            GraphOptions("x/y", None, "aggregated", 4, 0, 0),
        ),
    ],
    ids=["agg-kv-env", "disagg-router-arg", "served-name-wins", "annotation-and-cap"],
)
def test_read_graph_options_from_a_dgd(
    graph: dict[str, Any], expected: GraphOptions
) -> None:
    options = read_graph_options(graph)

    assert options == expected


def test_start_graph_without_runtime_says_how_to_install(tmp_path: Path) -> None:
    runtime = DynamoRuntime(python=tmp_path / "missing" / "python")

    with pytest.raises(DynamoRuntimeError, match="scripts/install_dynamo_runtime"):
        runtime.start_graph(NAMESPACE, "demo", MODEL)

    assert not runtime.is_available()


# --- the real frontend and mocker -------------------------------------------------


@pytest.mark.dynamo
def test_model_is_listed_within_seconds(runtime: DynamoRuntime) -> None:
    manifest = dgd(
        component("Frontend", "frontend", env=KV_ENV),
        component("worker", "worker", 1, ["--model", MODEL]),
    )

    graph = runtime.start_graph_for(manifest)
    graph.wait_until_serving(timeout=10)

    assert graph.is_running()
    assert graph.list_models() == [MODEL]
    runtime.stop_graph(NAMESPACE, "demo")


@pytest.mark.dynamo
def test_streamed_chat_through_the_sandbox_proxy(
    runtime: DynamoRuntime, sandbox: Sandbox, kube_api_client: ApiClient
) -> None:
    sb, api_client = sandbox, kube_api_client
    graph = runtime.start_graph(NAMESPACE, "agg", MODEL)
    expose_graph(sb, graph)
    graph.wait_until_serving(timeout=10)

    state = check_serving(api_client, NAMESPACE, "agg", MODEL)
    text, stats = chat_once(api_client, NAMESPACE, "agg", MODEL, "Hello, who are you?")

    assert state.serving, state.reason
    assert len(text.split()) == 8
    assert stats.finish_reason == "length"
    assert stats.usage is not None and stats.usage.completion_tokens == 8
    assert stats.time_to_first_token is not None
    runtime.stop_graph(NAMESPACE, "agg")


@pytest.mark.dynamo
def test_kv_router_reuses_the_cache_of_a_repeated_prompt(
    runtime: DynamoRuntime, sandbox: Sandbox, kube_api_client: ApiClient
) -> None:
    sb, api_client = sandbox, kube_api_client
    graph = runtime.start_graph(NAMESPACE, "kv", MODEL, router_mode="kv", workers=2)
    expose_graph(sb, graph)
    graph.wait_until_serving(timeout=10)

    cached = []
    for _ in range(4):
        _, stats = chat_once(api_client, NAMESPACE, "kv", MODEL, LONG_PROMPT)
        assert stats.usage is not None
        cached.append(stats.usage.cached_tokens or 0)

    assert len([p for p in graph.processes if p.role.startswith("worker")]) == 2
    assert cached[0] == 0
    assert max(cached) > 0, cached
    runtime.stop_graph(NAMESPACE, "kv")


@pytest.mark.dynamo
@pytest.mark.parametrize("router_mode", [None, "kv"], ids=["round-robin", "kv"])
def test_disaggregated_pair_answers(
    runtime: DynamoRuntime,
    sandbox: Sandbox,
    kube_api_client: ApiClient,
    router_mode: str | None,
) -> None:
    sb, api_client = sandbox, kube_api_client
    graph = runtime.start_graph(
        NAMESPACE, "disagg", MODEL, router_mode=router_mode, mode="disaggregated"
    )
    expose_graph(sb, graph)
    graph.wait_until_serving(timeout=10)

    text, stats = chat_once(
        api_client, NAMESPACE, "disagg", MODEL, "Split prefill from decode."
    )

    assert [p.role for p in graph.processes] == ["frontend", "prefill-0", "decode-0"]
    assert len(text.split()) == 8
    assert stats.usage is not None and stats.usage.completion_tokens == 8
    runtime.stop_graph(NAMESPACE, "disagg")


@pytest.mark.dynamo
def test_stop_leaves_no_process_running(runtime: DynamoRuntime) -> None:
    graph = runtime.start_graph(NAMESPACE, "stopped", MODEL, workers=2)
    graph.wait_until_serving(timeout=10)
    pids = graph.pids
    assert sorted(find_graph_processes(graph)) == sorted(pids)

    runtime.stop_graph(NAMESPACE, "stopped")

    assert not any(is_pid_alive(pid) for pid in pids)
    assert find_graph_processes(graph) == []
    assert not graph.workdir.exists()
    assert runtime.get_graph(NAMESPACE, "stopped") is None


@pytest.mark.dynamo
def test_restarting_a_graph_replaces_the_old_one(runtime: DynamoRuntime) -> None:
    old = runtime.start_graph(NAMESPACE, "again", MODEL)
    old_pids = old.pids

    new = runtime.start_graph(NAMESPACE, "again", MODEL, workers=2)
    new.wait_until_serving(timeout=10)

    assert not any(is_pid_alive(pid) for pid in old_pids)
    assert runtime.get_graph(NAMESPACE, "again") is new
    runtime.stop_all()
    assert not any(is_pid_alive(pid) for pid in new.pids)
