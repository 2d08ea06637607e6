"""Fault injection: latency, 5xx, 429 with Retry-After, refused connections, hangs."""

from __future__ import annotations

import json
import socket
import struct
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import urllib3
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from dynamote_core.sandbox import Sandbox


def test_latency_slows_matching_requests_only(
    sandbox: Sandbox, core: CoreV1Api
) -> None:
    sandbox.faults.add_latency(0.2, path="/nodes")

    started = time.monotonic()
    core.list_namespace()
    quick = time.monotonic() - started
    started = time.monotonic()
    core.list_node()
    slow = time.monotonic() - started

    assert quick < 0.15
    assert slow >= 0.2


@pytest.mark.parametrize("code", [500, 503], ids=["500", "503"])
def test_fail_next_answers_status_then_recovers(
    sandbox: Sandbox, core: CoreV1Api, code: int
) -> None:
    sandbox.faults.fail_next(1, status=code)

    with pytest.raises(ApiException) as failed:
        core.list_node()

    assert failed.value.status == code
    assert json.loads(failed.value.body)["kind"] == "Status"
    assert core.list_node().items


def test_429_carries_retry_after(sandbox: Sandbox) -> None:
    sandbox.faults.fail_next(1, status=429, retry_after=2, method="GET")

    with pytest.raises(urllib.error.HTTPError) as limited:
        urllib.request.urlopen(f"{sandbox.url}/api/v1/nodes", timeout=5)

    assert limited.value.code == 429
    assert limited.value.headers["Retry-After"] == "2"
    assert json.loads(limited.value.read())["reason"] == "TooManyRequests"


def test_official_client_waits_out_one_429(sandbox: Sandbox, core: CoreV1Api) -> None:
    # urllib3 under the kubernetes client honours Retry-After on 429 by itself.
    sandbox.faults.fail_next(1, status=429, retry_after=0)

    nodes = core.list_node().items

    assert nodes
    assert [r.status for r in sandbox.request_log[-2:]] == [429, 200]


def test_refused_connections_then_reopen_on_same_port(
    sandbox: Sandbox, core: CoreV1Api
) -> None:
    port = sandbox.port
    sandbox.faults.refuse_connections(True)

    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.list_node(_request_timeout=1)
    sandbox.faults.refuse_connections(False)

    assert sandbox.port == port
    assert core.list_node().items


def test_hang_outlasts_a_short_client_timeout(
    sandbox: Sandbox, core: CoreV1Api
) -> None:
    sandbox.faults.hang_next(10, seconds=1.0, path="/nodes")

    with pytest.raises(urllib3.exceptions.HTTPError):
        core.list_node(_request_timeout=0.2)
    sandbox.faults.reset()

    assert core.list_namespace().items


def test_request_log_counts_requests(sandbox: Sandbox, core: CoreV1Api) -> None:
    before = sandbox.request_count

    core.list_node()
    core.list_namespace()

    assert sandbox.request_count - before == 2
    assert sandbox.request_log[-1].path == "/api/v1/namespaces"


def test_client_hanging_up_leaves_no_traceback(
    sandbox: Sandbox, capfd: pytest.CaptureFixture[str]
) -> None:
    host, port = urllib.parse.urlsplit(sandbox.url).netloc.split(":")
    client = socket.create_connection((host, int(port)))
    client.sendall(b"GET /api/v1/namespaces HTTP/1.1\r\n")
    # Linger 0: closing sends a reset, as a browser tab closed mid-request does.
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    time.sleep(0.3)

    with urllib.request.urlopen(f"{sandbox.url}/version", timeout=5) as answer:
        assert answer.status == 200
    assert "Traceback" not in capfd.readouterr().err
