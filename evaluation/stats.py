"""Intervals and tests behind every estimate the harness reports.

All intervals are two-sided at :data:`CONFIDENCE`. Which method serves which estimate:

- a proportion (accuracy of a split, a map cell, a curve bin): the Wilson score interval;
- the difference of two proportions from independent samples (the ID−OOD gap): Newcombe's hybrid
  score interval (his method 10), built from the two Wilson intervals;
- the normalised gap ``(id − ood) / (id − chance)``: a parametric bootstrap, which for a mean of
  independent 0/1 outcomes is the same as resampling the items: each resample draws the correct
  counts of both splits from binomials at the observed accuracies;
- ratios over clustered items (consistency over probe groups, flip rate over sequences): a
  cluster bootstrap that resamples whole clusters and takes percentiles of the ratio of sums;
- two models on the same items: McNemar's exact test on the discordant pairs, with the
  Agresti–Min interval for the paired difference.

Bootstrap intervals are reproducible: every one draws from a generator seeded with
:data:`BOOTSTRAP_SEED` and the name of the estimate (:func:`bootstrap_rng`), so the same
predictions always give the same numbers, whatever else is computed beside them.
"""

from __future__ import annotations

import math
import zlib
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

from elsewhere.errors import ElsewhereError

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
# Resampled cluster indices held in memory at once by the cluster bootstrap (32 MB of int64).
_BOOTSTRAP_CHUNK = 1 << 22
# Agresti & Min (2005) add this much to each cell of the paired 2×2 table before the Wald interval.
_AGRESTI_MIN_PSEUDOCOUNT = 0.5

Interval = tuple[float, float]


def z_value(confidence: float = CONFIDENCE) -> float:
    """The standard normal quantile for a two-sided interval at ``confidence``."""
    if not 0.0 < confidence < 1.0:
        raise ElsewhereError(f"confidence={confidence!r} is invalid; give a level strictly between 0 and 1")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def bootstrap_rng(name: str) -> np.random.Generator:
    """The generator for the bootstrap of the estimate called ``name``, seeded by :data:`BOOTSTRAP_SEED`."""
    return np.random.default_rng([BOOTSTRAP_SEED, zlib.crc32(name.encode())])


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, confidence: float = CONFIDENCE
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilson score interval of ``successes / trials``, element-wise; NaN where ``trials`` is 0."""
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    z = z_value(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denominator = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # The bounds at k = 0 and k = n are exactly 0 and 1; rounding would leave them a hair off.
    lo = np.where(n > 0, np.where(k <= 0, 0.0, np.clip(centre - half, 0.0, 1.0)), np.nan)
    hi = np.where(n > 0, np.where(k >= n, 1.0, np.clip(centre + half, 0.0, 1.0)), np.nan)
    return lo, hi


def difference_interval(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, confidence: float = CONFIDENCE
) -> Interval:
    """Newcombe's hybrid score interval for ``p_a − p_b`` from independent samples."""
    if trials_a <= 0 or trials_b <= 0:
        raise ElsewhereError(f"a difference needs items on both sides; got {trials_a} and {trials_b}")
    pa, pb = successes_a / trials_a, successes_b / trials_b
    (la, ua), (lb, ub) = (
        tuple(float(v) for v in wilson_interval(s, n, confidence))
        for s, n in ((successes_a, trials_a), (successes_b, trials_b))
    )
    d = pa - pb
    return d - math.hypot(pa - la, ub - pb), d + math.hypot(ua - pa, pb - lb)


def normalised_gap_interval(
    successes_id: int,
    trials_id: int,
    successes_ood: int,
    trials_ood: int,
    chance: float,
    rng: np.random.Generator,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> Interval | None:
    """Percentile bootstrap interval of ``(id − ood) / (id − chance)``.

    Returns None when some resample puts the ID accuracy at or below chance: the ratio is then
    undefined for part of the sampling distribution and no interval is honest.
    """
    if trials_id <= 0 or trials_ood <= 0:
        raise ElsewhereError(f"a normalised gap needs items on both sides; got {trials_id} and {trials_ood}")
    acc_id = rng.binomial(trials_id, successes_id / trials_id, size=resamples) / trials_id
    acc_ood = rng.binomial(trials_ood, successes_ood / trials_ood, size=resamples) / trials_ood
    if np.any(acc_id <= chance):
        return None
    ratio = (acc_id - acc_ood) / (acc_id - chance)
    return _percentiles(ratio, confidence)


def cluster_bootstrap_interval(
    numerator: ArrayLike,
    denominator: ArrayLike,
    rng: np.random.Generator,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> Interval | None:
    """Percentile interval of ``Σ numerator / Σ denominator`` when whole clusters are resampled.

    ``numerator[i]`` and ``denominator[i]`` are the totals of cluster ``i`` (agreeing pairs and
    all pairs of a probe group; summed per-sequence flip fractions and the number of sequences).
    Each resample draws as many clusters as there are, with replacement. Returns None for fewer
    than two clusters, where resampling says nothing about the spread.
    """
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    if num.shape != den.shape or num.ndim != 1:
        raise ElsewhereError(f"numerator and denominator must be 1-D and alike; got {num.shape}, {den.shape}")
    clusters = num.size
    if clusters < 2:
        return None
    per_chunk = max(1, _BOOTSTRAP_CHUNK // clusters)
    ratios = np.empty(resamples)
    for start in range(0, resamples, per_chunk):
        stop = min(start + per_chunk, resamples)
        picked = rng.integers(0, clusters, size=(stop - start, clusters))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios[start:stop] = num[picked].sum(axis=1) / den[picked].sum(axis=1)
    ratios = ratios[np.isfinite(ratios)]
    if ratios.size == 0:
        return None
    return _percentiles(ratios, confidence)


def _percentiles(values: NDArray[np.float64], confidence: float) -> Interval:
    alpha = 1.0 - confidence
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def binomial_two_sided_p(k: int, n: int) -> float:
    """Exact two-sided p-value of ``k`` successes in ``n`` fair coin flips: ``min(1, 2 P(X <= min(k, n−k)))``.

    The tail is summed in log space with ``log C(n, i)`` built by a cumulative sum, so it is exact
    and takes O(min(k, n−k)) vectorised work even for millions of flips.
    """
    if not 0 <= k <= n:
        raise ElsewhereError(f"k={k} successes of n={n} trials is invalid; need 0 <= k <= n")
    m = min(k, n - k)
    if n == 0 or 2 * m == n:
        return 1.0
    i = np.arange(m, dtype=np.float64)
    log_choose = np.concatenate([[0.0], np.cumsum(np.log(n - i) - np.log(i + 1))])
    top = log_choose.max()
    log_tail = top + math.log(np.exp(log_choose - top).sum()) - n * math.log(2.0)
    return min(1.0, 2.0 * math.exp(log_tail))


def mcnemar_test(
    correct_a: ArrayLike, correct_b: ArrayLike, confidence: float = CONFIDENCE
) -> tuple[float, Interval, float]:
    """Paired comparison of two models on the same items.

    Returns ``accuracy_a − accuracy_b``, its Agresti–Min interval, and McNemar's exact p-value
    (the binomial test of the discordant items: right for one model and wrong for the other).
    """
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ElsewhereError(
            f"paired outcomes must be two non-empty 1-D arrays of the same length; got {a.shape} and {b.shape}"
        )
    n = a.size
    only_a = int(np.count_nonzero(a & ~b))
    only_b = int(np.count_nonzero(~a & b))
    difference = (only_a - only_b) / n
    c = _AGRESTI_MIN_PSEUDOCOUNT
    n_adj = n + 4 * c
    d_adj = (only_a - only_b) / n_adj
    variance = ((only_a + c) + (only_b + c) - (only_a - only_b) ** 2 / n_adj) / n_adj**2
    half = z_value(confidence) * math.sqrt(max(variance, 0.0))
    interval = (max(-1.0, d_adj - half), min(1.0, d_adj + half))
    return difference, interval, binomial_two_sided_p(only_a, only_a + only_b)
