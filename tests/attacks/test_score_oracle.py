"""Attack: read hidden labels off the scores the board shows, one changed prediction per submission.

Against a real private dataset, a real store and the real submission pipeline. The attacker submits
a constant file, then the same file with item ``i`` moved to another class, for every test_ood item,
and reads every score the board returns. With exact scores (what the board showed before rounds)
that reveals each label the move touches; with a round open it must reveal nothing about the final
part, which ranks. After closing, the round's secret regenerates the labels and verifies the scores.
"""

from __future__ import annotations

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
