"""AppTest fixtures: the app on the in-process sandbox cluster, fast operator."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest, app_test

ROOT = Path(__file__).resolve().parents[2]
# `ui` sits beside app.py, where Streamlit finds it; pytest needs the root on the path.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
APP = str(ROOT / "app.py")
TIMEOUT = 30


class _NavigationPagesManager(PagesManager):
    """PagesManager as the server has it once app.py has called st.navigation.

    AppTest 1.67 forgets before every run that `st.navigation` is in use and,
    seeing a `pages/` folder, replays reruns as a legacy multipage app: the page
    script runs alone, without app.py (no sidebar, no settings sync). The server
    keeps the flag for the process, so mirroring that here is faithful.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


@pytest.fixture(autouse=True)
def _navigation_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_test, "PagesManager", _NavigationPagesManager)


@pytest.fixture(autouse=True)
def _sandbox_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every page talks to the sandbox; its operator steps every 20 ms."""
    monkeypatch.setenv("DYNAMOTE_SANDBOX", "on")
    monkeypatch.setenv("DYNAMOTE_SANDBOX_SPEED", "0.02")
    monkeypatch.setenv("HOME", str(tmp_path))
    yield


@pytest.fixture
def open_page() -> Callable[..., AppTest]:
    """Run the app, then switch to `page` (a path like "pages/catalog.py")."""

    def _open(page: str | None = None, **query: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        for name, value in query.items():
            at.query_params[name] = value
        at.run()
        if page is not None:
            at.switch_page(page).run()
        return at

    return _open


@pytest.fixture
def custom_objects() -> client.CustomObjectsApi:
    """A real kubernetes client on the app's sandbox cluster, for assertions."""
    from ui import connection

    _, kubeconfig = connection.start_sandbox(connection.read_sandbox_speed())
    api_client = config.new_client_from_config(config_file=kubeconfig)
    return client.CustomObjectsApi(api_client)


def assert_no_exception(at: AppTest) -> None:
    assert not at.exception, [item.value for item in at.exception]


def error_texts(at: AppTest) -> list[str]:
    return [item.value for item in at.error]
