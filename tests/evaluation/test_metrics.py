"""compute_metrics on hand-built truths whose answers are known, and against brute force."""

import itertools
import json
import math
import time

import numpy as np
import pandas as pd
import pytest

from elsewhere.evaluation.metrics import CURVE_BINS, compute_metrics
from elsewhere.evaluation.predictions import make_predictions
from elsewhere.evaluation.truth import Truth
from elsewhere.splits.grid import Grid
from elsewhere.splits.regions import Rect

CLASSES = ("circle", "square", "triangle")
FINGERPRINT = "ab" * 32
Z = 1.959963984540054


def rows(split, x, y, label, grid, *, group=-1, rotation=0.0, scale=0.2):
    """Truth rows of one split; ids are ``demo/<split>/<i>`` (offset later to stay unique)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    return pd.DataFrame(
        {
            "split": split,
            "label": np.asarray(label),
            "x": x,
            "y": y,
            "rotation": np.broadcast_to(np.asarray(rotation, dtype=float), x.shape),
            "scale": np.broadcast_to(np.asarray(scale, dtype=float), x.shape),
            "cell": grid.cell_of(x, y),
            "group": np.broadcast_to(np.asarray(group), x.shape),
            "region": np.where(x < 0.5, "train", "held-out"),
        }
    )


def make_truth(parts, grid, *, train_region=None, factors=("location",), classes=CLASSES):
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, "id", [f"demo/{s}/{i:06d}" for i, s in enumerate(frame["split"])])
    return Truth("demo", 1, FINGERPRINT, classes, frame, grid, train_region, factors)


def location_probe(grid, labels):
    """Each label an object instance (a group) rendered at the centre of every cell."""
    cells = np.tile(np.arange(grid.size), len(labels))
    x, y = grid.centre(cells)
    group = np.repeat(np.arange(len(labels)), grid.size)
    return rows("probe", x, y, np.repeat(labels, grid.size), grid, group=group)


def id_ood_splits(rng, grid, n_id=10, n_ood=10):
    return [
        rows("test_id", rng.uniform(0, 0.5, n_id), rng.uniform(0, 1, n_id), rng.integers(0, 3, n_id), grid),
        rows("test_ood", rng.uniform(0.5, 1, n_ood), rng.uniform(0, 1, n_ood), rng.integers(0, 3, n_ood), grid),
    ]


def wrong(label):
    return (np.asarray(label) + 1) % len(CLASSES)


def score(truth, prediction):
    return compute_metrics(truth, make_predictions(truth.frame["id"], prediction))


def test_location_map_left_half_correct():
    grid = Grid(4)
    rng = np.random.default_rng(0)
    truth = make_truth([*id_ood_splits(rng, grid), location_probe(grid, [0, 1, 2, 1, 0])], grid)
    frame = truth.frame
    left = grid.row_col(frame["cell"].clip(lower=0).to_numpy())[1] < 2
    prediction = np.where(left & (frame["split"] == "probe"), frame["label"], wrong(frame["label"]))
    result = score(truth, prediction)["location_map"]
    assert result["grid"] == {"n": 4, "lo": 0.0, "hi": 1.0}
    assert result["accuracy"] == [1.0, 1.0, 0.0, 0.0] * 4
    assert result["n"] == [5] * 16
    # Wilson bounds at 5 of 5 and 0 of 5: n / (n + z²) and z² / (n + z²).
    for cell, (lo, hi) in enumerate(result["ci"]):
        if cell % 4 < 2:
            assert lo == pytest.approx(5 / (5 + Z * Z)) and hi == 1.0
        else:
            assert lo == 0.0 and hi == pytest.approx(Z * Z / (5 + Z * Z))


def test_location_map_cells_without_items_are_null():
    grid = Grid(2)
    probe = rows("probe", [0.25, 0.75], [0.25, 0.25], [0, 0], grid, group=[0, 0])
    truth = make_truth([probe], grid, classes=("a", "b"))
    result = score(truth, [0, 1])["location_map"]
    assert result["accuracy"] == [1.0, 0.0, None, None]
    assert result["n"] == [1, 1, 0, 0]
    assert result["ci"][2] is None


def fixed_truth(n_id, n_ood):
    """test_id items at x = 0.2 and test_ood items at x = 0.8, labels cycling through the classes."""
    grid = Grid(4)
    return make_truth(
        [
            rows("test_id", np.full(n_id, 0.2), np.full(n_id, 0.5), np.arange(n_id) % 3, grid),
            rows("test_ood", np.full(n_ood, 0.8), np.full(n_ood, 0.5), np.arange(n_ood) % 3, grid),
        ],
        grid,
    )


def test_accuracy_gap_and_normalised_gap():
    truth = fixed_truth(100, 200)
    label = truth.frame["label"].to_numpy()
    prediction = label.copy()
    prediction[:20] = wrong(label[:20])  # test_id: 80 of 100
    prediction[100:200] = wrong(label[100:200])  # test_ood: 100 of 200
    result = score(truth, prediction)
    assert result["counts"] == {"test_id": 100, "test_ood": 200}
    assert result["chance"] == pytest.approx(1 / 3)
    assert result["id_accuracy"]["value"] == pytest.approx(0.8)
    assert result["accuracy"]["test_id"] == result["id_accuracy"]
    assert result["ood_accuracy"]["value"] == pytest.approx(0.5) and result["ood_accuracy"]["n"] == 200
    gap = result["gap"]
    assert gap["value"] == pytest.approx(0.3) and gap["n"] == 300
    assert gap["ci"][0] < 0.3 < gap["ci"][1]
    normalised = result["normalised_gap"]
    assert normalised["value"] == pytest.approx(0.3 / (0.8 - 1 / 3))
    assert normalised["ci"][0] < normalised["value"] < normalised["ci"][1]


def test_normalised_gap_is_null_at_chance():
    truth = fixed_truth(9, 9)
    label = truth.frame["label"].to_numpy()
    prediction = np.where(np.arange(18) % 3 == 0, label, wrong(label))  # 3 of 9 right: chance
    result = score(truth, prediction)["normalised_gap"]
    assert result["value"] is None and result["ci"] is None
    assert "chance" in result["reason"]


def grid_predictions(truth, prediction):
    """{group: n×n array of predictions} built with plain loops, for brute-force checks."""
    grid = truth.grid
    out = {}
    for group, cell, p in zip(truth.frame["group"], truth.frame["cell"], prediction):
        if group < 0:
            continue
        row, col = divmod(int(cell), grid.n)
        out.setdefault(int(group), np.full((grid.n, grid.n), -1))[row, col] = p
    return out


def test_flip_rate_by_hand():
    grid = Grid(3)
    truth = make_truth([location_probe(grid, [0])], grid, classes=("a", "b"))
    prediction = np.array([0, 0, 1, 0, 0, 0, 1, 1, 1])
    result = score(truth, prediction)["flip_rate"]
    # Rows change 1/2, 0/2, 0/2; columns (0,0,1), (0,0,1), (1,0,1) change 1/2, 1/2, 2/2.
    assert result["value"] == pytest.approx((0.5 + 0 + 0 + 0.5 + 0.5 + 1.0) / 6)
    assert result["n"] == 6 and result["pairs"] == 12 and result["groups"] == 1
    assert result["sweep"] == "location"
    assert result["ci"] is None  # one group: nothing to resample


def test_flip_rate_matches_brute_force_in_any_row_order():
    grid = Grid(5)
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 30)
    truth = make_truth([*id_ood_splits(rng, grid), location_probe(grid, labels)], grid)
    truth = Truth(
        truth.protocol,
        truth.version,
        truth.fingerprint,
        truth.class_names,
        truth.frame.sample(frac=1.0, random_state=1),
        truth.grid,
        None,
        truth.factors,
    )
    prediction = rng.integers(0, 3, len(truth.frame))
    fractions = []
    for board in grid_predictions(truth, prediction).values():
        for line in list(board) + list(board.T):
            fractions.append(sum(a != b for a, b in zip(line[:-1], line[1:])) / (len(line) - 1))
    result = score(truth, prediction)["flip_rate"]
    assert result["value"] == pytest.approx(np.mean(fractions))
    assert result["n"] == len(fractions) == 30 * 10
    assert result["ci"][0] < result["value"] < result["ci"][1]


def test_flip_rate_of_a_rotation_sweep_follows_the_rotation_order():
    grid = Grid(4)
    rng = np.random.default_rng(5)
    angles = np.array([-90.0, -45.0, 0.0, 45.0, 90.0])
    groups = 12
    angle = np.tile(angles, groups)
    group = np.repeat(np.arange(groups), angles.size)
    x = np.repeat(rng.uniform(0, 1, groups), angles.size)
    y = np.repeat(rng.uniform(0, 1, groups), angles.size)
    probe = rows(
        "probe", x, y, np.repeat(rng.integers(0, 3, groups), angles.size), grid, group=group, rotation=angle
    ).sample(frac=1.0, random_state=2)
    truth = make_truth([probe], grid, factors=("rotation",))
    prediction = rng.integers(0, 3, len(truth.frame))
    expected = []
    frame = truth.frame.assign(prediction=prediction)
    for _, items in frame.groupby("group"):
        ordered = items.sort_values("rotation")["prediction"].tolist()
        expected.append(sum(a != b for a, b in zip(ordered[:-1], ordered[1:])) / (len(ordered) - 1))
    result = score(truth, prediction)
    assert result["flip_rate"]["sweep"] == "rotation"
    assert result["flip_rate"]["value"] == pytest.approx(np.mean(expected))
    assert result["flip_rate"]["n"] == groups
    assert result["rotation_curve"]["factor"] == "rotation"


def test_flip_rate_omitted_when_groups_sweep_no_single_factor():
    grid = Grid(2)
    probe = rows("probe", [0.2, 0.7], [0.2, 0.7], [0, 0], grid, group=[0, 0], rotation=[0.0, 30.0])
    result = score(make_truth([probe], grid, classes=("a", "b")), [0, 1])
    assert result["flip_rate"] is None
    assert "sequences" in result["omitted"]["flip_rate"]


def test_consistency_matches_brute_force_over_pairs():
    grid = Grid(4)
    rng = np.random.default_rng(6)
    parts = []
    for group in range(40):
        size = int(rng.integers(1, 8))
        parts.append(
            rows(
                "probe",
                rng.uniform(0, 1, size),
                rng.uniform(0, 1, size),
                np.full(size, rng.integers(0, 3)),
                grid,
                group=np.full(size, group),
            )
        )
    parts += id_ood_splits(rng, grid)
    truth = make_truth(parts, grid)
    prediction = rng.integers(0, 3, len(truth.frame))
    agree = both = pairs = 0
    frame = truth.frame.assign(prediction=prediction)
    for _, items in frame[frame["group"] >= 0].groupby("group"):
        for (_, a), (_, b) in itertools.combinations(items.iterrows(), 2):
            pairs += 1
            agree += a["prediction"] == b["prediction"]
            both += (a["prediction"] == a["label"]) and (b["prediction"] == b["label"])
    result = score(truth, prediction)
    assert result["consistency"]["value"] == pytest.approx(agree / pairs)
    assert result["consistency"]["n"] == pairs
    assert result["consistency_correct"]["value"] == pytest.approx(both / pairs)
    assert result["consistency"]["groups"] == int(frame[frame["group"] >= 0].groupby("group").size().gt(1).sum())
    lo, hi = result["consistency"]["ci"]
    assert lo <= agree / pairs <= hi


def test_distance_curve_bins():
    grid = Grid(4)
    truth = make_truth([location_probe(grid, [0, 1, 2, 0])], grid, train_region=Rect(0, 0.5, 0, 1))
    col = truth.frame["cell"].to_numpy() % 4
    label = truth.frame["label"].to_numpy()
    prediction = np.where((col == 0) | (col == 3), label, wrong(label))
    curve = score(truth, prediction)["distance_curve"]
    # Centres: columns 0 and 1 inside; column 2 at 0.125 from x = 0.5, column 3 at 0.375.
    assert curve["factor"] == "distance"
    assert curve["lo"] == pytest.approx([0.0, 0.0, 0.1, 0.2, 0.3])
    assert curve["hi"] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert curve["accuracy"] == [0.5, None, 0.0, None, 1.0]
    assert curve["n"] == [32, 0, 16, 0, 16]
    assert curve["ci"][1] is None and curve["ci"][4][1] == 1.0


def test_sections_that_do_not_apply_are_omitted_with_reasons():
    grid = Grid(4)
    rng = np.random.default_rng(7)
    truth = make_truth(id_ood_splits(rng, grid), grid)
    result = score(truth, truth.frame["label"].to_numpy())
    for key in (
        "location_map",
        "distance_curve",
        "rotation_curve",
        "scale_curve",
        "consistency",
        "consistency_correct",
        "flip_rate",
    ):
        assert result[key] is None
        assert isinstance(result["omitted"][key], str) and result["omitted"][key]
    assert result["intervals"]["confidence"] == 0.95


def test_rotation_curve_matches_pandas_binning():
    grid = Grid(4)
    rng = np.random.default_rng(8)
    n = 600
    parts = [
        rows(
            "test_ood",
            rng.uniform(0, 1, n),
            rng.uniform(0, 1, n),
            rng.integers(0, 3, n),
            grid,
            rotation=rng.uniform(-180, 180, n),
        )
    ]
    truth = make_truth(parts, grid, factors=("rotation",))
    prediction = np.where(truth.frame["rotation"] > 0, truth.frame["label"], rng.integers(0, 3, n))
    curve = score(truth, prediction)["rotation_curve"]
    rotation = truth.frame["rotation"]
    edges = np.linspace(rotation.min(), rotation.max(), CURVE_BINS + 1)
    bins = pd.cut(rotation, edges, right=False, labels=False).fillna(CURVE_BINS - 1).astype(int)
    right = pd.Series(prediction == truth.frame["label"].to_numpy())
    expected = right.groupby(bins).mean()
    assert len(curve["accuracy"]) == CURVE_BINS
    assert curve["lo"] == pytest.approx(edges[:-1].tolist()) and curve["hi"] == pytest.approx(edges[1:].tolist())
    assert curve["accuracy"] == pytest.approx(expected.reindex(range(CURVE_BINS)).tolist())
    assert sum(curve["n"]) == n


def test_metrics_are_reproducible_and_plain_json():
    grid = Grid(4)
    rng = np.random.default_rng(9)
    truth = make_truth(
        [*id_ood_splits(rng, grid, 50, 50), location_probe(grid, rng.integers(0, 3, 20))],
        grid,
        train_region=Rect(0, 0.5, 0, 1),
    )
    prediction = rng.integers(0, 3, len(truth.frame))
    first, second = score(truth, prediction), score(truth, prediction)
    assert first == second
    assert json.loads(json.dumps(first, allow_nan=False)) == first


def test_misaligned_predictions_are_refused():
    grid = Grid(4)
    truth = make_truth(id_ood_splits(np.random.default_rng(1), grid), grid)
    shuffled = make_predictions(truth.frame["id"][::-1], truth.frame["label"][::-1])
    with pytest.raises(ValueError, match="order"):
        compute_metrics(truth, shuffled)


def million_truth(rng):
    """1,000,000 items: a probe of 7,813 groups of 64 on an 8×8 grid (~500k), 250k test_id, 250k test_ood."""
    grid = Grid(8)
    groups = 7813
    classes = tuple(f"class-{i}" for i in range(10))
    probe_cells = np.tile(np.arange(grid.size), groups)
    px, py = grid.centre(probe_cells)
    parts = [
        rows(
            "probe",
            px,
            py,
            np.repeat(rng.integers(0, 10, groups), grid.size),
            grid,
            group=np.repeat(np.arange(groups), grid.size),
        )
    ]
    for split, x0 in (("test_id", 0.0), ("test_ood", 0.5)):
        parts.append(
            rows(
                split,
                rng.uniform(x0, x0 + 0.5, 250_000),
                rng.uniform(0, 1, 250_000),
                rng.integers(0, 10, 250_000),
                grid,
                rotation=rng.uniform(-30, 30, 250_000),
            )
        )
    return make_truth(parts, grid, train_region=Rect(0, 0.5, 0, 1), classes=classes)


@pytest.mark.slow
def test_scoring_a_million_rows():
    rng = np.random.default_rng(10)
    truth = million_truth(rng)
    label = truth.frame["label"].to_numpy()
    keep = rng.random(label.size) < np.where(truth.frame["x"] < 0.5, 0.9, 0.6)
    predictions = make_predictions(truth.frame["id"], np.where(keep, label, rng.integers(0, 10, label.size)))
    start = time.perf_counter()
    result = compute_metrics(truth, predictions)
    elapsed = time.perf_counter() - start
    print(f"compute_metrics on {len(truth.frame):,} rows: {elapsed:.2f} s")
    assert sum(result["counts"].values()) == len(truth.frame)
    assert result["flip_rate"]["n"] == 7813 * 16
    assert result["consistency"]["n"] == 7813 * math.comb(64, 2)
    assert result["id_accuracy"]["value"] > result["ood_accuracy"]["value"]


def test_sweep_curve_gives_probe_accuracy_at_each_swept_value():
    grid = Grid(4)
    shifts = np.array([0.3, 0.3 + 1 / 64, 0.3 + 8 / 64])
    groups = 4
    y = np.tile(shifts, groups)
    probe = rows(
        "probe", np.full(y.shape, 0.3), y, np.repeat([0, 1, 2, 0], shifts.size), grid, group=np.repeat(range(4), 3)
    )
    truth = make_truth([probe], grid)
    label = truth.frame["label"].to_numpy()
    # Right at the point and 8 px away, wrong at 1 px in three of four groups: aliasing's signature.
    prediction = np.where((np.tile([0, 1, 0], groups) == 1) & (np.repeat(range(4), 3) > 0), wrong(label), label)
    curve = score(truth, prediction)["sweep_curve"]
    assert curve["factor"] == "y" and curve["lo"] == pytest.approx(shifts.tolist()) and curve["hi"] == curve["lo"]
    assert curve["accuracy"] == pytest.approx([1.0, 0.25, 1.0]) and curve["n"] == [4, 4, 4]


def test_sweep_curve_omitted_for_a_location_probe():
    grid = Grid(2)
    result = score(make_truth([location_probe(grid, [0, 1])], grid), [0] * 8)
    assert result["sweep_curve"] is None and "location map" in result["omitted"]["sweep_curve"]


def test_owner_share_counts_predictions_naming_the_class_seen_there():
    grid = Grid(2)
    # test_id: class 0 on the left, class 1 on the right; test_ood: each class at the other's side.
    seen = rows("test_id", [0.1, 0.2, 0.8, 0.9], [0.5] * 4, [0, 0, 1, 1], grid)
    held = rows("test_ood", [0.85, 0.8, 0.9, 0.15, 0.1], [0.5] * 5, [0, 0, 0, 1, 2], grid)
    truth = make_truth([seen, held], grid, factors=("class-location",))
    # Owners of the held-out items: 1, 1, 1, 0, 0. Predictions naming them: items 1, 2 and 4.
    prediction = np.array([0, 0, 1, 1, 0, 1, 1, 2, 0])
    share = score(truth, prediction)["owner_share"]
    assert share["value"] == pytest.approx(3 / 5) and share["n"] == 5
    location_only = make_truth([seen, held], grid, factors=("location",))
    assert score(location_only, prediction)["owner_share"]["value"] is None
