"""Fixtures for the deploy tests: deploy/ as written and as kustomize builds it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

Manifest = dict[str, Any]


def locate_tool(name: str) -> str:
    """A dev tool installed by a wheel next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: run scripts/setup --dev")
    return found


@pytest.fixture(scope="session")
def find_tool() -> Callable[[str], str]:
    """`locate_tool`, for test modules (conftest is not importable from them)."""
    return locate_tool


def load_documents(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture(scope="session")
def source_manifests() -> dict[str, Manifest]:
    """Each resource file of deploy/ (one object per file) by file name."""
    files = sorted(DEPLOY.glob("*.yaml"))
    return {
        path.name: load_documents(path)[0]
        for path in files
        if path.name != "kustomization.yaml"
    }


@pytest.fixture(scope="session")
def kustomization() -> Manifest:
    return load_documents(DEPLOY / "kustomization.yaml")[0]


@pytest.fixture(scope="session")
def built_manifests() -> list[Manifest]:
    """What `kubectl apply -k deploy/` would send, built offline by kustomize."""
    kubectl = locate_tool("kubectl")

    result = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def built_by_kind(built_manifests: list[Manifest]) -> dict[str, Manifest]:
    """The built objects by kind; deploy/ holds one object of each kind."""
    by_kind = {doc["kind"]: doc for doc in built_manifests}
    assert len(by_kind) == len(built_manifests), "two objects share a kind"
    return by_kind
