"""Back the sandbox's DGDs with the real Dynamo frontend and mocker workers.

`GraphSupervisor` follows the DGDs the simulated operator reconciles: once a DGD is
Ready it starts the graph `DynamoRuntime.start_graph_for` describes and points the
service proxy of `<name>-frontend:8000` at it; when the graph's options change it
restarts it; when the DGD is deleted (or vanishes) it stops the processes and removes
the proxy route. Starting and stopping run on one worker thread of its own, in the
order asked, so the operator's tick never waits for a process.

Must not: import `kubernetes`, write to the store (the operator owns the cluster's
state), start a graph for a DGD that is not Ready or carries a failure trigger,
outlive `stop()`.
Called by the operator (`sync`) and by `Sandbox` (`stop`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

from dynamote_core.sandbox.api import KubeApi
from dynamote_core.sandbox.dynamo_runtime import (
    DynamoRuntime,
    DynamoRuntimeError,
    GraphOptions,
    read_graph_options,
)

logger = logging.getLogger(__name__)

FAIL_ANNOTATION = "sandbox.dynamote.io/fail"
# The Service the operator creates for a DGD's frontend, as `dynamote_core.chat`
# addresses it (not imported: the sandbox stays free of the kubernetes client).
FRONTEND_PORT = 8000
STOP_JOIN_SECONDS = 15.0

Key = tuple[str, str]
Job = Callable[[], None]


class GraphSupervisor:
    """One running Dynamo graph per Ready DGD; see the module docstring."""

    def __init__(self, runtime: DynamoRuntime, api: KubeApi) -> None:
        self.runtime = runtime
        self.api = api
        self._applied: dict[Key, GraphOptions] = {}
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._thread = threading.Thread(
            target=self._work, name="sandbox-dynamo-graphs", daemon=True
        )
        self._thread.start()

    def sync(self, dgds: Iterable[dict[str, Any]]) -> None:
        """Start, restart or stop graphs so they match the live, Ready DGDs."""
        live: set[Key] = set()
        for dgd in dgds:
            meta = dgd["metadata"]
            key = (str(meta["namespace"]), str(meta["name"]))
            if meta.get("deletionTimestamp"):
                continue
            live.add(key)
            self._sync_one(key, dgd)
        for key in [k for k in self._applied if k not in live]:
            self._forget(key)

    def stop(self) -> None:
        """Finish queued work, then stop every graph and the worker thread."""
        self._jobs.put(None)
        self._thread.join(timeout=STOP_JOIN_SECONDS)
        for key in list(self._applied):
            self._unroute(key)
        self._applied.clear()
        self.runtime.stop_all()

    def _sync_one(self, key: Key, dgd: dict[str, Any]) -> None:
        annotations = dgd["metadata"].get("annotations") or {}
        if annotations.get(FAIL_ANNOTATION):
            if key in self._applied:
                self._forget(key)
            return
        options = read_graph_options(dgd)
        if self._applied.get(key) == options or not is_dgd_ready(dgd):
            return
        self._applied[key] = options
        snapshot = dict(dgd)
        self._jobs.put(lambda: self._start(key, snapshot))

    def _forget(self, key: Key) -> None:
        del self._applied[key]
        self._jobs.put(lambda: self._stop(key))

    def _start(self, key: Key, dgd: dict[str, Any]) -> None:
        try:
            graph = self.runtime.start_graph_for(dgd)
        except DynamoRuntimeError as error:
            logger.warning("sandbox: no Dynamo graph for %s/%s: %s", *key, error)
            return
        self.api.register_service_backend(
            key[0], frontend_service_name(key[1]), FRONTEND_PORT, graph.url
        )

    def _stop(self, key: Key) -> None:
        self._unroute(key)
        self.runtime.stop_graph(*key)

    def _unroute(self, key: Key) -> None:
        self.api.unregister_service_backend(
            key[0], frontend_service_name(key[1]), FRONTEND_PORT
        )

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:  # keep serving other DGDs; the log says what failed
                logger.exception("sandbox: Dynamo graph job failed")


def frontend_service_name(dgd_name: str) -> str:
    return f"{dgd_name}-frontend"


def is_dgd_ready(dgd: dict[str, Any]) -> bool:
    """True when the operator has observed the latest spec and found it Ready."""
    status = dgd.get("status") or {}
    if status.get("observedGeneration") != dgd["metadata"].get("generation"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
