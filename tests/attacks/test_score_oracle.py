"""Attack: read hidden labels off the scores the board shows, one changed prediction per submission.

Against a real private dataset, a real store and the real submission pipeline. The attacker submits
a constant file, then the same file with item ``i`` moved to another class, for every test_ood item,
and reads every score the board returns. With exact scores (what the board showed before rounds)
that reveals each label the move touches; with a round open it must reveal nothing about the final
part, which ranks. After closing, the round's secret regenerates the labels and verifies the scores.

The same attack runs as an outsider would run it: through ``gradio_client`` against a served board
(``app.launch``, what ``elsewhere leaderboard`` runs), each probe under a new typed name. Against a
public board with exact scores and no effective limit it reads the labels it targets (the control);
against a hidden board with an open round the address-bound limit stops it, and until then no probe
moves anything shown.
"""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from elsewhere.api import generate
from elsewhere.evaluation.data import read_labels
from elsewhere.evaluation.predictions import read_predictions
from elsewhere.evaluation.scoring import score_predictions
from elsewhere.leaderboard import rounds
from elsewhere.leaderboard.store import Store
from elsewhere.leaderboard.submissions import Truths, submit

PROTOCOL = "location-halves"
SECRET = "round one secret, long enough"
TARGETS = 6


@pytest.fixture(scope="module")
def hidden(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hidden")
    data, labels = folder / "private", folder / "labels.parquet"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ELSEWHERE_SECRET", SECRET)
        generate(data, protocols=PROTOCOL, size="tiny", seed=11, workers=1, private=True, labels=labels, progress=False)
    return data, labels


def attack(ids: pd.Series, targets: list[str], classes: int, score, folder) -> dict[str, int | None]:
    """The count-oracle attack: each target's label, from score changes alone.

    From a file predicting class 0 everywhere, move one target to class 1, 2, ... in turn: the
    score rises when the target's label is that class and falls when it is 0. Returns the inferred
    label of each target, or None if no move changed the score.
    """
    base = pd.DataFrame({"id": ids, "prediction": 0})
    reference = score(base, folder / "base.csv")
    inferred: dict[str, int | None] = {}
    for k, item in enumerate(targets):
        inferred[item] = None
        for guess in range(1, classes):
            probe = base.copy()
            probe.loc[probe["id"] == item, "prediction"] = guess
            value = score(probe, folder / f"probe-{k}-{guess}.csv")
            if value != reference:
                inferred[item] = guess if value > reference else 0
                break
    return inferred


def recovered(inferred: dict[str, int | None], truth: pd.Series) -> tuple[int, int]:
    """(labels the attack got right, labels a constant guess of 0 gets right) over ``inferred``'s items."""
    attack_right = sum(int((0 if guess is None else guess) == truth[item]) for item, guess in inferred.items())
    return attack_right, int(sum(truth[item] == 0 for item in inferred))


def test_the_count_oracle_learns_nothing_about_the_final_part(hidden, tmp_path, monkeypatch):
    data, labels_path = hidden
    monkeypatch.setenv("ELSEWHERE_RATE_LIMIT", "1000")
    frame, _ = read_labels(labels_path)
    items = frame[(frame["protocol"] == PROTOCOL) & frame["split"].isin(["test_id", "test_ood", "probe"])]
    label = items.set_index("id")["label"]
    ood = items[items["split"] == "test_ood"]
    final_part = set(ood.loc[ood["part"] == "final", "id"])
    # Some final test_ood items, and as many shown ones (whose labels the round does not protect).
    targets = sorted(final_part)[:TARGETS] + sorted(set(ood["id"]) - final_part)[:TARGETS]
    final = final_part & set(targets)
    assert len(final) == TARGETS

    truths = Truths(data, labels_path)
    truth = truths.get(PROTOCOL)
    classes = len(truth.class_names)

    # Without rounds: exact scores with their n, as the board used to show them.
    def exact(predictions: pd.DataFrame, path) -> float:
        predictions.to_csv(path, index=False)
        checked = read_predictions(path, truth)
        return score_predictions(truth, checked, model={"name": "x"}, source="attack")["metrics"]["ood_accuracy"][
            "value"
        ]

    exact_inferred = attack(items["id"], targets, classes, exact, tmp_path)
    exact_right, constant_right = recovered({i: g for i, g in exact_inferred.items() if i in final}, label)
    # On exact scores the attack reads every label it targets; a constant guess gets about 1 in 10.
    assert exact_right == len(final) > constant_right

    # With a round open, through the real pipeline, reading everything the board keeps about each entry.
    store = Store(tmp_path / "board.sqlite")
    rounds.open_round(store, data, labels_path, SECRET)
    entries = []

    def shown(predictions: pd.DataFrame, path) -> tuple:
        predictions.to_csv(path, index=False)
        entry = submit(
            store,
            truths,
            protocol=PROTOCOL,
            predictions_path=path,
            model_name=f"probe {len(entries)}",
            submitter="attacker",
            identity="ip:10.6.6.6",
            variant="private",
        )
        entries.append(entry)
        stored = store.get(entry.id).results
        # Everything that could carry per-item information is absent.
        assert "items" not in stored and set(stored["metrics"]) == {"id_accuracy", "ood_accuracy", "gap"}
        return tuple(sorted((k, m["value"], m["n"]) for k, m in stored["metrics"].items()))

    shown_inferred = attack(items["id"], targets, classes, shown, tmp_path)
    assert all(shown_inferred[item] is None for item in final), "a final item moved a shown score"
    shown_right, constant_right = recovered({i: g for i, g in shown_inferred.items() if i in final}, label)
    assert shown_right == constant_right
    assert store.finals(1) == {} and store.table(variant="private")["ood_accuracy"].isin([0.0, 0.5, 1.0]).all()

    # Closing scores the final part from the sealed predictions; the revealed secret verifies it.
    closed = rounds.close_round(store, truths, SECRET)
    assert closed["entries"] == len(entries) and closed["secret"] == SECRET
    finals = store.finals(1)
    base_final = finals[entries[0].id]["metrics"]["accuracy"]["test_ood"]
    final_labels = label[sorted(final_part)]
    assert base_final["n"] == len(final_part) and base_final["value"] == pytest.approx(
        float((final_labels == 0).mean())
    )
    lines = rounds.verify_round(store, 1)
    assert len(lines) == 1 + len(entries)
    ranking = rounds.final_table(store, 1)
    assert len(ranking) == len(entries) and ranking["ood_accuracy"].is_monotonic_decreasing
    assert ranking.set_index("id").loc[entries[0].id, "ood_accuracy"] == pytest.approx(base_final["value"])
    assert (ranking["ood_n"] == len(final_part)).all()


def test_a_round_refuses_wrong_secrets_and_submissions_outside_it(hidden, tmp_path, monkeypatch):
    data, labels_path = hidden
    store, truths = Store(tmp_path / "board.sqlite"), Truths(data, labels_path)
    frame, _ = read_labels(labels_path)
    items = frame[(frame["protocol"] == PROTOCOL) & frame["split"].isin(["test_id", "test_ood", "probe"])]
    path = tmp_path / "p.csv"
    items.assign(prediction=items["label"])[["id", "prediction"]].to_csv(path, index=False)
    arguments = {"protocol": PROTOCOL, "predictions_path": path, "model_name": "m", "submitter": "s"}
    with pytest.raises(ValueError, match="no evaluation round is open"):
        submit(store, truths, identity="ip:1", variant="private", **arguments)
    with pytest.raises(ValueError, match="not the one .* was generated with"):
        rounds.open_round(store, data, labels_path, "another secret of enough length")
    rounds.open_round(store, data, labels_path, SECRET)
    with pytest.raises(ValueError, match="already used"):
        rounds.open_round(store, data, labels_path, SECRET)
    entry = submit(store, truths, identity="ip:1", variant="private", **arguments)
    assert entry.ood_accuracy == 1.0 and entry.results["round"]["precision"]["ood_accuracy"] >= 1 / np.sqrt(32)
    with pytest.raises(ValueError, match="does not match round 1's commitment"):
        rounds.close_round(store, truths, "another secret of enough length")
    assert store.finals(1) == {} and rounds.current_round(store)["secret"] is None
    rounds.close_round(store, truths, SECRET)
    with pytest.raises(ValueError, match="already used"):
        rounds.open_round(store, data, labels_path, SECRET)
    with pytest.raises(ValueError, match="no evaluation round is open"):
        submit(store, truths, identity="ip:2", variant="private", **{**arguments, "model_name": "late"})


QUOTA = 5  # submissions per identity per day on the hidden board under attack
WEB_TARGETS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_board(db, data, labels, uploads: Path, rate_limit: int, monkeypatch):
    """The leaderboard served as ``elsewhere leaderboard`` serves it (``app.launch``), and a client of it."""
    from gradio_client import Client

    from elsewhere.leaderboard.app import launch

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    monkeypatch.setenv("ELSEWHERE_RATE_LIMIT", str(rate_limit))
    port = free_port()
    demo = launch(db, data, port=port, labels=labels, prevent_thread_lock=True, quiet=True)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


def web_submit(client, predictions: pd.DataFrame, path: Path, name: str) -> tuple[dict, dict]:
    """Upload ``predictions`` through the /submit endpoint as an outsider typing ``name``; the entry's shown row."""
    from gradio_client import handle_file

    predictions.to_csv(path, index=False)
    _, row = client.predict(handle_file(str(path)), PROTOCOL, name, name, "", "", "", "other", api_name="/submit")
    return dict(zip(row["headers"], row["data"][0])), row


@pytest.fixture(scope="module")
def public(tmp_path_factory):
    """The same protocol's public variant: labels in the open, a board that shows exact scores."""
    data = tmp_path_factory.mktemp("public") / "data"
    generate(data, protocols=PROTOCOL, size="tiny", seed=11, workers=1, progress=False)
    return data


@pytest.mark.slow
def test_the_web_attack_reads_labels_off_exact_scores(public, tmp_path, monkeypatch):
    """The control: the same attack, through the same API, recovers labels where scores are exact and unlimited.

    This is what makes the hidden board's test able to fail: if the round stopped coarsening or
    scoring the final part, or the limit followed typed names, the attack below would read labels.
    """
    truth = Truths(public).get(PROTOCOL)
    label = truth.frame.set_index("id")["label"]
    targets = sorted(truth.frame.loc[truth.frame["split"] == "test_ood", "id"])[:WEB_TARGETS]
    names = (f"visitor-{k}" for k in range(1000))
    with running_board(tmp_path / "board.sqlite", public, None, tmp_path / "uploads", 1000, monkeypatch) as client:

        def shown(predictions: pd.DataFrame, path) -> float:
            row, _ = web_submit(client, predictions, path, next(names))
            return row["OOD accuracy (%)"]

        inferred = attack(truth.frame["id"], targets, len(truth.class_names), shown, tmp_path)
    right, constant = recovered(inferred, label)
    assert right == len(targets) > constant


@pytest.mark.slow
def test_the_web_attack_on_a_hidden_board_learns_nothing_and_the_closed_round_ranks(hidden, tmp_path, monkeypatch):
    """An outsider, through gradio_client only, against a hidden board with an open round.

    Each probe moves one final-part item and is sent under a new typed name. The limit counts the
    client's address, so the board refuses the probe after ``QUOTA``; until then no probe moves a
    score the board shows, and nothing shown carries the final part. Closing the round then
    turns the table into the round's final ranking, with the secret that verifies it.
    """
    from gradio_client.exceptions import AppError

    data, labels_path = hidden
    frame, _ = read_labels(labels_path)
    items = frame[(frame["protocol"] == PROTOCOL) & frame["split"].isin(["test_id", "test_ood", "probe"])]
    ood = items[items["split"] == "test_ood"]
    final_ids = set(ood.loc[ood["part"] == "final", "id"])
    targets = sorted(final_ids)[:WEB_TARGETS]
    shown_n = int((ood["part"] == "shown").sum())
    db = tmp_path / "board.sqlite"
    store = Store(db)
    record = rounds.open_round(store, data, labels_path, SECRET)
    truths = Truths(data, labels_path)
    classes = len(truths.get(PROTOCOL).class_names)
    names = (f"someone-new-{k}" for k in range(1000))
    seen: list[tuple] = []
    with running_board(db, data, labels_path, tmp_path / "uploads", QUOTA, monkeypatch) as client:

        def shown(predictions: pd.DataFrame, path) -> tuple:
            row, _ = web_submit(client, predictions, path, next(names))
            table = client.predict(view=PROTOCOL, search=row["Model"], api_name="/table")
            listed = [dict(zip(table["headers"], r)) for r in table["data"]]
            (mine,) = [r for r in listed if r["Entry"] == row["Entry"]]
            *_, metrics, _ = client.predict(row["Entry"], None, api_name="/model")
            values = tuple(sorted((r[0], r[1], r[3]) for r in metrics["data"] if r[1] is not None))
            seen.append((row, mine, values, table["note"]))
            return (row["OOD accuracy (%)"], row["ID accuracy (%)"], mine["OOD accuracy (%)"], values)

        with pytest.raises(AppError, match=f"limit is {QUOTA} \\(whatever name"):
            attack(items["id"], targets, classes, shown, tmp_path)

        # The limit stopped the attack after QUOTA submissions, each under a new name.
        assert len(seen) == QUOTA and len({row["Model"] for row, *_ in seen}) == QUOTA
        assert len(store.list(variant="private")) == QUOTA
        # No probe of a final item moved anything the board shows about an entry.
        assert len({(row["OOD accuracy (%)"], row["ID accuracy (%)"], values) for row, _, values, *_ in seen}) == 1
        step = rounds.shown_step(shown_n)
        for row, mine, values, note in seen:
            assert round(row["OOD accuracy (%)"] / 100 / step, 6).is_integer(), "shown scores are coarsened"
            assert mine["OOD 95% CI (%)"] is None, "no interval: its width would give n away to more digits"
            # Only the shown part's headline metrics: no per-split accuracy, map or item, and n of the shown part.
            assert {label for label, *_ in values} <= {
                "OOD accuracy (test_ood)",
                "ID accuracy (test_id)",
                "ID − OOD gap",
            }
            assert dict((label, n) for label, _, n in values)["OOD accuracy (test_ood)"] == shown_n
            assert record["commitment"] in note and "is open" in note and SECRET not in note
        assert store.finals(record["id"]) == {}

        # The operator closes the round: the same page now shows the final ranking and the revealed secret.
        rounds.close_round(store, truths, SECRET)
        table = client.predict(view=PROTOCOL, api_name="/table")
        finals = store.finals(record["id"])
        assert table["label"].endswith(f"final ranking of round {record['id']}")
        assert "final ranking" in table["note"] and SECRET in table["note"] and record["commitment"] in table["note"]
        listed = {
            r[table["headers"].index("Entry")]: r[table["headers"].index("OOD accuracy (%)")] for r in table["data"]
        }
        assert listed == {
            entry: round(100 * results["metrics"]["ood_accuracy"]["value"], 1) for entry, results in finals.items()
        }
    assert rounds.verify_round(store, record["id"])
