import json

import numpy as np
import pytest

from elsewhere.splits.intervals import Interval, IntervalSet, Value, interval_from_dict
from elsewhere.splits.regions import EmptyRegionError


def test_interval_is_half_open():
    interval = Interval(0.0, 90.0)
    got = interval.contains([-1e-9, 0.0, 45.0, np.nextafter(90.0, 0.0), 90.0, np.nan])
    assert got.tolist() == [False, True, True, True, False, False]
    assert not (Interval(0, 90).contains(90.0) & Interval(90, 180).contains(90.0))


def test_contains_matches_definition_on_random_values():
    values = np.random.default_rng(0).uniform(-50, 400, 2000)
    s = Interval(0, 90) | Value(180) | Interval(270, 300)
    expected = [(0 <= v < 90) or v == 180 or (270 <= v < 300) for v in values.tolist()]
    assert s.contains(values).tolist() == expected
    assert s.contains([180.0, 180.5]).tolist() == [True, False]
    assert s.contains(np.zeros((2, 3))).shape == (2, 3)


def test_value_is_exact():
    assert Value(0).contains([0.0, -0.0, 1e-12]).tolist() == [True, True, False]
    assert Value(0.25).sample(np.random.default_rng(0)) == 0.25


def test_interval_samples_inside_and_reproducibly():
    interval = Interval(0.1, 0.35)
    a = [interval.sample(np.random.default_rng(s)) for s in range(100)]
    assert interval.contains(a).all()
    assert a == [interval.sample(np.random.default_rng(s)) for s in range(100)]
    assert len(set(a)) == 100
    assert all(type(v) is float for v in a)


def test_set_sampling_is_proportional_to_length():
    s = Interval(0, 1) | Interval(10, 13) | Value(5)
    rng = np.random.default_rng(1)
    draws = np.array([s.sample(rng) for _ in range(4000)])
    assert s.contains(draws).all()
    assert np.mean(draws < 1) == pytest.approx(0.25, abs=0.03)
    # A single value has length 0: beside intervals it is never drawn (see IntervalSet).
    assert not np.any(draws == 5)
    rng = np.random.default_rng(2)
    again = np.array([s.sample(rng) for _ in range(4000)])
    assert not np.array_equal(draws, again)


def test_set_of_values_picks_uniformly():
    s = Value(0) | Value(90) | Value(180)
    rng = np.random.default_rng(0)
    draws = np.array([s.sample(rng) for _ in range(3000)])
    for v in (0, 90, 180):
        assert np.mean(draws == v) == pytest.approx(1 / 3, abs=0.04)


def test_set_is_canonical():
    assert Interval(0, 10) | Interval(5, 20) == IntervalSet((Interval(0, 20),))
    assert Interval(10, 20) | Interval(0, 10) == IntervalSet((Interval(0, 20),))
    assert Interval(0, 10) | Value(3) == IntervalSet((Interval(0, 10),))
    assert (Value(10) | Interval(0, 10)).parts == (Interval(0, 10), Value(10))
    assert Value(1) | Value(1) == IntervalSet((Value(1),))
    nested = IntervalSet([Interval(30, 40), IntervalSet((Value(0),))])
    assert nested.parts == (Value(0), Interval(30, 40))


def test_describe_span_and_empty():
    s = Interval(0, 90) | Value(180)
    assert Interval(0, 90).describe() == "[0, 90)"
    assert Value(0.5).describe() == "{0.5}"
    assert s.describe() == "[0, 90) or {180}"
    assert s.span == (0.0, 180.0)
    assert Interval(0.1, 0.2).span == (0.1, 0.2)
    assert Value(3).span == (3.0, 3.0)
    assert s.length == 90.0
    assert not s.is_empty() and not Interval(0, 1).is_empty() and not Value(0).is_empty()
    empty = IntervalSet(())
    assert empty.is_empty() and empty.describe() == "empty"
    assert not empty.contains([0.0, 1.0]).any()
    with pytest.raises(EmptyRegionError):
        empty.sample(np.random.default_rng(0))
    with pytest.raises(EmptyRegionError):
        _ = empty.span


@pytest.mark.parametrize(
    "s",
    [Interval(0, 90), Value(0), Interval(0.1, 0.2) | Value(0.5) | Interval(0.7, 0.9), IntervalSet(())],
)
def test_dict_round_trip(s):
    back = interval_from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s and repr(back) == repr(s) and hash(back) == hash(s)


def test_to_dict_shape():
    assert Interval(0, 90).to_dict() == {"kind": "interval", "lo": 0.0, "hi": 90.0}
    assert (Value(1) | Interval(2, 3)).to_dict() == {
        "kind": "interval_set",
        "parts": [{"kind": "value", "value": 1.0}, {"kind": "interval", "lo": 2.0, "hi": 3.0}],
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda: Interval(2, 1),
        lambda: Interval(1, 1),
        lambda: Interval(0, float("inf")),
        lambda: Value(float("nan")),
        lambda: Value("0"),
        lambda: IntervalSet((Interval(0, 1), 3)),
        lambda: interval_from_dict({"kind": "range", "lo": 0, "hi": 1}),
        lambda: interval_from_dict({"kind": "interval", "lo": 0}),
        lambda: interval_from_dict({"kind": "interval_set", "parts": "x"}),
    ],
)
def test_invalid_input_is_one_line_value_error(make):
    with pytest.raises(ValueError) as info:
        make()
    assert "\n" not in str(info.value) and ";" in str(info.value)


def test_equal_interval_points_to_value():
    with pytest.raises(ValueError, match="use Value"):
        Interval(3, 3)
