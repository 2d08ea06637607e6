"""Fault injection for the sandbox API: latency, errors, hangs, refused connections.

Tests arm faults here; the server asks `next_fault()` before serving each request.
Every fault can be limited to requests whose path contains a substring and/or to one
HTTP method. It does no I/O except through the `refuse` callback the server provides.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Fault:
    """One armed fault; `remaining` None means it applies until reset."""

    kind: str  # latency, fail, hang
    remaining: int | None
    seconds: float = 0.0
    status: int = 503
    retry_after: int | None = None
    path: str | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return not self.path or self.path in path


@dataclass(frozen=True)
class Decision:
    """What the server must do to one request before (or instead of) serving it."""

    delay: float = 0.0
    hang: float = 0.0
    status: int | None = None
    retry_after: int | None = None


class FaultInjector:
    """Faults armed by tests; thread-safe."""

    def __init__(self, refuse: Callable[[bool], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._refuse = refuse
        self.refusing = False

    def add_latency(
        self, seconds: float, *, path: str | None = None, method: str | None = None
    ) -> None:
        """Delay every matching request by `seconds` until reset."""
        self._arm(Fault("latency", None, seconds=seconds, path=path, method=method))

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        retry_after: int | None = None,
        *,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next `n` matching requests with `status` (503, 500, 429, ...)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        fault = Fault(
            "fail", n, status=status, retry_after=retry_after, path=path, method=method
        )
        self._arm(fault)

    def hang_next(
        self,
        n: int = 1,
        seconds: float = 5.0,
        *,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Hold the next `n` matching requests for `seconds` before answering."""
        self._arm(Fault("hang", n, seconds=seconds, path=path, method=method))

    def refuse_connections(self, refuse: bool = True) -> None:
        """Close the listening socket (True) or reopen it on the same port (False)."""
        if self._refuse is None:
            raise RuntimeError("this injector is not attached to a running server")
        self._refuse(refuse)
        self.refusing = refuse

    def reset(self) -> None:
        """Disarm every fault and accept connections again."""
        with self._lock:
            self._faults.clear()
        if self.refusing:
            self.refuse_connections(False)

    def next_fault(self, method: str, path: str) -> Decision:
        """Consume the faults that apply to one request and say what to do."""
        delay, hang, status, retry_after = 0.0, 0.0, None, None
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(method, path):
                    continue
                if fault.kind == "latency":
                    delay += fault.seconds
                    continue
                if (fault.kind == "hang" and hang) or (fault.kind == "fail" and status):
                    continue
                if fault.kind == "hang":
                    hang = fault.seconds
                else:
                    status, retry_after = fault.status, fault.retry_after
                self._consume(fault)
        return Decision(delay=delay, hang=hang, status=status, retry_after=retry_after)

    def _arm(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _consume(self, fault: Fault) -> None:
        if fault.remaining is None:
            return
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._faults.remove(fault)
