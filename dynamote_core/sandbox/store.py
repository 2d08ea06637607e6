"""The sandbox's object store: every Kubernetes object, versioned, watchable.

It keeps objects as plain JSON dicts keyed by resource, namespace and name, hands out
deep copies, stamps uid, resourceVersion and creationTimestamp like an API server,
and records every change so watches can replay from a resourceVersion. It knows
nothing about HTTP or Dynamo; the server and the simulated operator call it.
"""

from __future__ import annotations

import builtins
import copy
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

# Watch history kept for replays; older resourceVersions answer 410 Gone.
HISTORY_LIMIT = 5000


class AlreadyStored(Exception):
    """A create found an object of that name already stored."""


def now_rfc3339() -> str:
    """The current time as Kubernetes writes timestamps."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Change:
    """One stored change, as a watch replays it."""

    resource_version: int
    kind: str  # ADDED, MODIFIED, DELETED
    resource: str
    namespace: str
    obj: Obj


class ResourceVersionTooOld(Exception):
    """A watch asked for a resourceVersion older than the kept history."""


class Store:
    """Thread-safe objects by (resource, namespace, name); "" is cluster scope."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._objects: dict[str, dict[tuple[str, str], Obj]] = {}
        self._history: builtins.list[Change] = []
        self._resource_version = 0
        self._logs: dict[
            tuple[str, str], tuple[builtins.list[str], builtins.list[str]]
        ] = {}
        self.closed = False

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._resource_version)

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        """A copy of one object, or None."""
        with self._lock:
            found = self._objects.get(resource, {}).get((namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def list(
        self,
        resource: str,
        namespace: str | None = None,
        where: Callable[[Obj], bool] | None = None,
        *,
        copied: bool = True,
    ) -> builtins.list[Obj]:
        """Copies of a resource's objects, in one namespace or all, sorted by name.

        `where` filters before anything is copied: with thousands of pods, copying
        only the matches is what keeps a selector-based list cheap. `copied=False`
        returns the stored objects themselves, for readers that only serialize them
        (stored objects are never changed in place).
        """
        with self._lock:
            items = [
                obj
                for (obj_ns, _), obj in self._objects.get(resource, {}).items()
                if (namespace is None or obj_ns == namespace)
                and (where is None or where(obj))
            ]
            items.sort(
                key=lambda o: (
                    o["metadata"].get("namespace", ""),
                    o["metadata"]["name"],
                )
            )
            return copy.deepcopy(items) if copied else items

    def scan(self, resource: str) -> builtins.list[Obj]:
        """The stored objects themselves, uncopied: for readers that never mutate.

        Stored objects are never changed in place (every write stores a new copy),
        so a scan stays consistent; it spares the simulated operator thousands of
        copies per tick.
        """
        with self._lock:
            return builtins.list(self._objects.get(resource, {}).values())

    def create(self, resource: str, obj: Obj) -> Obj:
        """Store a new object, or raise AlreadyStored: check and write are atomic,
        as on a real API server, so two racing creates make one object."""
        with self._lock:
            meta = obj.get("metadata") or {}
            key = (meta.get("namespace", ""), meta.get("name"))
            if key in self._objects.get(resource, {}):
                raise AlreadyStored(resource, *key)
            stored = copy.deepcopy(obj)
            meta = stored.setdefault("metadata", {})
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            meta.setdefault("generation", 1)
            self._save(resource, stored, "ADDED")
            return copy.deepcopy(stored)

    def replace(self, resource: str, obj: Obj) -> Obj:
        """Overwrite an existing object and bump its resourceVersion."""
        with self._lock:
            stored = copy.deepcopy(obj)
            self._save(resource, stored, "MODIFIED")
            return copy.deepcopy(stored)

    def update(
        self, resource: str, namespace: str, name: str, mutate: Callable[[Obj], None]
    ) -> Obj | None:
        """Apply `mutate` to the stored object under the lock; write if it changed."""
        with self._lock:
            current = self._objects.get(resource, {}).get((namespace, name))
            if current is None:
                return None
            candidate = copy.deepcopy(current)
            mutate(candidate)
            if candidate == current:
                return copy.deepcopy(current)
            return self.replace(resource, candidate)

    def remove(self, resource: str, namespace: str, name: str) -> Obj | None:
        """Delete an object for good; returns what was stored."""
        with self._lock:
            found = self._objects.get(resource, {}).pop((namespace, name), None)
            if found is None:
                return None
            self._resource_version += 1
            found["metadata"]["resourceVersion"] = str(self._resource_version)
            self._record(
                Change(self._resource_version, "DELETED", resource, namespace, found)
            )
            return copy.deepcopy(found)

    def changes_since(
        self, resource: str, namespace: str | None, since: int, timeout: float
    ) -> Iterator[Change]:
        """Yield changes of a resource after `since` until `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        cursor = since
        while not self.closed:
            with self._lock:
                if self._history and cursor < self._history[0].resource_version - 1:
                    raise ResourceVersionTooOld(str(cursor))
                pending = [
                    change
                    for change in self._history
                    if change.resource_version > cursor
                    and change.resource == resource
                    and (namespace is None or change.namespace == namespace)
                ]
                cursor = self._resource_version
                if not pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    self._changed.wait(min(remaining, 0.5))
                    continue
            yield from pending

    def append_log(self, namespace: str, pod: str, line: str) -> None:
        """Add a line to a pod's current container log."""
        with self._lock:
            self._logs.setdefault((namespace, pod), ([], []))[0].append(line)

    def restart_log(self, namespace: str, pod: str) -> None:
        """A container restarted: its log becomes the previous one."""
        with self._lock:
            current, _ = self._logs.get((namespace, pod), ([], []))
            self._logs[(namespace, pod)] = ([], current)

    def read_log(
        self, namespace: str, pod: str, previous: bool = False
    ) -> builtins.list[str]:
        """A pod's current (or previous) container log lines."""
        with self._lock:
            current, before = self._logs.get((namespace, pod), ([], []))
            return list(before if previous else current)

    def drop_log(self, namespace: str, pod: str) -> None:
        with self._lock:
            self._logs.pop((namespace, pod), None)

    def close(self) -> None:
        """Wake every watch so it ends."""
        with self._lock:
            self.closed = True
            self._changed.notify_all()

    def _save(self, resource: str, obj: Obj, kind: str) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace", "")
        self._resource_version += 1
        meta["resourceVersion"] = str(self._resource_version)
        self._objects.setdefault(resource, {})[(namespace, meta["name"])] = obj
        self._record(
            Change(
                self._resource_version, kind, resource, namespace, copy.deepcopy(obj)
            )
        )

    def _record(self, change: Change) -> None:
        self._history.append(change)
        if len(self._history) > HISTORY_LIMIT:
            del self._history[: len(self._history) - HISTORY_LIMIT]
        self._changed.notify_all()
