"""The README keeps its promises: the two commands first, every setting documented."""

from __future__ import annotations

import re
from pathlib import Path

from dynamote_core.settings import AppSettings

README = Path(__file__).resolve().parents[2] / "README.md"
# Read from the environment but not settings a user chooses.
DETECTED = {"HOME", "KUBERNETES_SERVICE_HOST"}


def test_readme_starts_with_the_two_commands() -> None:
    lines = [line for line in README.read_text().splitlines() if line.strip()]

    commands = [line.split()[0] for line in lines[3:5]]

    assert lines[0].startswith("# ")
    assert lines[2] == "```bash"
    assert commands == ["scripts/run", "scripts/test"]


def test_configuration_table_lists_every_setting() -> None:
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", README.read_text(), re.M))
    aliases = {field.alias for field in AppSettings.model_fields.values()}

    missing = aliases - DETECTED - documented

    assert missing == set()


def test_linked_files_exist_or_are_the_screenshot() -> None:
    links = re.findall(r"\]\(([^)#:]+)\)", README.read_text())

    missing = [link for link in links if not (README.parent / link).exists()]

    # The screenshot is produced by the browser tests.
    assert set(missing) <= {"docs/screenshots/catalog-1280.png"}
