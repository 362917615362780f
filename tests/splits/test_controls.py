"""The control marks: derived from the panel's baseline table by the every-architecture rule."""

from __future__ import annotations

import dataclasses
import json

import pytest

from elsewhere.cli import main
from elsewhere.errors import ElsewhereError
from elsewhere.splits.baseline_table import Row, load_table
from elsewhere.splits.controls import (
    CONTROL,
    HEADROOM,
    NOT_MEASURED,
    PANEL,
    RANKED,
    TABLE,
    mark,
    panel_rows,
    verdict,
)
from elsewhere.splits.registry import get_protocol, protocol_names
from elsewhere.splits.suite import standard_protocols

PROTOCOL = get_protocol("location-halves-clutter")  # ranked by design and by the table


def row(arch: str, ood: float, *, seed: int = 0, protocol: str = PROTOCOL.name, version: int = PROTOCOL.version) -> Row:
    return Row(protocol, version, "f" * 64, arch, seed, 1.0, (0.99, 1.0), ood, (ood, ood), {}, f"{protocol}/{arch}")


def panel(ood: float = 0.99, **overrides: float) -> list[Row]:
    return [row(arch, overrides.get(arch.replace("-", "_"), ood)) for arch in PANEL]


def test_every_panel_architecture_above_headroom_makes_a_control():
    result = verdict(PROTOCOL, panel())
    assert result.status == CONTROL
    assert "Sanity control" in result.note()


def test_one_architecture_at_headroom_leaves_the_protocol_ranked():
    result = verdict(PROTOCOL, panel(vit_tiny=HEADROOM))
    assert result.status == RANKED
    assert "vit-tiny" in result.note()


def test_the_seed_mean_decides_not_the_best_seed():
    rows = panel() + [row("mlp", 0.90, seed=1)]  # mlp: 0.99 and 0.90, mean 0.945
    assert verdict(PROTOCOL, rows).status == RANKED
    rows = panel() + [row("mlp", 0.93, seed=1)]  # mean 0.96
    assert verdict(PROTOCOL, rows).status == CONTROL
    assert verdict(PROTOCOL, rows).seeds["mlp"] == 2


def test_the_notes_say_over_how_many_seeds():
    three = [dataclasses.replace(r, seed=s) for r in panel() for s in (0, 1, 2)]
    assert "(lowest cnn-flatten, 99.0%, mean of 3 seeds)" in verdict(PROTOCOL, three).note()
    failing = three + [row("vit-tiny", 0.2, seed=s) for s in (3, 4)]  # vit-tiny: 0.99 ×3 and 0.2 ×2
    note = verdict(PROTOCOL, failing).note()
    assert "vit-tiny scores 100.0% in distribution and 67.4% out of location (mean of 5 seeds" in note
    assert "(one seed, panel table)" in verdict(PROTOCOL, panel(mlp=0.5)).note()


def test_no_rows_is_not_measured():
    result = verdict(PROTOCOL, [])
    assert result.status == NOT_MEASURED
    assert result.missing == PANEL
    assert "not measured" in result.note()


def test_rows_of_another_protocol_version_are_not_measured():
    rows = [dataclasses.replace(r, protocol_version=PROTOCOL.version - 1) for r in panel(ood=0.99)]
    result = verdict(PROTOCOL, rows)
    assert result.status == NOT_MEASURED
    assert f"version-{PROTOCOL.version}" in result.note()
    # even a failing architecture measured on the old version decides nothing
    rows = [dataclasses.replace(r, protocol_version=PROTOCOL.version + 1) for r in panel(mlp=0.1)]
    assert verdict(PROTOCOL, rows).status == NOT_MEASURED


def test_a_missing_panel_architecture_is_not_measured_unless_another_shows_headroom():
    rows = [r for r in panel() if r.architecture != "gcnn-c4"]
    result = verdict(PROTOCOL, rows)
    assert (result.status, result.missing) == (NOT_MEASURED, ("gcnn-c4",))
    rows = [r for r in panel(cnn_flatten=0.2) if r.architecture != "gcnn-c4"]
    assert verdict(PROTOCOL, rows).status == RANKED


def test_rows_of_other_protocols_and_non_panel_rows_do_not_count():
    rows = panel() + [row("shape-descriptors", 0.3), row("mlp", 0.1, protocol="location-quadrant")]
    assert verdict(PROTOCOL, rows).status == CONTROL


def test_the_committed_table_loads_and_decides_every_protocol_of_the_suite():
    rows = panel_rows()
    assert rows == tuple(load_table(TABLE))
    for name in protocol_names():
        assert verdict(get_protocol(name), rows).status in (CONTROL, RANKED, NOT_MEASURED)
    assert {r.protocol for r in rows} <= set(protocol_names())


def test_a_damaged_table_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "panel.json"
    bad.write_text('{"format": 1, "kind": "elsewhere baseline table", "runs": [{"protocol": 3}]}')
    with pytest.raises(ElsewhereError, match="malformed"):
        panel_rows(bad)


def test_the_listing_mark_says_not_measured_without_rows_and_control_by_design():
    assert mark(PROTOCOL, []) == "headroom not measured"
    assert mark(PROTOCOL, panel(mlp=0.1)) == ""
    assert mark(PROTOCOL, panel()) == ""  # measured a control, but the mark reads the protocol's own flag
    assert mark(dataclasses.replace(PROTOCOL, control=True), []) == "control"


def test_the_listing_shows_each_protocols_mark_from_the_committed_table(capsys):
    assert main(["protocols"]) in (0, None)
    lines = capsys.readouterr().out.splitlines()
    for name, line in zip(protocol_names(), lines):
        label = mark(get_protocol(name))
        assert line.startswith(name + " ")
        assert (f"({label})" in line) == bool(label)
    assert main(["protocols", "--json"]) in (0, None)
    listing = json.loads(capsys.readouterr().out)
    assert [e["headroom"] for e in listing] == [verdict(get_protocol(n), panel_rows()).status for n in protocol_names()]
    for entry in listing:  # the verdict's grounds, seed counts included
        found = verdict(get_protocol(entry["name"]), panel_rows())
        assert entry["panel"] == {
            "id": found.id,
            "ood": found.ood,
            "seeds": found.seeds,
            "missing": list(found.missing),
        }
        assert all(count >= 1 for count in entry["panel"]["seeds"].values())


def test_the_suites_marks_are_the_tables_verdicts():
    for protocol in standard_protocols():
        found = verdict(protocol, panel_rows())
        assert protocol.control == (protocol.name == "iid" or found.status == CONTROL), protocol.name
        if found.status == NOT_MEASURED and protocol.name != "iid":
            assert "Headroom not measured" in protocol.rationale
