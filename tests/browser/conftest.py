"""Browser fixtures: the real app under `streamlit run`, driven by Debian's chromium.

The app runs on the in-process sandbox cluster (DYNAMOTE_SANDBOX=on), so the whole
flow works without a real cluster. Playwright never downloads a browser here: it
launches the system chromium through `executable_path`.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
PAGES = ROOT / "artifacts" / "pages"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QWEN = "Qwen/Qwen3-0.6B"
NAMESPACE = "dynamo-system"
# The first run of a page imports the app's modules: 10 s on a busy 2-core machine.
EXPECT_TIMEOUT_MS = 20_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"streamlit did not become healthy at {url}")


def streamlit_command(script: Path | str, port: int) -> list[str]:
    """The argv that serves `script` headless on `port` (no shell, no telemetry)."""
    return [
        *(sys.executable, "-m", "streamlit", "run", str(script)),
        *("--server.port", str(port)),
        *("--server.headless", "true"),
        *("--browser.gatherUsageStats", "false"),
    ]


def start_app(
    tmp_path: Path, extra_env: dict[str, str] | None = None
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start `streamlit run app.py` on a free port; returns its URL and process."""
    port = _free_port()
    env = {
        **os.environ,
        "DYNAMOTE_SANDBOX": "on",
        "DYNAMOTE_SANDBOX_SPEED": "0.1",
        "DYNAMOTE_REFRESH_SECONDS": "2",
        "HOME": str(tmp_path),
        **(extra_env or {}),
    }
    env.pop("KUBECONFIG", None)
    # The child keeps its own copy of the log descriptor; ours closes at once.
    with (tmp_path / "streamlit.log").open("wb") as log:
        process = subprocess.Popen(
            streamlit_command(ROOT / "app.py", port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, process, 60)
    return url, process


@pytest.fixture(scope="session")
def planted_token() -> str:
    """The HF token the app's sandbox stores; no file or page may ever hold it."""
    return "hf_PLANTED" + secrets.token_hex(16)


@pytest.fixture(scope="session")
def app_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app's HOME; its TMPDIR (sandbox kubeconfig, Dynamo graphs) lives inside."""
    home = tmp_path_factory.mktemp("app")
    (home / "tmp").mkdir()
    return home


@pytest.fixture(scope="session")
def app_url(app_home: Path, planted_token: str) -> Iterator[str]:
    url, process = start_app(
        app_home,
        {"DYNAMOTE_SANDBOX_HF_TOKEN": planted_token, "TMPDIR": str(app_home / "tmp")},
    )
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed: scripts/setup --dev adds it")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object, app_url: str) -> Iterator[object]:
    """A fresh browser context (own localStorage); relative URLs hit the app."""
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 1280, "height": 900}, base_url=app_url
    )
    page = context.new_page()
    page.set_default_timeout(EXPECT_TIMEOUT_MS)
    yield page
    context.close()


@pytest.fixture(scope="session")
def saved_pages() -> list[Path]:
    """The HTML files `keep_page_html` wrote in this session (artifacts/ is shared)."""
    return []


@pytest.fixture(autouse=True)
def keep_page_html(request: pytest.FixtureRequest) -> Iterator[None]:
    """Save the HTML of every tab the test left open, for the secrets check.

    Asking for `page` here (not as a parameter) sets it up inside this fixture,
    so this teardown runs while the browser context is still open.
    """
    if "page" not in request.fixturenames:
        yield
        return
    page = request.getfixturevalue("page")
    saved = request.getfixturevalue("saved_pages")
    yield
    PAGES.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)
    for index, tab in enumerate(page.context.pages):
        suffix = f"-{index}" if index else ""
        path = PAGES / f"{stem}{suffix}.html"
        path.write_text(tab.content(), encoding="utf-8")
        saved.append(path)


def find_sandbox_kubeconfig(app_home: Path) -> Path | None:
    """The kubeconfig of the app's sandbox, once a page has started it."""
    found = sorted((app_home / "tmp").glob("dynamote-sandbox-*/kubeconfig"))
    return found[0] if found else None


@pytest.fixture(scope="session")
def sandbox_kubeconfig(browser: Any, app_url: str, app_home: Path) -> Path:
    """The app's sandbox kubeconfig; a page visit starts the sandbox if need be."""
    from tests.fixtures_sandbox import wait_until

    context = browser.new_context(base_url=app_url)
    try:
        context.new_page().goto("/deployments")
        return wait_until(lambda: find_sandbox_kubeconfig(app_home), timeout=30)
    finally:
        context.close()


def build_dgd(name: str, model_id: str = QWEN, **changes: Any) -> dict[str, Any]:
    """A DGD manifest as Configure would build it, for creating with the client."""
    from dynamote_core.catalog import load_catalog
    from dynamote_core.config import validate_config
    from dynamote_core.manifest import build_graph_deployment

    catalog = load_catalog()
    values = {
        "name": name,
        "namespace": NAMESPACE,
        "model_id": model_id,
        "engine": "vllm",
        **changes,
    }
    config = validate_config(values, catalog)
    return build_graph_deployment(config, catalog.get(model_id))  # type: ignore[arg-type]


def wait_for_idle(page: object) -> None:
    """Wait until the app's script (or a fragment) has finished its current run."""
    page.locator(  # type: ignore[attr-defined]
        '[data-testid="stApp"][data-test-script-state="notRunning"]'
    ).wait_for()


CONTENT_HEIGHT_JS = """() => Math.max(900, ...[...document.querySelectorAll(
    '[data-testid="stMain"]')].map(e => e.scrollHeight))"""


def settled_content_height(page: object) -> int:
    """The page content's height once the layout stops moving after a resize.

    The sidebar collapses with a transition, so the first measurement after a
    width change can be twice the final height.
    """
    previous = -1
    for _ in range(20):
        height = int(page.evaluate(CONTENT_HEIGHT_JS))  # type: ignore[attr-defined]
        if height == previous:
            return height
        previous = height
        page.wait_for_timeout(350)  # type: ignore[attr-defined]
    return previous


def screenshot(page: object, name: str, width: int) -> Path:
    """Save a whole-page screenshot at the given width under artifacts/screenshots.

    Streamlit scrolls inside its main container, not the document, so Playwright's
    full_page sees only one screen: the viewport grows to the content's height
    for the shot, then returns to 900 px.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900})  # type: ignore[attr-defined]
    wait_for_idle(page)
    height = min(settled_content_height(page), 6000)
    page.set_viewport_size({"width": width, "height": height})  # type: ignore[attr-defined]
    # Canvas-drawn tables repaint after the resize.
    page.wait_for_timeout(300)  # type: ignore[attr-defined]
    path = SCREENSHOTS / f"{name}-{width}.png"
    page.screenshot(path=str(path))  # type: ignore[attr-defined]
    page.set_viewport_size({"width": width, "height": 900})  # type: ignore[attr-defined]
    return path
