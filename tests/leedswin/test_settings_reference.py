"""The README's settings table is generated from the settings classes and must be current."""

from __future__ import annotations

from pathlib import Path

from leedswin.commands.settings import END, START, settings_markdown

README = Path(__file__).parents[2] / "README.md"


def test_readme_settings_table_is_current() -> None:
    text = README.read_text()
    section = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert section == settings_markdown(), (
        "README settings table is stale: run `leedswin settings --write-readme README.md`"
    )
