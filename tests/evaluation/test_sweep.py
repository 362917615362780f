"""The sweep: a grid of runs that resumes after a kill, on either engine, and its baseline table."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.sweep import (
    TABLE,
    Run,
    Settings,
    parse_seeds,
    plan_sweep,
    run_sweep,
    train_run,
)
from elsewhere.splits.baseline_table import load_table, write_table
from elsewhere.splits.engines import Engine

PROTOCOL = "location-halves"
GRID = dict(architectures=["mlp", "cnn-gap"], protocols=[PROTOCOL], seeds=[0, 1])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from elsewhere.api import generate

    folder = tmp_path_factory.mktemp("sweep") / "data"
    generate(folder, protocols=f"{PROTOCOL},red-green", size="tiny", seed=2, workers=2, progress=False)
    return folder


def test_the_grid_pairs_red_green_networks_with_red_green_only():
    runs = plan_sweep(["mlp", "redgreen-same"], [PROTOCOL, "red-green"], [0, 3])
    assert sorted(runs) == sorted(
        [Run(PROTOCOL, "mlp", s) for s in (0, 3)]
        + [Run("red-green", "mlp", s) for s in (0, 3)]
        + [Run("red-green", "redgreen-same", s) for s in (0, 3)]
    )
    assert Run(PROTOCOL, "mlp", 3).folder == f"seed-3/{PROTOCOL}/mlp"
    # Seed 0 keeps the layout of `elsewhere train` runs that the leaderboard seeds itself from.
    assert Run(PROTOCOL, "mlp", 0).folder == f"{PROTOCOL}/mlp"


def test_a_pretrained_backbone_is_its_own_run_beside_the_same_network_from_scratch():
    runs = plan_sweep(["timm:resnet18", "timm:resnet18+pretrained"], [PROTOCOL], [0])
    assert [run.folder for run in runs] == [f"{PROTOCOL}/timm:resnet18", f"{PROTOCOL}/timm:resnet18+pretrained"]


@pytest.mark.parametrize(
    "grid, words",
    [
        ((["nope"], [PROTOCOL], [0]), "nope"),
        ((["timm:resnet 18"], [PROTOCOL], [0]), "bad backbone name"),
        ((["cnn-gap+pretrained"], [PROTOCOL], [0]), "unknown architecture"),
        ((["mlp"], ["nowhere"], [0]), "nowhere"),
        ((["mlp"], [PROTOCOL], [-1]), "bad seed -1"),
        ((["mlp", "mlp"], [PROTOCOL], [0]), "listed twice"),
        ((["redgreen-same"], [PROTOCOL], [0]), "no run pairs"),
    ],
)
def test_a_bad_grid_is_refused_in_one_line(grid, words):
    with pytest.raises(ElsewhereError, match=words) as error:
        plan_sweep(*grid)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "name", ["timm:..", "torchvision:.", "timm:...", "timm:..+pretrained", "timm:../x", "timm:..\\x", "../mlp", ".mlp"]
)
def test_an_architecture_name_never_names_a_folder_outside_the_runs(tmp_path, name):
    """A run's folder is RUNS/<protocol>/<architecture>: whatever the name, it stays one level inside."""
    try:
        runs = plan_sweep([name], [PROTOCOL], [0, 3])
    except ElsewhereError:
        return
    for run in runs:
        folder = (tmp_path / run.folder).resolve()
        assert folder.parent.parent in (tmp_path, tmp_path / "seed-3") and folder.name == name


@pytest.mark.parametrize("text", ["", "1,x", "-1", "1.5", "٣"])
def test_bad_seed_lists_are_refused(text):
    with pytest.raises(ElsewhereError):
        parse_seeds(text)


def test_a_failed_run_names_itself(tmp_path):
    """In a grid of dozens of runs, the one line of a failure says which run failed."""
    run = Run("location-halves", "cnn-gap", 1)
    with pytest.raises(ElsewhereError, match=r"^run cnn-gap on location-halves, seed 1: .*none"):
        train_run((run, Settings(data=str(tmp_path / "none"), device="cpu")))


def test_a_run_removes_the_scratch_folders_of_killed_runs_and_leaves_none_of_its_own(tmp_path, monkeypatch, dead_pid):
    """A worker killed mid-run cannot clean up: the next run on that machine removes its scratch folder."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / f".elsewhere-run.partial-{dead_pid}-abc123"
    live = tmp_path / f".elsewhere-run.partial-{os.getppid()}-def456"
    for folder in (dead, live):
        (folder / "run").mkdir(parents=True)
    with pytest.raises(ElsewhereError, match="^run cnn-gap on location-halves, seed 1: "):
        train_run((Run("location-halves", "cnn-gap", 1), Settings(data=str(tmp_path / "none"), device="cpu")))
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name]


def test_a_finished_run_with_a_damaged_results_file_is_one_line_that_says_how_to_retrain_it(tmp_path):
    runs = tmp_path / "runs"
    damaged = runs / Run(PROTOCOL, "mlp", 0).folder
    damaged.mkdir(parents=True)
    (damaged / "results.json").write_text("{cut short")
    with pytest.raises(ElsewhereError) as error:
        run_sweep(
            runs, plan_sweep(["mlp"], [PROTOCOL], [0]), Settings(str(tmp_path / "none")), report=lambda line: None
        )
    message = str(error.value)
    assert "\n" not in message and str(damaged) in message and "remove that folder" in message
    assert not (runs / TABLE).exists()


def test_table_round_trips_and_bad_tables_are_one_line(tmp_path):
    path = tmp_path / TABLE
    write_table(path, [])
    assert load_table(path) == []
    good = {
        "protocol": PROTOCOL,
        "protocol_version": 2,
        "fingerprint": "ab" * 32,
        "architecture": "mlp",
        "seed": 0,
        "id_accuracy": 0.9,
        "id_ci": [0.8, 0.95],
        "ood_accuracy": 0.5,
        "ood_ci": [0.4, 0.6],
        "config": {"epochs": 1},
        "results": f"{PROTOCOL}/mlp/seed-0/results.json",
    }
    path.write_text(json.dumps({"format": 1, "runs": [good]}))
    (row,) = load_table(path)
    assert row.ood_accuracy == 0.5 and row.id_ci == (0.8, 0.95)
    bad_tables = [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"format": 99, "runs": []}),
        json.dumps({"format": 1, "runs": [{**good, "ood_accuracy": "0.5"}]}),
        json.dumps({"format": 1, "runs": [{**good, "id_accuracy": 1.5}]}),
        json.dumps({"format": 1, "runs": [{**good, "extra": 1}]}),
        json.dumps({"format": 1, "runs": [{k: v for k, v in good.items() if k != "seed"}]}),
    ]
    for text in bad_tables:
        path.write_text(text)
        with pytest.raises(ElsewhereError) as error:
            load_table(path)
        assert "\n" not in str(error.value), text
    with pytest.raises(ElsewhereError, match="no baseline table"):
        load_table(tmp_path / "missing.json")


def test_the_table_carries_red_greens_moved_test(data, tmp_path):
    runs = plan_sweep(["redgreen-same"], ["red-green"], [0])
    (row,) = run_sweep(tmp_path / "runs", runs, Settings(str(data), epochs=1, threads=1), report=lambda line: None)
    results = json.loads((tmp_path / "runs" / row.results).read_text())
    moved = results["metrics"]["accuracy"]["test_moved"]
    assert row.further_tests == {"test_moved": {"accuracy": moved["value"], "ci": moved["ci"]}}
    assert load_table(tmp_path / "runs" / TABLE) == [row]


def test_a_sweep_stopped_by_a_failed_run_keeps_the_table_of_its_finished_runs(data, tmp_path, dead_pid):
    """The table grows run by run: a failure (or a kill) days into a sweep leaves every finished row."""
    runs, settings, quiet = tmp_path / "runs", Settings(str(data), epochs=1, threads=1), lambda line: None
    runs.mkdir()
    (runs / f".{TABLE}.partial-{dead_pid}-0123456789abcdef").write_text("a table write killed half-way")
    # The data folder holds no location-point, so that protocol's run fails after location-halves' ran.
    grid = plan_sweep(["mlp"], [PROTOCOL, "location-point"], [0])
    with pytest.raises(ElsewhereError, match="^run mlp on location-point, seed 0: "):
        run_sweep(runs, grid, settings, Engine(workers=1), report=quiet)
    (row,) = load_table(runs / TABLE)
    assert (row.protocol, row.architecture, row.seed) == (PROTOCOL, "mlp", 0)
    assert row.results == f"{PROTOCOL}/mlp/results.json" and (runs / row.results).is_file()
    assert not [p for p in runs.iterdir() if p.name.startswith(".")]
    # A sweep that fails before finishing a run leaves the earlier table as it was ...
    with pytest.raises(ElsewhereError, match="^run mlp on location-point, seed 0: "):
        run_sweep(runs, plan_sweep(["mlp"], ["location-point"], [0]), settings, Engine(workers=1), report=quiet)
    assert load_table(runs / TABLE) == [row]
    # ... and one with nothing left to train writes the table of the runs it kept.
    (runs / TABLE).unlink()
    assert run_sweep(runs, plan_sweep(["mlp"], [PROTOCOL], [0]), settings, report=quiet) == [row]
    assert load_table(runs / TABLE) == [row]


def _sweep_command(data, runs):
    return [
        sys.executable,
        "-m",
        "elsewhere.cli",
        "sweep",
        "--data",
        str(data),
        "--runs",
        str(runs),
        "--archs",
        ",".join(GRID["architectures"]),
        "--protocols",
        PROTOCOL,
        "--seeds",
        "0,1",
        "--epochs",
        "1",
    ]


@pytest.mark.slow
def test_a_killed_sweep_resumes_with_only_the_missing_runs(data, tmp_path):
    runs = tmp_path / "runs"
    sweep = subprocess.Popen(
        _sweep_command(data, runs), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    first = runs / Run(PROTOCOL, "mlp", 0).folder / "results.json"
    try:
        deadline = time.monotonic() + 300
        while not first.is_file() and sweep.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
    assert first.is_file(), "the sweep did not finish its first run"
    kept = first.read_bytes()
    done_before = {run for run in plan_sweep(**GRID) if (runs / run.folder / "results.json").is_file()}
    assert len(done_before) < 4, "the sweep finished before it was killed"
    if (runs / TABLE).is_file():  # rewritten after each run's folder is in place, never before
        assert {Run(r.protocol, r.architecture, r.seed) for r in load_table(runs / TABLE)} <= done_before

    lines = []
    rows = run_sweep(runs, plan_sweep(**GRID), Settings(str(data), epochs=1), report=lines.append)
    trained = {line.split()[1] for line in lines if line.startswith("trained")}
    assert trained == {run.folder for run in plan_sweep(**GRID)} - {run.folder for run in done_before}
    assert first.read_bytes() == kept
    assert len(rows) == 4 and load_table(runs / TABLE) == rows
    assert {row.config["device"] for row in rows} == {"cpu"}
    assert not [p for p in runs.rglob("*") if p.name.startswith(".")]


@pytest.mark.slow
def test_ray_sweep_runs_the_grid_and_reruns_a_lost_run(data, tmp_path):
    ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'elsewhere[ray]'")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        runs = tmp_path / "runs"
        grid = plan_sweep(**GRID)
        first = run_sweep(runs, grid, Settings(str(data), epochs=1), Engine("ray"), report=lambda line: None)
        assert [(r.architecture, r.seed) for r in first] == [("cnn-gap", 0), ("cnn-gap", 1), ("mlp", 0), ("mlp", 1)]
        lost = runs / Run(PROTOCOL, "cnn-gap", 1).folder
        for path in lost.iterdir():
            path.unlink()
        lost.rmdir()
        lines = []
        second = run_sweep(runs, grid, Settings(str(data), epochs=1), Engine("ray"), report=lines.append)
        assert [line for line in lines if line.startswith("trained")] == [f"trained seed-1/{PROTOCOL}/cnn-gap"]
        assert len(second) == 4 and load_table(runs / TABLE) == second
    finally:
        if started:
            ray.shutdown()
