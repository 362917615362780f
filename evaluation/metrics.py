"""Scores of one set of predictions against the truth: every number the results report.

Every estimate is ``{"value": v, "ci": [lo, hi], "n": count}`` (intervals from
:mod:`evaluation.stats`); a value that cannot be computed is ``None`` with a ``"reason"``. The
metrics dict holds:

- ``counts``: items per split; ``chance``: 1 / number of evaluated classes; ``factors``: the
  factors the protocol holds out (the curves a report leads with);
- ``accuracy``: per split, a protocol's further test splits too (Red-Green's ``test_moved``); ``id_accuracy`` (``test_id``) and ``ood_accuracy`` (``test_ood``, the
  headline); ``gap`` = id − ood; ``normalised_gap`` = (id − ood) / (id − chance), 0 for full
  transfer and 1 for chance, undefined when the ID accuracy is at or below chance;
- ``location_map``: probe accuracy per cell of the location grid, as lists in cell order;
- ``distance_curve``: probe accuracy against the distance of the object centre from the training
  region: the first bin holds the items inside it (distance 0), the others are
  :data:`DISTANCE_BIN_WIDTH` wide, ``(lo, hi]``;
- ``rotation_curve``, ``scale_curve``: accuracy over all evaluated items in :data:`CURVE_BINS`
  equal bins spanning the factor's range in the data (the last bin closed), when the factor varies;
- ``sweep_curve``: for a probe that sweeps one factor (``x``, ``y``, rotation, scale), probe
  accuracy at each swept value (``lo == hi``): ``location-point``'s accuracy against a shift of
  k pixels, which tells aliasing (failing between multiples of a stride) from failing everywhere;
- ``owner_share``: for protocols that hold out class × location, among held-out items shown where
  ``test_id`` shows another class (the nearest ``test_id`` item's class owns the place), the share
  of predictions naming that owner: how much a network answers with position instead of shape;
- ``consistency`` (Zhang 2019): over all pairs of probe items of the same group (one object at
  different positions), the fraction whose predictions agree; ``consistency_correct``: the fraction
  of those pairs where both predictions are correct. Agreement among pairs that are both correct is
  1 by construction (one group, one label), so this is the informative companion: consistency rises
  with accuracy alone, and the gap between the two shows agreement on wrong answers;
- ``flip_rate`` (Hendrycks & Dietterich 2019): along sequences of neighbouring probe positions,
  the mean over sequences of the fraction of consecutive pairs whose prediction changes. For a
  location probe each grid row (left to right) and each grid column (top to bottom) of a group is a
  sequence, and only side-adjacent cells are consecutive; for a probe that sweeps one factor
  (``y``, rotation, scale) a group ordered by that factor is the sequence.

Consistency and flip rate are computed in O(n) from counts, with cluster-bootstrap intervals over
probe groups: sequences of one group show the same object, so the group is the independent unit.
A section that does not apply is ``None``, with its reason in ``omitted``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation import stats
from elsewhere.evaluation.truth import Truth, id_array
from elsewhere.splits.names import EVALUATED_SPLITS, NO_GROUP

DISTANCE_BIN_WIDTH = 0.1
CURVE_BINS = 12
# A factor whose spread over the items is below this is constant (float32 storage blurs values).
VARIES_TOLERANCE = 1e-6
SWEEP_FACTORS = ("x", "y", "rotation", "scale")
CURVES = {"rotation_curve": "rotation", "scale_curve": "scale"}
# Held-out items compared with every test_id item at once in owner_share (bounds the memory used).
OWNER_CHUNK = 1024

Tally = tuple[int, int]  # (correct, items) of one split
Section = tuple[dict | None, str]  # a metric section, or None and the reason it is omitted


def compute_metrics(truth: Truth, predictions: pd.DataFrame) -> dict[str, Any]:
    """All metrics of ``predictions`` (aligned to ``truth.frame``, as ``read_predictions`` returns them)."""
    prediction = aligned_predictions(truth, predictions)
    frame = truth.frame
    correct = prediction == frame["label"].to_numpy()
    split = frame["split"].to_numpy(dtype=object)
    omitted: dict[str, str] = {}

    tallies = {name: (int(correct[split == name].sum()), int((split == name).sum())) for name in truth.splits}
    accuracy = {name: proportion(*tally) for name, tally in tallies.items()}
    id_accuracy = accuracy.get("test_id") or _missing("the truth has no test_id items")
    ood_accuracy = accuracy.get("test_ood") or _missing("the truth has no test_ood items")
    paired = (tallies["test_id"], tallies["test_ood"]) if {"test_id", "test_ood"} <= set(tallies) else None

    probe = split == "probe"
    sections = {
        "location_map": location_map(truth, correct, probe),
        "distance_curve": distance_curve(truth, correct, probe),
        **{key: factor_curve(frame[factor].to_numpy(), correct, factor) for key, factor in CURVES.items()},
    }
    groups = _Groups(truth, probe)
    sections["sweep_curve"] = sweep_curve(truth, groups, correct, probe)
    consistency, consistency_correct = consistency_metrics(
        groups, prediction[probe], correct[probe], len(truth.class_names)
    )
    sections["consistency"], sections["consistency_correct"] = consistency, consistency_correct
    sections["flip_rate"] = flip_rate(truth, groups, prediction[probe], probe)
    for key, (section, reason) in sections.items():
        if section is None:
            omitted[key] = reason
    return {
        "counts": {name: n for name, (_, n) in tallies.items()},
        "chance": truth.chance,
        "factors": list(truth.factors),
        "accuracy": accuracy,
        "id_accuracy": id_accuracy,
        "ood_accuracy": ood_accuracy,
        "gap": gap(paired),
        "normalised_gap": normalised_gap(paired, truth.chance),
        "owner_share": owner_share(truth, prediction, split),
        **{key: section for key, (section, _) in sections.items()},
        "omitted": omitted,
        "intervals": {
            "confidence": stats.CONFIDENCE,
            "bootstrap_resamples": stats.BOOTSTRAP_RESAMPLES,
            "bootstrap_seed": stats.BOOTSTRAP_SEED,
        },
    }


def further_splits(metrics: dict) -> tuple[str, ...]:
    """The test splits a protocol adds to the standard ones (red-green's ``test_moved``), as scored."""
    return tuple(split for split in metrics.get("accuracy", {}) if split not in EVALUATED_SPLITS)


def aligned_predictions(truth: Truth, predictions: pd.DataFrame) -> np.ndarray:
    """The int64 predictions, after checking they are in ``truth.frame``'s order and in range."""
    if not {"id", "prediction"} <= set(predictions.columns) or len(predictions) != len(truth.frame):
        raise ElsewhereError(
            f"predictions must have id and prediction for all {len(truth.frame)} truth items "
            f"(got {len(predictions)} rows, columns {list(predictions.columns)}); read them with read_predictions"
        )
    if not id_array(predictions["id"].astype(str)).equals(id_array(truth.frame["id"])):
        raise ElsewhereError("predictions are not in the truth's item order; read them with read_predictions")
    prediction = predictions["prediction"].to_numpy(dtype=np.int64)
    if ((prediction < 0) | (prediction >= len(truth.class_names))).any():
        raise ElsewhereError(f"predictions must be class indices 0..{len(truth.class_names) - 1}")
    return prediction


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def estimate(value: float | None, ci: tuple[float, float] | None, n: int, reason: str | None = None) -> dict:
    """An estimate in the results' form; ``None`` and non-finite numbers become JSON nulls."""
    out: dict[str, Any] = {
        "value": None if value is None else _number(value),
        "ci": None if ci is None or not all(np.isfinite(ci)) else [float(ci[0]), float(ci[1])],
        "n": int(n),
    }
    if reason is not None:
        out["reason"] = reason
    return out


def _missing(reason: str) -> dict:
    return estimate(None, None, 0, reason)


def proportion(successes: int, trials: int) -> dict:
    """A proportion with its Wilson interval (value None for no trials)."""
    if trials == 0:
        return _missing("no items")
    lo, hi = stats.wilson_interval(successes, trials)
    return estimate(successes / trials, (float(lo), float(hi)), trials)


def _proportions(successes: np.ndarray, trials: np.ndarray) -> dict[str, list]:
    """Parallel lists ``accuracy``, ``ci``, ``n`` for many proportions; None where there are no items."""
    lo, hi = stats.wilson_interval(successes, trials)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = successes / trials
    filled = trials > 0
    return {
        "accuracy": [float(v) if f else None for v, f in zip(value.tolist(), filled)],
        "ci": [[a, b] if f else None for a, b, f in zip(lo.tolist(), hi.tolist(), filled)],
        "n": [int(t) for t in trials.tolist()],
    }


def _counts(bins: np.ndarray, correct: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    trials = np.bincount(bins, minlength=size)
    successes = np.bincount(bins, weights=correct, minlength=size)
    return successes, trials


def gap(paired: tuple[Tally, Tally] | None) -> dict:
    """ID − OOD accuracy from (correct, items) of each, with Newcombe's interval; n counts both."""
    if paired is None or paired[0][1] == 0 or paired[1][1] == 0:
        return _missing("needs items in both test_id and test_ood")
    (s_id, n_id), (s_ood, n_ood) = paired
    ci = stats.difference_interval(s_id, n_id, s_ood, n_ood)
    return estimate(s_id / n_id - s_ood / n_ood, ci, n_id + n_ood)


def normalised_gap(paired: tuple[Tally, Tally] | None, chance: float) -> dict:
    """``(id − ood) / (id − chance)`` with a bootstrap interval; None when id <= chance."""
    if paired is None or paired[0][1] == 0 or paired[1][1] == 0:
        return _missing("needs items in both test_id and test_ood")
    (s_id, n_id), (s_ood, n_ood) = paired
    acc_id, acc_ood = s_id / n_id, s_ood / n_ood
    if acc_id <= chance:
        reason = f"ID accuracy {acc_id:.4g} is not above chance {chance:.4g}: nothing learned to transfer"
        return estimate(None, None, n_id + n_ood, reason)
    ci = stats.normalised_gap_interval(s_id, n_id, s_ood, n_ood, chance, stats.bootstrap_rng("normalised_gap"))
    reason = None if ci is not None else "ID accuracy reaches chance in some bootstrap resamples; no interval"
    return estimate((acc_id - acc_ood) / (acc_id - chance), ci, n_id + n_ood, reason)


def location_map(truth: Truth, correct: np.ndarray, probe: np.ndarray) -> Section:
    """Probe accuracy per grid cell, in cell order."""
    cell = truth.frame["cell"].to_numpy()[probe]
    inside = (cell >= 0) & (cell < truth.grid.size)
    if not inside.any():
        return None, "no probe items on the location grid"
    successes, trials = _counts(cell[inside], correct[probe][inside], truth.grid.size)
    return {"grid": truth.grid.to_dict(), **_proportions(successes, trials)}, ""


def distance_curve(truth: Truth, correct: np.ndarray, probe: np.ndarray) -> Section:
    """Probe accuracy against distance from the training region, in bins (see the module docstring)."""
    if truth.train_region is None:
        return None, "the protocol has no single training location region"
    if not probe.any():
        return None, "no probe items"
    x = truth.frame["x"].to_numpy()[probe]
    y = truth.frame["y"].to_numpy()[probe]
    # Probe items share few positions (a location probe only the cell centres): measure each once.
    inverse, points = pd.factorize(x + 1j * y)
    distance = truth.train_region.distance(points.real, points.imag)[inverse]
    if not (distance > 0).any():
        return None, "every probe item lies inside the training region"
    bins = np.ceil(distance / DISTANCE_BIN_WIDTH).astype(np.int64)
    size = int(bins.max()) + 1
    successes, trials = _counts(bins, correct[probe], size)
    hi = np.round(np.arange(size) * DISTANCE_BIN_WIDTH, 12)
    lo = np.concatenate([[0.0], hi[:-1]])
    return {"factor": "distance", "lo": lo.tolist(), "hi": hi.tolist(), **_proportions(successes, trials)}, ""


def factor_curve(values: np.ndarray, correct: np.ndarray, factor: str) -> Section:
    """Accuracy in :data:`CURVE_BINS` equal bins over the factor's range among the items."""
    known = np.isfinite(values)
    if not known.any() or np.ptp(values[known]) <= VARIES_TOLERANCE:
        return None, f"{factor} does not vary among the evaluated items"
    edges = np.linspace(values[known].min(), values[known].max(), CURVE_BINS + 1)
    bins = np.clip(np.searchsorted(edges, values[known], side="right") - 1, 0, CURVE_BINS - 1)
    successes, trials = _counts(bins, correct[known], CURVE_BINS)
    curve = {"factor": factor, "lo": edges[:-1].tolist(), "hi": edges[1:].tolist()}
    return {**curve, **_proportions(successes, trials)}, ""


def sweep_curve(truth: Truth, groups: _Groups, correct: np.ndarray, probe: np.ndarray) -> Section:
    """Probe accuracy at each value of the one factor the probe groups sweep."""
    if groups.sweep in (None, "location"):
        return None, "the probe sweeps no single factor (a location probe has the location map)"
    values = truth.frame[groups.sweep].to_numpy()[probe][groups.member]
    # float32 storage blurs equal values: group them at the tolerance factors are compared at.
    keys = np.round(values / VARIES_TOLERANCE).astype(np.int64)
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    successes, trials = _counts(inverse, correct[probe][groups.member], unique.size)
    swept = values[first].tolist()
    return {"factor": groups.sweep, "lo": swept, "hi": swept, **_proportions(successes, trials)}, ""


def owner_share(truth: Truth, prediction: np.ndarray, split: np.ndarray) -> dict:
    """Share of held-out predictions naming the class that owns the place (see the module docstring)."""
    if "class-location" not in truth.factors:
        return _missing("the protocol holds out no class × location combination")
    held_out, seen = split == "test_ood", split == "test_id"
    if not held_out.any() or not seen.any():
        return _missing("needs both test_id and test_ood items")
    frame = truth.frame
    seen_xy = frame.loc[seen, ["x", "y"]].to_numpy()
    seen_label = frame["label"].to_numpy()[seen]
    owner = np.empty(int(held_out.sum()), dtype=np.int64)
    held_xy = frame.loc[held_out, ["x", "y"]].to_numpy()
    for start in range(0, len(held_xy), OWNER_CHUNK):
        chunk = held_xy[start : start + OWNER_CHUNK]
        nearest = np.argmin(((chunk[:, None, :] - seen_xy[None, :, :]) ** 2).sum(axis=2), axis=1)
        owner[start : start + OWNER_CHUNK] = seen_label[nearest]
    foreign = owner != frame["label"].to_numpy()[held_out]
    if not foreign.any():
        return _missing("every held-out item lies where test_id shows its own class")
    return proportion(int((prediction[held_out][foreign] == owner[foreign]).sum()), int(foreign.sum()))


class _Groups:
    """The probe items that belong to a group: compact group index and the factor the probe sweeps."""

    def __init__(self, truth: Truth, probe: np.ndarray):
        group = truth.frame["group"].to_numpy()[probe]
        self.member = group != NO_GROUP
        numbers, self.index = np.unique(group[self.member], return_inverse=True)
        self.count = numbers.size
        self.sweep = _sweep(truth.frame.loc[probe, list(SWEEP_FACTORS)][self.member], self.index)


def _sweep(factors: pd.DataFrame, group: np.ndarray) -> str | None:
    """``location`` if x and y both vary within groups, the one factor that varies, else None."""
    if factors.empty:
        return None
    grouped = factors.groupby(group)
    spans = grouped.max() - grouped.min()
    varies = [f for f in SWEEP_FACTORS if (spans[f] > VARIES_TOLERANCE).any()]
    if {"x", "y"} <= set(varies):
        return "location" if set(varies) <= {"x", "y"} else None
    return varies[0] if len(varies) == 1 else None


def consistency_metrics(
    groups: _Groups, prediction: np.ndarray, correct: np.ndarray, classes: int
) -> tuple[Section, Section]:
    """Agreement over all same-group probe pairs, and the share of pairs where both are correct."""
    if groups.count == 0:
        reason = "no probe groups"
        return (None, reason), (None, reason)
    g = groups.index
    size = np.bincount(g, minlength=groups.count).astype(np.float64)
    pairs = size * (size - 1) / 2
    keys, repeats = np.unique(g * classes + prediction[groups.member], return_counts=True)
    agree = np.bincount(keys // classes, weights=repeats * (repeats - 1) / 2, minlength=groups.count)
    right = np.bincount(g, weights=correct[groups.member], minlength=groups.count)
    both = right * (right - 1) / 2
    used = pairs > 0
    if not used.any():
        reason = "every probe group holds a single item"
        return (None, reason), (None, reason)
    total = pairs[used].sum()
    sections = []
    for name, numerator in (("consistency", agree), ("consistency_correct", both)):
        ci = stats.cluster_bootstrap_interval(numerator[used], pairs[used], stats.bootstrap_rng(name))
        section = estimate(numerator[used].sum() / total, ci, int(total))
        section.update(groups=int(used.sum()), sweep=groups.sweep)
        sections.append((section, ""))
    return sections[0], sections[1]


def flip_rate(truth: Truth, groups: _Groups, prediction: np.ndarray, probe: np.ndarray) -> Section:
    """Mean over probe sequences of the fraction of consecutive predictions that change."""
    if groups.count == 0:
        return None, "no probe groups"
    if groups.sweep is None:
        return None, "probe groups do not sweep one factor (or the location), so they form no sequences"
    member = groups.member
    g, p = groups.index, prediction[member]
    if groups.sweep == "location":
        cell = truth.frame["cell"].to_numpy()[probe][member]
        on_grid = (cell >= 0) & (cell < truth.grid.size)
        row, col = truth.grid.row_col(cell[on_grid])
        g, p = g[on_grid], p[on_grid]
        # Rows run left to right (along col), columns top to bottom (along row).
        links = [_links(g, p, row, col, truth.grid.n, 0), _links(g, p, col, row, truth.grid.n, 1)]
        sequence = np.concatenate([s for s, _, _ in links])
        group = np.concatenate([q for _, q, _ in links])
        changed = np.concatenate([c for _, _, c in links])
    else:
        value = truth.frame[groups.sweep].to_numpy()[probe][member]
        order = np.lexsort((value, g))
        g, p = g[order], p[order]
        link = g[1:] == g[:-1]
        sequence = group = g[:-1][link]
        changed = (p[1:] != p[:-1])[link]
    if sequence.size == 0:
        return None, "no two probe items are neighbours in a sweep"
    keys, first, inverse = np.unique(sequence, return_index=True, return_inverse=True)
    steps = np.bincount(inverse)
    fraction = np.bincount(inverse, weights=changed) / steps
    owner = group[first]
    per_group = np.bincount(owner, weights=fraction, minlength=groups.count)
    sequences = np.bincount(owner, minlength=groups.count).astype(np.float64)
    used = sequences > 0
    ci = stats.cluster_bootstrap_interval(per_group[used], sequences[used], stats.bootstrap_rng("flip_rate"))
    section = estimate(fraction.mean(), ci, keys.size)
    section.update(groups=int(used.sum()), pairs=int(steps.sum()), sweep=groups.sweep)
    return section, ""


def _links(
    group: np.ndarray, prediction: np.ndarray, major: np.ndarray, minor: np.ndarray, n: int, axis: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Consecutive side-adjacent pairs along ``minor`` within each (group, ``major``) line.

    Returns per pair: a sequence key unique over groups, lines and the two axes; its group; and
    whether the prediction changes.
    """
    order = np.lexsort((minor, major, group))
    g, a, b, p = group[order], major[order], minor[order], prediction[order]
    link = (g[1:] == g[:-1]) & (a[1:] == a[:-1]) & (b[1:] == b[:-1] + 1)
    key = (g[:-1][link] * n + a[:-1][link]) * 2 + axis
    return key, g[:-1][link], (p[1:] != p[:-1])[link]
