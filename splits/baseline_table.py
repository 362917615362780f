"""The baseline table: one row per training run of the reference sweep, as committed JSON.

The sweep (``evaluation.sweep``) writes it; the control marks (``splits.controls``), the README's
panel table and the leaderboard read it. It lives on the splits side so that the protocols may
read their own verdicts without importing the training code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from elsewhere.errors import ElsewhereError
from elsewhere.files import write_text_atomic

TABLE_FORMAT = 1


@dataclass(frozen=True)
class Row:
    """One run in the baseline table."""

    protocol: str
    protocol_version: int
    fingerprint: str
    architecture: str
    seed: int
    id_accuracy: float
    id_ci: tuple[float, float]
    ood_accuracy: float
    ood_ci: tuple[float, float]
    config: dict
    results: str


def write_table(path: Path, rows: list[Row]) -> None:
    """Write the baseline table (JSON, ``TABLE_FORMAT``) atomically."""
    table = {"format": TABLE_FORMAT, "kind": "elsewhere baseline table", "runs": [asdict(row) for row in rows]}
    write_text_atomic(path, json.dumps(table, indent=2, allow_nan=False) + "\n")


def load_table(path: str | Path) -> list[Row]:
    """The rows of a baseline table written by ``write_table``.

    Raises:
        ElsewhereError: for a missing or unreadable file, another format, or a malformed row.
    """
    path = Path(path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ElsewhereError(f"no baseline table at {path}; run the sweep first") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ElsewhereError(f"{path} is not a baseline table (not JSON: {error}); rerun the sweep") from None
    if not isinstance(table, dict) or table.get("format") != TABLE_FORMAT or not isinstance(table.get("runs"), list):
        found = table.get("format") if isinstance(table, dict) else type(table).__name__
        raise ElsewhereError(
            f"{path} is not a baseline table of format {TABLE_FORMAT} (found {found!r}); rerun the sweep"
        )
    rows = []
    for i, entry in enumerate(table["runs"]):
        try:
            row = Row(**entry)
            row = Row(**{**entry, "id_ci": tuple(row.id_ci), "ood_ci": tuple(row.ood_ci)})
            _check_row(row)
        except (TypeError, ValueError) as error:
            raise ElsewhereError(f"{path}: run {i} is malformed ({error}); rerun the sweep") from None
        rows.append(row)
    return rows


def _check_row(row: Row) -> None:
    for name in ("protocol", "fingerprint", "architecture", "results"):
        if not isinstance(getattr(row, name), str):
            raise ValueError(f"{name} must be a string")
    if not isinstance(row.seed, int) or not isinstance(row.protocol_version, int):
        raise ValueError("seed and protocol_version must be whole numbers")
    for name in ("id_accuracy", "ood_accuracy"):
        value = getattr(row, name)
        if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a number in [0, 1]")
    for name in ("id_ci", "ood_ci"):
        ci = getattr(row, name)
        if len(ci) != 2 or not all(isinstance(v, (int, float)) for v in ci):
            raise ValueError(f"{name} must be two numbers")
    if not isinstance(row.config, dict):
        raise ValueError("config must be an object")
