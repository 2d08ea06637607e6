"""Back, Forward and page switches in headless Chromium keep the user where they were.

Streamlit records a page switch that changes the query string as two history
entries (the old page with the new query, then the new page), so Back lands on
addresses no link points to: these tests walk them as a user would.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import CustomObjectsApi
from playwright.sync_api import Page, expect

from dynamote_core import kube
from tests.browser.conftest import NAMESPACE, build_dgd, wait_for_idle
from tests.browser.test_flow import assert_no_traceback, by_key, list_row

pytestmark = pytest.mark.browser

LLAMA = "meta-llama/Llama-3.2-1B-Instruct"
GROUP, VERSION, PLURAL = "nvidia.com", "v1beta1", "dynamographdeployments"
# The grid draws rows on a canvas: a row is clicked by its place.
ROW_HEIGHT_PX = 35


@pytest.fixture(scope="module")
def deployed(sandbox_kubeconfig: Path) -> Iterator[str]:
    """One DGD created with the official client in the app's sandbox."""
    name = f"nav-{uuid.uuid4().hex[:6]}"
    api_client = kube.new_api_client(kubeconfig=str(sandbox_kubeconfig))
    objects = CustomObjectsApi(api_client)
    objects.create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, build_dgd(name)
    )
    yield name
    objects.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
    api_client.close()


def select_row(page: Page, name: str) -> None:
    """Click the row's selection cell in the Deployments table."""
    expect(list_row(page, name)).to_have_count(1)
    rows = page.locator("[class*=st-key-deployments_table]").get_by_role(
        "row", include_hidden=True
    )
    index = next(
        i
        for i in range(rows.count())
        if name in rows.nth(i).inner_text() and i > 0  # row 0 is the header
    )
    grid = page.get_by_test_id("stDataFrame").bounding_box()
    assert grid is not None
    page.mouse.click(
        grid["x"] + 10, grid["y"] + index * ROW_HEIGHT_PX + ROW_HEIGHT_PX / 2
    )


def expect_list(page: Page, name: str) -> None:
    expect(page).to_have_url(re.compile(r"/deployments$"))
    expect(
        page.get_by_test_id("stMain").get_by_role("heading", name="Deployments")
    ).to_be_visible()
    expect(list_row(page, name)).to_have_count(1)


def expect_details(page: Page, name: str) -> None:
    expect(page).to_have_url(re.compile(rf"/deployment\?name={name}$"))
    expect(
        page.get_by_test_id("stMain").get_by_role("heading", name=name)
    ).to_be_visible()


def test_back_from_details_opened_by_a_row_returns_to_the_list(
    page: Page, deployed: str
) -> None:
    page.goto("/deployments")
    select_row(page, deployed)
    expect_details(page, deployed)

    page.go_back()

    expect_list(page, deployed)
    wait_for_idle(page)
    page.wait_for_timeout(1000)  # a stale selection would switch pages by now
    expect_list(page, deployed)
    assert_no_traceback(page)

    page.go_forward()

    expect_details(page, deployed)


def test_back_after_leaving_details_shows_them_then_the_list(
    page: Page, deployed: str
) -> None:
    page.goto("/deployments")
    picker = by_key(page, "deployments_pick")
    picker.get_by_role("combobox").click()
    page.get_by_role("option", name=deployed).click()
    by_key(page, "deployments_view").get_by_role("button").click()
    expect_details(page, deployed)
    by_key(page, "details_back").get_by_role("button").click()
    expect_list(page, deployed)

    page.go_back()

    expect_details(page, deployed)
    expect(page.get_by_text("No deployment chosen")).to_have_count(0)

    # The details' own entry comes next (the same page again), then the list.
    for _ in range(2):
        page.go_back()
        wait_for_idle(page)
        if re.search(r"/deployments$", page.url):
            break
    expect_list(page, deployed)
    assert_no_traceback(page)


def test_catalog_keeps_search_and_chips_across_pages_and_back(page: Page) -> None:
    page.goto("/")
    search = page.get_by_label("Search models")
    count = page.get_by_text(re.compile(r"^\d+ of \d+ models$"))
    expect(count).to_have_text("20 of 20 models")
    search.press_sequentially("llama")
    chip = by_key(page, "catalog_engines").get_by_role("button", name="vLLM")
    chip.click()
    expect(chip).to_have_attribute("aria-pressed", "true")
    narrowed = count.inner_text()
    assert narrowed != "20 of 20 models"

    by_key(page, f"catalog_configure_{LLAMA}").get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"/configure\?model="))
    page.go_back()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(search).to_have_value("llama")
    expect(chip).to_have_attribute("aria-pressed", "true")
    expect(count).to_have_text(narrowed)

    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name="Settings").click()
    expect(
        page.get_by_test_id("stMain").get_by_role("heading", name="Settings")
    ).to_be_visible()
    nav.get_by_role("link", name="Catalog").click()

    expect(search).to_have_value("llama")
    expect(chip).to_have_attribute("aria-pressed", "true")
    expect(count).to_have_text(narrowed)
    assert_no_traceback(page)


def test_details_notice_a_delete_made_elsewhere(
    page: Page, sandbox_kubeconfig: Path
) -> None:
    name = f"gone-{uuid.uuid4().hex[:6]}"
    api_client = kube.new_api_client(kubeconfig=str(sandbox_kubeconfig))
    objects = CustomObjectsApi(api_client)
    objects.create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, build_dgd(name)
    )
    page.goto(f"/deployment?name={name}")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("tab", name="Try it")).to_be_visible()

    objects.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
    api_client.close()

    expect(main.get_by_text(f"No deployment named {name}", exact=False)).to_have_count(
        1, timeout=30_000
    )
    expect(main.get_by_role("tab", name="Try it")).to_have_count(0)
    expect(by_key(page, "details_delete")).to_have_count(0)
    assert_no_traceback(page)
