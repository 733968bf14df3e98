"""The wheel installs and runs outside the repository.

Built with pip (build isolation fetches setuptools from PyPI, the one index
this project reaches), installed with ``--no-index --no-deps`` into a fresh
venv that sees this venv's dependencies through a ``.pth`` file (a path added
that way is not a site directory, so this checkout's editable install stays
out), then run from a directory outside the checkout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

pytestmark = pytest.mark.slow


def run(*argv: str | Path, cwd: Path) -> str:
    result = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{argv}: {result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip"]
    # A copy: setuptools leaves build/ in the tree it builds.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "tests", "bench", ".*cache*", ".leedswin"
        ),
    )
    run(*pip, "wheel", "-q", "--no-deps", "-w", tmp_path / "dist", source, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("leedswin-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(
        run(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
        ).strip()
    )
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run(*pip, "--python", python, "install", "-q", "--no-index", "--no-deps", wheel, cwd=tmp_path)
    leedswin = venv / "bin" / "leedswin"

    where = run(
        python,
        "-c",
        "import core, dashboards; print(core.__file__, dashboards.__file__)",
        cwd=tmp_path,
    )
    assert str(ROOT) not in where and str(site) in where
    assert "Usage: leedswin" in run(leedswin, "--help", cwd=tmp_path)
    assert "--role" in run(leedswin, "doctor", "--help", cwd=tmp_path)
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert run(leedswin, "--version", cwd=tmp_path).strip() == f"leedswin {declared}"
    decoded = json.loads(
        run(leedswin, "decode", "elsys-ers", "1", "0100e202290400270506", cwd=tmp_path)
    )
    assert decoded["frames"][0]["readings"]
    # Package data: the dashboards JSON, read by the dashboards package from its install.
    assert len(list((site / "dashboards" / "json").rglob("*.json"))) >= 5
    # fastapi-offline serves /docs assets from its own package, not a CDN.
    run(
        python,
        "-c",
        "import fastapi_offline, pathlib; p = pathlib.Path(fastapi_offline.__file__).parent; assert list(p.rglob('*.js'))",
        cwd=tmp_path,
    )
    sample = run(leedswin, "settings", "--sample", cwd=tmp_path)
    assert sample == (ROOT / "deploy" / "leedswin.toml.sample").read_text()
