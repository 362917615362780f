"""Seeding the board with baselines: real training runs, scored again by the leaderboard."""

import json
import shutil

import pandas as pd
import pytest

from elsewhere.cli import main
from elsewhere.evaluation.harness import train_baseline
from elsewhere.leaderboard.baselines import OPERATOR, seed_baselines
from elsewhere.leaderboard.store import Store
from elsewhere.leaderboard.submissions import Truths


@pytest.mark.slow
def test_trained_runs_are_stored_once_as_verified_entries(tiny_dataset, tmp_path, capsys):
    runs = tmp_path / "runs"
    for arch in ("cnn-flatten", "cnn-gap"):
        train_baseline(tiny_dataset, "location-halves", arch, runs / "location-halves" / arch, epochs=1, progress=False)
    store = Store(tmp_path / "board.sqlite")
    lines = seed_baselines(store, Truths(tiny_dataset), runs)
    assert [line.split()[0] for line in lines] == ["stored", "stored"]
    entries = {e.model_name: e for e in store.list(protocol="location-halves")}
    assert set(entries) == {"cnn-flatten", "cnn-gap"}
    for arch, entry in entries.items():
        trained = json.loads((runs / "location-halves" / arch / "results.json").read_text())
        assert entry.submitter == OPERATOR and entry.model["verified"] is True
        assert entry.ood_accuracy == pytest.approx(trained["metrics"]["ood_accuracy"]["value"])
        assert entry.results["predictions_sha256"] == trained["predictions_sha256"]
    assert [line.split()[0] for line in seed_baselines(store, Truths(tiny_dataset), runs)] == ["kept", "kept"]
    assert len(store.list(protocol="location-halves")) == 2

    # A run whose predictions the board refuses (here: half its items missing) is one line; the rest seed.
    stale = runs / "location-halves" / "cnn-gap-stale"
    shutil.copytree(runs / "location-halves" / "cnn-gap", stale)
    predictions = pd.read_parquet(stale / "predictions.parquet")
    predictions.iloc[: len(predictions) // 2].to_parquet(stale / "predictions.parquet")
    lines = seed_baselines(store, Truths(tiny_dataset), runs)
    assert [line.split()[0] for line in lines] == ["kept", "kept", "refused"]
    assert lines[2].startswith("refused location-halves/cnn-gap-stale: ") and "missing" in lines[2]
    assert len(store.list(protocol="location-halves")) == 2

    # The command line's door to the same store: a bad predictions file is one line, exit 2.
    bad = tmp_path / "bad.csv"
    bad.write_text("id,prediction\nnot-an-id,0\n")
    status = main(
        [
            "submit",
            "--data",
            str(tiny_dataset),
            "--predictions",
            str(bad),
            "--protocol",
            "location-halves",
            "--model-name",
            "bad",
            "--db",
            str(tmp_path / "board.sqlite"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in err and "Traceback" not in err
    assert len(store.list(protocol="location-halves")) == 2
