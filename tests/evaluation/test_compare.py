"""Paired comparison of two results on the same items."""

import copy
import math

import pytest
from test_results import scored

from elsewhere.evaluation.compare import compare_results
from elsewhere.evaluation.results import correct_items, load_results, write_results


def test_a_result_compared_with_itself(tmp_path):
    _, _, results = scored(0)
    write_results(results, tmp_path / "a.json")
    loaded = load_results(tmp_path / "a.json")
    out = compare_results(loaded, loaded)
    assert out["difference"]["value"] == 0.0
    assert out["p_value"] == 1.0
    assert out["discordant"] == {"a_only": 0, "b_only": 0}
    assert out["accuracy_a"] == out["accuracy_b"] == pytest.approx(results["metrics"]["ood_accuracy"]["value"])
    assert out["n"] == results["items"]["test_ood"]["count"]


@pytest.mark.parametrize("split", ["test_ood", "probe"])
def test_two_models_on_the_same_items(split):
    truth, _, a = scored(1, accuracy=0.9)
    _, _, b = scored(2, accuracy=0.5, truth=truth)
    _, right_a = correct_items(a, split)
    _, right_b = correct_items(b, split)
    only_a = int((right_a & ~right_b).sum())
    only_b = int((~right_a & right_b).sum())
    out = compare_results(a, b, split)
    assert out["discordant"] == {"a_only": only_a, "b_only": only_b}
    assert out["difference"]["value"] == pytest.approx(right_a.mean() - right_b.mean())
    lo, hi = out["difference"]["ci"]
    assert lo < out["difference"]["value"] < hi
    m = min(only_a, only_b)
    brute = min(1.0, 2 * sum(math.comb(only_a + only_b, i) for i in range(m + 1)) / 2 ** (only_a + only_b))
    assert out["p_value"] == pytest.approx(brute)
    assert out["models"] == ["model-1", "model-2"]


def test_refuses_different_data():
    truth, _, a = scored(3)
    _, _, b = scored(4, truth=truth)
    for key, value in (("name", "other"), ("version", 2), ("fingerprint", "ef" * 32)):
        changed = copy.deepcopy(b)
        changed["protocol"][key] = value
        with pytest.raises(ValueError, match="cannot compare"):
            compare_results(a, changed)


def test_refuses_different_items():
    truth, _, a = scored(5)
    b = copy.deepcopy(a)
    b["items"]["test_ood"]["ids_sha256"] = "0" * 64
    with pytest.raises(ValueError, match="different test_ood items"):
        compare_results(a, b)
    with pytest.raises(ValueError, match="no split"):
        compare_results(a, a, "validation")
