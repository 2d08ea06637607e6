"""The Try it tab in headless Chromium, answered by the real Dynamo frontend and mocker.

The app's own sandbox serves each DGD with Dynamo processes on loopback
(DYNAMOTE_SANDBOX_DYNAMO=auto and .dynamo-venv installed). The first test deploys
through Configure as a user would; the `kv` and disaggregated DGDs are created with
the official client against the app's sandbox kubeconfig (found in the app's TMPDIR),
as soon as the module starts, so they boot while the first test runs.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import ApiClient, CustomObjectsApi
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from dynamote_core import kube
from tests.browser.conftest import (
    NAMESPACE,
    QWEN,
    ROOT,
    build_dgd,
    screenshot,
    wait_for_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.dynamo]

GROUP, VERSION, PLURAL = "nvidia.com", "v1beta1", "dynamographdeployments"
# Pods get Ready in a few operator ticks; the frontend then needs a few seconds
# to start and find its workers on a busy 2-core machine.
SERVING_WITHIN_S = 45
REPLY_WITHIN_MS = 30_000
# Longer than the mocker's KV block, so a repeated prompt reuses cached blocks.
LONG_PROMPT = "please remember this rather long sentence about kv cache reuse " * 12
STATS = re.compile(r"time to first token \d+ ms · [\d.]+ tokens/s · \d+ tokens")
DOWNLOADS = ROOT / "artifacts" / "downloads"
DOCS_SCREENSHOT = ROOT / "docs" / "screenshots" / "try-it-1280.png"


def by_key(page: Page, key: str) -> Locator:
    """The element Streamlit renders for a widget key (it tags it st-key-<key>)."""
    return page.locator(f".st-key-{re.sub(r'[^a-zA-Z0-9_-]', '-', key)}")


@pytest.fixture(scope="module")
def sandbox_api(sandbox_kubeconfig: Path) -> Iterator[ApiClient]:
    """A client of the app's sandbox; deletes this module's DGDs at the end."""
    from dynamote_core.sandbox.dynamo_runtime import DynamoRuntime

    runtime = DynamoRuntime()
    if not runtime.is_available():
        pytest.skip(
            f"The Dynamo runtime is not installed at {runtime.python}; "
            "run scripts/install_dynamo_runtime"
        )
    api_client = kube.new_api_client(kubeconfig=str(sandbox_kubeconfig))
    yield api_client
    objects = CustomObjectsApi(api_client)
    for item in objects.list_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL
    )["items"]:
        if item["metadata"]["name"].startswith("try-"):
            objects.delete_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, PLURAL, item["metadata"]["name"]
            )
    api_client.close()


@pytest.fixture(scope="module")
def early_dgds(sandbox_api: ApiClient) -> dict[str, str]:
    """The kv and disaggregated DGDs, created at once so they boot in parallel."""
    suffix = uuid.uuid4().hex[:6]
    manifests = {
        "kv": build_dgd(f"try-kv-{suffix}", router_mode="kv", replicas=2),
        "disagg": build_dgd(f"try-disagg-{suffix}", mode="disaggregated"),
    }
    for manifest in manifests.values():
        CustomObjectsApi(sandbox_api).create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, manifest
        )
    return {role: m["metadata"]["name"] for role, m in manifests.items()}


def deploy_through_configure(page: Page, name: str) -> None:
    """Configure → (download the manifest) → Deploy → the details page."""
    page.goto(f"/configure?model={QWEN}")
    name_field = by_key(page, "config_name").locator("input")
    name_field.fill(name)
    name_field.press("Enter")
    expect(page.get_by_test_id("stCode").first).to_contain_text(f"name: {name}")
    wait_for_idle(page)
    with page.expect_download() as download:
        by_key(page, "config_download").get_by_role("button").click()
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    download.value.save_as(DOWNLOADS / download.value.suggested_filename)

    by_key(page, "config_deploy").get_by_role("button").click()

    link = page.get_by_role("link", name=f"Open {name} in Deployments")
    link.click()
    expect(page).to_have_url(re.compile(rf"/deployment\?name={name}$"))


def open_try_it(page: Page, name: str) -> Locator:
    """The Try it tab's panel of the deployment's details page."""
    if f"name={name}" not in page.url:
        page.goto(f"/deployment?name={name}")
    page.get_by_role("tab", name="Try it").click()
    return page.get_by_test_id("stTabPanel").nth(1)


def wait_until_serving(page: Page, panel: Locator, name: str) -> None:
    """Press "Check again" until the tab says Serving (the tab does not poll)."""
    serving = panel.get_by_test_id("stAlertContentSuccess").filter(
        has_text=f"Serving: {QWEN} is listed."
    )
    recheck = by_key(page, f"try_it_recheck_{NAMESPACE}/{name}").get_by_role("button")
    deadline = time.monotonic() + SERVING_WITHIN_S
    while time.monotonic() < deadline:
        wait_for_idle(page)
        if serving.count():
            return
        expect(panel.get_by_test_id("stAlertContentWarning")).to_be_visible()
        page.wait_for_timeout(500)
        try:
            recheck.click(timeout=5_000)
        except PlaywrightTimeoutError:
            continue  # a rerun replaced the button mid-click: look again
    expect(serving).to_be_visible(timeout=1)


def assistant_replies(panel: Locator) -> Locator:
    return panel.get_by_test_id("stChatMessage").filter(
        has=panel.page.get_by_test_id("stChatMessageAvatarAssistant")
    )


def send(page: Page, panel: Locator, text: str) -> Locator:
    """Send a message; returns the new reply once its stats caption is shown."""
    count = assistant_replies(panel).count()
    field = panel.get_by_test_id("stChatInputTextArea")
    field.fill(text)
    field.press("Enter")
    reply = assistant_replies(panel).nth(count)
    expect(reply.get_by_test_id("stCaptionContainer")).to_have_text(
        STATS, timeout=REPLY_WITHIN_MS
    )
    return reply


RECORD_REPLY_LENGTHS_JS = """() => {
    window.replyLengths = [];
    const record = () => {
        const replies = [...document.querySelectorAll(
            '[data-testid="stChatMessage"]')].filter(m => m.querySelector(
                '[data-testid="stChatMessageAvatarAssistant"]'));
        const last = replies[replies.length - 1];
        if (last) window.replyLengths.push(last.innerText.length);
    };
    new MutationObserver(record).observe(
        document.body, {subtree: true, childList: true, characterData: true});
}"""


def record_reply_lengths(page: Page) -> None:
    """From now on, note the newest reply's text length at every DOM change.

    Polling from the test would miss a fast stream; the observer sees every
    update the browser renders.
    """
    page.evaluate(RECORD_REPLY_LENGTHS_JS)


def recorded_reply_lengths(page: Page) -> list[int]:
    """The distinct lengths the newest reply went through, in order."""
    lengths: list[int] = page.evaluate("() => window.replyLengths")
    return [n for i, n in enumerate(lengths) if i == 0 or n != lengths[i - 1]]


def assert_no_traceback(page: Page) -> None:
    wait_for_idle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    assert "Traceback" not in page.locator("body").inner_text()


def set_max_tokens(page: Page, name: str, tokens: int) -> None:
    field = by_key(page, f"try_it_max_tokens_{NAMESPACE}/{name}").locator("input")
    field.fill(str(tokens))
    field.press("Enter")
    wait_for_idle(page)


def shoot_a_short_exchange(page: Page, panel: Locator, name: str) -> None:
    """Screenshots at 1280 and 768 of a fresh chat with a short reply and curl open.

    The 1280 px one is the README's picture of the tab.
    """
    set_max_tokens(page, name, 32)
    by_key(page, f"try_it_clear_{NAMESPACE}/{name}").get_by_role("button").click()
    expect(assistant_replies(panel)).to_have_count(0)
    send(page, panel, "Hello! Who are you?")
    # While the reply's rerun finishes, Streamlit can briefly hold the old and the
    # new expander; wait for the run to end so exactly one is left.
    wait_for_idle(page)
    panel.get_by_text("The same request with curl").first.click()
    curl = panel.get_by_test_id("stCode").filter(
        has_text="curl -N http://localhost:8000/v1/chat/completions"
    )
    expect(curl).to_be_visible()
    expect(curl).to_contain_text(f'"model": "{QWEN}"')
    expect(curl).to_contain_text('"max_tokens": 32')
    for width in (1280, 768):
        path = screenshot(page, "try-it", width)
    page.set_viewport_size({"width": 1280, "height": 900})
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path.with_name("try-it-1280.png"), DOCS_SCREENSHOT)


def test_a_deployed_model_streams_a_reply_in_try_it(
    page: Page, sandbox_api: ApiClient, early_dgds: dict[str, str]
) -> None:
    name = f"try-agg-{uuid.uuid4().hex[:6]}"
    deploy_through_configure(page, name)
    panel = open_try_it(page, name)
    wait_until_serving(page, panel, name)
    # Long enough (about half a second) for the browser to render partial replies.
    set_max_tokens(page, name, 1024)
    record_reply_lengths(page)

    reply = send(page, panel, "Hello! Who are you?")

    lengths = recorded_reply_lengths(page)
    growing = [n for n in lengths if n > 0]
    assert growing == sorted(growing) and len(growing) > 2, (
        f"the reply did not grow while streaming: {lengths}"
    )
    expect(reply.get_by_test_id("stCaptionContainer")).to_contain_text(
        "1024 tokens · stopped at max tokens"
    )
    assert_no_traceback(page)
    shoot_a_short_exchange(page, panel, name)
    assert_no_traceback(page)


def test_kv_router_with_two_workers_reuses_the_cache(
    page: Page, early_dgds: dict[str, str]
) -> None:
    name = early_dgds["kv"]
    panel = open_try_it(page, name)
    wait_until_serving(page, panel, name)

    first = send(page, panel, LONG_PROMPT)
    second = send(page, panel, LONG_PROMPT)

    expect(first.get_by_test_id("stCaptionContainer")).not_to_contain_text("cached")
    expect(second.get_by_test_id("stCaptionContainer")).to_have_text(
        re.compile(r" · [1-9]\d* cached prompt tokens")
    )
    assert_no_traceback(page)


def test_a_disaggregated_deployment_answers(
    page: Page, early_dgds: dict[str, str]
) -> None:
    name = early_dgds["disagg"]
    panel = open_try_it(page, name)
    wait_until_serving(page, panel, name)

    reply = send(page, panel, "Split prefill from decode.")

    assert reply.get_by_test_id("stMarkdownContainer").first.inner_text().strip()
    assert_no_traceback(page)
