"""After the browser tests (this module sorts last), the planted HF token is nowhere.

The app's sandbox stores `planted_token` in its HF token Secret
(DYNAMOTE_SANDBOX_HF_TOKEN). The check searches, in every spelling
`assert_token_absent` knows: the app's log, every file under the app's HOME (which
holds its TMPDIR: the sandbox kubeconfig and the Dynamo processes' directories and
logs), everything under artifacts/ (screenshots, downloaded manifests, and the HTML
of every page a browser test left, saved by `keep_page_html`).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from kubernetes.client import CoreV1Api
from playwright.sync_api import Page

from dynamote_core import kube
from tests.browser.conftest import ROOT, find_sandbox_kubeconfig, wait_for_idle
from tests.fixtures_sandbox import wait_until
from tests.hardening.secrets import assert_token_absent

pytestmark = pytest.mark.browser

NAMESPACE = "dynamo-system"
SECRET = "hf-token-secret"
PAGES_THAT_CHECK_THE_SECRET = ("/", "/configure?model=Qwen/Qwen3-0.6B", "/settings")


def visit_pages_that_check_the_secret(page: Page) -> list[str]:
    """The pages whose pre-flight checks look the Secret up; returns their HTML."""
    contents = []
    for path in PAGES_THAT_CHECK_THE_SECRET:
        page.goto(path)
        wait_for_idle(page)
        contents.append(page.content())
    return contents


def test_the_planted_token_is_in_the_cluster_but_only_by_a_full_read(
    page: Page, app_home: Path, planted_token: str
) -> None:
    page.goto("/")
    kubeconfig = wait_until(lambda: find_sandbox_kubeconfig(app_home), timeout=30)
    api_client = kube.new_api_client(kubeconfig=str(kubeconfig))
    try:
        secret = CoreV1Api(api_client).read_namespaced_secret(SECRET, NAMESPACE)
        metadata_only = kube.request_json(
            api_client,
            "GET",
            f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET}",
            accept=kube.PARTIAL_METADATA_ACCEPT,
        )
    finally:
        api_client.close()

    stored = [base64.b64decode(v).decode() for v in (secret.data or {}).values()]
    assert planted_token in stored
    with pytest.raises(AssertionError):
        assert_token_absent([json.dumps(secret.to_dict(), default=str)], planted_token)
    assert metadata_only["kind"] == "PartialObjectMetadata"
    assert_token_absent([json.dumps(metadata_only)], planted_token)


def test_no_log_page_manifest_or_file_holds_the_planted_token(
    page: Page, app_home: Path, planted_token: str, saved_pages: list[Path]
) -> None:
    contents = visit_pages_that_check_the_secret(page)
    log = app_home / "streamlit.log"

    assert log.stat().st_size > 0
    assert saved_pages, "no earlier browser test saved its pages"
    assert_token_absent(
        [*contents, *saved_pages, log, app_home, ROOT / "artifacts"], planted_token
    )
