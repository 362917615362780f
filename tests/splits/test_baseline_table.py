"""The baseline table: rows with optional further tests, read back as written, and merged run by run."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from elsewhere.errors import ElsewhereError
from elsewhere.splits.baseline_table import Row, load_table, merge_rows, merge_table, write_table
from elsewhere.splits.controls import TABLE
from elsewhere.splits.registry import get_protocol, protocol_names

PROTOCOLS = protocol_names()


def row(architecture="redgreen-same", seed=0, ood=0.5, **extra) -> Row:
    fields = dict(
        protocol="red-green",
        protocol_version=2,
        fingerprint="ab" * 32,
        architecture=architecture,
        seed=seed,
        id_accuracy=0.9,
        id_ci=(0.8, 0.95),
        ood_accuracy=ood,
        ood_ci=(0.4, 0.6),
        config={"epochs": 1},
        results=f"seed-{seed}/red-green/{architecture}/results.json",
    )
    return Row(**{**fields, **extra})


def test_the_committed_table_reads_with_and_without_further_tests():
    rows = load_table(TABLE)
    moved = [r for r in rows if r.further_tests]
    assert moved and all(r.protocol == "red-green" and set(r.further_tests) == {"test_moved"} for r in moved)
    assert len(moved) < len(rows)
    assert len({r.key for r in rows}) == len(rows)


def test_further_tests_round_trip_and_are_left_out_when_empty(tmp_path):
    moved = row(further_tests={"test_moved": {"accuracy": 0.7, "ci": [0.6, 0.8]}})
    write_table(tmp_path / "t.json", [row(seed=1), moved])
    assert load_table(tmp_path / "t.json") == [row(seed=1), moved]
    runs = json.loads((tmp_path / "t.json").read_text())["runs"]
    assert "further_tests" not in runs[0] and runs[1]["further_tests"]["test_moved"]["accuracy"] == 0.7


@pytest.mark.parametrize(
    "further",
    [[], {"test_moved": 0.7}, {"test_moved": {"accuracy": 1.5, "ci": [0, 1]}}, {"test_moved": {"accuracy": 0.5}}],
)
def test_malformed_further_tests_are_one_line(tmp_path, further):
    entry = {**dataclasses.asdict(row()), "further_tests": further}
    (tmp_path / "t.json").write_text(json.dumps({"format": 1, "runs": [entry]}))
    with pytest.raises(ElsewhereError, match="run 0 is malformed") as error:
        load_table(tmp_path / "t.json")
    assert "\n" not in str(error.value)


def test_merge_adds_new_runs_and_keeps_identical_ones_once():
    merged = merge_rows([row(seed=0), row("mlp")], [row(seed=0), row(seed=1), row(seed=2)])
    assert [(r.architecture, r.seed) for r in merged] == [
        ("redgreen-same", 0),
        ("mlp", 0),
        ("redgreen-same", 1),
        ("redgreen-same", 2),
    ]


def test_merge_refuses_another_row_of_the_same_run_and_leaves_the_table(tmp_path):
    table, other = tmp_path / "panel.json", tmp_path / "other.json"
    write_table(table, [row(seed=0), row(seed=1)])
    before = table.read_bytes()
    write_table(other, [row(seed=2), row(seed=1, ood=0.25)])
    with pytest.raises(ElsewhereError, match="redgreen-same on red-green v2 seed 1") as error:
        merge_table(table, other, protocols=PROTOCOLS)
    assert "\n" not in str(error.value) and table.read_bytes() == before
    write_table(other, [row(seed=2), row(seed=1)])
    assert merge_table(table, other, protocols=PROTOCOLS) == (1, 3)
    assert [r.seed for r in load_table(table)] == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.json", "panel.json"]  # no temporary left


def test_a_dropped_architecture_is_replaced_by_its_new_runs_in_one_write(tmp_path):
    """A changed definition: its old runs go and its new ones (other figures, same runs) come in."""
    table, other = tmp_path / "panel.json", tmp_path / "other.json"
    write_table(table, [row(seed=0), row("mlp", seed=0), row("mlp", seed=1)])
    write_table(other, [row("mlp", seed=0, ood=0.25)])
    with pytest.raises(ElsewhereError, match="mlp on red-green v2 seed 0"):
        merge_table(table, other, protocols=PROTOCOLS)
    assert merge_table(table, other, protocols=PROTOCOLS, drop=["mlp"]) == (1, 2)
    assert [(r.architecture, r.seed, r.ood_accuracy) for r in load_table(table)] == [
        ("redgreen-same", 0, row().ood_accuracy),
        ("mlp", 0, 0.25),
    ]


def test_dropping_an_architecture_without_runs_is_refused_and_leaves_the_table(tmp_path):
    """A misspelt --drop would otherwise drop nothing, and the merge then refuse or duplicate."""
    table = tmp_path / "panel.json"
    write_table(table, [row(seed=0), row("mlp", seed=0)])
    before = table.read_bytes()
    with pytest.raises(ElsewhereError, match="no run of 'mpl'.*'mlp', 'redgreen-same'"):
        merge_table(table, protocols=PROTOCOLS, drop=["mlp", "mpl"])
    assert table.read_bytes() == before


def test_the_refusal_to_drop_lists_a_hostile_table_quoted_and_bounded(tmp_path):
    table = tmp_path / "panel.json"
    write_table(table, [row(f"\x1b[2J net {i}" + "x" * 200, seed=0) for i in range(500)])
    with pytest.raises(ElsewhereError) as error:
        merge_table(table, protocols=PROTOCOLS, drop=["mlp"])
    message = str(error.value)
    assert "\x1b" not in message and "and 480 more" in message and len(message) < 2500


def test_merge_refuses_a_file_that_is_not_a_table(tmp_path):
    write_table(tmp_path / "panel.json", [row()])
    (tmp_path / "other.json").write_text("[]")
    with pytest.raises(ElsewhereError, match="not a baseline table"):
        merge_table(tmp_path / "panel.json", tmp_path / "other.json", protocols=PROTOCOLS)


SCRIPT = Path(__file__).parents[2] / "benchmarks" / "panel_table.py"


def _panel_table(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=120)


def test_the_printer_merges_and_shows_red_green_over_its_seeds(tmp_path):
    version = get_protocol("red-green").version
    moved = {"test_moved": {"accuracy": 0.6, "ci": [0.5, 0.7]}}
    write_table(tmp_path / "panel.json", [row("redgreen-full", 0, 0.8, protocol_version=version, further_tests=moved)])
    others = [row("redgreen-full", s, ood, protocol_version=version) for s, ood in ((1, 0.7), (2, 0.9))]
    write_table(tmp_path / "seeds.json", [*others, row("redgreen-same", 1, 0.1, protocol_version=version)])
    one = _panel_table(tmp_path / "panel.json")
    line = next(x for x in one.stdout.splitlines() if x.startswith("| `redgreen-full` | F-Conv"))
    assert one.returncode == 0 and "| 89.7 ± 0.5 | 89.7 ± 0.5 | 90.0 [80.0, 95.0] | 80.0 [40.0, 60.0] |" in line
    assert line.endswith("| 60.0 [50.0, 70.0] | 1 (0) |")
    merged = _panel_table(tmp_path / "panel.json", "--merge", tmp_path / "seeds.json")
    assert merged.returncode == 0 and "3 runs added, 4 in" in merged.stderr
    line = next(x for x in merged.stdout.splitlines() if x.startswith("| `redgreen-full` | F-Conv"))
    assert "| 90.0 ± 0.0 | 80.0 ± 10.0 | 60.0 [50.0, 70.0] | 3 (0, 1, 2) |" in line
    assert "| `redgreen-same` | S-Conv, zero padding 1 | 99.8 ± 0.1 | 8.4 ± 0.7 | 90.0 [80.0, 95.0] |" in merged.stdout
    write_table(tmp_path / "clash.json", [row("redgreen-full", 2, 0.5, protocol_version=version)])
    before = (tmp_path / "panel.json").read_bytes()
    refused = _panel_table(tmp_path / "panel.json", "--merge", tmp_path / "clash.json")
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1 and "seed 2" in refused.stderr
    assert (tmp_path / "panel.json").read_bytes() == before


def _entry(**changes) -> dict:
    entry = dataclasses.asdict(row(seed=7))
    return {**entry, **changes}


HOSTILE_TABLES = {
    "nan-interval": (json.dumps({"format": 1, "runs": [_entry(ood_ci=[float("nan"), 0.5])]}), "NaN"),
    "infinite-config": (json.dumps({"format": 1, "runs": [_entry(config={"lr": float("inf")})]}), "Infinity"),
    "nan-further-test": (
        json.dumps(
            {"format": 1, "runs": [_entry(further_tests={"test_moved": {"accuracy": 0.5, "ci": [0.1, float("nan")]}})]}
        ),
        "NaN",
    ),
    "deep": ("[" * 100_000 + "]" * 100_000, "not JSON"),
    "huge-integer": (json.dumps({"format": 1, "runs": [_entry(seed=12345)]}).replace("12345", "9" * 5000), "not JSON"),
    "boolean-seed": (json.dumps({"format": 1, "runs": [_entry(seed=True)]}), "seed"),
    "negative-seed": (json.dumps({"format": 1, "runs": [_entry(seed=-1)]}), "seed"),
    "boolean-accuracy": (json.dumps({"format": 1, "runs": [_entry(ood_accuracy=True)]}), "ood_accuracy"),
    "zero-version": (json.dumps({"format": 1, "runs": [_entry(protocol_version=0)]}), "protocol_version"),
}


@pytest.mark.parametrize("name", HOSTILE_TABLES)
def test_a_hostile_table_is_refused_in_one_line_and_the_table_is_left(tmp_path, name):
    text, words = HOSTILE_TABLES[name]
    table, other = tmp_path / "panel.json", tmp_path / "other.json"
    write_table(table, [row(seed=0)])
    before = table.read_bytes()
    other.write_text(text)
    with pytest.raises(ElsewhereError, match=words) as error:
        merge_table(table, other, protocols=PROTOCOLS)
    assert "\n" not in str(error.value) and len(str(error.value)) < 500
    assert table.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["other.json", "panel.json"]


def test_merge_refuses_a_run_of_a_protocol_the_registry_lacks(tmp_path):
    table, other = tmp_path / "panel.json", tmp_path / "other.json"
    write_table(table, [row(seed=0)])
    before = table.read_bytes()
    write_table(other, [row(seed=1), row(seed=2, protocol="nowhere")])
    with pytest.raises(ElsewhereError, match="run 1 is of protocol 'nowhere'"):
        merge_table(table, other, protocols=PROTOCOLS)
    assert table.read_bytes() == before


def test_a_table_too_large_or_not_a_file_is_refused_in_one_line(tmp_path):
    from elsewhere.splits.baseline_table import MAX_TABLE_BYTES

    (tmp_path / "folder.json").mkdir()
    with pytest.raises(ElsewhereError, match="cannot read"):
        load_table(tmp_path / "folder.json")
    with open(tmp_path / "huge.json", "wb") as huge:
        huge.truncate(MAX_TABLE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(ElsewhereError, match="more than"):
        load_table(tmp_path / "huge.json")


def test_the_printer_refuses_a_hostile_merge_in_one_line(tmp_path):
    write_table(tmp_path / "panel.json", [row(seed=0)])
    before = (tmp_path / "panel.json").read_bytes()
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "nan.json").write_text(HOSTILE_TABLES["nan-interval"][0])
    for other in ("folder.json", "nan.json"):
        refused = _panel_table(tmp_path / "panel.json", "--merge", tmp_path / other)
        assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert refused.stderr.startswith("panel_table: error:") and (tmp_path / "panel.json").read_bytes() == before


def test_several_merges_are_written_all_or_none(tmp_path):
    table = tmp_path / "panel.json"
    write_table(table, [row(seed=0)])
    before = table.read_bytes()
    write_table(tmp_path / "good.json", [row(seed=1)])
    write_table(tmp_path / "clash.json", [row(seed=0, ood=0.25)])
    refused = _panel_table(table, "--merge", tmp_path / "good.json", "--merge", tmp_path / "clash.json")
    assert refused.returncode != 0 and "seed 0" in refused.stderr and table.read_bytes() == before
    assert merge_table(table, tmp_path / "good.json", tmp_path / "good.json", protocols=PROTOCOLS) == (1, 2)
