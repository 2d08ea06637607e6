"""Label selectors, field selectors and patches, as the Kubernetes API applies them.

Pure functions over JSON dicts; the sandbox server calls them. Invalid input raises
`ValueError` with a message the server returns in a 400 Status.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]
Predicate = Callable[[dict[str, str]], bool]

_SET_TERM = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term.strip() for term in terms if term.strip()]


def parse_label_term(term: str) -> Predicate:
    """One term of a label selector: =, ==, !=, in, notin, exists, !exists."""
    set_term = _SET_TERM.match(term)
    if set_term:
        key, operator, raw = set_term.groups()
        values = {value.strip() for value in raw.split(",") if value.strip()}
        if operator == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if "!=" in term:
        key, value = (part.strip() for part in term.split("!=", 1))
        return lambda labels: labels.get(key) != value
    if "=" in term:
        key, value = (part.strip() for part in term.replace("==", "=").split("=", 1))
        return lambda labels: labels.get(key) == value
    if term.startswith("!"):
        key = term[1:].strip()
        return lambda labels: key not in labels
    if re.fullmatch(r"[A-Za-z0-9./_-]+", term):
        return lambda labels: term in labels
    raise ValueError(f"unable to parse requirement: {term!r}")


def compile_label_selector(selector: str | None) -> Predicate:
    """A label selector string as one predicate (empty matches everything).

    Parsed once per request, not once per object: a list of thousands of pods
    otherwise spends most of its time re-reading the same selector. Raises
    ValueError for a selector that does not parse, before any object is looked at.
    """
    predicates = [parse_label_term(term) for term in split_terms(selector or "")]
    return lambda labels: all(predicate(labels) for predicate in predicates)


def read_field(obj: Obj, path: str) -> str:
    """A dotted field of an object as the string a field selector compares."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def compile_field_selector(selector: str | None) -> Callable[[Obj], bool]:
    """A field selector string (=, ==, != on dotted paths) as one predicate.

    Raises ValueError for a term without an operator.
    """
    predicates = [_parse_field_term(term) for term in split_terms(selector or "")]
    return lambda obj: all(predicate(obj) for predicate in predicates)


def _parse_field_term(term: str) -> Callable[[Obj], bool]:
    if "!=" in term:
        path, value = (part.strip() for part in term.split("!=", 1))
        return lambda obj: read_field(obj, path) != value
    if "=" in term:
        path, value = (part.strip() for part in term.replace("==", "=").split("=", 1))
        return lambda obj: read_field(obj, path) == value
    raise ValueError(f"invalid field selector: {term!r}")


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (strategic merge is treated the same way)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def apply_json_patch(target: Obj, operations: list[Any]) -> Obj:
    """RFC 6902 JSON patch: add, remove, replace, move, copy, test."""
    document: Any = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation:
            raise ValueError("each JSON patch operation needs an 'op'")
        document = _apply_operation(document, operation)
    if not isinstance(document, dict):
        raise ValueError("a JSON patch must leave an object")
    return document


def _apply_operation(document: Any, operation: dict[str, Any]) -> Any:
    op = operation["op"]
    path = _pointer(operation.get("path", ""))
    if op == "test":
        if _resolve(document, path) != operation.get("value"):
            raise ValueError(f"test operation failed at {operation.get('path')}")
        return document
    if op in ("move", "copy"):
        source = _pointer(operation.get("from", ""))
        value = copy.deepcopy(_resolve(document, source))
        if op == "move":
            document = _remove(document, source)
        return _add(document, path, value)
    if op == "remove":
        return _remove(document, path)
    if op == "replace":
        _resolve(document, path)
        document = _remove(document, path)
        return _add(document, path, copy.deepcopy(operation.get("value")))
    if op == "add":
        return _add(document, path, copy.deepcopy(operation.get("value")))
    raise ValueError(f"unknown JSON patch operation {op!r}")


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _resolve(document: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(document, list):
            document = document[_index(part, len(document) - 1)]
        elif isinstance(document, dict) and part in document:
            document = document[part]
        else:
            raise ValueError(f"path not found: /{'/'.join(parts)}")
    return document


def _index(part: str, highest: int) -> int:
    if not part.isdigit() or int(part) > highest:
        raise ValueError(f"invalid array index {part!r}")
    return int(part)


def _add(document: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _resolve(document, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        position = len(parent) if last == "-" else _index(last, len(parent))
        parent.insert(position, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise ValueError(f"cannot add at /{'/'.join(parts)}")
    return document


def _remove(document: Any, parts: list[str]) -> Any:
    if not parts:
        raise ValueError("cannot remove the whole document")
    parent = _resolve(document, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        parent.pop(_index(last, len(parent) - 1))
    elif isinstance(parent, dict) and last in parent:
        del parent[last]
    else:
        raise ValueError(f"path not found: /{'/'.join(parts)}")
    return document
