"""ui.connection.shared_read: one fetch at a time, shared, stale while refreshing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tests.fixtures_sandbox import wait_until
from ui.connection import shared_read


class CountingRead:
    """A cluster read stand-in: counts calls, can block, fail or change its answer."""

    def __init__(self) -> None:
        self.calls = 0
        self.answer = "first"
        self.failure: Exception | None = None
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, key: str) -> str:
        self.calls += 1
        self.gate.wait(5)
        if self.failure is not None:
            raise self.failure
        return f"{self.answer}:{key}"


def cache(read: CountingRead, **options: float) -> Callable[[str], str]:
    return shared_read(**options)(read)


def stale_cache(read: CountingRead) -> Callable[[str], str]:
    """A cache serving stale values, holding "first:ns" just past its TTL."""
    cached = cache(read, ttl=0.05, serve_stale_for=30)
    cached("ns")
    time.sleep(0.1)
    return cached


def test_sessions_missing_together_share_one_fetch() -> None:
    read = CountingRead()
    read.gate.clear()
    cached = cache(read, ttl=60)
    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda: answers.append(cached("ns"))) for _ in range(8)
    ]

    for thread in threads:
        thread.start()
    wait_until(lambda: read.calls == 1)
    read.gate.set()
    for thread in threads:
        thread.join(5)

    assert read.calls == 1
    assert answers == ["first:ns"] * 8


def test_value_past_ttl_is_fetched_again_in_line_without_stale_serving() -> None:
    read = CountingRead()
    cached = cache(read, ttl=0.05)
    cached("ns")
    read.answer = "second"

    time.sleep(0.1)

    assert cached("ns") == "second:ns"
    assert read.calls == 2


def test_stale_value_is_served_at_once_while_one_refresh_runs() -> None:
    read = CountingRead()
    cached = stale_cache(read)
    read.answer = "second"
    read.gate.clear()

    answers = [cached("ns") for _ in range(5)]
    read.gate.set()

    assert answers == ["first:ns"] * 5
    wait_until(lambda: cached("ns") == "second:ns")
    assert read.calls == 2


def test_failed_refresh_drops_the_value_so_the_next_read_shows_the_error() -> None:
    read = CountingRead()
    cached = stale_cache(read)
    read.failure = ConnectionError("API server down")

    stale = cached("ns")

    def read_raises() -> bool:
        try:
            cached("ns")
        except ConnectionError:
            return True
        return False

    assert stale == "first:ns"
    assert wait_until(read_raises)


def test_refresh_started_before_a_clear_does_not_bring_old_data_back() -> None:
    read = CountingRead()
    cached = stale_cache(read)
    read.gate.clear()
    cached("ns")  # starts the refresh, which now waits on the gate
    wait_until(lambda: read.calls == 2)

    cached.cache_clear()  # type: ignore[attr-defined]
    read.answer = "after-write"
    read.gate.set()
    time.sleep(0.05)

    assert cached("ns") == "after-write:ns"
