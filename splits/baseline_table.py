"""The baseline table: one row per training run of the reference sweep, as committed JSON.

The sweep (``evaluation.sweep``) writes it; the control marks (``splits.controls``), the README's
panel table and the leaderboard read it. It lives on the splits side so that the protocols may
read their own verdicts without importing the training code.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from elsewhere.errors import ElsewhereError
from elsewhere.files import write_text_atomic

TABLE_FORMAT = 1
# The largest table read: about a hundred thousand runs (the committed one is about 0.1 MB).
MAX_TABLE_BYTES = 64 * 2**20
# How many of a table's architectures a refusal lists.
SHOWN_NAMES = 20


@dataclass(frozen=True)
class Row:
    """One run in the baseline table.

    ``further_tests`` holds the protocol's test splits beyond ``test_id`` and ``test_ood`` (Red-Green's
    ``test_moved``), each as ``{"accuracy": value, "ci": [lo, hi]}``; tables written before it existed
    have none, and it is left out of the JSON when empty.
    """

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
    further_tests: dict[str, dict] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int, str, int]:
        """What one run is: a table holds at most one row per (protocol, version, architecture, seed)."""
        return (self.protocol, self.protocol_version, self.architecture, self.seed)


def _entry(row: Row) -> dict:
    entry = asdict(row)
    if not entry["further_tests"]:
        del entry["further_tests"]
    return entry


def write_table(path: Path, rows: list[Row]) -> None:
    """Write the baseline table (JSON, ``TABLE_FORMAT``) atomically."""
    table = {"format": TABLE_FORMAT, "kind": "elsewhere baseline table", "runs": [_entry(row) for row in rows]}
    write_text_atomic(path, json.dumps(table, indent=2, allow_nan=False) + "\n")


def load_table(path: str | Path) -> list[Row]:
    """The rows of a baseline table written by ``write_table``.

    Raises:
        ElsewhereError: for a missing or unreadable file, another format, or a malformed row.
    """
    path = Path(path)
    try:
        if path.stat().st_size > MAX_TABLE_BYTES:
            raise ElsewhereError(
                f"{path} is {path.stat().st_size:,} bytes, more than a baseline table can be ({MAX_TABLE_BYTES:,}); "
                "give the sweep's baselines.json"
            )
        table = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except FileNotFoundError:
        raise ElsewhereError(f"no baseline table at {path}; run the sweep first") from None
    except OSError as error:
        raise ElsewhereError(f"cannot read baseline table {path}: {error.strerror or error}") from None
    except (ValueError, RecursionError) as error:  # not UTF-8, not JSON, NaN, nested too deep, huge integers
        raise ElsewhereError(
            f"{path} is not a baseline table (not JSON: {' '.join(str(error).split())[:200]}); rerun the sweep"
        ) from None
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


def _no_constant(name: str) -> None:
    """JSON's NaN and Infinity, which Python reads but a table may not hold (it is written without them)."""
    raise ValueError(f"{name} is not a number a baseline table holds")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_row(row: Row) -> None:
    for name in ("protocol", "fingerprint", "architecture", "results"):
        if not isinstance(getattr(row, name), str):
            raise ValueError(f"{name} must be a string")
    for name, least in (("seed", 0), ("protocol_version", 1)):
        value = getattr(row, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"{name} must be a whole number from {least}")
    for name in ("id_accuracy", "ood_accuracy"):
        value = getattr(row, name)
        if not _is_number(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a number in [0, 1]")
    for name in ("id_ci", "ood_ci"):
        ci = getattr(row, name)
        if len(ci) != 2 or not all(_is_number(v) for v in ci):
            raise ValueError(f"{name} must be two numbers")
    if not isinstance(row.config, dict):
        raise ValueError("config must be an object")
    if not isinstance(row.further_tests, dict):
        raise ValueError("further_tests must be an object")
    for split, estimate in row.further_tests.items():
        value = estimate.get("accuracy") if isinstance(estimate, dict) else None
        ci = estimate.get("ci") if isinstance(estimate, dict) else None
        if (
            not _is_number(value)
            or not 0.0 <= value <= 1.0
            or not isinstance(ci, list)
            or len(ci) != 2
            or not all(_is_number(v) for v in ci)
        ):
            raise ValueError(f"further_tests[{split!r}] must be {{'accuracy': a number in [0, 1], 'ci': two numbers}}")


def merge_rows(rows: Iterable[Row], others: Iterable[Row], *, source: str = "the other table") -> list[Row]:
    """``rows`` with the runs of ``others`` that it lacks added after them, in their order.

    A run already in ``rows`` is kept once if both rows are identical; two different rows of one run
    (protocol, version, architecture, seed) are refused, since which one holds is not for a merge to say.

    Raises:
        ElsewhereError: for a run that ``others`` holds with other figures than ``rows``.
    """
    merged = {row.key: row for row in rows}
    for row in others:
        kept = merged.setdefault(row.key, row)
        if kept != row:
            protocol, version, architecture, seed = row.key
            raise ElsewhereError(
                f"{source} has another row for {architecture} on {protocol} v{version} seed {seed} than the table "
                f"(OOD {row.ood_accuracy} against {kept.ood_accuracy}); drop one of the two runs before merging"
            )
    return list(merged.values())


def merge_table(
    path: str | Path, *others: str | Path, protocols: Collection[str], drop: Collection[str] = ()
) -> tuple[int, int]:
    """Add the runs of the baseline tables ``others`` to the table at ``path``: all of them, written
    whole, or none (a refusal of any one leaves the table as it was).

    ``protocols`` are the names a run may be of (the registry's; passed in, since the registry's
    protocols read their verdicts from this table). The table's runs of the architectures in
    ``drop`` are removed first (their definition or recipe changed); naming one the table has no
    run of is refused, since a misspelt name would drop nothing.

    Returns:
        (rows added, rows in the merged table), the rows added counted after the drop.
    """
    table = load_table(path)
    present = sorted({row.architecture for row in table})
    for name in drop:
        if name not in present:
            # The table's names are a file's text too: quoted, and only the first few.
            shown = ", ".join(f"{a!r:.80}" for a in present[:SHOWN_NAMES]) or "none"
            more = f" and {len(present) - SHOWN_NAMES} more" if len(present) > SHOWN_NAMES else ""
            raise ElsewhereError(f"{path}: no run of {name!r:.80} to drop; the table holds runs of {shown}{more}")
    dropped = set(drop)
    rows = [row for row in table if row.architecture not in dropped]
    known = set(protocols)
    merged = rows
    for other in others:
        runs = load_table(other)
        for i, row in enumerate(runs):
            if row.protocol not in known:
                raise ElsewhereError(
                    f"{other}: run {i} is of protocol {row.protocol!r:.80}, which this version of elsewhere does not "
                    "have; merge runs of its protocols (elsewhere protocols lists them)"
                )
        merged = merge_rows(merged, runs, source=str(other))
    write_table(Path(path), merged)
    return len(merged) - len(rows), len(merged)
