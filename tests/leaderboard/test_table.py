"""The derived tables over a real SQLite store: ranks, ties, the suite view, filters and display.

Entries carry hand-chosen accuracies and intervals, so every rank, tie and mean below is worked
out by hand from the numbers in this file.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pandas as pd
import pytest

from elsewhere.leaderboard.store import Store
from elsewhere.leaderboard.table import (
    COLUMNS,
    SUITE,
    Filters,
    datatypes,
    display,
    optional_columns,
    protocol_table,
    suite_table,
    view_columns,
)

T0 = datetime(2025, 5, 1, tzinfo=UTC)
HALVES, ROTATION, IID = "location-halves-clutter", "rotation-extrapolation", "iid"
PROTOCOLS = (HALVES, ROTATION, IID)  # iid is a control: not part of the suite mean
_keys = count()


def add(
    store: Store,
    model_name: str,
    ood: float,
    ci: tuple[float, float],
    *,
    protocol: str = HALVES,
    submitter: str = "team",
    family: str = "cnn",
    parameters: int | None = 1000,
    verified: bool = False,
    minutes: int = 0,
) -> int:
    """Store one entry with the given OOD accuracy and interval; return its id."""
    key = next(_keys)
    results = {
        "metrics": {
            "ood_accuracy": {"value": ood, "ci": list(ci), "n": 400},
            "id_accuracy": {"value": 0.95, "ci": [0.93, 0.97], "n": 400},
            "gap": {"value": 0.95 - ood, "ci": None, "n": 800},
        }
    }
    entry = store.add(
        submitter=submitter,
        model_name=model_name,
        model={"family": family, "parameters": parameters, "verified": verified},
        protocol=protocol,
        protocol_version=1,
        variant="public",
        fingerprint="0" * 64,
        predictions_sha256=hashlib.sha256(f"table test {key}".encode()).hexdigest(),
        results=results,
        now=T0 + timedelta(minutes=minutes),
    )
    return entry.id


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "leaderboard.sqlite")


@pytest.fixture
def board(store: Store) -> Store:
    # leader A [0.75, 0.85]; B overlaps it (0.84 >= 0.75); C does not (0.749 < 0.75); D, equal in
    # accuracy to C but submitted later, overlaps (0.76 >= 0.75); E is far below.
    add(store, "C", 0.70, (0.60, 0.749), family="mlp", parameters=500, minutes=1)
    add(store, "A", 0.80, (0.75, 0.85), family="resnet", parameters=2_000_000, verified=True, minutes=2)
    add(store, "E", 0.50, (0.45, 0.55), family="mlp", parameters=None, minutes=3)
    add(store, "D", 0.70, (0.65, 0.76), family="cnn", parameters=80_000, minutes=4)
    add(store, "B", 0.78, (0.72, 0.84), family="cnn", parameters=30_000, submitter="other", minutes=5)
    return store


def test_protocol_view_ranks_and_marks_ties(board):
    table = protocol_table(board, HALVES)
    assert list(table["model_name"]) == ["A", "B", "C", "D", "E"]
    assert list(table["rank"]) == [1, 2, 3, 3, 5]
    assert list(table["tie"]) == ["leader", "tie", "", "tie", ""]


def test_filters_keep_ranks_and_ties_of_the_whole_board(board):
    cnn = protocol_table(board, HALVES, filters=Filters(families=("cnn",)))
    assert list(cnn["model_name"]) == ["B", "D"]
    assert list(cnn["rank"]) == [2, 3] and list(cnn["tie"]) == ["tie", "tie"]
    sized = protocol_table(board, HALVES, filters=Filters(min_parameters=1000, max_parameters=100_000))
    assert list(sized["model_name"]) == ["B", "D"]
    assert list(protocol_table(board, HALVES, filters=Filters(verified=True))["model_name"]) == ["A"]
    assert list(protocol_table(board, HALVES, filters=Filters(verified=False, families=("mlp",)))["model_name"]) == [
        "C",
        "E",
    ]
    assert list(protocol_table(board, HALVES, filters=Filters(search="OTH"))["model_name"]) == ["B"]
    assert protocol_table(board, HALVES, filters=Filters(search="nobody")).empty


def test_hidden_entries_leave_the_ranking(board):
    leader = protocol_table(board, HALVES)["id"].iloc[0]
    board.hide(int(leader), "test")
    table = protocol_table(board, HALVES)
    assert list(table["model_name"]) == ["B", "C", "D", "E"]
    # B [0.72, 0.84] now leads: C (0.749) and D (0.76) overlap it, E (0.55) does not.
    assert list(table["tie"]) == ["leader", "tie", "tie", ""]
    assert list(table["rank"]) == [1, 2, 2, 4]


def test_empty_protocol_gives_an_empty_table(store):
    table = protocol_table(store, HALVES)
    assert table.empty and {"rank", "tie"} <= set(table.columns)
    shown = display(table, "protocol")
    assert shown.empty and list(shown.columns)[:3] == ["Rank", "Tie", "Model"]
    assert suite_table(store, PROTOCOLS).empty


def se(ci: tuple[float, float]) -> float:
    return (ci[1] - ci[0]) / (2 * 1.959963984540054)


def test_suite_view_ranks_complete_models_by_mean_and_lists_incomplete_ones_after(store):
    # M1: halves twice (the later entry, 0.6, counts), rotation 0.8, and iid, which is a control.
    add(store, "M1", 0.9, (0.85, 0.95), protocol=HALVES, minutes=0)
    add(store, "M1", 0.6, (0.50, 0.70), protocol=HALVES, minutes=10)
    add(store, "M1", 0.8, (0.70, 0.90), protocol=ROTATION, minutes=1)
    add(store, "M1", 0.99, (0.98, 1.0), protocol=IID, minutes=2)
    # M2: both suite protocols, mean 0.75.
    add(store, "M2", 0.7, (0.60, 0.80), protocol=HALVES, family="mlp", minutes=3)
    add(store, "M2", 0.8, (0.75, 0.85), protocol=ROTATION, family="mlp", minutes=4)
    # M3: only halves, better than everyone there, but incomplete.
    add(store, "M3", 0.95, (0.90, 0.99), protocol=HALVES, minutes=5)
    # Same model name, other submitter: another model, also incomplete, with a lower mean.
    add(store, "M2", 0.3, (0.2, 0.4), protocol=ROTATION, submitter="copycat", minutes=6)

    table = suite_table(store, PROTOCOLS)
    assert list(zip(table["model_name"], table["submitter"])) == [
        ("M2", "team"),
        ("M1", "team"),
        ("M3", "team"),
        ("M2", "copycat"),
    ]
    assert list(table["mean_ood"]) == pytest.approx([0.75, 0.70, 0.95, 0.3])
    assert list(table["coverage"]) == ["2/2", "2/2", "1/2", "1/2"]
    assert list(table["rank"].astype(object).where(table["rank"].notna(), None)) == [1, 2, None, None]
    half_m2 = 1.959963984540054 * math.sqrt(se((0.60, 0.80)) ** 2 + se((0.75, 0.85)) ** 2) / 2
    half_m1 = 1.959963984540054 * math.sqrt(se((0.50, 0.70)) ** 2 + se((0.70, 0.90)) ** 2) / 2
    assert table["mean_ood_ci_lo"].iloc[0] == pytest.approx(0.75 - half_m2)
    assert table["mean_ood_ci_hi"].iloc[1] == pytest.approx(0.70 + half_m1)
    assert table["mean_ood_ci_lo"].iloc[2:].isna().all()
    # M1's interval [0.70 - 0.0707, 0.70 + 0.0707] overlaps M2's [0.75 - 0.0559, ...]: a tie.
    assert list(table["tie"]) == ["leader", "tie", "", ""]
    assert table[HALVES].iloc[1] == pytest.approx(0.6) and math.isnan(table[ROTATION].iloc[2])
    assert IID not in table.columns
    assert table["family"].iloc[0] == "mlp"

    mlp = suite_table(store, PROTOCOLS, filters=Filters(families=("mlp",)))
    assert list(mlp["model_name"]) == ["M2"] and list(mlp["rank"]) == [1]


def test_display_chooses_columns_and_formats_values(board):
    table = protocol_table(board, HALVES)
    shown = display(table, "protocol")
    defaults = [c.label for c in view_columns("protocol") if c.required or c.default]
    assert list(shown.columns) == defaults
    first = shown.iloc[0]
    assert first["Model"] == "A" and first["OOD accuracy (%)"] == 80.0 and first["OOD 95% CI (%)"] == "75.0–85.0"
    assert first["Verified"] == "✓" and shown["Verified"].iloc[1] == ""
    assert first["Parameters"] == 2_000_000 and shown["Parameters"].iloc[4] is None
    assert first["Submitted"] == "2025-05-01"

    narrow = display(table, "protocol", columns=["submitter"])
    required = [c.label for c in COLUMNS if c.required and "protocol" in c.views]
    assert list(narrow.columns) == [c.label for c in view_columns("protocol") if c.required or c.key == "submitter"]
    assert set(required) <= set(narrow.columns)
    assert len(datatypes("protocol", columns=["submitter"])) == len(narrow.columns)
    assert len(display(table, "protocol", limit=2)) == 2
    with pytest.raises(ValueError, match="unknown columns"):
        display(table, "protocol", columns=["shoe size"])


def test_suite_display_has_one_column_per_suite_protocol(store):
    add(store, "M", 0.5, (0.4, 0.6), protocol=HALVES)
    add(store, "M", 0.7, (0.6, 0.8), protocol=ROTATION)
    table = suite_table(store, PROTOCOLS)
    shown = display(table, SUITE, columns=["per_protocol"], protocols=PROTOCOLS)
    assert list(shown.columns) == ["Rank", "Tie", "Model", "Mean OOD accuracy (%)", HALVES, ROTATION]
    assert list(shown.iloc[0]) == [1, "leader", "M", 60.0, 50.0, 70.0]
    assert datatypes(SUITE, columns=["per_protocol"], protocols=PROTOCOLS) == [
        "number",
        "str",
        "str",
        "number",
        "number",
        "number",
    ]
    assert {c.key for c in optional_columns(SUITE)} >= {"per_protocol", "coverage", "mean_ood_ci"}
    assert isinstance(display(table, SUITE, protocols=PROTOCOLS), pd.DataFrame)
