"""The README's and docs/codecs.md's codec commands, run as written against examples/models."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from leedswin.cli import app

ROOT = Path(__file__).resolve().parents[2]
COMMAND = re.compile(r"^(?:\$ )?(leedswin (?:models|decode)\b.*?)(?:\s+#.*)?$")


def documented_commands() -> list[str]:
    """Every ``leedswin models``/``leedswin decode`` line in the two documents' code blocks."""
    commands = []
    for name in ("README.md", "docs/codecs.md"):
        in_block = False
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                in_block = not in_block
                continue
            match = COMMAND.match(line.strip()) if in_block else None
            if match and "examples/models" in match.group(1):
                commands.append(match.group(1).strip())
    return commands


def test_documented_commands_cover_check_codec_and_model_file() -> None:
    commands = documented_commands()
    assert "leedswin models check examples/models" in commands
    assert any(c.startswith("leedswin decode --codec examples/models/") for c in commands)
    assert any(c.startswith("leedswin decode --model-file examples/models/") for c in commands)
    assert (ROOT / "examples" / "models" / "acme-th1.yaml").is_file()
    assert (ROOT / "examples" / "models" / "acme-th1.js").is_file()


@pytest.mark.parametrize("command", documented_commands())
def test_documented_command_runs_as_written(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, shlex.split(command)[1:])
    assert result.exit_code == 0, result.output
    if command.startswith("leedswin decode"):
        out = orjson.loads(result.output)
        assert out["errors"] == [] and out["data"]["temperature"] == 21.45
        if "--model-file" in command:
            assert out["readings"][0]["readings"] == {
                "temperature": 21.45,
                "relative_humidity": 56.3,
                "battery_voltage": 3.012,
            }
    elif command.startswith("leedswin models check"):
        assert "ok   acme-th1.yaml (acme-th1, codec): 3 examples pass" in result.output
