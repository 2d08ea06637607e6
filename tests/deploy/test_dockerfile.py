"""The Dockerfile: lint-clean, runtime dependencies only, and an install that works.

No Docker engine runs here, so the image is checked by hadolint and by replaying
its `pip install` step in a fresh virtual environment.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import venv
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dynamote_core.settings import AppSettings

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DEV_PACKAGES = {"pytest", "playwright", "ruff", "mypy", "hypothesis", "import-linter"}
INSTALL_TIMEOUT_SECONDS = 600


def read_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def find_arguments(keyword: str) -> list[str]:
    return [args for name, args in read_instructions() if name == keyword]


def read_requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower())
    return names


def test_hadolint_finds_nothing(find_tool: Callable[[str], str]) -> None:
    hadolint = find_tool("hadolint")

    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_requirements_hold_no_dev_package() -> None:
    names = read_requirement_names(REPO / "requirements.txt")

    assert names & DEV_PACKAGES == set()


def test_image_installs_only_requirements_txt() -> None:
    runs = [args for args in find_arguments("RUN") if "pip" in args.split()]

    [install] = runs

    assert shlex.split(install)[-2:] == ["-r", "requirements.txt"]


def test_base_image_is_slim_and_pinned() -> None:
    [base] = find_arguments("FROM")

    name, _, tag = base.partition(":")

    assert name == "python"
    assert re.fullmatch(r"3\.11\.\d+-slim(-\w+)?", tag)


def test_image_runs_as_the_unprivileged_user() -> None:
    users = find_arguments("USER")

    assert users[-1] == "10001:10001"


def test_image_defaults_match_the_app_settings() -> None:
    env = " ".join(find_arguments("ENV"))

    assert f"PORT={AppSettings().port}" in env
    assert "DYNAMOTE_SANDBOX=off" in env
    assert "HOME=/tmp" in env
    assert find_arguments("EXPOSE") == [str(AppSettings().port)]


def test_healthcheck_and_command_use_port() -> None:
    [healthcheck] = find_arguments("HEALTHCHECK")
    [command] = find_arguments("CMD")

    assert "/_stcore/health" in healthcheck and "PORT" in healthcheck
    assert "urllib" in healthcheck
    assert '--server.port \\"$PORT\\"' in command
    assert "--server.address 0.0.0.0" in command


def test_copied_paths_exist_and_pass_dockerignore() -> None:
    copies = [args for args in find_arguments("COPY")]
    sources = [part for args in copies for part in shlex.split(args)[:-1]]
    allowed = {
        line[1:]
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }

    missing = [source for source in sources if not (REPO / source).exists()]

    assert missing == []
    assert {source.rstrip("/") for source in sources} <= allowed


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A new virtual environment where the Dockerfile's pip step has run, once.

    `--no-cache-dir` is dropped so pip's cache serves later runs, and
    `--no-compile` skips writing bytecode: the point is that the pinned set
    resolves and installs, not the download or the .pyc files.
    """
    [install] = [args for args in find_arguments("RUN") if "pip" in args.split()]
    arguments = [arg for arg in shlex.split(install) if arg != "--no-cache-dir"]
    assert arguments[:2] == ["pip", "install"]
    target = tmp_path_factory.mktemp("image-venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    python = target / "bin" / "python"

    result = subprocess.run(
        [str(python), "-m", *arguments, "--no-compile", "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=INSTALL_TIMEOUT_SECONDS,
        env={**os.environ, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )

    assert result.returncode == 0, result.stderr[-4000:]
    yield python


def test_image_install_is_consistent(fresh_venv: Path) -> None:
    result = subprocess.run(
        [str(fresh_venv), "-m", "pip", "check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout


def test_library_imports_with_image_packages_only(fresh_venv: Path) -> None:
    # Every dynamote_core module must import without the dev packages. `-I`
    # keeps this checkout's .venv and PYTHONPATH out; __main__ modules would run.
    script = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "import importlib, pkgutil, dynamote_core\n"
        "prefix = 'dynamote_core.'\n"
        "for module in pkgutil.walk_packages(dynamote_core.__path__, prefix):\n"
        "    if not module.name.endswith('__main__'):\n"
        "        importlib.import_module(module.name)\n"
        "import streamlit, kubernetes, pydantic, yaml\n"
    )

    result = subprocess.run(
        [str(fresh_venv), "-I", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-4000:]
