"""The submission pipeline end to end: a real tiny dataset, real predictions files, a real SQLite store.

Expected accuracies are computed here from the dataset's own labels (read with pandas from the
parquet shards, or from the private labels file), never taken from the harness.
"""

from __future__ import annotations

import getpass
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from elsewhere.leaderboard import rounds
from elsewhere.leaderboard.store import DuplicateSubmission, RateLimited, Store
from elsewhere.leaderboard.submissions import Truths, remaining_quota, submit, submit_file
from elsewhere.leaderboard.table import protocol_table

PROTOCOL = "location-halves-clutter"  # the default config, shown first by the app
EVALUATED = ("test_id", "test_ood", "probe")
SECRET = "a-private-secret-of-enough-length"


def evaluated_labels(data: Path, protocol: str) -> pd.DataFrame:
    """``id``, ``split`` and ``label`` of every evaluated item, read straight from the parquet shards."""
    frames = []
    for split in EVALUATED:
        for shard in sorted((data / "data" / protocol).glob(f"{split}-*.parquet")):
            frame = pd.read_parquet(shard, columns=["id", "label"])
            frame["split"] = split
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def noisy_predictions(labels: pd.DataFrame, wrong_every: int, classes: int, offset: int = 0) -> pd.DataFrame:
    """The true labels, with every ``wrong_every``-th item (from ``offset``) moved to the next class."""
    prediction = labels["label"].to_numpy().copy()
    wrong = (np.arange(len(prediction)) - offset) % wrong_every == 0
    prediction[wrong] = (prediction[wrong] + 1) % classes
    return pd.DataFrame({"id": labels["id"], "prediction": prediction})


def ood_accuracy(labels: pd.DataFrame, predictions: pd.DataFrame) -> float:
    merged = labels.merge(predictions, on="id")
    ood = merged[merged["split"] == "test_ood"]
    return float((ood["prediction"] == ood["label"]).mean())


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def truths(tiny_dataset: Path) -> Truths:
    return Truths(tiny_dataset)


@pytest.fixture(scope="module")
def labels(tiny_dataset: Path) -> pd.DataFrame:
    return evaluated_labels(tiny_dataset, PROTOCOL)


@pytest.fixture(scope="module")
def classes(truths: Truths) -> int:
    return len(truths.get(PROTOCOL).class_names)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "leaderboard.sqlite")


def everything(store: Store) -> list:
    return store.list(variant=None, include_hidden=True)


def test_valid_files_are_scored_stored_and_ranked(store, truths, labels, classes, tmp_path):
    worse = noisy_predictions(labels, 2, classes)
    better = noisy_predictions(labels, 5, classes, offset=1)
    first = submit(
        store,
        truths,
        protocol=PROTOCOL,
        predictions_path=write_csv(worse, tmp_path / "worse.csv"),
        model_name="worse net",
        submitter="alice",
        identity="ip:alice",
        family="MLP",
        parameters=1234,
        link="https://example.org/worse",
        notes="train split only",
    )
    second = submit(
        store,
        truths,
        protocol=PROTOCOL,
        predictions_path=write_csv(better, tmp_path / "better.csv"),
        model_name="better net",
        submitter="bob",
        identity="ip:bob",
    )

    assert first.ood_accuracy == pytest.approx(ood_accuracy(labels, worse))
    assert second.ood_accuracy == pytest.approx(ood_accuracy(labels, better))
    assert second.ood_accuracy > first.ood_accuracy
    assert first.model == {
        "link": "https://example.org/worse",
        "parameters": 1234,
        "family": "mlp",
        "training_data": "train split only",
        "verified": False,
    }
    assert first.results["model"]["name"] == "worse net" and first.results["protocol"]["name"] == PROTOCOL
    assert first.results["items"]["test_ood"]["count"] == int((labels["split"] == "test_ood").sum())
    assert first.protocol_version == truths.get(PROTOCOL).version and first.variant == "public"
    assert first.fingerprint == truths.get(PROTOCOL).fingerprint
    assert [s.id for s in everything(store)] == [first.id, second.id]
    assert list(protocol_table(store, PROTOCOL)["model_name"]) == ["better net", "worse net"]


def test_parquet_and_jsonl_are_accepted(store, truths, labels, classes, tmp_path):
    predictions = noisy_predictions(labels, 3, classes)
    parquet = tmp_path / "p.parquet"
    predictions.to_parquet(parquet, index=False)
    jsonl = tmp_path / "p.jsonl"
    noisy_predictions(labels, 4, classes).to_json(jsonl, orient="records", lines=True)
    a = submit(
        store, truths, protocol=PROTOCOL, predictions_path=parquet, model_name="p", submitter="s", identity="ip:s"
    )
    b = submit(store, truths, protocol=PROTOCOL, predictions_path=jsonl, model_name="j", submitter="s", identity="ip:s")
    assert a.ood_accuracy == pytest.approx(ood_accuracy(labels, predictions))
    assert len(everything(store)) == 2 and a.id != b.id


@pytest.mark.parametrize(
    "case, message",
    [
        ("unknown id", "not evaluated items"),
        ("missing rows", "missing"),
        ("bad class", "not classes"),
        ("extra column", "unexpected columns"),
        ("wrong suffix", "suffix"),
        ("empty file", "empty"),
        ("not csv", "cannot read|binary data"),
    ],
)
def test_bad_files_are_one_line_errors_and_store_nothing(store, truths, labels, classes, tmp_path, case, message):
    good = noisy_predictions(labels, 3, classes)
    path = tmp_path / "bad.csv"
    if case == "unknown id":
        frame = good.copy()
        frame.loc[0, "id"] = f"{PROTOCOL}/test_ood/nope"
        write_csv(frame, path)
    elif case == "missing rows":
        write_csv(good.iloc[5:], path)
    elif case == "bad class":
        frame = good.copy()
        frame.loc[3, "prediction"] = classes + 7
        write_csv(frame, path)
    elif case == "extra column":
        write_csv(good.assign(confidence=0.5), path)
    elif case == "wrong suffix":
        path = write_csv(good, tmp_path / "bad.txt")
    elif case == "empty file":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"\xff\xfe\x00garbage\x00" * 10)
    with pytest.raises(ValueError, match=message) as error:
        submit(store, truths, protocol=PROTOCOL, predictions_path=path, model_name="m", submitter="s", identity="ip:s")
    assert "\n" not in str(error.value) and str(error.value).strip()
    assert everything(store) == []


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"model_name": "  "}, "model name is empty"),
        ({"submitter": ""}, "submitter is empty"),
        ({"link": "javascript:alert(1)"}, "not a web address"),
        ({"parameters": -3}, "parameters must be"),
        ({"protocol": "location-nowhere"}, "not on this leaderboard"),
        ({"variant": "private"}, "holds the public variant"),
        ({"model_name": "x" * 201}, "at most 200"),
        ({"submitter": "admin\u202egnp.exe"}, "U\\+202E"),
        ({"submitter": "ad\u200bmin"}, "U\\+200B"),
        ({"model_name": "net\x00"}, "U\\+0000"),
        ({"notes": "fine\nbut \u2066hidden"}, "U\\+2066"),
    ],
)
def test_bad_fields_are_refused_before_anything_is_stored(store, truths, labels, classes, tmp_path, fields, message):
    path = write_csv(noisy_predictions(labels, 3, classes), tmp_path / "p.csv")
    arguments = {
        "protocol": PROTOCOL,
        "predictions_path": path,
        "model_name": "m",
        "submitter": "s",
        "identity": "ip:s",
        **fields,
    }
    with pytest.raises(ValueError, match=message) as error:
        submit(store, truths, **arguments)
    assert "\n" not in str(error.value)
    assert everything(store) == []


def test_size_cap_is_checked_before_the_file_is_read(store, truths, tmp_path, monkeypatch):
    # Not a predictions file at all: only the size check can produce this message.
    path = tmp_path / "huge.csv"
    path.write_bytes(b"\x00" * 5000)
    with pytest.raises(ValueError, match="over the upload limit of 4,000"):
        submit(
            store,
            truths,
            protocol=PROTOCOL,
            predictions_path=path,
            model_name="m",
            submitter="s",
            identity="ip:s",
            max_bytes=4000,
        )
    # Without max_bytes the setting is read at call time.
    monkeypatch.setenv("ELSEWHERE_MAX_UPLOAD_MB", str(4000 / 2**20))
    with pytest.raises(ValueError, match="over the upload limit of 4,000"):
        submit(store, truths, protocol=PROTOCOL, predictions_path=path, model_name="m", submitter="s", identity="ip:s")
    assert everything(store) == []


def test_duplicates_are_refused_whatever_the_format(store, truths, labels, classes, tmp_path):
    predictions = noisy_predictions(labels, 3, classes)
    stored = submit(
        store,
        truths,
        protocol=PROTOCOL,
        predictions_path=write_csv(predictions, tmp_path / "a.csv"),
        model_name="first",
        submitter="s",
        identity="ip:s",
    )
    parquet = tmp_path / "same.parquet"
    predictions.sample(frac=1.0, random_state=0).to_parquet(parquet, index=False)
    for path in (tmp_path / "a.csv", parquet):
        with pytest.raises(DuplicateSubmission, match="already stored"):
            submit(
                store,
                truths,
                protocol=PROTOCOL,
                predictions_path=path,
                model_name="again",
                submitter="t",
                identity="ip:t",
            )
    assert [s.id for s in everything(store)] == [stored.id]


def test_rate_limit_binds_to_the_identity_not_the_typed_name(store, truths, labels, classes, tmp_path, monkeypatch):
    paths = [write_csv(noisy_predictions(labels, 3 + k, classes), tmp_path / f"p{k}.csv") for k in range(5)]
    monkeypatch.setenv("ELSEWHERE_RATE_LIMIT", "2")
    assert remaining_quota(store, "ip:10.0.0.7") == (0, 2)
    for path in paths[:2]:
        submit(
            store,
            truths,
            protocol=PROTOCOL,
            predictions_path=path,
            model_name="m",
            submitter="eve",
            identity="ip:10.0.0.7",
        )
    assert remaining_quota(store, "ip:10.0.0.7") == (2, 2)
    # The attack: a fresh typed name for every submission from the same client.
    for alias in ("eve2", "Eve", "mallory"):
        with pytest.raises(RateLimited, match="limit is 2") as info:
            submit(
                store,
                truths,
                protocol=PROTOCOL,
                predictions_path=paths[2],
                model_name="m",
                submitter=alias,
                identity="ip:10.0.0.7",
            )
        assert "10.0.0.7" not in str(info.value)
    submit(
        store,
        truths,
        protocol=PROTOCOL,
        predictions_path=paths[2],
        model_name="m",
        submitter="someone else",
        identity="ip:10.0.0.8",
    )
    # The operator's own entries (rate_limit_per_day=None) are not limited.
    submit(
        store,
        truths,
        protocol=PROTOCOL,
        predictions_path=paths[3],
        model_name="m",
        submitter="eve",
        identity="ip:eve",
        rate_limit_per_day=None,
    )
    assert [s.submitter for s in everything(store)] == ["eve", "eve", "someone else", "eve"]
    assert remaining_quota(store, "ip:10.0.0.8") == (1, 2)


def test_truths_load_each_protocol_once_across_threads(tiny_dataset):
    truths = Truths(tiny_dataset)
    seen, barrier = [], threading.Barrier(6)

    def load() -> None:
        barrier.wait()
        seen.append(truths.get(PROTOCOL))

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 6 and all(truth is seen[0] for truth in seen)
    assert PROTOCOL in truths.protocols and truths.variant == "public"
    with pytest.raises(ValueError, match="not on this leaderboard"):
        truths.get("nowhere")


def test_private_variant_is_scored_on_the_open_rounds_shown_part(tmp_path, monkeypatch):
    from elsewhere.api import generate

    monkeypatch.setenv("ELSEWHERE_SECRET", SECRET)
    data, labels_file = tmp_path / "private", tmp_path / "labels.parquet"
    generate(data, protocols=PROTOCOL, size="tiny", seed=3, workers=1, private=True, labels=labels_file, progress=False)
    monkeypatch.delenv("ELSEWHERE_SECRET")
    with pytest.raises(ValueError, match="labels withheld"):
        Truths(data)
    truths = Truths(data, labels_file)
    assert truths.variant == "private"

    held = pd.read_parquet(labels_file)
    held = held[held["split"].isin(EVALUATED)]
    classes = len(truths.get(PROTOCOL).class_names)
    predictions = noisy_predictions(held, 4, classes)
    store = Store(tmp_path / "leaderboard.sqlite")
    path = write_csv(predictions, tmp_path / "private.csv")
    arguments = {
        "protocol": PROTOCOL,
        "predictions_path": path,
        "model_name": "m",
        "submitter": "s",
        "identity": "ip:s",
    }
    with pytest.raises(ValueError, match="holds the private variant"):
        submit(store, truths, **arguments)
    rounds.open_round(store, data, labels_file, SECRET)
    entry = submit(store, truths, variant="private", **arguments)
    assert entry.variant == "private"
    shown = held[held["part"] == "shown"]
    n = int((shown["split"] == "test_ood").sum())
    assert entry.results["metrics"]["ood_accuracy"]["n"] == n
    assert entry.ood_accuracy == rounds.coarsen(ood_accuracy(shown, predictions), n)
    assert store.table(variant="public").empty
    assert list(store.table(variant="private")["id"]) == [entry.id]


def test_shown_precision_never_resolves_one_item():
    for n in (1, 16, 100, 1000, 5000, 10**6):
        step = rounds.shown_step(n)
        assert step >= 1 / np.sqrt(n) and step > 1 / n or n == 1
    assert rounds.shown_step(1000) == 0.05 and rounds.coarsen(0.6666, 1000) == 0.65


def test_submit_file_is_the_command_line_door(tiny_dataset, labels, classes, tmp_path, monkeypatch):
    monkeypatch.setenv("ELSEWHERE_RATE_LIMIT", "1")
    db = tmp_path / "cli.sqlite"
    # The attack: any command-line user marking their own entry as verified.
    monkeypatch.delenv("ELSEWHERE_OPERATOR_KEY", raising=False)
    attempt = write_csv(noisy_predictions(labels, 9, classes), tmp_path / "self-verified.csv")
    common = {"data": tiny_dataset, "protocol": PROTOCOL, "model_name": "mine", "db": db}
    with pytest.raises(ValueError, match="operator action"):
        submit_file(predictions=attempt, verified=True, **common)
    Store(db).check_operator("the-real-operator-key")
    monkeypatch.setenv("ELSEWHERE_OPERATOR_KEY", "a-guessed-operator-key")
    with pytest.raises(ValueError, match="does not match"):
        submit_file(predictions=attempt, verified=True, **common)
    assert Store(db).list() == []
    monkeypatch.setenv("ELSEWHERE_OPERATOR_KEY", "the-real-operator-key")
    entries = [
        submit_file(
            data=tiny_dataset,
            predictions=write_csv(noisy_predictions(labels, 3 + k, classes), tmp_path / f"{k}.csv"),
            protocol=PROTOCOL,
            model_name="baseline",
            db=db,
            verified=True,
        )
        for k in range(2)
    ]
    assert [e.submitter for e in entries] == [getpass.getuser()] * 2
    assert all(e.model["verified"] for e in entries)
    assert len(Store(db).list()) == 2
