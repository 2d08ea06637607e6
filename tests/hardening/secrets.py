"""A reusable check that a planted secret appears nowhere: texts, files, folders.

`assert_token_absent` looks for the token as written, base64-encoded (as a
Secret's `data` holds it) and percent-encoded; the browser tests reuse it on
their artifacts and the app's logs.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path

MAX_FILE_BYTES = 50 * 1024 * 1024


def token_forms(token: str) -> list[str]:
    """The ways a leaked token could be spelled in text a program wrote."""
    forms = {
        token,
        base64.b64encode(token.encode()).decode(),
        urllib.parse.quote(token, safe=""),
    }
    return sorted(forms)


def assert_token_absent(paths_or_texts: Iterable[str | Path], token: str) -> None:
    """Fail naming every place that holds `token` in any of its forms.

    Args:
        paths_or_texts: texts, files, or folders (searched recursively; binary
            files are read as bytes, so screenshots' metadata counts too).
        token: the planted secret.
    """
    assert token, "plant a non-empty token"
    needles = [form.encode() for form in token_forms(token)]
    leaks = [
        where
        for where, data in _contents(paths_or_texts)
        if any(needle in data for needle in needles)
    ]
    assert not leaks, f"the token leaked into: {leaks}"


def _contents(paths_or_texts: Iterable[str | Path]) -> Iterator[tuple[str, bytes]]:
    for index, item in enumerate(paths_or_texts):
        if isinstance(item, Path):
            yield from _file_contents(item)
        else:
            yield f"text #{index}: {item[:60]!r}", item.encode("utf-8", "replace")


def _file_contents(path: Path) -> Iterator[tuple[str, bytes]]:
    files = (
        sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    )
    for file in files:
        if file.exists() and file.stat().st_size <= MAX_FILE_BYTES:
            yield str(file), file.read_bytes()
