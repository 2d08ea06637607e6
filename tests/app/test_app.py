"""app.py: every page renders on the sandbox, with the connection in the sidebar."""

from __future__ import annotations

import pytest

from tests.app.conftest import assert_no_exception

PAGES = [
    "views/catalog.py",
    "views/configure.py",
    "views/deployments.py",
    "views/details.py",
    "views/settings.py",
]


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.split("/")[-1][:-3])
def test_page_renders_without_exception(open_page, page: str) -> None:
    at = open_page(page)

    assert_no_exception(at)
    assert at.title, "every page has a title"


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.split("/")[-1][:-3])
def test_sidebar_shows_sandbox_connection_on_every_page(open_page, page: str) -> None:
    at = open_page(page)

    sidebar_text = " ".join(
        str(element.value) for element in at.sidebar.get("markdown")
    )
    assert "Sandbox" in sidebar_text
    assert "Connected" in sidebar_text
    assert "dynamote\\-sandbox" in sidebar_text
    assert "nvidia\\.com/v1beta1" in sidebar_text


def test_catalog_is_the_home_page(open_page) -> None:
    at = open_page()

    assert at.title[0].value == "Model catalog"
