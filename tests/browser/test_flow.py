"""The whole Dynamote flow in headless Chromium, on the sandbox cluster.

Catalog search and chips, Configure with inline validation and the live manifest,
Deploy, the live Deployments list reaching Running, details, delete by dialog;
settings kept per browser; user text shown as text; no traceback anywhere.
Screenshots of every page at 1280 and 768 px land in artifacts/screenshots;
the 1280 px ones are copied to docs/screenshots.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import screenshot, wait_for_idle

pytestmark = pytest.mark.browser

WIDTHS = (1280, 768)
QWEN = "Qwen/Qwen3-0.6B"
NAMESPACE = "dynamo-system"
DEFAULT_HF_SECRET = "hf-token-secret"
RUNNING_WITHIN_MS = 30_000
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def by_key(page: Page, key: str) -> Locator:
    """The element Streamlit renders for a widget key (it tags it st-key-<key>)."""
    return page.locator(f".st-key-{re.sub(r'[^a-zA-Z0-9_-]', '-', key)}")


def assert_no_traceback(page: Page) -> None:
    wait_for_idle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    text = page.locator("body").inner_text()
    assert "Traceback" not in text
    assert "Something went wrong" not in text


def shoot(page: Page, name: str) -> None:
    """Screenshots at every width; the 1280 px one also refreshes the docs' copy."""
    for width in WIDTHS:
        path = screenshot(page, name, width)
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    docs_name = f"{name}-1280.png"
    shutil.copyfile(path.with_name(docs_name), DOCS_SCREENSHOTS / docs_name)
    page.set_viewport_size({"width": 1280, "height": 900})


def commit_text(field: Locator, text: str) -> None:
    """Replace a text input's value as a user would; Enter commits it to Streamlit.

    (Tab would commit too, but leaves a help tooltip open over the screenshots.)
    """
    field.fill("")
    field.press_sequentially(text)
    field.press("Enter")


def grid_cells(page: Page, text: str | re.Pattern[str]) -> Locator:
    """Dataframe cells with this text.

    The grid draws on a canvas; its accessible copy is the canvas's fallback
    table, present in the DOM but never "visible", so match it by count.
    """
    return page.get_by_test_id("stDataFrame").get_by_role(
        "gridcell", name=text, exact=True, include_hidden=True
    )


def list_row(page: Page, name: str) -> Locator:
    """The deployment's row in the Deployments list (not the details' tables)."""
    cell = page.get_by_role("gridcell", name=name, exact=True, include_hidden=True)
    return (
        page.locator("[class*=st-key-deployments_table]")
        .get_by_role("row", include_hidden=True)
        .filter(has=cell)
    )


def search_catalog(page: Page) -> None:
    page.goto("/")
    search = page.get_by_label("Search models")
    count = page.get_by_text(re.compile(r"^\d+ of \d+ models$"))
    expect(count).to_have_text(re.compile(r"^20 of 20 models$"))
    expect(
        by_key(page, "catalog_configure_meta-llama/Llama-3.2-1B-Instruct")
    ).to_be_visible()

    search.press_sequentially("qwen3")

    expect(count).not_to_have_text("20 of 20 models")
    expect(
        by_key(page, "catalog_configure_meta-llama/Llama-3.2-1B-Instruct")
    ).to_have_count(0)
    expect(by_key(page, f"catalog_configure_{QWEN}")).to_be_visible()
    narrowed = count.inner_text()

    by_key(page, "catalog_engines").get_by_role("button", name="vLLM").click()

    expect(
        by_key(page, "catalog_engines").get_by_role("button", name="vLLM")
    ).to_have_attribute("aria-pressed", "true")
    expect(by_key(page, f"catalog_configure_{QWEN}")).to_be_visible()
    assert_no_traceback(page)
    assert count.inner_text() != "" and narrowed
    shoot(page, "catalog")


def configure_qwen(page: Page, name: str) -> None:
    main = page.get_by_test_id("stMain")
    by_key(page, f"catalog_configure_{QWEN}").get_by_role("button").click()

    expect(main.get_by_role("heading", name="Configure a deployment")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/configure\?model=Qwen"))
    expect(main.get_by_role("heading", name="Qwen3 0.6B")).to_be_visible()
    expect(main.get_by_text(f"{QWEN} · ", exact=False).first).to_be_visible()
    name_field = by_key(page, "config_name").locator("input")
    manifest = page.get_by_test_id("stCode").first

    commit_text(name_field, name)

    expect(manifest).to_contain_text(f"name: {name}")

    commit_text(name_field, "Bad_Name")

    error = main.get_by_role("alert").filter(has_text="name: ")
    expect(error).to_contain_text("'Bad_Name' is not a valid DNS-1123 label")
    expect(by_key(page, "config_deploy").get_by_role("button")).to_be_disabled()
    expect(
        main.get_by_text("Fix the fields marked above to see the manifest.")
    ).to_be_visible()

    commit_text(name_field, name)
    workers = by_key(page, "config_replicas").locator("input")
    commit_text(workers, "-3")

    workers_error = main.get_by_role("alert").filter(has_text="Workers: ")
    expect(workers_error).to_contain_text("-3 is too small: it must be at least 1")
    commit_text(workers, "1")

    expect(error).to_have_count(0)
    expect(workers_error).to_have_count(0)
    expect(manifest).to_contain_text(f"name: {name}")
    expect(by_key(page, "config_deploy").get_by_role("button")).to_be_enabled()
    assert_no_traceback(page)
    shoot(page, "configure")


def deploy_and_follow_link(page: Page, name: str) -> None:
    link = page.get_by_role("link", name=f"Open {name} in Deployments")
    by_key(page, "config_deploy").get_by_role("button").click()
    link.click()
    expect(page).to_have_url(re.compile(rf"/deployment\?name={name}$"))
    expect(
        page.get_by_test_id("stMain").get_by_role("heading", name=name)
    ).to_be_visible()
    assert_no_traceback(page)


def see_running_in_list(page: Page, name: str) -> None:
    by_key(page, "details_back").get_by_role("button").click()

    expect(page).to_have_url(re.compile(r"/deployments$"))
    row = list_row(page, name)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("✅ Running", timeout=RUNNING_WITHIN_MS)
    assert_no_traceback(page)
    shoot(page, "deployments")


def sidebar_leads_to_list(page: Page, name: str) -> None:
    """From the details, "Deployments" in the sidebar shows the list again."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Deployments").click()

    expect(page).to_have_url(re.compile(r"/deployments$"))
    expect(
        page.get_by_test_id("stMain").get_by_role("heading", name="Deployments")
    ).to_be_visible()
    expect(list_row(page, name)).to_have_count(1)
    assert_no_traceback(page)


def old_link_opens_details(page: Page, name: str) -> None:
    """Links shared as /deployments?name= still open the details."""
    page.goto(f"/deployments?name={name}")

    expect(page).to_have_url(re.compile(rf"/deployment\?name={name}$"))
    expect(
        page.get_by_test_id("stMain").get_by_role("heading", name=name)
    ).to_be_visible()
    assert_no_traceback(page)


def open_details(page: Page, name: str) -> None:
    picker = by_key(page, "deployments_pick")
    picker.get_by_role("combobox").click()
    page.get_by_role("option", name=name).click()
    by_key(page, "deployments_view").get_by_role("button").click()

    expect(page).to_have_url(re.compile(rf"/deployment\?name={name}$"))
    main = page.get_by_test_id("stMain")
    expect(main.get_by_role("heading", name="Pods")).to_be_visible()
    expect(grid_cells(page, re.compile(rf"^{name}-"))).not_to_have_count(0)
    port_forward = f"kubectl port-forward svc/{name}-frontend 8000:8000 -n {NAMESPACE}"
    expect(
        main.get_by_test_id("stCode").filter(has_text=port_forward).first
    ).to_be_visible()
    assert_no_traceback(page)
    shoot(page, "details")


def delete_by_dialog(page: Page, name: str) -> None:
    by_key(page, "details_delete").get_by_role("button").click()

    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    confirm = by_key(page, "delete_confirm").get_by_role("button")
    expect(confirm).to_be_disabled()
    typed = by_key(page, "delete_confirm_text").locator("input")
    typed.press_sequentially(name)
    expect(confirm).to_be_enabled()
    shoot(page, "delete-dialog")

    confirm.click()

    expect(dialog).to_have_count(0)
    expect(
        page.get_by_text(f"Deleting {name}: it disappears once its pods are gone.")
    ).to_be_visible()
    expect(page.get_by_test_id("stMain").get_by_text(name, exact=True)).to_have_count(0)
    expect(list_row(page, name)).to_have_count(0, timeout=RUNNING_WITHIN_MS)
    assert_no_traceback(page)


def test_whole_flow_from_catalog_to_delete(page: Page, app_url: str) -> None:
    name = f"flow-{uuid.uuid4().hex[:6]}"

    search_catalog(page)
    configure_qwen(page, name)
    deploy_and_follow_link(page, name)
    sidebar_leads_to_list(page, name)
    old_link_opens_details(page, name)
    see_running_in_list(page, name)
    open_details(page, name)
    delete_by_dialog(page, name)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Settings").click()
    expect(by_key(page, "settings_namespace").locator("input")).to_have_value(NAMESPACE)
    assert_no_traceback(page)
    shoot(page, "settings")


def hf_secret_field(page: Page) -> Locator:
    return by_key(page, "settings_hf_secret").locator("input")


def save_hf_secret(page: Page, value: str) -> None:
    """Set the HF secret name on /settings, Save, and see the app confirm it."""
    page.goto("/settings")
    wait_for_idle(page)
    commit_text(hf_secret_field(page), value)
    by_key(page, "settings_save").get_by_role("button").click()

    expect(page.get_by_text("Settings saved in this browser.")).to_be_visible()


def test_settings_survive_reload_and_new_tab_but_not_another_browser(
    page: Page, app_url: str, browser
) -> None:
    saved = f"hf-{uuid.uuid4().hex[:6]}"
    save_hf_secret(page, saved)
    cookies = {c["name"]: c for c in page.context.cookies()}

    page.reload()
    expect(hf_secret_field(page)).to_have_value(saved)
    second_tab = page.context.new_page()
    second_tab.goto(f"{app_url}/settings")
    expect(hf_secret_field(second_tab)).to_have_value(saved)
    other_browser = browser.new_context(base_url=app_url)
    try:
        fresh = other_browser.new_page()
        fresh.goto("/settings")
        expect(hf_secret_field(fresh)).to_have_value(DEFAULT_HF_SECRET)
        expect(fresh.get_by_test_id("stSidebarUserContent")).to_contain_text(
            f"Namespace: {NAMESPACE}"
        )
    finally:
        other_browser.close()
    assert saved in cookies["dynamote.settings"]["value"]
    assert cookies["dynamote.settings"]["sameSite"] == "Strict"
    assert cookies["dynamote.settings"]["path"] == "/"


def test_settings_saved_on_settings_apply_on_other_pages(page: Page) -> None:
    saved = f"hf-{uuid.uuid4().hex[:6]}"
    save_hf_secret(page, saved)

    other_page = page.context.new_page()
    other_page.goto(f"/configure?model={QWEN}")

    expect(by_key(other_page, "config_hf_secret").locator("input")).to_have_value(
        saved, timeout=8_000
    )


def test_user_text_is_shown_as_text_not_html(page: Page, app_url: str) -> None:
    page.goto(f"/configure?model={QWEN}")
    name_field = by_key(page, "config_name").locator("input")

    commit_text(name_field, "<b>x</b>")

    error = page.get_by_role("alert").filter(has_text="<b>x</b>")
    expect(error).to_be_visible()
    expect(error).to_contain_text("name: ")
    assert (
        page.locator("[data-testid=stMain] b")
        .filter(has_text=re.compile(r"^x$"))
        .count()
        == 0
    )
    assert_no_traceback(page)
