"""Sandbox fixtures every test suite may use (registered in tests/conftest.py).

`sandbox` is a fresh in-process cluster per test (operator ticking every 10 ms),
`sandbox_kubeconfig` its kubeconfig file, `kube_api_client` an official client for it,
`api` the client a Dynamote session holds for it (`kube.new_api_client`: no urllib3
retries, ours only), and `sleeps` records `kube`'s retry waits instead of sleeping them.
`dynamo_sandbox`, `dynamo_kubeconfig` and `dynamo_api_client` are the same with the real
Dynamo runtime serving its DGDs (tests using them carry the `dynamo` marker).

Plain helpers: `wait_until`, `make_deployment_config` and `make_graph_deployment`
(a DGD built as the app builds one), `chat_once` and `is_pid_alive`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import config
from kubernetes.client import ApiClient

from dynamote_core import kube
from dynamote_core.catalog import load_catalog
from dynamote_core.chat import ChatStats, stream_chat
from dynamote_core.config import ApiVersion, DeploymentConfig, validate_config
from dynamote_core.manifest import build_graph_deployment
from dynamote_core.sandbox import CONTEXT, Sandbox

T = TypeVar("T")

PUBLIC_MODEL = "Qwen/Qwen3-0.6B"


def wait_until(
    check: Callable[[], T], timeout: float = 5.0, interval: float = 0.02
) -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        time.sleep(interval)


def make_deployment_config(
    name: str, namespace: str, model_id: str = PUBLIC_MODEL, **changes: Any
) -> DeploymentConfig:
    """A validated vllm config, as the configure page builds one."""
    values = {
        "name": name,
        "namespace": namespace,
        "model_id": model_id,
        "engine": "vllm",
        **changes,
    }
    return validate_config(values, load_catalog())


def make_graph_deployment(
    config: DeploymentConfig, api_version: ApiVersion = "v1beta1"
) -> dict[str, Any]:
    """The DGD the app would deploy for `config`."""
    model = load_catalog().get(config.model_id)
    return build_graph_deployment(config, model, api_version)


def chat_once(
    api_client: ApiClient, namespace: str, dgd_name: str, model: str, prompt: str
) -> tuple[str, ChatStats]:
    """One streamed reply of 8 tokens through the service proxy: its text and stats."""
    messages = [{"role": "user", "content": prompt}]
    text, stats = "", None
    for chunk in stream_chat(api_client, namespace, dgd_name, model, messages, 8, 0.7):
        text += chunk.text
        stats = chunk.stats or stats
    assert stats is not None
    return text, stats


def is_pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(speed=0.01) as running:
        yield running


@pytest.fixture
def sandbox_kubeconfig(sandbox: Sandbox, tmp_path: Path) -> Path:
    return sandbox.write_kubeconfig(tmp_path / "sandbox.kubeconfig")


@pytest.fixture
def kube_api_client(sandbox_kubeconfig: Path) -> Iterator[ApiClient]:
    yield from _open_official_client(sandbox_kubeconfig)


@pytest.fixture
def api(sandbox_kubeconfig: Path) -> Iterator[ApiClient]:
    """The client a session holds: no urllib3 retries, ours only."""
    client = kube.new_api_client(str(sandbox_kubeconfig))
    yield client
    client.close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record `kube`'s retry waits instead of sleeping them."""
    recorded: list[float] = []
    monkeypatch.setattr(kube.time, "sleep", recorded.append)
    return recorded


@pytest.fixture
def dynamo_sandbox() -> Iterator[Sandbox]:
    """A sandbox whose Ready DGDs are served by the real Dynamo frontend and mocker.

    Skips only when the Dynamo runtime (.dynamo-venv) is not installed.
    """
    from dynamote_core.sandbox.dynamo_runtime import DynamoRuntime

    runtime = DynamoRuntime()
    if not runtime.is_available():
        pytest.skip(
            f"The Dynamo runtime is not installed at {runtime.python}; "
            "run scripts/install_dynamo_runtime"
        )
    with Sandbox(speed=0.01, dynamo_runtime=True) as running:
        yield running


@pytest.fixture
def dynamo_kubeconfig(dynamo_sandbox: Sandbox, tmp_path: Path) -> Path:
    return dynamo_sandbox.write_kubeconfig(tmp_path / "dynamo-sandbox.kubeconfig")


@pytest.fixture
def dynamo_api_client(dynamo_kubeconfig: Path) -> Iterator[ApiClient]:
    yield from _open_official_client(dynamo_kubeconfig)


def _open_official_client(kubeconfig: Path) -> Iterator[ApiClient]:
    client = config.new_client_from_config(config_file=str(kubeconfig), context=CONTEXT)
    yield client
    client.close()
