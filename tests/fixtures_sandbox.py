"""Sandbox fixtures every test suite may use (registered in tests/conftest.py).

`sandbox` is a fresh in-process cluster per test (operator ticking every 10 ms),
`sandbox_kubeconfig` its kubeconfig file, `kube_api_client` an official client for it,
`api` the client a Dynamote session holds for it (`kube.new_api_client`: no urllib3
retries, ours only), and `sleeps` records `kube`'s retry waits instead of sleeping them.
`dynamo_sandbox`, `dynamo_kubeconfig` and `dynamo_api_client` are the same with the real
Dynamo runtime serving its DGDs (tests using them carry the `dynamo` marker).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from kubernetes import config
from kubernetes.client import ApiClient

from dynamote_core import kube
from dynamote_core.sandbox import CONTEXT, Sandbox

T = TypeVar("T")


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


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(speed=0.01) as running:
        yield running


@pytest.fixture
def sandbox_kubeconfig(sandbox: Sandbox, tmp_path: Path) -> Path:
    return sandbox.write_kubeconfig(tmp_path / "sandbox.kubeconfig")


@pytest.fixture
def kube_api_client(sandbox_kubeconfig: Path) -> Iterator[ApiClient]:
    client = config.new_client_from_config(
        config_file=str(sandbox_kubeconfig), context=CONTEXT
    )
    yield client
    client.close()


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
    client = config.new_client_from_config(
        config_file=str(dynamo_kubeconfig), context=CONTEXT
    )
    yield client
    client.close()
