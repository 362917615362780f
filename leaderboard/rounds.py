"""Evaluation rounds: how a hidden test set is scored without becoming a label oracle.

A private test set is split, by its secret, into a *shown* part and a *final* part (each item's
part is in the operator's labels file; see ``splits.sampling.private_part``). While a round is open
the board scores every submission on the shown part only, and shows those scores coarsened to
``shown_step(n)``; the submitted predictions are sealed in the store. When the operator closes the
round, the sealed predictions are scored on the final part, and that is the round's ranking.

Each round is a fresh draw from a new secret. Opening publishes ``SHA-256(secret)`` (the dataset
already records it), closing publishes the secret itself, and :func:`verify_round` lets anyone
regenerate the round's labels from it (no images needed) and recompute every final score from the
sealed predictions.

Why the shown part is coarsened: a score with its ``n`` is an exact count of correct items, so
changing one prediction per submission reads one label per submission. Rounding to a step of at
least ``1/sqrt(n)`` (the 95% interval is about ``±1/sqrt(n)`` wide anyway) means one changed item
moves the shown score only when it crosses a rounding boundary. That slows the attack, but does not
stop a patient one (boundary probing); what stops it is that the final part, which ranks, is never
scored while the round is open.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import math
import zlib
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.data import check_labels, evaluated_splits, manifest_of, read_labels
from elsewhere.evaluation.predictions import predictions_sha256
from elsewhere.evaluation.scoring import score_predictions
from elsewhere.evaluation.truth import Truth, canonical_order
from elsewhere.leaderboard.store import Store
from elsewhere.splits.registry import get_protocol
from elsewhere.splits.sampling import (
    PARTS,
    SHOWN_FRACTION,
    commitment,
    draw,
    private_id,
    private_part,
    sample_order,
    secret_words,
)

if TYPE_CHECKING:
    from elsewhere.leaderboard.submissions import Truths

# Precision of a shown score: the smallest of these at least 1/sqrt(n).
STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
SHOWN_METRICS = ("id_accuracy", "ood_accuracy")


def shown_step(n: int) -> float:
    """The precision at which a score over ``n`` shown items is reported (see the module docstring)."""
    return next(step for step in STEPS if step >= 1 / math.sqrt(max(n, 1)))


def coarsen(value: float | None, n: int) -> float | None:
    """``value`` rounded to a multiple of ``shown_step(n)``."""
    if value is None:
        return None
    step = shown_step(n)
    return round(min(1.0, max(0.0, round(value / step) * step)), 6)


def open_round(store: Store, data: str | Path, labels: str | Path, secret: str, *, now: datetime | None = None) -> dict:
    """Open a round on the private dataset ``data`` (with its ``labels`` file and ``secret``); return it.

    The caller has checked the operator key. The secret is checked against the commitment the
    dataset and labels file carry; only that commitment is stored until the round closes.
    """
    manifest = manifest_of(data)
    frame, metadata = read_labels(labels)
    check_labels(data, manifest, metadata, labels)
    promised = commitment(secret)
    if not hmac.compare_digest(promised, manifest.get("secret_sha256", "")):
        raise ElsewhereError(f"the secret given is not the one {data} was generated with; give that dataset's secret")
    record = {
        "data": str(data),
        "seed": manifest["seed"],
        "size": manifest["size"],
        "shown_fraction": SHOWN_FRACTION,
        "protocols": {
            name: {
                "version": entry["version"],
                "fingerprint": entry["fingerprint"],
                "canvas": entry["protocol"].get("canvas"),
            }
            for name, entry in manifest["protocols"].items()
        },
        "labels_sha256": labels_digest(frame),
    }
    round_id = store.open_round(promised, record, now=now)
    return next(r for r in store.rounds() if r["id"] == round_id)


def current_round(store: Store) -> dict | None:
    """The open round, or None."""
    return next((r for r in store.rounds() if r["closed"] is None), None)


def latest_round(store: Store) -> dict | None:
    """The open round, else the last closed one (what a private board shows), or None before the first."""
    records = store.rounds()
    return records[-1] if records else None


def round_rows(store: Store, record: dict) -> pd.DataFrame:
    """The visible entries of round ``record`` as ``Store.table`` rows, best first.

    Open: their shown-part scores (coarsened when stored). Closed: their final-part scores
    (:func:`final_table`), the round's ranking. Entries of other rounds are never mixed in.
    """
    if record["closed"] is not None:
        return final_table(store, record["id"])
    entries = store.round_entry_ids(record["id"])
    table = store.table(variant="private")
    return table[table["id"].isin(entries).to_numpy()].reset_index(drop=True)


def status(store: Store) -> list[dict]:
    """Every round with its entry count; a closed one with its final ranking (best first)."""
    out = []
    for record in store.rounds():
        entries = store.round_entries(record["id"])
        finals = store.finals(record["id"])
        ranking = sorted(
            ((results["metrics"]["ood_accuracy"]["value"], sid) for sid, results in finals.items()),
            key=lambda pair: (-pair[0], pair[1]),
        )
        out.append({**record, "entries": len(entries), "ranking": [{"id": s, "ood_accuracy": v} for v, s in ranking]})
    return out


def final_table(store: Store, round_id: int) -> pd.DataFrame:
    """A closed round's ranking as ``Store.table`` rows (visible entries), with the final part's metrics, best first."""
    finals = store.final_fields(round_id, list(_FINAL_COLUMNS.values()))
    table = store.table(variant="private")
    table = table[table["id"].isin(list(finals)).to_numpy()].copy()
    values = [finals[int(i)] for i in table["id"]]
    for position, column in enumerate(_FINAL_COLUMNS):
        cells = [row[position] for row in values]
        if column == "ood_n":
            table[column] = pd.array(cells, dtype="Int64")
        else:
            table[column] = np.array([np.nan if v is None else v for v in cells], dtype=np.float64)
    return table.sort_values(["ood_accuracy", "created", "id"], ascending=[False, True, True]).reset_index(drop=True)


# Columns of ``final_table`` and where the final results hold them (``Store.final_fields`` paths).
_FINAL_COLUMNS = {
    "ood_accuracy": "$.metrics.ood_accuracy.value",
    "ood_ci_lo": "$.metrics.ood_accuracy.ci[0]",
    "ood_ci_hi": "$.metrics.ood_accuracy.ci[1]",
    "id_accuracy": "$.metrics.id_accuracy.value",
    "id_ci_lo": "$.metrics.id_accuracy.ci[0]",
    "id_ci_hi": "$.metrics.id_accuracy.ci[1]",
    "gap": "$.metrics.gap.value",
    "gap_ci_lo": "$.metrics.gap.ci[0]",
    "gap_ci_hi": "$.metrics.gap.ci[1]",
    "normalised_gap": "$.metrics.normalised_gap.value",
    "ood_n": "$.metrics.ood_accuracy.n",
}


def round_for(store: Store, truth: Truth) -> dict:
    """The open round that scores ``truth``'s data; refused when none is open or it holds other data."""
    record = current_round(store)
    if record is None:
        raise ElsewhereError(
            "no evaluation round is open, so hidden-set submissions are closed; try again when the operator opens one"
        )
    entry = record["data"]["protocols"].get(truth.protocol)
    if entry is None or entry["fingerprint"] != truth.fingerprint:
        raise ElsewhereError(
            f"the open round {record['id']} does not score this data for {truth.protocol}; the leaderboard must "
            "serve the round's dataset"
        )
    return record


def part_truth(truth: Truth, shown: np.ndarray, part: str) -> Truth:
    """``truth`` restricted to the items of one part (``shown`` is a mask over ``truth.frame``)."""
    mask = shown if part == PARTS[0] else ~shown
    return dataclasses.replace(truth, frame=truth.frame[mask])


def seal(truth: Truth, predictions: pd.DataFrame) -> bytes:
    """The predicted classes in canonical id order, compressed: what a round keeps until it closes."""
    order = canonical_order(truth.frame["id"])
    classes = predictions["prediction"].to_numpy(dtype="<i2")[order]
    return zlib.compress(classes.tobytes(), 9)


def unseal(truth: Truth, sealed: bytes) -> pd.DataFrame:
    """Sealed predictions back as a predictions frame in ``truth.frame``'s order."""
    classes = np.frombuffer(zlib.decompress(sealed), dtype="<i2").astype(np.int64)
    if classes.size != len(truth.frame):
        raise ElsewhereError(f"sealed predictions hold {classes.size} items, the truth {len(truth.frame)}")
    prediction = np.empty_like(classes)
    prediction[canonical_order(truth.frame["id"])] = classes
    return pd.DataFrame({"id": truth.frame["id"].to_numpy(), "prediction": prediction})


def shown_results(
    truth: Truth, shown: np.ndarray, predictions: pd.DataFrame, *, model: dict, source: str, record: dict
) -> dict:
    """The results a round shows while open: headline accuracies on the shown part, coarsened, and nothing else.

    No maps, curves, per-item bits or exact counts: each would resolve single items.
    """
    part = part_truth(truth, shown, PARTS[0])
    full = score_predictions(part, predictions[shown].reset_index(drop=True), model=model, source=source)
    metrics: dict[str, Any] = {}
    for name in SHOWN_METRICS:
        n = full["metrics"][name]["n"]
        metrics[name] = {"value": coarsen(full["metrics"][name]["value"], n), "ci": None, "n": n}
    id_value, ood_value = metrics["id_accuracy"]["value"], metrics["ood_accuracy"]["value"]
    gap = None if id_value is None or ood_value is None else round(id_value - ood_value, 6)
    metrics["gap"] = {"value": gap, "ci": None, "n": metrics["ood_accuracy"]["n"]}
    return {
        "schema_version": full["schema_version"],
        "protocol": full["protocol"],
        "model": full["model"],
        "metrics": metrics,
        "predictions_sha256": predictions_sha256(predictions),
        "round": {
            "id": record["id"],
            "part": PARTS[0],
            "commitment": record["commitment"],
            "precision": {name: shown_step(metrics[name]["n"]) for name in SHOWN_METRICS},
        },
        "harness": full["harness"],
        "created": full["created"],
    }


def close_round(store: Store, truths: Truths, secret: str, *, now: datetime | None = None) -> dict:
    """Close the open round: check ``secret`` against its commitment, score every entry's final part, reveal."""
    record = current_round(store)
    if record is None:
        raise ElsewhereError("no evaluation round is open; open one with a new secret first")
    if not hmac.compare_digest(commitment(secret), record["commitment"]):
        raise ElsewhereError(
            f"the secret given does not match round {record['id']}'s commitment; give the secret its dataset was "
            "generated with"
        )
    finals = []
    for submission_id, sealed in store.round_entries(record["id"]):
        entry = store.get(submission_id)
        truth = truths.get(entry.protocol)
        if truth.fingerprint != record["data"]["protocols"][entry.protocol]["fingerprint"]:
            raise ElsewhereError(f"the labels given are not round {record['id']}'s data for {entry.protocol}")
        shown = truths.shown(entry.protocol)
        predictions = unseal(truth, sealed)
        final = part_truth(truth, shown, PARTS[1])
        results = score_predictions(
            final,
            predictions[~shown].reset_index(drop=True),
            model=entry.results["model"],
            source=f"round {record['id']} final part",
        )
        results["round"] = {"id": record["id"], "part": PARTS[1], "commitment": record["commitment"]}
        finals.append((submission_id, results))
    store.close_round(record["id"], secret, finals, now=now)
    return next(r for r in status(store) if r["id"] == record["id"])


def regenerate_labels(record: dict, secret: str) -> pd.DataFrame:
    """A closed round's labels (``id``, ``protocol``, ``split``, ``label``, ``part``), from its secret alone."""
    words, rows = secret_words(secret), []
    for name, entry in record["data"]["protocols"].items():
        protocol = get_protocol(name)
        if protocol.version != entry["version"]:
            raise ElsewhereError(
                f"round {record['id']} drew {name} version {entry['version']}, this elsewhere has version "
                f"{protocol.version}; install the elsewhere it was drawn with to regenerate its labels"
            )
        if entry.get("canvas") is not None:
            protocol = dataclasses.replace(protocol, canvas=entry["canvas"])
        for split in evaluated_splits(protocol):
            order = sample_order(name, split, protocol.split_size(split, record["data"]["size"]), words)
            for index in order:
                sample = draw(protocol, split, int(index), record["data"]["seed"], words)
                rows.append(
                    (
                        private_id(name, split, int(index), words),
                        name,
                        split,
                        sample.factors.label,
                        private_part(name, split, int(index), words),
                    )
                )
    return pd.DataFrame(rows, columns=["id", "protocol", "split", "label", "part"])


def labels_digest(frame: pd.DataFrame) -> str:
    """SHA-256 over the evaluated items' ``id, split, label, part``, sorted by id."""
    columns = frame[["id", "split", "label", "part"]]
    columns = columns[columns["split"].isin(("test_id", "test_ood", "probe"))].sort_values("id")
    lines = "".join(f"{i}\t{s}\t{int(label)}\t{p}\n" for i, s, label, p in columns.itertuples(index=False))
    return hashlib.sha256(lines.encode()).hexdigest()


def verify_round(store: Store, round_id: int) -> list[str]:
    """Check a closed round from its revealed secret alone; return one line per check, raise on a mismatch.

    Checks: the secret matches the commitment; the labels regenerated from it are the labels the
    round was opened with; every final score equals the accuracy of the sealed predictions on the
    regenerated final part, split by split.
    """
    record = next((r for r in store.rounds() if r["id"] == round_id), None)
    if record is None or record["closed"] is None:
        raise ElsewhereError(f"round {round_id!r} is not a closed round; only closed rounds reveal their secret")
    secret = record["secret"]
    if not hmac.compare_digest(commitment(secret), record["commitment"]):
        raise ElsewhereError(f"round {round_id}'s revealed secret does not match its commitment")
    labels = regenerate_labels(record, secret)
    if labels_digest(labels) != record["data"]["labels_sha256"]:
        raise ElsewhereError(
            f"round {round_id}'s labels regenerated from its secret differ from those it was scored with"
        )
    lines = [f"round {round_id}: secret matches commitment {record['commitment'][:12]}…; labels regenerate"]
    finals = store.finals(round_id)
    for submission_id, sealed in store.round_entries(round_id):
        protocol = store.get(submission_id).protocol
        items = labels[labels["protocol"] == protocol].sort_values("id", kind="stable").reset_index(drop=True)
        classes = np.frombuffer(zlib.decompress(sealed), dtype="<i2").astype(np.int64)
        # Sealed predictions are in canonical (code point) id order, as sort_values orders ASCII ids.
        correct = classes == items["label"].to_numpy()
        final = (items["part"] == PARTS[1]).to_numpy()
        stored = finals[submission_id]["metrics"]["accuracy"]
        for split in stored:
            mask = final & (items["split"] == split).to_numpy()
            value = correct[mask].mean() if mask.any() else None
            if stored[split]["n"] != int(mask.sum()) or not math.isclose(stored[split]["value"], value, abs_tol=1e-12):
                raise ElsewhereError(
                    f"round {round_id} entry {submission_id}: stored final {split} accuracy {stored[split]['value']} "
                    f"(n={stored[split]['n']}) differs from the recomputed {value} (n={int(mask.sum())})"
                )
        lines.append(f"entry {submission_id} ({protocol}): final scores recomputed and equal")
    return lines
