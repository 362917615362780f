import json
import math

import numpy as np
import pytest

from elsewhere.splits.grid import Grid
from elsewhere.splits.regions import (
    EVERYWHERE,
    Cells,
    Difference,
    Disc,
    EmptyRegionError,
    Intersection,
    Point,
    Rect,
    Region,
    Ring,
    Union,
    region_from_dict,
)

GRID = Grid(4)

REGIONS = {
    "everywhere": EVERYWHERE,
    "left half": Rect(0.0, 0.5, 0.0, 1.0),
    "small rect": Rect(0.1, 0.3, 0.6, 0.7),
    "disc": Disc(0.5, 0.5, 0.2),
    "disc over the edge": Disc(0.0, 0.5, 0.3),
    "ring": Ring(0.5, 0.5, 0.1, 0.3),
    "point": Point(0.3, 0.7),
    "jittered point": Point(0.5, 0.5, 0.05),
    "jittered corner": Point(1.0, 0.0, 0.05),
    "cells": Cells(GRID, (0, 5, 10, 15)),
    "cells on a sub-grid": Cells(Grid(3, 0.2, 0.8), (4,)),
    "square minus quadrant": EVERYWHERE - Rect(0.5, 1.0, 0.5, 1.0),
    "two far discs": Disc(0.05, 0.05, 0.04) | Disc(0.95, 0.95, 0.04),
    "overlapping rects": Rect(0.0, 0.5, 0.0, 1.0) | Rect(0.25, 0.75, 0.0, 1.0),
    "disc and left half": Disc(0.5, 0.5, 0.3) & Rect(0.0, 0.5, 0.0, 1.0),
    "two points": Point(0.1, 0.1) | Point(0.9, 0.2),
    "point in a rect": Point(0.2, 0.2) & Rect(0.0, 0.5, 0.0, 0.5),
    "nested": (Ring(0.5, 0.5, 0.2, 0.45) - (Rect(0.0, 0.5, 0.0, 0.5) | Disc(0.8, 0.8, 0.1))) | Cells(GRID, (3,)),
    "difference of a sparse union": (Disc(0.1, 0.1, 0.08) | Disc(0.9, 0.9, 0.08)) - Rect(0.0, 0.1, 0.0, 1.0),
}


def unit(x, y):
    return (x >= 0) & (x <= 1) & (y >= 0) & (y <= 1)


def random_points(seed=0, n=4000):
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.2, 1.2, n), rng.uniform(-0.2, 1.2, n)


def textbook(kind, x, y):
    """Independent membership formulas, written out point by point."""
    out = []
    for a, b in zip(x.tolist(), y.tolist()):
        if not (0 <= a <= 1 and 0 <= b <= 1):
            out.append(False)
        elif kind == "rect":
            out.append(0.2 <= a < 0.7 and 0.1 <= b < 0.4)
        elif kind == "disc":
            out.append(math.dist((a, b), (0.4, 0.6)) < 0.25)
        elif kind == "ring":
            out.append(0.1 <= math.dist((a, b), (0.5, 0.5)) < 0.35)
        elif kind == "point":
            out.append(abs(a - 0.6) <= 0.1 and abs(b - 0.3) <= 0.1)
        elif kind == "cells":
            out.append((int(a * 4) if a < 1 else 3, int(b * 4) if b < 1 else 3) in {(1, 0), (2, 3)})
        elif kind == "difference":
            out.append(math.dist((a, b), (0.5, 0.5)) < 0.4 and not (a < 0.5 and b < 0.5))
        elif kind == "union":
            out.append(a < 0.2 or math.dist((a, b), (0.8, 0.8)) < 0.1)
        elif kind == "intersection":
            out.append(a >= 0.5 and math.dist((a, b), (0.5, 0.5)) < 0.3)
    return np.array(out)


TEXTBOOK_REGIONS = {
    "rect": Rect(0.2, 0.7, 0.1, 0.4),
    "disc": Disc(0.4, 0.6, 0.25),
    "ring": Ring(0.5, 0.5, 0.1, 0.35),
    "point": Point(0.6, 0.3, 0.1),
    "cells": Cells(GRID, (1, 14)),
    "difference": Disc(0.5, 0.5, 0.4) - Rect(0.0, 0.5, 0.0, 0.5),
    "union": Rect(0.0, 0.2, 0.0, 1.0) | Disc(0.8, 0.8, 0.1),
    "intersection": Rect(0.5, 1.0, 0.0, 1.0) & Disc(0.5, 0.5, 0.3),
}


@pytest.mark.parametrize("kind", TEXTBOOK_REGIONS)
def test_contains_matches_textbook_definition(kind):
    x, y = random_points()
    got = TEXTBOOK_REGIONS[kind].contains(x, y)
    assert got.dtype == bool
    assert np.array_equal(got, textbook(kind, x, y))
    assert got.any() and not got.all()


def test_contains_broadcasts_and_rejects_nan():
    region = Rect(0.0, 0.5, 0.0, 1.0)
    xs = np.array([0.1, 0.6, np.nan])
    got = region.contains(xs[:, None], np.array([0.2, 0.8]))
    assert got.shape == (3, 2)
    assert got.tolist() == [[True, True], [False, False], [False, False]]
    assert region.contains(0.25, 0.25).shape == ()


def dense_with_edges():
    edges = [0.25, 0.5, 0.75, 1.0, np.nextafter(0.5, 0)]
    values = np.unique(np.concatenate([np.linspace(0, 1, 201), edges]))
    return np.meshgrid(values, values)


def test_halves_are_disjoint_and_cover_the_square():
    x, y = dense_with_edges()
    left, right = Rect(0.0, 0.5, 0.0, 1.0), Rect(0.5, 1.0, 0.0, 1.0)
    a, b = left.contains(x, y), right.contains(x, y)
    assert not (a & b).any()
    assert (a | b).all()
    assert np.array_equal(a, x < 0.5)
    assert bool(right.contains(0.5, 0.3)) and not bool(left.contains(0.5, 0.3))


def test_quadrants_tile_the_closed_square():
    x, y = dense_with_edges()
    quads = [Rect(x0, x0 + 0.5, y0, y0 + 0.5) for x0 in (0.0, 0.5) for y0 in (0.0, 0.5)]
    counts = sum(q.contains(x, y).astype(int) for q in quads)
    assert np.all(counts == 1)


def test_everywhere_is_the_closed_unit_square():
    assert EVERYWHERE.contains([0.0, 1.0, 1.0, 0.5], [0.0, 1.0, 0.0, 1.0]).all()
    assert not EVERYWHERE.contains([1.0 + 1e-9, -1e-9], [0.5, 0.5]).any()
    # The canvas-edge rule adds only the line x == 1, never a point below x1.
    assert not Rect(0.0, 0.5, 0.0, 1.0).contains(1.0, 0.5)


def test_round_shapes_are_half_open():
    assert not bool(Disc(0.5, 0.5, 0.25).contains(0.75, 0.5))
    assert bool(Disc(0.5, 0.5, 0.25).contains(np.nextafter(0.75, 0), 0.5))
    ring = Ring(0.5, 0.5, 0.125, 0.25)
    assert ring.contains([0.625, 0.75, 0.5], [0.5, 0.5, 0.5]).tolist() == [True, False, False]


def test_point_without_jitter_is_exact():
    point = Point(0.3, 0.7)
    assert point.contains([0.3, np.nextafter(0.3, 1)], [0.7, 0.7]).tolist() == [True, False]
    assert point.sample(np.random.default_rng(0)) == (0.3, 0.7)
    assert not point.is_empty()
    assert point.area() == 0.0
    assert not (point - Rect(0.5, 1.0, 0.0, 1.0)).is_empty()
    assert not (point & Rect(0.0, 0.5, 0.5, 1.0)).is_empty()
    assert (point - Rect(0.0, 0.5, 0.5, 1.0)).is_empty()


def test_cells_follow_the_grid():
    grid = Grid(5, 0.1, 0.9)
    cells = Cells(grid, (7, 3, 7, 12))
    assert cells.cells == (3, 7, 12)
    x, y = random_points(1)
    assert np.array_equal(cells.contains(x, y), np.isin(grid.cell_of(x, y), [3, 7, 12]) & unit(x, y))
    checker = Cells(GRID, tuple(c for c in range(16) if (c // 4 + c % 4) % 2 == 0))
    rest = Cells(GRID, tuple(c for c in range(16) if (c // 4 + c % 4) % 2 == 1))
    xg, yg = dense_with_edges()
    assert np.all(checker.contains(xg, yg) ^ rest.contains(xg, yg))


@pytest.mark.parametrize("name", REGIONS)
def test_samples_land_inside_and_are_reproducible(name):
    region = REGIONS[name]
    draws = [region.sample(rng) for rng in [np.random.default_rng(7)] for _ in range(200)]
    x, y = np.array(draws).T
    assert region.contains(x, y).all()
    x0, x1, y0, y1 = region.bounds
    assert np.all((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    again = np.random.default_rng(7)
    assert [region.sample(again) for _ in range(200)] == draws
    other = np.random.default_rng(8)
    other_draws = [region.sample(other) for _ in range(200)]
    assert other_draws != draws or region.area() == 0.0
    assert all(type(v) is float for v in draws[0])


@pytest.mark.parametrize("name", REGIONS)
def test_sample_is_the_first_kept_member_of_its_batch(name):
    # sample() tests the first candidate alone as scalars before the batch as arrays; it must draw
    # exactly the point the batch rule defines, or every generated image would change.
    region = REGIONS[name]
    for seed in range(100):
        rng, batch_rng = np.random.default_rng(seed), np.random.default_rng(seed)
        drawn, batch = region.sample(rng), 64
        while True:
            xs, ys, keep = region._propose(batch_rng, batch)
            hits = np.flatnonzero(keep & region.contains(xs, ys))
            if hits.size:
                break
            batch = min(4 * batch, 4096)
        assert drawn == (float(xs[hits[0]]), float(ys[hits[0]]))
        assert rng.random() == batch_rng.random()  # the stream is left in the same state


def test_union_samples_uniformly_over_overlaps_and_gaps():
    rng = np.random.default_rng(3)
    overlapping = Rect(0.0, 0.5, 0.0, 1.0) | Rect(0.25, 0.75, 0.0, 1.0)
    x = np.array([overlapping.sample(rng)[0] for _ in range(2000)])
    # Uniform on [0, 0.75): each third of it holds a third of the samples.
    fractions = np.histogram(x, bins=[0, 0.25, 0.5, 0.75])[0] / x.size
    assert np.allclose(fractions, 1 / 3, atol=0.03)
    sparse = Rect(0.0, 0.2, 0.0, 0.2) | Rect(0.5, 1.0, 0.5, 1.0)
    x = np.array([sparse.sample(rng)[0] for _ in range(2000)])
    assert np.mean(x < 0.2) == pytest.approx(0.04 / 0.29, abs=0.03)


def test_union_of_points_picks_each():
    rng = np.random.default_rng(0)
    draws = [(Point(0.1, 0.1) | Point(0.9, 0.2)).sample(rng) for _ in range(400)]
    assert set(draws) == {(0.1, 0.1), (0.9, 0.2)}
    assert 150 < draws.count((0.1, 0.1)) < 250


@pytest.mark.parametrize(
    "region",
    [
        EVERYWHERE - EVERYWHERE,
        Disc(0.5, 0.5, 0.2) - Rect(0.25, 0.75, 0.25, 0.75),
        Rect(0.0, 0.3, 0.0, 1.0) & Rect(0.6, 1.0, 0.0, 1.0),
        Point(0.5, 0.5) - Disc(0.5, 0.5, 0.01),
        Disc(2.0, 2.0, 0.5),
    ],
)
def test_empty_region(region):
    assert region.is_empty()
    assert region.area() == 0.0
    with pytest.raises(EmptyRegionError) as info:
        region.sample(np.random.default_rng(0))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"region {region.describe()} is empty or too small to sample:")
    assert isinstance(info.value, ValueError)
    assert np.all(region.distance([0.1, 0.5], [0.1, 0.5]) == np.inf)


@pytest.mark.parametrize(
    "region, expected",
    [
        (Rect(0.1, 0.4, 0.2, 0.9), 0.3 * 0.7),
        (Disc(0.5, 0.5, 0.3), math.pi * 0.09),
        (Disc(0.0, 0.0, 0.4), math.pi * 0.16 / 4),
        (Ring(0.5, 0.5, 0.15, 0.35), math.pi * (0.35**2 - 0.15**2)),
        (EVERYWHERE - Disc(0.5, 0.5, 0.25), 1 - math.pi * 0.0625),
        (EVERYWHERE - Rect(0.5, 1.0, 0.5, 1.0), 0.75),
        (Cells(GRID, (0, 1, 2)), 3 / 16),
        (Point(0.5, 0.5, 0.1), 0.04),
    ],
)
def test_area_matches_analytic_value(region, expected):
    assert region.area() == pytest.approx(expected, abs=2e-3)
    assert region.area(128) == pytest.approx(expected, abs=1e-2)


def test_distance_rect_and_disc():
    resolution = 256
    x, y = random_points(5, 4096)
    rect = Rect(0.25, 0.75, 0.2, 0.6)
    expected = np.array([math.hypot(max(0.25 - a, 0, a - 0.75), max(0.2 - b, 0, b - 0.6)) for a, b in zip(x, y)])
    got = rect.distance(x, y, resolution)
    inside = rect.contains(x, y)
    assert np.all(got[inside] == 0)
    assert np.abs(got - expected).max() <= 1 / resolution
    disc = Disc(0.4, 0.55, 0.2)
    expected = np.array([max(0.0, math.dist((a, b), (0.4, 0.55)) - 0.2) for a, b in zip(x, y)])
    got = disc.distance(x, y, resolution)
    assert np.all(got[disc.contains(x, y)] == 0)
    assert np.abs(got - expected).max() <= 1 / resolution


def test_distance_keeps_shape_and_reaches_thin_regions():
    got = Rect(0.0, 0.5, 0.0, 1.0).distance(np.full((2, 3), 0.75), 0.5)
    assert got.shape == (2, 3)
    assert np.allclose(got, 0.25, atol=1 / 256)
    assert float(Point(0.3, 0.3).distance(0.6, 0.7)) == pytest.approx(0.5)


def test_distance_of_4096_points_matches_the_geometry():
    # Its speed is measured by benchmarks, not asserted here.
    x, y = random_points(9, 4096)
    region = EVERYWHERE - Rect(0.5, 1.0, 0.5, 1.0)

    def to_rect(x0, x1, y0, y1):
        return np.hypot(np.maximum.reduce([x0 - x, 0 * x, x - x1]), np.maximum.reduce([y0 - y, 0 * y, y - y1]))

    expected = np.minimum(to_rect(0.0, 0.5, 0.0, 1.0), to_rect(0.0, 1.0, 0.0, 0.5))
    assert np.allclose(region.distance(x, y), expected, atol=1.5 / 256)


@pytest.mark.parametrize("name", REGIONS)
def test_dict_round_trip(name):
    region = REGIONS[name]
    d = json.loads(json.dumps(region.to_dict()))
    back = region_from_dict(d)
    assert back == region
    assert repr(back) == repr(region)
    assert hash(back) == hash(region)


def test_to_dict_shape():
    expected = {"kind": "rect", "x0": 0.0, "x1": 0.5, "y0": 0.0, "y1": 1.0}
    assert Rect(0.0, 0.5, 0.0, 1.0).to_dict() == expected
    d = (Disc(0.5, 0.5, 0.2) - Point(0.5, 0.5, 0.05)).to_dict()
    assert d["kind"] == "difference"
    assert d["minus"] == {"kind": "point", "x": 0.5, "y": 0.5, "jitter": 0.05}


@pytest.mark.parametrize(
    "d",
    [
        {"kind": "hexagon"},
        {"x0": 0},
        {"kind": "rect", "x0": 0, "x1": 1, "y0": 0},
        {"kind": "disc", "cx": 0.5, "cy": 0.5, "r": 0.1, "colour": "red"},
        {"kind": "union", "parts": {"kind": "rect"}},
        [1, 2],
    ],
)
def test_from_dict_rejects_bad_descriptions(d):
    with pytest.raises(ValueError) as info:
        region_from_dict(d)
    assert "\n" not in str(info.value) and ";" in str(info.value)


def test_unknown_kind_lists_valid_ones():
    with pytest.raises(ValueError, match="expected one of: cells, difference, disc"):
        region_from_dict({"kind": "hexagon"})


@pytest.mark.parametrize(
    "make",
    [
        lambda: Rect(0.5, 0.5, 0.0, 1.0),
        lambda: Rect(0.6, 0.5, 0.0, 1.0),
        lambda: Rect(-0.1, 0.5, 0.0, 1.0),
        lambda: Rect(0.0, 0.5, 0.0, 1.5),
        lambda: Rect(0.0, float("nan"), 0.0, 1.0),
        lambda: Rect("0", 0.5, 0.0, 1.0),
        lambda: Disc(0.5, 0.5, 0.0),
        lambda: Disc(0.5, 0.5, -0.1),
        lambda: Ring(0.5, 0.5, 0.3, 0.3),
        lambda: Ring(0.5, 0.5, -0.1, 0.3),
        lambda: Point(0.5, 0.5, -0.01),
        lambda: Point(1.5, 0.5),
        lambda: Cells(GRID, (16,)),
        lambda: Cells(GRID, ()),
        lambda: Union(()),
        lambda: Union((EVERYWHERE, "everywhere")),
        lambda: Intersection(()),
        lambda: Difference(EVERYWHERE, None),
        lambda: EVERYWHERE.area(0),
    ],
)
def test_invalid_input_is_one_line_value_error(make):
    with pytest.raises(ValueError) as info:
        make()
    assert "\n" not in str(info.value) and ";" in str(info.value)


def test_operators_build_flat_combinations():
    a, b, c = Rect(0.0, 0.2, 0.0, 1.0), Disc(0.5, 0.5, 0.1), Point(0.9, 0.9, 0.02)
    assert a | b | c == Union((a, b, c))
    assert a & b & c == Intersection((a, b, c))
    assert a - b == Difference(a, b)
    assert isinstance(a | b, Region)
    with pytest.raises(TypeError):
        a | 3


def test_describe():
    assert Rect(0.0, 0.5, 0.0, 1.0).describe() == "x < 0.5"
    assert Rect(0.5, 1.0, 0.25, 0.75).describe() == "x >= 0.5 and 0.25 <= y < 0.75"
    assert EVERYWHERE.describe() == "everywhere"
    assert (Disc(0.5, 0.5, 0.2) - Rect(0.5, 1.0, 0.0, 0.5)).describe() == (
        "disc r=0.2 at (0.5, 0.5) minus (x >= 0.5 and y < 0.5)"
    )
    assert Point(0.5, 0.5, 0.02).describe() == "point (0.5, 0.5) jitter 0.02"
    assert Cells(GRID, (2, 1)).describe() == "cells 1, 2 of the 4x4 grid"
    for region in REGIONS.values():
        assert "\n" not in region.describe()


def test_values_are_canonical_and_hashable():
    assert Rect(0, 1, 0, 1) == EVERYWHERE
    assert repr(Rect(np.float64(0), np.int64(1), 0, 1)) == "Rect(x0=0.0, x1=1.0, y0=0.0, y1=1.0)"
    assert len(set(REGIONS.values())) == len(REGIONS)
    with pytest.raises(AttributeError):
        EVERYWHERE.x0 = 0.5


@pytest.mark.parametrize("name", REGIONS)
def test_bounds_hold_the_region(name):
    region = REGIONS[name]
    x, y = np.meshgrid(np.linspace(0, 1, 257), np.linspace(0, 1, 257))
    inside = region.contains(x, y)
    x0, x1, y0, y1 = region.bounds
    assert 0 <= x0 <= x1 <= 1 and 0 <= y0 <= y1 <= 1
    assert np.all((x[inside] >= x0) & (x[inside] <= x1) & (y[inside] >= y0) & (y[inside] <= y1))
    assert all(type(v) is float for v in region.bounds)
