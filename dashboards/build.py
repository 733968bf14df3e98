"""The five dashboards, their folders, and their JSON export.

``dashboards/json/<folder uid>/<dashboard uid>.json`` is committed and must
equal what this module generates (a test checks it); ``leedswin dashboards
export DIR`` writes the same tree elsewhere, for the provisioning files to
point at. Only the housing dashboard lives in the restricted folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dashboards import air_quality, climate, footfall, housing, network
from dashboards.model import Json

JSON_DIR = Path(__file__).parent / "json"


@dataclass(frozen=True)
class Folder:
    uid: str
    title: str
    restricted: bool


@dataclass(frozen=True)
class Board:
    uid: str
    folder: Folder
    build: Callable[[], Json]


PUBLIC_FOLDER = Folder("leedswin", "Leeds WIN", restricted=False)
HOUSING_FOLDER = Folder("leedswin-housing", "Leeds WIN – Housing (restricted)", restricted=True)
FOLDERS = (PUBLIC_FOLDER, HOUSING_FOLDER)

BOARDS = (
    Board(network.UID, PUBLIC_FOLDER, network.build),
    Board(air_quality.UID, PUBLIC_FOLDER, air_quality.build),
    Board(footfall.UID, PUBLIC_FOLDER, footfall.build),
    Board(climate.UID, PUBLIC_FOLDER, climate.build),
    Board(housing.UID, HOUSING_FOLDER, housing.build),
)


def relative_path(board: Board) -> Path:
    return Path(board.folder.uid) / f"{board.uid}.json"


def dumps(dashboard: Json) -> str:
    """Stable text: the committed files diff cleanly when a panel changes."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def export(directory: Path) -> list[Path]:
    """Write every dashboard under ``directory/<folder uid>/``; returns the files written."""
    written = []
    for board in BOARDS:
        path = directory / relative_path(board)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(board.build()), encoding="utf-8")
        written.append(path)
    return written
