"""The README's supported-devices table is generated from the decoder specs and must be current."""

from __future__ import annotations

from pathlib import Path

from leedswin.commands.decode import END, START, models_markdown

README = Path(__file__).parents[2] / "README.md"


def test_readme_models_table_is_current() -> None:
    text = README.read_text()
    section = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert section == models_markdown(), (
        "README device table is stale: run `leedswin models --write-readme README.md`"
    )
