"""`leedswin decode` / `leedswin models`: JSON out for good input, exit 2 and a reason for bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from decoders import supported_models
from leedswin.commands import decode as decode_command


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    from leedswin.cli import app

    return app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _frame(readings: dict, **kw: object) -> dict:
    return {"readings": readings, "time_ns": None, "age_s": None, "withheld": {}} | kw


def test_decode_prints_the_whole_uplink_as_json(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["decode", "elsys-ers", "1", "0100e202290400270506"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "frames": [
            _frame({"temperature": 22.6, "relative_humidity": 41, "illuminance": 39, "motion": 6})
        ],
        "status": {},
        "unknown": [],
    }


def test_decode_accepts_spaced_uppercase_hex(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["decode", "milesight-am104", "85", "01755C 0367 3401"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["frames"] == [
        _frame({"battery_percent": 92, "temperature": 30.8})
    ]


def test_decode_shows_history_status_withheld_and_unknown(
    app: typer.Typer, runner: CliRunner
) -> None:
    history = runner.invoke(app, ["decode", "dragino-lht65n", "2", "0add0b0dc3760967876b00"])
    assert json.loads(history.stdout)["frames"] == [
        _frame(
            {
                "battery_status": 3.0,
                "relative_humidity": 88.6,
                "temperature": 28.29,
                "external_temperature": 27.81,
            },
            time_ns=1736928000 * 10**9,
        )
    ]
    status = runner.invoke(app, ["decode", "paxcounter", "5", "01"])
    assert json.loads(status.stdout) == {"frames": [], "status": {"button": True}, "unknown": []}
    mixed = runner.invoke(app, ["decode", "elsys-ers", "1", "02652001"])
    assert json.loads(mixed.stdout) == {
        "frames": [_frame({}, withheld={"relative_humidity": 101})],
        "status": {},
        "unknown": [{"offset": 2, "hex": "2001", "note": "record 0x20: unknown type"}],
    }


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["elsys-ers", "1", "0100e2zz"], "bad hex payload"),
        (["elsys-ers", "1", "010"], "bad hex payload"),
        (["elsys-ers", "1", "0100"], "bad_length"),
        (["elsys-ers", "1", "2001"], "bad_header"),
        (["elsys-ers", "224", "0100e2"], "unsupported_port"),
        (["no-such-model", "1", "00"], "unknown_model"),
    ],
)
def test_bad_input_exits_2_with_reason_on_stderr(
    app: typer.Typer, runner: CliRunner, args: list[str], needle: str
) -> None:
    result = runner.invoke(app, ["decode", *args])
    assert result.exit_code == 2
    assert needle in result.stderr
    assert result.stdout == ""


def test_non_numeric_port_is_a_usage_error(app: typer.Typer, runner: CliRunner) -> None:
    assert runner.invoke(app, ["decode", "elsys-ers", "one", "00"]).exit_code == 2


def test_models_json_lists_every_model(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    listed = {m["model"] for m in json.loads(result.stdout)}
    assert listed == {m["model"] for m in supported_models()}


def test_models_markdown_has_a_row_per_model(app: typer.Typer, runner: CliRunner) -> None:
    result = runner.invoke(app, ["models", "--markdown"])
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("| model key | vendor |")
    assert len(lines) == 2 + len(supported_models())
    assert any(line.startswith("| `elsys-ers` | Elsys | ERS | damp | 1–223 |") for line in lines)
    assert lines[0].split(" | ")[5] == "frames"
    assert any(
        line.startswith(
            "| `dragino-lht65n` | Dragino | LHT65N | damp | 2, 3, 5 | readings, history, status |"
        )
        for line in lines
    )


def test_write_readme_replaces_only_the_section(
    app: typer.Typer, runner: CliRunner, tmp_path
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{decode_command.START}\nold\n{decode_command.END}\noutro\n")
    result = runner.invoke(app, ["models", "--write-readme", str(readme)])
    assert result.exit_code == 0, result.stderr
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    assert decode_command.models_markdown() in text


def test_port_ranges_collapse() -> None:
    assert decode_command._ports([5, 1]) == "1, 5"
    assert decode_command._ports(range(1, 224)) == "1–223"
    assert decode_command._ports([1, 2, 10]) == "1, 2, 10"


def test_numbered_fields_collapse() -> None:
    fields = {f"region_{n}_count": "count" for n in range(1, 17)} | {
        "pm1_0": "ug/m3",
        "pm2_5": "ug/m3",
    }
    assert decode_command._fields(fields) == (
        "`region_1…16_count` (count), `pm1_0` (ug/m3), `pm2_5` (ug/m3)"
    )
    assert decode_command._fields({"a_1": "x", "a_2": "x"}) == "`a_1` (x), `a_2` (x)"


CODECS = Path(__file__).parents[1] / "decoders" / "codecs" / "models"


def test_decode_with_a_codec_prints_its_own_output(app: typer.Typer, runner: CliRunner) -> None:
    args = ["decode", "--codec", str(CODECS / "lht65n.js"), "2", "cbf60b0d0376010adc7fff"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["errors"] == [] and out["data"]["TempC_SHT"] == 28.29
    assert "readings" not in out


def test_decode_with_a_model_file_adds_canonical_readings(
    app: typer.Typer, runner: CliRunner
) -> None:
    args = ["decode", "--model-file", str(CODECS / "dragino-lht65n-js.yaml"), "2", "cbf60b0d"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert json.loads(result.stdout)["errors"] == ["lht65n.js: LHT65N frame is 11 bytes, got 4"]
    good = ["decode", "--model-file", str(CODECS / "dragino-lht65n-js.yaml")]
    result = runner.invoke(app, [*good, "2", "cbf60b0d0376010adc7fff"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["readings"][0]["readings"]["relative_humidity"] == 88.6


def test_decode_with_a_codec_takes_only_port_and_hex(app: typer.Typer, runner: CliRunner) -> None:
    args = ["decode", "--codec", str(CODECS / "lht65n.js"), "dragino-lht65n", "2", "00"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "expected F_PORT HEX" in result.stderr
