"""The stroke medians of Make Me a Hanzi (npm hanzi-writer-data, Arphic Public License), installed by setup-system.sh."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bot.errors import ConfigurationError

DATA_DIR = Path(__file__).resolve().parent / "data" / "node_modules" / "hanzi-writer-data"
# The data's square: 1024 units, y up with the baseline at 900 (graphics are drawn flipped).
UNITS = 1024
BASELINE = 900

Strokes = list[list[tuple[float, float]]]


def data_dir() -> Path:
    """The installed data, or a message saying how to install it."""
    if not (DATA_DIR / "package.json").exists():
        raise ConfigurationError("the handwriting stroke data is missing: run packaging/setup-system.sh "
                                 "(it runs `npm ci` in kiosk/handwriting/data)")
    return DATA_DIR


def data_version() -> str:
    """A digest of the installed package's manifest: a new data release gives a new model."""
    return hashlib.sha256((data_dir() / "package.json").read_bytes()).hexdigest()[:16]


def medians(character: str) -> Strokes | None:
    """The character's strokes in writing order as centre lines, in pad orientation (y down); None if the data lacks it."""
    path = data_dir() / f"{character}.json"
    if not path.exists():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))["medians"]
    return [[(float(x), float(BASELINE - y)) for x, y in stroke] for stroke in raw]


def missing(characters: tuple[str, ...]) -> list[str]:
    """The characters of `characters` that the data lacks."""
    return [c for c in characters if not (data_dir() / f"{c}.json").exists()]
