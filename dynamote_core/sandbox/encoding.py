"""JSON bodies of the sandbox's answers: compact, with stored objects encoded once.

A Kubernetes API server answers compact JSON, and so does the sandbox. Encoding
thousands of pods again on every list was most of the sandbox's time per list, so
the bytes of each stored object are kept and reused for as long as its
resourceVersion stays the same. No I/O and no HTTP here; `api.KubeApi` calls it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import cachetools

Obj = dict[str, Any]

# Past this many kept encodings the least recently listed go first, so objects
# deleted long ago do not stay in memory; 10,000 pods of ~2.5 kB are ~25 MB.
ENCODED_OBJECTS_LIMIT = 10_000


def encode_json(document: Any) -> bytes:
    """A JSON document as the compact UTF-8 bytes an API server sends."""
    return json.dumps(document, separators=(",", ":")).encode()


def encode_list(head: Obj, items: list[bytes]) -> bytes:
    """A list body: the envelope `head` (kind, apiVersion, metadata) and its items."""
    return encode_json(head)[:-1] + b',"items":[' + b",".join(items) + b"]}"


class EncodedObjects:
    """The JSON bytes of stored objects, kept per resourceVersion and served version.

    The store never changes a stored object in place and gives every write a new
    resourceVersion, so one (resourceVersion, served version) pair always names
    the same bytes: an update is a new key, never a stale hit.
    """

    def __init__(self, limit: int = ENCODED_OBJECTS_LIMIT) -> None:
        self._bytes: cachetools.LRUCache[tuple[str, str], bytes] = cachetools.LRUCache(
            limit
        )
        self._lock = threading.Lock()

    def encode_all(
        self, objects: list[Obj], version: str, present: Callable[[Obj], Obj]
    ) -> list[bytes]:
        """Each object as served in `version`; `present` shapes the ones not kept."""
        keys = [_key_of(obj, version) for obj in objects]
        with self._lock:
            found = [self._bytes.get(key) if key else None for key in keys]
        encoded: list[bytes] = []
        fresh: dict[tuple[str, str], bytes] = {}
        for obj, key, hit in zip(objects, keys, found, strict=True):
            if hit is None:
                hit = encode_json(present(obj))
                if key:
                    fresh[key] = hit
            encoded.append(hit)
        with self._lock:
            self._bytes.update(fresh)
        return encoded


def _key_of(obj: Obj, version: str) -> tuple[str, str] | None:
    resource_version = (obj.get("metadata") or {}).get("resourceVersion")
    return (str(resource_version), version) if resource_version else None
