"""Evaluation rounds from the command line: open, status, close and verify on a real private dataset."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from elsewhere.api import generate
from elsewhere.cli import main
from elsewhere.evaluation.data import read_labels
from elsewhere.leaderboard.store import Store
from elsewhere.leaderboard.submissions import Truths, submit

PROTOCOL = "iid"
SECRET = "the secret of round one, long"
OPERATOR = "operator key of this board"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err.strip()


def test_a_round_from_opening_to_verification(tmp_path, capsys, monkeypatch):
    data, labels, db = tmp_path / "private", tmp_path / "labels.parquet", tmp_path / "board.sqlite"
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET + "\n")
    generate(
        data,
        protocols=PROTOCOL,
        size="tiny",
        seed=2,
        workers=1,
        private=True,
        secret_file=secret_file,
        labels=labels,
        progress=False,
    )
    common = ("--db", str(db), "--data", str(data), "--labels", str(labels), "--secret-file", str(secret_file))

    monkeypatch.delenv("ELSEWHERE_OPERATOR_KEY", raising=False)
    status, _, err = run(capsys, "round", "open", *common)
    assert status == 2 and "operator action" in err and "\n" not in err
    monkeypatch.setenv("ELSEWHERE_OPERATOR_KEY", OPERATOR)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the secret of this dataset")
    status, _, err = run(capsys, "round", "open", *common[:-1], str(wrong))
    assert status == 2 and "not the one" in err
    status, out, _ = run(capsys, "round", "open", *common)
    assert status == 0 and "opened round 1" in out and Store(db).rounds()[0]["commitment"] in out
    assert SECRET not in out

    path = _predictions_file(labels, tmp_path, perfect=True)
    entry = submit(
        Store(db),
        Truths(data, labels),
        protocol=PROTOCOL,
        predictions_path=path,
        model_name="perfect",
        submitter="someone",
        identity="ip:10.1.1.1",
        variant="private",
    )

    status, out, _ = run(capsys, "round", "status", "--db", str(db), "--json")
    (record,) = json.loads(out)
    assert status == 0 and record["closed"] is None and record["secret"] is None and record["entries"] == 1

    monkeypatch.setenv("ELSEWHERE_OPERATOR_KEY", "somebody else's key")
    status, _, err = run(capsys, "round", "close", *common)
    assert status == 2 and "does not match" in err
    monkeypatch.setenv("ELSEWHERE_OPERATOR_KEY", OPERATOR)
    status, out, _ = run(capsys, "round", "close", *common)
    assert status == 0 and "closed round 1" in out and f"entry #{entry.id}" in out and "1.0000" in out

    status, out, _ = run(capsys, "round", "verify", "--db", str(db))
    assert status == 0 and "secret matches" in out and "recomputed and equal" in out
    status, out, _ = run(capsys, "round", "status", "--db", str(db))
    assert status == 0 and SECRET in out


def test_a_tampered_final_score_fails_verification(tmp_path, monkeypatch):
    import sqlite3

    from elsewhere.leaderboard import rounds

    monkeypatch.setenv("ELSEWHERE_SECRET", SECRET)
    data, labels, db = tmp_path / "private", tmp_path / "labels.parquet", tmp_path / "board.sqlite"
    generate(data, protocols=PROTOCOL, size="tiny", seed=2, workers=1, private=True, labels=labels, progress=False)
    store, truths = Store(db), Truths(data, labels)
    rounds.open_round(store, data, labels, SECRET)
    path = _predictions_file(labels, tmp_path, perfect=False)
    submit(
        store,
        truths,
        protocol=PROTOCOL,
        predictions_path=path,
        model_name="m",
        submitter="s",
        identity="ip:1",
        variant="private",
    )
    rounds.close_round(store, truths, SECRET)
    assert rounds.verify_round(store, 1)
    # The operator's own database, edited by hand past the triggers: verification notices.
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER round_finals_frozen")
    conn.execute("UPDATE round_finals SET results = json_set(results, '$.metrics.accuracy.test_ood.value', 0.99)")
    conn.commit()
    conn.close()
    with pytest.raises(ValueError, match="differs from the recomputed"):
        rounds.verify_round(store, 1)


def _predictions_file(labels, tmp_path, *, perfect: bool):
    """Predictions for every evaluated item of a labels file: its labels, or class 0 throughout."""
    frame, _ = read_labels(labels)
    items = frame[frame["split"].isin(["test_id", "test_ood", "probe"])]
    path = tmp_path / "p.csv"
    items.assign(prediction=items["label"] if perfect else 0)[["id", "prediction"]].to_csv(path, index=False)
    return path


def test_the_board_shows_a_round_s_shown_part_then_its_final_ranking(tmp_path, monkeypatch):
    """While open: shown-part scores, coarsened, and the commitment. Closed: the final ranking and the secret."""
    import numpy as np

    from elsewhere.leaderboard import rounds
    from elsewhere.leaderboard.views import table_view, visible_entry

    monkeypatch.setenv("ELSEWHERE_SECRET", SECRET)
    data, labels, db = tmp_path / "private", tmp_path / "labels.parquet", tmp_path / "board.sqlite"
    generate(data, protocols=PROTOCOL, size="tiny", seed=2, workers=1, private=True, labels=labels, progress=False)
    store, truths = Store(db), Truths(data, labels)
    assert table_view(store, [PROTOCOL], "private", PROTOCOL).note == "", "no round yet, nothing to say"
    record = rounds.open_round(store, data, labels, SECRET)
    frame, _ = read_labels(labels)
    items = frame[frame["split"].isin(["test_id", "test_ood", "probe"])].reset_index(drop=True)
    # Right on every third item, and right on the shown part only: their final scores rank them the other way.
    shown_only = np.where(items["part"] == "shown", items["label"], (items["label"] + 1) % 10)
    third = np.where(np.arange(len(items)) % 3 == 0, items["label"], (items["label"] + 1) % 10)
    for name, prediction in (("shown-only", shown_only), ("every-third", third)):
        path = tmp_path / f"{name}.csv"
        pd.DataFrame({"id": items["id"], "prediction": prediction}).to_csv(path, index=False)
        submit(
            store,
            truths,
            protocol=PROTOCOL,
            predictions_path=path,
            model_name=name,
            submitter="s",
            identity=f"ip:{name}",
            variant="private",
        )

    sealed = store.round_entries(record["id"])
    assert len(sealed) == 2 and store.round_entry_ids(record["id"]) == [entry for entry, _ in sealed]
    ood = items[items["split"] == "test_ood"]
    final = ood["part"] == "final"
    shown_n = int((~final).sum())
    opened = table_view(store, [PROTOCOL], "private", PROTOCOL)
    values = dict(zip(opened.frame["Model"], opened.frame["OOD accuracy (%)"]))
    assert opened.label.endswith("shown part of round 1") and values["shown-only"] == 100.0
    step = rounds.shown_step(shown_n)
    assert all(round(v / 100 / step, 6).is_integer() for v in values.values()), "shown scores are coarsened"
    assert record["commitment"] in opened.note and "is open" in opened.note and SECRET not in opened.note
    first = int(opened.entries[0])
    assert visible_entry(store, first, "private").results["round"]["part"] == "shown"

    rounds.close_round(store, truths, SECRET)
    closed = table_view(store, [PROTOCOL], "private", PROTOCOL)
    label = items.set_index("id")["label"]
    expected = {
        "shown-only": 0.0,
        "every-third": float((third[ood.index][final.to_numpy()] == label[ood["id"][final]].to_numpy()).mean()),
    }
    assert list(closed.frame["Model"]) == ["every-third", "shown-only"], "the final part ranks"
    assert list(closed.frame["OOD accuracy (%)"]) == [round(100 * expected[m], 1) for m in closed.frame["Model"]]
    assert list(closed.frame["Rank"]) == [1, 2]
    assert closed.label.endswith("final ranking of round 1")
    assert "final ranking" in closed.note and record["commitment"] in closed.note and SECRET in closed.note
    assert "elsewhere round verify --round 1" in closed.note
    # The Model tab shows a closed round's entry by its final results, as the ranking does.
    shown = visible_entry(store, first, "private")
    assert shown.results == store.finals(1)[first] and shown.results["round"]["part"] == "final"
    assert store.final_results(first) == shown.results and store.get(first).results["round"]["part"] == "shown"
    # The public view of the same store knows nothing of rounds.
    assert table_view(store, [PROTOCOL], "public", PROTOCOL).note == ""


def test_the_rules_of_a_hidden_board_explain_rounds():
    from elsewhere.leaderboard.about import rules

    private, public = (rules(variant, (PROTOCOL,), 2**20, 5) for variant in ("private", "public"))
    assert "evaluation rounds" in private and "final" in private and "SHA-256" in private
    assert "evaluation rounds" not in public
