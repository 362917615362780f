"""Intervals and tests of evaluation.stats against published values and brute force."""

import math

import numpy as np
import pytest

from elsewhere.evaluation import stats


def test_wilson_matches_published_values():
    # Wilson 95% intervals as tabulated by Newcombe (1998, Stat. Med. 17:857, Table I).
    lo, hi = stats.wilson_interval([81, 15, 0, 1], [263, 148, 20, 29])
    expected = [(0.2553, 0.3662), (0.0624, 0.1605), (0.0, 0.1611), (0.0061, 0.1718)]
    for i, (elo, ehi) in enumerate(expected):
        assert lo[i] == pytest.approx(elo, abs=1e-4)
        assert hi[i] == pytest.approx(ehi, abs=1e-4)


def test_wilson_hand_computed():
    z = 1.959963984540054
    k, n = 8, 10
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo, hi = stats.wilson_interval(k, n)
    assert float(lo) == pytest.approx(centre - half, rel=1e-12)
    assert float(hi) == pytest.approx(centre + half, rel=1e-12)
    assert float(lo) == pytest.approx(0.4902, abs=1e-4)
    assert float(hi) == pytest.approx(0.9433, abs=1e-4)


def test_wilson_is_vectorised_and_empty_is_nan():
    lo, hi = stats.wilson_interval(np.array([[0, 5], [10, 0]]), np.array([[10, 10], [10, 0]]))
    assert lo.shape == hi.shape == (2, 2)
    assert lo[0, 0] == 0.0 and hi[1, 0] == 1.0
    assert np.isnan(lo[1, 1]) and np.isnan(hi[1, 1])
    assert (lo[~np.isnan(lo)] <= hi[~np.isnan(hi)]).all()


def test_difference_interval_matches_newcombe_example():
    # Newcombe (1998, Stat. Med. 17:873), example (a): 56/70 − 48/80, method 10: 0.0524 to 0.3339.
    lo, hi = stats.difference_interval(56, 70, 48, 80)
    assert lo == pytest.approx(0.0524, abs=1e-4)
    assert hi == pytest.approx(0.3339, abs=1e-4)


def _brute_two_sided(k, n):
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1)) / 2**n
    return min(1.0, 2 * tail)


@pytest.mark.parametrize("k,n", [(0, 1), (0, 5), (3, 10), (7, 10), (1, 20), (40, 100), (0, 60), (90, 200), (5, 10)])
def test_binomial_p_matches_brute_force(k, n):
    assert stats.binomial_two_sided_p(k, n) == pytest.approx(_brute_two_sided(k, n), rel=1e-9, abs=1e-300)


def test_binomial_p_is_fast_and_sane_for_millions():
    n = 1_000_000
    k = n // 2 - 2000
    p = stats.binomial_two_sided_p(k, n)
    z = (n / 2 - k) / math.sqrt(n / 4)
    normal = math.erfc(z / math.sqrt(2))
    assert p == pytest.approx(normal, rel=0.05)
    assert stats.binomial_two_sided_p(n // 2, n) == 1.0


def test_mcnemar_on_random_pairs():
    rng = np.random.default_rng(3)
    a = rng.random(500) < 0.7
    b = rng.random(500) < 0.6
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    difference, (lo, hi), p = stats.mcnemar_test(a, b)
    assert difference == pytest.approx(a.mean() - b.mean())
    assert p == pytest.approx(_brute_two_sided(only_a, only_a + only_b), rel=1e-9)
    assert lo < difference < hi


def test_mcnemar_of_identical_outcomes():
    a = np.array([True, False, True, True])
    difference, (lo, hi), p = stats.mcnemar_test(a, a)
    assert difference == 0.0 and p == 1.0
    assert lo == pytest.approx(-hi)


def test_mcnemar_refuses_unpaired_inputs():
    with pytest.raises(ValueError, match="same length"):
        stats.mcnemar_test([True, False], [True])


def test_cluster_bootstrap_is_reproducible_and_near_the_normal_interval():
    rng = np.random.default_rng(1)
    values = rng.random(2000)
    ones = np.ones_like(values)
    first = stats.cluster_bootstrap_interval(values, ones, np.random.default_rng(7))
    again = stats.cluster_bootstrap_interval(values, ones, np.random.default_rng(7))
    assert first == again
    half = 1.96 * values.std(ddof=1) / math.sqrt(values.size)
    assert first[0] == pytest.approx(values.mean() - half, abs=0.25 * half)
    assert first[1] == pytest.approx(values.mean() + half, abs=0.25 * half)


def test_cluster_bootstrap_of_a_ratio_weighs_clusters_by_denominator():
    # Every cluster has the same ratio, so every resample has it too: the interval is a point.
    numerator = np.array([1.0, 2.0, 5.0, 10.0])
    lo, hi = stats.cluster_bootstrap_interval(numerator, 2 * numerator, np.random.default_rng(0))
    assert lo == pytest.approx(0.5) and hi == pytest.approx(0.5)
    assert stats.cluster_bootstrap_interval([1.0], [2.0], np.random.default_rng(0)) is None


def test_normalised_gap_interval():
    rng = np.random.default_rng(0)
    lo, hi = stats.normalised_gap_interval(900, 1000, 600, 1000, 0.1, rng)
    point = (0.9 - 0.6) / (0.9 - 0.1)
    assert lo < point < hi
    assert hi - lo < 0.1
    assert stats.normalised_gap_interval(6, 50, 5, 50, 0.1, np.random.default_rng(0)) is None


def test_bootstrap_rng_depends_on_the_name_only():
    a = stats.bootstrap_rng("flip_rate").integers(1 << 30, size=4)
    b = stats.bootstrap_rng("flip_rate").integers(1 << 30, size=4)
    c = stats.bootstrap_rng("consistency").integers(1 << 30, size=4)
    assert (a == b).all() and not (a == c).all()
