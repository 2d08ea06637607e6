"""Text from custom catalogs and the cluster is shown as text on every page.

Plants markdown, HTML and script payloads in a custom catalog (DYNAMOTE_CATALOG),
in a DGD's annotations and in a cluster event, renders the pages with AppTest,
and checks that no markdown-rendering element holds a payload unescaped.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from dynamote_core.catalog import DEFAULT_CATALOG_PATH
from dynamote_core.sandbox.store import now_rfc3339
from tests.app.conftest import APP, ROOT, TIMEOUT, assert_no_exception

SCRIPT = "<script>alert(1)</script>"
MARKUP = "**bold** [x](javascript:alert(1))"
IMAGE = '<img src=x onerror="alert(1)">'
PAYLOAD = f"{SCRIPT} {MARKUP} {IMAGE} :red[red] $x^2$"
# What would render as HTML, a link, bold, colour or LaTeX if left unescaped.
UNSAFE = [
    re.compile(r"(?<!\\)<(script|img)"),
    re.compile(r"(?<!\\)\]\((?!\\)"),
    re.compile(r"(?<!\\)\*\*bold"),
    re.compile(r"(?<!\\):red"),
    re.compile(r"(?<!\\)\$x"),
]
MARKDOWN_ELEMENTS = (
    "markdown",
    "caption",
    "error",
    "warning",
    "info",
    "success",
    "title",
    "header",
    "subheader",
    "exception",
)
NAMESPACE = "dynamo-system"
HOSTILE_ID = "evil/payload-model"


@pytest.fixture(autouse=True)
def _sandbox_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Pages talk to the app's in-process sandbox, as in tests/app."""
    monkeypatch.setenv("DYNAMOTE_SANDBOX", "on")
    monkeypatch.setenv("DYNAMOTE_SANDBOX_SPEED", "0.02")
    monkeypatch.setenv("DYNAMOTE_SANDBOX_DYNAMO", "off")
    monkeypatch.setenv("HOME", str(tmp_path))


def markdown_texts(at: AppTest) -> list[str]:
    """The body of every element that renders its text as markdown."""
    texts = []
    for kind in MARKDOWN_ELEMENTS:
        for element in getattr(at, kind, []):
            texts.append(str(getattr(element, "value", element)))
    return texts


def assert_rendered_as_text(at: AppTest, must_show: str) -> None:
    texts = markdown_texts(at)
    unsafe = [t for t in texts if any(p.search(t) for p in UNSAFE)]
    assert unsafe == []
    assert any(must_show in text for text in texts), texts


@pytest.fixture
def hostile_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from ui import models as cached_models

    # The app caches the catalog per process; earlier app tests loaded the default.
    cached_models.get_catalog.clear()
    yield _write_hostile_catalog(tmp_path, monkeypatch)
    cached_models.get_catalog.clear()


def _write_hostile_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    models = json.loads(DEFAULT_CATALOG_PATH.read_text())
    hostile = dict(models[0])
    hostile |= {
        "id": HOSTILE_ID,
        "display_name": f"{SCRIPT} **bold** [x](javascript:alert(1))",
        "description": f"{IMAGE} {PAYLOAD}",
        "license": MARKUP,
        "family": SCRIPT,
        "publisher": IMAGE,
        "gated": False,
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps([hostile, *models]))
    monkeypatch.setenv("DYNAMOTE_CATALOG", str(path))
    return path


def open_app(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    at.switch_page(page).run()
    return at


def test_no_page_allows_raw_html() -> None:
    sources = [ROOT / "app.py", *(ROOT / "ui").rglob("*.py")]
    sources += [*(ROOT / "views").rglob("*.py"), *(ROOT / "pages").rglob("*.py")]

    offenders = [
        str(path.relative_to(ROOT))
        for path in sources
        if re.search(
            r"unsafe_allow_html\s*=\s*True|st\.html\(|components\.v1\.html",
            path.read_text(),
        )
    ]

    assert offenders == []


def test_catalog_page_shows_a_hostile_catalog_as_text(hostile_catalog: Path) -> None:
    at = open_app("views/catalog.py")

    assert_no_exception(at)
    assert_rendered_as_text(at, "alert")


def test_configure_page_shows_a_hostile_model_as_text(hostile_catalog: Path) -> None:
    at = open_app("views/configure.py", model=HOSTILE_ID)

    assert_no_exception(at)
    assert_rendered_as_text(at, "onerror")


@pytest.fixture
def app_sandbox() -> Iterator[Any]:
    from ui import connection

    sandbox, _ = connection.start_app_sandbox()
    yield sandbox


def plant_deployment(sandbox: Any, name: str) -> None:
    """A DGD with payload annotations and a crash loop, plus a payload event."""
    from kubernetes import client, config

    from dynamote_core.catalog import load_catalog
    from dynamote_core.config import validate_config
    from dynamote_core.manifest import build_graph_deployment

    catalog = load_catalog(DEFAULT_CATALOG_PATH)
    values = {
        "name": name,
        "namespace": NAMESPACE,
        "model_id": "Qwen/Qwen3-0.6B",
        "engine": "vllm",
    }
    settings = validate_config(values, catalog)
    manifest = build_graph_deployment(settings, catalog.get(settings.model_id))
    annotations = manifest["metadata"]["annotations"]
    annotations["dynamote.io/model"] = PAYLOAD
    annotations["sandbox.dynamote.io/fail"] = "crash-loop"
    api = config.new_client_from_config(config_file=str(kubeconfig_of(sandbox)))
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "nvidia.com", "v1beta1", NAMESPACE, "dynamographdeployments", manifest
    )
    api.close()
    sandbox.store.create("events", payload_event(name))


def kubeconfig_of(sandbox: Any) -> Path:
    import tempfile

    return sandbox.write_kubeconfig(Path(tempfile.mkdtemp()) / "kubeconfig")


def payload_event(name: str) -> dict[str, Any]:
    stamp = now_rfc3339()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.planted", "namespace": NAMESPACE},
        "involvedObject": {
            "kind": "DynamoGraphDeployment",
            "name": name,
            "namespace": NAMESPACE,
        },
        "reason": "Failed",
        "message": PAYLOAD,
        "type": "Warning",
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
    }


def test_deployment_details_show_cluster_text_as_text(app_sandbox: Any) -> None:
    name = f"xss-{int(time.monotonic() * 1000) % 100000}"
    plant_deployment(app_sandbox, name)
    time.sleep(0.5)  # a few operator steps: pods crash, events appear

    at = open_app("views/details.py", name=name)

    assert_no_exception(at)
    texts = markdown_texts(at)
    assert not [t for t in texts if any(p.search(t) for p in UNSAFE)]
    shown = json.dumps([frame.value.to_dict() for frame in at.dataframe], default=str)
    assert SCRIPT in shown  # the event table shows the message verbatim
    assert texts  # the page rendered its markdown elements too
