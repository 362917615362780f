"""The board as a Space: the folder written, its start-up, and the export/restore that outlives a disk.

The export is tested against a local folder standing in for the results repo: the Hub target only
lists, commits and downloads the same files (``FolderTarget`` and ``HubTarget`` share every rule).
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
from huggingface_hub import SpaceCard

from elsewhere.cli import main
from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.data import load_truth
from elsewhere.leaderboard import hub_sync
from elsewhere.leaderboard.hub_sync import FolderTarget, export, record_path, restore
from elsewhere.leaderboard.space import prepare
from elsewhere.leaderboard.store import Store
from elsewhere.leaderboard.submissions import Truths, submit

PROTOCOLS = ("location-halves-clutter", "red-green")


def _predictions(data: Path, protocol: str, wrong_every: int, folder: Path) -> Path:
    """Real predictions: every ``wrong_every``-th item wrong, the rest right."""
    truth = load_truth(data, protocol)
    frame = truth.frame[["id", "label"]].copy()
    wrong = (frame.index % wrong_every) == 0
    frame["prediction"] = frame["label"].where(~wrong, (frame["label"] + 1) % len(truth.class_names))
    path = folder / f"{protocol}-{wrong_every}.parquet"
    frame[["id", "prediction"]].to_parquet(path)
    return path


def _submit(store, truths, data, protocol, wrong_every, folder, name):
    return submit(
        store,
        truths,
        protocol=protocol,
        predictions_path=_predictions(data, protocol, wrong_every, folder),
        model_name=name,
        submitter=f"user-{name}",
        identity=f"hf:user-{name}",
        family="cnn",
        rate_limit_per_day=None,
    )


@pytest.fixture(scope="module")
def board(tiny_dataset, tmp_path_factory):
    """A store with real scored entries on two protocols, one of them hidden."""
    folder = tmp_path_factory.mktemp("board")
    store, truths = Store(folder / "board.sqlite"), Truths(tiny_dataset)
    for protocol in PROTOCOLS:
        for wrong_every, name in ((2, "half"), (3, "two-thirds"), (7, "most")):
            _submit(store, truths, tiny_dataset, protocol, wrong_every, folder, f"{name}-{protocol}")
    store.hide(store.list(protocol="red-green")[0].id, "test: hidden before export")
    return store


def _tables(store: Store) -> dict:
    return {p: store.table(protocol=p) for p in PROTOCOLS}


def test_restore_rebuilds_an_identical_board(board, tmp_path):
    target = FolderTarget(tmp_path / "results-repo")
    assert export(board, target) == 6
    restored = Store(tmp_path / "new-space.sqlite")
    assert restore(restored, target) == 6
    for protocol, table in _tables(board).items():
        pd.testing.assert_frame_equal(table, _tables(restored)[protocol])
    fields = ("id", "submitter", "model_name", "model", "protocol", "results", "status", "created")
    before = [[getattr(e, f) for f in fields] for e in board.list(variant=None, include_hidden=True)]
    after = [[getattr(e, f) for f in fields] for e in restored.list(variant=None, include_hidden=True)]
    assert before == after
    with pytest.raises(ElsewhereError, match="empty store"):
        restore(restored, target)


def test_export_is_append_only(board, tiny_dataset, tmp_path):
    target = FolderTarget(tmp_path / "results-repo")
    store = Store(tmp_path / "grow.sqlite")
    restore(store, FolderTarget(_exported(board, tmp_path / "seed")))
    assert export(store, target) == 6
    written = {p: (target.folder / p).read_bytes() for p in target.files()}
    assert export(store, target) == 0
    entry = _submit(store, Truths(tiny_dataset), tiny_dataset, "red-green", 5, tmp_path, "late")
    assert export(store, target) == 1
    assert target.files() == set(written) | {record_path(entry)}
    assert all((target.folder / p).read_bytes() == data for p, data in written.items())
    record = json.loads((target.folder / record_path(entry)).read_text())
    assert "identity" not in json.dumps(record) and "hf:user-late" not in json.dumps(record)
    with pytest.raises(ElsewhereError, match="append-only"):
        target.put({record_path(entry): b"{}"}, "overwrite attempt")


def _exported(store: Store, folder: Path) -> Path:
    export(store, FolderTarget(folder))
    return folder


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_text("{not json"), "not JSON"),
        (lambda p: p.write_bytes(b"\xff\xfe"), "not JSON"),
        (lambda p: p.write_text(json.dumps({"format": 1})), "not a format-1 record"),
        (lambda p: p.write_text(json.dumps([1, 2])), "not a format-1 record"),
        (lambda p: p.rename(p.with_name("00000099-" + p.name.split("-", 1)[1])), "not the one in its name"),
    ],
)
def test_damaged_exports_are_refused_in_one_line(board, tmp_path, damage, message):
    folder = _exported(board, tmp_path / "repo")
    damage(sorted((folder / "submissions").glob("*.json"))[0])
    store = Store(tmp_path / "restore.sqlite")
    with pytest.raises(ElsewhereError, match=message):
        restore(store, FolderTarget(folder))


def test_a_gap_in_the_export_is_refused(board, tmp_path):
    folder = _exported(board, tmp_path / "repo")
    sorted((folder / "submissions").glob("*.json"))[0].unlink()
    with pytest.raises(ElsewhereError, match="gaps"):
        restore(Store(tmp_path / "restore.sqlite"), FolderTarget(folder))


def test_export_is_off_offline_or_without_a_repo(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    monkeypatch.delenv("ELSEWHERE_RESULTS_REPO", raising=False)
    assert hub_sync.target_from_environment() is None
    monkeypatch.setenv("ELSEWHERE_RESULTS_REPO", "someone/results")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_sync.target_from_environment() is None


def _fake_runs(data: Path, folder: Path) -> Path:
    """A runs folder as ``elsewhere train`` leaves it (results.json + predictions.parquet per run)."""
    for protocol in PROTOCOLS:
        for arch, wrong_every in (("cnn-flatten", 2), ("cnn-gap", 4)):
            run = folder / protocol / arch
            run.mkdir(parents=True)
            _predictions(data, protocol, wrong_every, run).rename(run / "predictions.parquet")
            (run / "results.json").write_text(json.dumps({"model": {"parameters": 1000, "family": "cnn"}}))
    return folder


@pytest.fixture(scope="module")
def space(tiny_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("space") / "board"
    runs = _fake_runs(tiny_dataset, tmp_path_factory.mktemp("runs"))
    assert main(["space", str(folder), "--data", str(tiny_dataset), "--baselines", str(runs)]) == 0
    return folder


def test_space_folder_has_metadata_requirements_package_and_data(space):
    card = SpaceCard.load(space / "README.md").data.to_dict()
    assert card["sdk"] == "gradio" and card["sdk_version"] == metadata.version("gradio")
    assert card["app_file"] == "app.py" and card["hf_oauth"] is True
    pins = dict(line.split("==") for line in (space / "requirements.txt").read_text().split())
    assert pins["gradio"] == metadata.version("gradio") and pins["datasets"] == metadata.version("datasets")
    assert "torch" not in pins  # the board scores predictions files; it runs no model
    assert (space / "elsewhere" / "leaderboard" / "space.py").is_file()
    assert (space / "elsewhere" / "evaluation" / "results.schema.json").is_file()
    assert (space / "dataset" / "elsewhere.json").is_file()
    assert sorted(p.parent.name for p in (space / "runs").glob("*/*")) == sorted(PROTOCOLS * 2)
    assert json.loads((space / "space.json").read_text())["data"] == "dataset"


def test_prepare_seeds_the_board_once(space, tmp_path, monkeypatch):
    monkeypatch.setenv("ELSEWHERE_DB", str(tmp_path / "board.sqlite"))
    db, data = prepare(space)
    assert db == tmp_path / "board.sqlite" and Path(data) == space / "dataset"
    assert len(Store(db).list(protocol="location-halves-clutter")) == 2
    prepare(space)
    assert len(Store(db).list(variant=None)) == 4


def test_space_refuses_what_it_cannot_serve(tiny_dataset, tmp_path, capsys):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep")
    assert main(["space", str(busy), "--data", str(tiny_dataset)]) == 2
    assert "not an empty folder" in capsys.readouterr().err and (busy / "mine.txt").read_text() == "keep"
    stray = tmp_path / "runs" / "no-such-protocol" / "cnn"
    stray.mkdir(parents=True)
    (stray / "results.json").write_text("{}")
    (stray / "predictions.parquet").write_bytes(b"")
    assert (
        main(["space", str(tmp_path / "s1"), "--data", str(tiny_dataset), "--baselines", str(tmp_path / "runs")]) == 2
    )
    assert "no-such-protocol" in capsys.readouterr().err
    assert main(["space", str(tmp_path / "s2"), "--data", str(tmp_path / "nothing")]) == 2
    assert main(["space", str(tmp_path / "s3"), "--data", str(tiny_dataset), "--results-repo", "bad id"]) == 2
    assert not any((tmp_path / name).exists() for name in ("s1", "s2", "s3"))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_space_starts_from_a_fresh_venv_of_its_own_requirements(space, tmp_path):
    """``pip install -r requirements.txt`` into a new venv, then ``python app.py`` serves a populated board."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "-r", "requirements.txt"], cwd=space, capture_output=True, text=True
    )
    assert install.returncode == 0, install.stderr[-2000:]
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "ELSEWHERE_", "GRADIO_"))
    }
    env.update(
        HF_HUB_OFFLINE="1",
        GRADIO_SERVER_PORT=str(port),
        ELSEWHERE_DB=str(tmp_path / "space.sqlite"),
        GRADIO_ANALYTICS_ENABLED="False",
    )
    server = subprocess.Popen([python, "app.py"], cwd=space, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        page = None
        for _ in range(240):
            if server.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    page = response.read().decode()
                break
            except OSError:
                time.sleep(0.5)
        assert page is not None, server.stdout.read().decode()[-3000:] if server.poll() is not None else "no answer"
        assert "gradio" in page.lower()
        entries = Store(tmp_path / "space.sqlite").list(variant=None)
        assert {e.protocol for e in entries} == set(PROTOCOLS) and len(entries) == 4
    finally:
        server.terminate()
        server.wait(timeout=30)
