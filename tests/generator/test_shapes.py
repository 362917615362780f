"""Shapes: the registry, the three families, and the geometry each shape promises."""

import numpy as np
import pytest

from elsewhere.generator import ASYMMETRIC_SHAPES, GEOMETRIC_SHAPES, Shape, get_shape, glyph_names, novel_names
from elsewhere.generator.glyphs import MASK_SIZE, glyph_mask
from elsewhere.generator.novel import novel_outline
from elsewhere.generator.shapes import CLASS_AREA, GLYPH_AREA, NOVEL_AREA, polygon_area, with_area

SOME_GLYPHS = glyph_names("0AHR7")
SOME_NOVEL = novel_names(0, 4) + novel_names(12345, 2, start=100)
ALL_SWEPT = GEOMETRIC_SHAPES + SOME_GLYPHS + SOME_NOVEL

GRID = np.linspace(-1.5, 1.5, 301)
U, V = np.meshgrid(GRID, GRID)


def test_registry_sizes_and_asymmetric_subset():
    assert len(GEOMETRIC_SHAPES) >= 12
    assert len(set(GEOMETRIC_SHAPES)) == len(GEOMETRIC_SHAPES)
    assert len(ASYMMETRIC_SHAPES) >= 10
    assert ASYMMETRIC_SHAPES == tuple(n for n in GEOMETRIC_SHAPES if get_shape(n).symmetry == 1)
    assert {"square", "cross", "star", "hexagon", "circle"} <= set(GEOMETRIC_SHAPES)
    assert {n: get_shape(n).symmetry for n in ("square", "cross", "star", "hexagon", "circle")} == {
        "square": 4,
        "cross": 4,
        "star": 5,
        "hexagon": 6,
        "circle": 0,
    }


@pytest.mark.parametrize("name", ALL_SWEPT)
def test_shape_contract(name):
    shape = get_shape(name)
    assert isinstance(shape, Shape)
    assert shape.name == name
    assert shape.family == {"glyph": "glyph", "novel": "novel"}.get(name.split(":")[0], "geometric")
    hit = shape.inside(U, V)
    assert hit.dtype == bool and hit.shape == U.shape
    # Inside the frame, not empty, and no point beyond the bounding disc.
    assert not hit[(np.abs(U) > 1) | (np.abs(V) > 1)].any()
    assert hit.mean() > 0.03
    assert not hit[np.hypot(U, V) > shape.radius + 1e-9].any()
    assert shape.radius <= np.sqrt(2) + 1e-9


FINE = np.linspace(-1, 1, 801)
FINE_U, FINE_V = np.meshgrid(FINE, FINE)
STEP = FINE[1] - FINE[0]


def _box(name: str) -> tuple[np.ndarray, np.ndarray]:
    hit = get_shape(name).inside(FINE_U, FINE_V)
    us, vs = FINE_U[hit], FINE_V[hit]
    return np.array([us.min(), vs.min()]), np.array([us.max(), vs.max()])


# Star and hexagon are centred on their centre of symmetry instead; novel outlines are checked by
# their vertices below.
@pytest.mark.parametrize("name", [n for n in GEOMETRIC_SHAPES + SOME_GLYPHS if n not in ("star", "hexagon")])
def test_shape_bounding_box_is_centred(name):
    lo, hi = _box(name)
    assert np.allclose((lo + hi) / 2, 0, atol=2 * STEP)


@pytest.mark.parametrize("name", [n for n in GEOMETRIC_SHAPES if n not in ASYMMETRIC_SHAPES + ("star", "hexagon")])
def test_symmetric_shapes_touch_the_frame(name):
    lo, hi = _box(name)
    assert (hi - lo).max() >= 2 - 3 * STEP


def _area(name: str) -> float:
    return get_shape(name).inside(FINE_U, FINE_V).mean() * 4


def test_glyphs_share_one_area_unless_smaller():
    """Each glyph is shrunk to GLYPH_AREA; the smallest ('I') already is that size and touches the frame."""
    for name in glyph_names("0178BMQ"):
        assert _area(name) == pytest.approx(GLYPH_AREA, rel=0.03), name
    lo, hi = _box("glyph:I")
    assert (hi - lo).max() >= 2 - 3 * STEP and _area("glyph:I") == pytest.approx(GLYPH_AREA, rel=0.03)


def test_novel_shapes_share_one_area():
    for name in SOME_NOVEL:
        assert polygon_area(get_shape(name).contours) == pytest.approx(NOVEL_AREA)
        assert _area(name) == pytest.approx(NOVEL_AREA, rel=0.01)


def test_class_shapes_share_one_area_and_the_largest_fills_the_frame():
    """Shape, not size: every asymmetric shape covers the same area, measured by its own ``inside``."""
    areas = {name: get_shape(name).inside(FINE_U, FINE_V).mean() * 4 for name in ASYMMETRIC_SHAPES}
    assert all(area == pytest.approx(CLASS_AREA, rel=0.01) for area in areas.values()), areas
    # The area is as large as the frame allows: the smallest outline (kite) still spans it.
    assert max((hi - lo).max() for lo, hi in map(_box, ASYMMETRIC_SHAPES)) >= 2 - 3 * STEP


def test_polygon_area_counts_holes_and_with_area_scales_about_the_centre():
    square = np.array([(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)])
    assert polygon_area((square,)) == pytest.approx(4.0)
    assert polygon_area((square, square / 2)) == pytest.approx(3.0)
    (smaller,) = with_area((square,), 1.0)
    assert np.allclose(smaller, square / 2)
    with pytest.raises(ValueError, match="cannot grow"):
        with_area((square,), 5.0)


def test_inside_at_known_points():
    square, circle = get_shape("square"), get_shape("circle")
    assert square.inside(np.array([0.99, -0.99, 1.01]), np.array([0.99, 0.5, 0.0])).tolist() == [True, True, False]
    assert circle.inside(np.array([0.7, 0.71, 0.0]), np.array([0.7, 0.71, -0.99])).tolist() == [True, False, True]
    # The P's bowl has a hole: the point at its middle is outside, the stem's middle inside
    # (points of the fitted outline, scaled with it to the common area).
    p, (p_lo, p_hi) = get_shape("P"), _box("P")
    half = (p_hi - p_lo).max() / 2
    assert p.inside(half * np.array([-0.1, -0.7]), half * np.array([-0.6, 0.6])).tolist() == [False, True]
    # The arrow points right: its tip half is narrower than its head's base.
    arrow, (a_lo, a_hi) = get_shape("arrow"), _box("arrow")
    tip = a_hi[0] - 0.05 * (a_hi - a_lo).max() / 2
    assert arrow.inside(np.array([tip]), np.array([0.0]))[0]
    assert not arrow.inside(np.array([tip]), np.array([0.3 * (a_hi - a_lo).max() / 2]))[0]


@pytest.mark.parametrize("name", GEOMETRIC_SHAPES + SOME_NOVEL)
@pytest.mark.parametrize("angle", [0.0, 90.0, 33.3, 211.0])
def test_polygon_scanline_raster_agrees_with_inside(name, angle):
    shape = get_shape(name)
    rad = np.deg2rad(angle)
    # Generic numbers, so that no lattice point lies exactly on an edge: there the two ways of
    # computing may round to opposite sides (e.g. 23.7 and 40.3 put column 64 on u = 1).
    k = 23.71
    placement = np.array([[k * np.cos(rad), k * np.sin(rad), 40.37], [-k * np.sin(rad), k * np.cos(rad), 38.91]])
    fast = shape.raster(placement, 80, 84)
    # The definition: map each lattice point back to the frame and ask inside().
    rows, cols = np.mgrid[0:80, 0:84].astype(float)
    inverse = np.linalg.inv(np.vstack([placement, [0, 0, 1]]))
    u = inverse[0, 0] * cols + inverse[0, 1] * rows + inverse[0, 2]
    v = inverse[1, 0] * cols + inverse[1, 1] * rows + inverse[1, 2]
    slow = shape.inside(u, v)
    assert fast.any()
    assert np.array_equal(fast, slow)


def test_get_shape_is_cached():
    assert get_shape("kite") is get_shape("kite")
    assert get_shape("glyph:Q") is get_shape("glyph:Q")
    assert get_shape("novel:3:4") is get_shape("novel:3:4")


@pytest.mark.parametrize(
    "bad",
    [
        "blob",
        "",
        "glyph:",
        "glyph:AB",
        "glyph: ",
        "novel:1",
        "novel:a:1",
        "novel:-1:2",
        "novel:01:2",
        "novel:1:2:3",
        "Glyph:A",
    ],
)
def test_unknown_names_are_refused_with_the_valid_families(bad):
    with pytest.raises(ValueError) as error:
        get_shape(bad)
    message = str(error.value)
    assert "\n" not in message
    if ":" not in bad or bad.startswith("Glyph"):
        assert "glyph:<character>" in message and "novel:<set_seed>:<k>" in message
        assert "arrow" in message


def test_glyph_names():
    assert glyph_names("A7") == ("glyph:A", "glyph:7")
    default = glyph_names()
    assert len(default) == 36 and default[0] == "glyph:0" and default[-1] == "glyph:Z"


def test_glyph_mask_is_centred_and_fitted():
    for char in "AgJ1-":
        mask = glyph_mask(char)
        assert mask.shape == (MASK_SIZE, MASK_SIZE)
        rows, cols = np.nonzero(mask)
        for lo, hi in ((rows.min(), rows.max()), (cols.min(), cols.max())):
            assert abs((lo + hi + 1) / 2 - MASK_SIZE / 2) <= 1.0
        assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 >= MASK_SIZE - 2


def _turned_mismatch(mask, turns):
    return np.count_nonzero(mask != np.rot90(mask, turns)) / np.count_nonzero(mask)


def test_glyph_symmetry_is_measured_not_assumed():
    # Letters that no reasonable font draws with rotational symmetry.
    for char in "FPRL74GJ":
        assert get_shape(f"glyph:{char}").symmetry == 1, char
    # O and I are 2-fold symmetric in any reasonable font; the record must agree with the mask.
    for char in "OI":
        assert get_shape(f"glyph:{char}").symmetry == 2, char
    for name in glyph_names():
        mask = get_shape(name).mask
        symmetric = _turned_mismatch(mask, 2) < 0.03
        assert (get_shape(name).symmetry in (2, 4)) == symmetric, name


def test_six_and_nine_are_rotations_of_each_other():
    six, nine = get_shape("glyph:6").mask, get_shape("glyph:9").mask
    assert np.count_nonzero(six != np.rot90(nine, 2)) / np.count_nonzero(six) < 0.05
    assert np.count_nonzero(six != nine) / np.count_nonzero(six) > 0.2


def test_novel_names():
    assert novel_names(7, 3) == ("novel:7:0", "novel:7:1", "novel:7:2")
    assert novel_names(7, 2, start=5) == ("novel:7:5", "novel:7:6")
    assert novel_names(7, 0) == ()
    for bad in ((-1, 2), (1, -2), (1.5, 2)):
        with pytest.raises(ValueError):
            novel_names(*bad)


def test_novel_shape_is_a_pure_function_of_set_seed_and_class():
    first = novel_outline(9, 4)
    again = novel_outline(9, 4)
    assert np.array_equal(first, again)
    assert np.array_equal(get_shape("novel:9:4").contours[0], first)
    assert not np.allclose(novel_outline(9, 5), first)
    assert not np.allclose(novel_outline(10, 4), first)


@pytest.mark.parametrize("name", novel_names(2024, 24))
def test_novel_shapes_are_asymmetric_centred_polygons_of_one_area(name):
    shape = get_shape(name)
    assert shape.family == "novel" and shape.symmetry == 1
    (outline,) = shape.contours
    assert outline.shape[0] >= 128
    lo, hi = outline.min(axis=0), outline.max(axis=0)
    assert np.allclose((lo + hi) / 2, 0, atol=1e-12)
    assert (hi - lo).max() <= 2.0 + 1e-12
    assert polygon_area(shape.contours) == pytest.approx(NOVEL_AREA)
    hit = shape.inside(U, V)
    for turns in (1, 2, 3):
        assert _turned_mismatch(hit, turns) > 0.1
