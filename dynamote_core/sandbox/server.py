"""The sandbox's HTTP layer: a stdlib ThreadingHTTPServer on 127.0.0.1.

Reads requests off sockets, applies injected faults, hands the request to `KubeApi`
and writes the answer (chunked when streaming). It can close and reopen its listening
socket on the same port to simulate refused connections. Only `Sandbox` uses it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from dynamote_core.sandbox.api import ApiError, KubeApi, Request, Response
from dynamote_core.sandbox.faults import FaultInjector

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
_FAULT_REASONS = {
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True)
class RequestRecord:
    """One request the sandbox served, for tests and benchmarks."""

    method: str
    path: str
    status: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, owner: ApiServer) -> None:
        self.owner = owner
        super().__init__((HOST, port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a closed tab mid-stream) is routine, not a crash."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("Client %s hung up", client_address)
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.owner.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner.track(self.connection, False)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("sandbox %s", format % args)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        request = Request(
            self.command, split.path, dict(parse_qsl(split.query)), headers, body
        )
        response = self.server.owner.answer(request)
        self._write(response)

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            for key, value in response.headers.items():
                self.send_header(key, value)
            if response.stream is None:
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in response.stream:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            # The client went away (a timeout, a closed watch); nothing left to tell it.
            self.close_connection = True


class ApiServer:
    """Owns the listening socket, the request log and the fault injector."""

    def __init__(self, api: KubeApi, port: int = 0) -> None:
        self.api = api
        self.faults = FaultInjector(refuse=self._set_refusing)
        self.request_log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = port
        self._open()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def answer(self, request: Request) -> Response:
        """Apply faults, then let the API answer; records the request."""
        decision = self.faults.next_fault(request.method, request.path)
        if decision.delay:
            self._stopping.wait(decision.delay)
        if decision.hang:
            self._stopping.wait(decision.hang)
        if decision.status is not None:
            response = _fault_response(decision.status, decision.retry_after)
        else:
            response = self._safely(self.api.handle, request)
        with self._log_lock:
            self.request_log.append(
                RequestRecord(request.method, request.path, response.status)
            )
        return response

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._log_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def stop(self) -> None:
        """Stop serving and drop every open connection."""
        self._stopping.set()
        self._close()

    def _safely(
        self, handle: Callable[[Request], Response], request: Request
    ) -> Response:
        try:
            return handle(request)
        except (
            Exception
        ) as error:  # a bug in the sandbox must look like a 500, not a hang
            logger.exception("sandbox: %s %s failed", request.method, request.path)
            return Response.json(
                500, ApiError(500, "InternalError", f"sandbox error: {error}").body()
            )

    def _set_refusing(self, refuse: bool) -> None:
        if refuse:
            self._close()
        elif self._server is None:
            self._open()

    def _open(self) -> None:
        # The port may linger briefly after a close; retry for a moment.
        for _ in range(50):
            try:
                self._server = _Server(self.port, self)
                break
            except OSError:
                if not self.port:
                    raise
                time.sleep(0.02)
        else:
            raise OSError(f"cannot reopen the sandbox on port {self.port}")
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox-http",
            daemon=True,
        )
        self._thread.start()

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._log_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=2)


def _fault_response(status: int, retry_after: int | None) -> Response:
    reason = _FAULT_REASONS.get(status, "InternalError")
    messages = {
        429: "Too many requests, please try again later.",
        503: "the server is currently unable to handle the request",
    }
    error = ApiError(
        status, reason, messages.get(status, "Internal error occurred: injected fault")
    )
    body = error.body()
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
        body["details"] = {"retryAfterSeconds": retry_after}
    return Response(status, json.dumps(body).encode(), headers=headers)
