"""ui.render: markdown escaping and labels that never rely on colour."""

from __future__ import annotations

import pytest

from ui.render import escape_markdown, format_age, label_status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain words", "plain words"),
        ("**bold**", r"\*\*bold\*\*"),
        ("[link](http://x)", r"\[link\]\(http\://x\)"),
        ("<b>html</b>", r"\<b\>html\</b\>"),
        ("line one\n# heading", r"line one \# heading"),
        ("$x$ and :smile:", r"\$x\$ and \:smile\:"),
    ],
    ids=["plain", "bold", "link", "html", "newline-heading", "latex-emoji"],
)
def test_escape_markdown_neutralises_markup(text: str, expected: str) -> None:
    escaped = escape_markdown(text)

    assert escaped == expected


@pytest.mark.parametrize(
    "status", ["Running", "Deploying", "Pending", "Failed", "Terminating"]
)
def test_label_status_has_icon_and_word(status: str) -> None:
    label = label_status(status)

    icon, word = label.split(" ", 1)
    assert word == status
    assert icon and not icon.isalnum()


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(None, "-"), (5, "5s"), (125, "2m"), (7300, "2h"), (200_000, "2d")],
    ids=["unknown", "seconds", "minutes", "hours", "days"],
)
def test_format_age_is_short_and_human(seconds: float | None, expected: str) -> None:
    assert format_age(seconds) == expected
