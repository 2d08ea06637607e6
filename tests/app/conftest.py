"""AppTest fixtures: the app on the in-process sandbox cluster, fast operator."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
# `ui` sits beside app.py, where Streamlit finds it; pytest needs the root on the path.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
APP = str(ROOT / "app.py")
TIMEOUT = 30


@pytest.fixture(autouse=True)
def _sandbox_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every page talks to the sandbox; its operator steps every 20 ms."""
    monkeypatch.setenv("DYNAMOTE_SANDBOX", "on")
    monkeypatch.setenv("DYNAMOTE_SANDBOX_SPEED", "0.02")
    monkeypatch.setenv("DYNAMOTE_SANDBOX_DYNAMO", "off")
    monkeypatch.setenv("HOME", str(tmp_path))
    yield


@pytest.fixture
def open_page() -> Callable[..., AppTest]:
    """Run the app, then switch to `page` (a path like "views/catalog.py")."""

    def _open(page: str | None = None, **query: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        if page is not None:
            # The query belongs to the page: the Catalog, shown first, drops a
            # ?model= it finds (one left by Back from Configure).
            at.run()
            at.switch_page(page)
        for name, value in query.items():
            at.query_params[name] = value
        return at.run()

    return _open


@pytest.fixture
def custom_objects() -> client.CustomObjectsApi:
    """A real kubernetes client on the app's sandbox cluster, for assertions."""
    from ui import connection

    _, kubeconfig = connection.start_app_sandbox()
    api_client = config.new_client_from_config(config_file=kubeconfig)
    return client.CustomObjectsApi(api_client)


def assert_no_exception(at: AppTest) -> None:
    """No exception escaped, and none was caught by the page guard either."""
    assert not at.exception, [item.value for item in at.exception]
    caught = [item.value for item in at.error if "Something went wrong" in item.value]
    assert not caught, caught


def error_texts(at: AppTest) -> list[str]:
    return [item.value for item in at.error]
