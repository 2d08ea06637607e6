"""Sandbox fixtures every test suite may use (registered in tests/conftest.py).

`sandbox` is a fresh in-process cluster per test (operator ticking every 10 ms),
`sandbox_kubeconfig` its kubeconfig file, `kube_api_client` an official client for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from kubernetes import config
from kubernetes.client import ApiClient

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
