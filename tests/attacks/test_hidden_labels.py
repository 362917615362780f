"""Attack: read the hidden labels off what the private variant publishes, for every protocol.

The attacker's tool is a per-value majority rule: for a published column, learn the most common
label of each value on half of the items and predict the other half with it. Fitted here on the
withheld labels themselves (the strongest version of the attack), it must do no better than
predicting the most common label everywhere. The same rule run on the columns the private variant
used to publish (``region``, ``cell``, ``y``) finds their leaks, so the test can fail.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from elsewhere.splits.names import EVALUATED_SPLITS
from elsewhere.splits.registry import get_protocol, protocol_names
from elsewhere.splits.sampling import draw, private_id, sample_order, secret_words
from elsewhere.splits.shards import features

SECRET = secret_words("an operator secret for the leak audit")
SEED = 0
ITEMS_PER_TEST_SPLIT = 400


def hidden_items(name: str) -> pd.DataFrame:
    """Published columns and withheld factors of a private draw: test items, and one row per probe group.

    Probe rows of one group share their object and label, so the group counts once: otherwise the
    rule would be scored on near-copies of what it was fitted on.
    """
    protocol = get_protocol(name)
    rows = []
    for split in (s for s in protocol.split_names if s in EVALUATED_SPLITS):
        total = protocol.split_size(split, "small")
        order = sample_order(name, split, total, SECRET)
        position = np.empty(total, dtype=np.int64)
        position[order] = np.arange(total)
        if split == "probe":
            indices = range(0, total, protocol.probe_size)
        else:
            indices = range(min(total, ITEMS_PER_TEST_SPLIT))
        for index in indices:
            sample = draw(protocol, split, index, SEED, SECRET)
            f = sample.factors
            published_id = private_id(name, split, index, SECRET)
            rows.append(
                {
                    "label": f.label,
                    # What a stranger sees: the id (and what it is made of) and the row's position.
                    "id": published_id,
                    "id_split": published_id.split("/")[1],
                    "id_first_hex": published_id.rsplit("/", 1)[1][0],
                    "row_decile": int(10 * position[index] / total),
                    # What the private variant used to publish.
                    "region": str(
                        protocol.region_of(
                            np.array([f.label]), *(np.array([v]) for v in (f.x, f.y, f.rotation, f.scale))
                        )[0]
                    ),
                    "cell": int(protocol.grid.cell_of(np.array([f.x]), np.array([f.y]))[0]),
                    "y": round(f.y, 1),
                }
            )
    return pd.DataFrame(rows)


def majority_rule_gain(frame: pd.DataFrame, column: str, seed: int = 0) -> tuple[float, float]:
    """Cross-fitted accuracy of the per-value majority rule minus the constant rule's, and its tolerance.

    The split is public (it names the shard files), so a value is read together with its split.
    """
    frame = frame.assign(value=frame["id_split"] + "|" + frame[column].astype(str))
    column = "value"
    rng = np.random.default_rng(seed)
    half = rng.permutation(len(frame)) < len(frame) // 2
    gains = []
    for fit, test in ((frame[half], frame[~half]), (frame[~half], frame[half])):
        constant = fit["label"].value_counts().sort_index().idxmax()
        by_value = fit.groupby(column)["label"].agg(lambda labels: labels.value_counts().sort_index().idxmax())
        predicted = test[column].map(by_value).fillna(constant)
        gains.append((predicted == test["label"]).mean() - (test["label"] == constant).mean())
    p = frame["label"].value_counts(normalize=True).max()
    tolerance = 4 * math.sqrt(p * (1 - p) / (len(frame) / 2))
    return float(np.mean(gains)), tolerance


def test_the_private_variant_publishes_id_and_image_only():
    assert list(features(["a", "b"], private=True)) == ["id", "image"]


@pytest.mark.slow
@pytest.mark.parametrize("name", protocol_names())
def test_no_published_column_predicts_the_hidden_labels(name):
    frame = hidden_items(name)
    for column in ("id_split", "id", "id_first_hex", "row_decile"):
        gain, tolerance = majority_rule_gain(frame, column)
        assert gain <= tolerance, f"{name}: the published {column!r} predicts labels ({gain:+.3f} over chance)"


@pytest.mark.parametrize(("name", "column"), [("red-green", "y"), ("red-green", "cell"), ("composition", "cell")])
def test_the_rule_finds_the_leaks_of_the_old_columns(name, column):
    gain, tolerance = majority_rule_gain(hidden_items(name), column)
    assert gain > tolerance, f"{name}: {column!r} should leak labels but gained only {gain:+.3f}"
