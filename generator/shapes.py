"""A shape is a region of its canonical frame ``[-1, 1]²`` (``u`` right, ``v`` down), with a name.

Three families share this one concept: named geometric shapes (polygons, and the circle, defined
here), glyphs (characters of a font, :mod:`generator.glyphs`) and novel shapes (seeded random
closed curves, :mod:`generator.novel`); :func:`generator.catalog.get_shape` resolves any of them by
name. Every shape records its order of rotational symmetry, so that protocols about rotation can
keep to shapes for which rotation is well posed: 1 means none, ``k > 1`` means it looks the same
after ``360 / k`` degrees, 0 means continuous (the circle).

Rendering needs ``inside`` at the points of a regular lattice (the supersampling grid), placed by
an affine map; ``Shape.raster`` does that from ``inside``, and polygons do it faster by a scanline
over their edges (:func:`scanline`, for many polygons at once), which gives the same answer point
by point (tests check it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

# Area of every asymmetric geometric shape in the canonical frame (of area 4): the smallest
# fitted outline's (kite, chevron), so that no shape grows past the frame. At scale 0.25 on a
# 64-pixel canvas that is 77 pixels for every class.
CLASS_AREA = 1.2
# The same for the other families: the smallest glyph's area ('I'), and a floor that novel curves
# must reach before they are scaled down to it (the smallest of 300 drawn curves covers 1.78).
GLYPH_AREA = 0.5
NOVEL_AREA = 1.6


@dataclass(frozen=True, eq=False)
class Shape(ABC):
    """A named region of the canonical frame.

    Attributes:
        name: the registry name, e.g. ``"arrow"``, ``"glyph:A"``, ``"novel:7:3"``.
        family: ``"geometric"``, ``"glyph"`` or ``"novel"``.
        symmetry: order of rotational symmetry (1 none, ``k`` k-fold, 0 continuous).
        radius: radius of the smallest disc about the frame centre that holds the shape.
    """

    name: str
    family: str
    symmetry: int
    radius: float

    @abstractmethod
    def inside(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Whether each point ``(u, v)`` of the canonical frame lies in the shape (bool array)."""

    def raster(self, placement: np.ndarray, rows: int, cols: int) -> np.ndarray:
        """``inside`` at the lattice points ``(row, col)``, ``0 <= row < rows``, ``0 <= col < cols``.

        Args:
            placement: 2×3 affine map from canonical ``(u, v, 1)`` to lattice ``(col, row)``.
            rows: number of lattice rows.
            cols: number of lattice columns.

        Returns:
            Bool array of shape ``(rows, cols)``.
        """
        inverse = np.linalg.inv(np.vstack([placement, [0.0, 0.0, 1.0]]))[:2]
        col = np.arange(cols, dtype=np.float64)[None, :]
        row = np.arange(rows, dtype=np.float64)[:, None]
        u = inverse[0, 0] * col + (inverse[0, 1] * row + inverse[0, 2])
        v = inverse[1, 0] * col + (inverse[1, 1] * row + inverse[1, 2])
        return self.inside(u, v)


@dataclass(frozen=True, eq=False)
class PolygonShape(Shape):
    """A region bounded by closed polygons, filled by the even-odd rule (so a contour inside
    another cuts a hole). ``contours`` holds one ``(n, 2)`` array of ``(u, v)`` vertices each;
    ``start`` and ``end`` stack the two ends of every edge of every contour."""

    contours: tuple[np.ndarray, ...]
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def build(cls, name: str, family: str, symmetry: int, contours: tuple[np.ndarray, ...]) -> PolygonShape:
        """A polygon shape with its radius computed from the vertices."""
        contours = tuple(np.asarray(c, dtype=np.float64) for c in contours)
        radius = float(max(np.hypot(c[:, 0], c[:, 1]).max() for c in contours))
        start = np.concatenate(contours)
        end = np.concatenate([np.roll(c, -1, axis=0) for c in contours])
        return cls(name, family, symmetry, radius, contours, start, end)

    def inside(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        u, v = np.broadcast_arrays(np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64))
        odd = np.zeros(u.shape, dtype=bool)
        for (u1, v1), (u2, v2) in zip(self.start, self.end):
            if v1 == v2:
                continue
            crosses = (v1 > v) != (v2 > v)
            u_cross = u1 + (v - v1) * ((u2 - u1) / (v2 - v1))
            odd ^= crosses & (u < u_cross)
        return odd

    def raster(self, placement: np.ndarray, rows: int, cols: int) -> np.ndarray:
        return scanline([(self, placement, rows, cols)], rows, cols)[0].T.astype(bool)


def scanline(polygons: list[tuple[PolygonShape, np.ndarray, int, int]], rows: int, cols: int) -> np.ndarray:
    """Even-odd fill of many placed polygons at once: ``(P, cols, rows)`` uint8 of 0/1.

    Each item is a polygon, its placement (canonical ``(u, v)`` to lattice ``(col, row)``) and its
    own lattice window ``rows × cols``, at most the shared ``rows × cols``; what lies past an
    item's own window is garbage. Column-major, so that the running parity along each lattice row
    is one vectorised sum down the columns: find where each lattice row crosses each edge, mark
    the first lattice point right of each crossing, and the running count's parity is inside.
    """
    marks = np.zeros((len(polygons), cols + 1, rows), dtype=np.uint8)
    start = np.concatenate([shape.start @ place[:, :2].T + place[:, 2] for shape, place, _, _ in polygons])
    end = np.concatenate([shape.end @ place[:, :2].T + place[:, 2] for shape, place, _, _ in polygons])
    counts = [len(shape.start) for shape, _, _, _ in polygons]
    owner = np.repeat(np.arange(len(polygons)), counts)
    own_rows = np.repeat([r for _, _, r, _ in polygons], counts)
    own_cols = np.repeat([c for _, _, _, c in polygons], counts)
    # Lattice row r crosses an edge iff (r1 > r) != (r2 > r), i.e. ceil(lo) <= r < ceil(hi).
    lo = np.clip(np.ceil(np.minimum(start[:, 1], end[:, 1])), 0, own_rows).astype(np.int64)
    hi = np.clip(np.ceil(np.maximum(start[:, 1], end[:, 1])), 0, own_rows).astype(np.int64)
    spans = np.maximum(hi - lo, 0)
    edge = np.repeat(np.arange(len(spans)), spans)
    r = lo[edge] + (np.arange(len(edge)) - np.repeat(np.cumsum(spans) - spans, spans))
    (c1, r1), (c2, r2) = start[edge].T, end[edge].T
    col_cross = c1 + (r - r1) * ((c2 - c1) / (r2 - r1))
    # A lattice point counts a crossing strictly to its left, as inside() counts one to its right:
    # the two parities agree because every row crosses a closed contour evenly often. Crossings
    # are counted in uint8: only their parity matters.
    first = np.clip(np.floor(col_cross) + 1, 0, own_cols[edge]).astype(np.int64)
    # Ones of the marks' own dtype take numpy's fast path for add.at (a Python 1 is about 20 times slower).
    np.add.at(marks.reshape(-1), (owner[edge] * (cols + 1) + first) * rows + r, np.ones(len(edge), np.uint8))
    inside = np.cumsum(marks[:, :cols], axis=1, dtype=np.uint8)
    inside &= 1
    return inside


@dataclass(frozen=True, eq=False)
class CircleShape(Shape):
    """The unit disc."""

    def inside(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.square(u) + np.square(v) <= 1.0


@dataclass(frozen=True, eq=False)
class MaskShape(Shape):
    """A region given by a square boolean bitmap over ``[-extent, extent]²`` (the frame when
    ``extent`` is 1), sampled at the nearest texel."""

    mask: np.ndarray
    extent: float = 1.0

    def inside(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        n = self.mask.shape[0]
        col = np.floor((np.asarray(u) / self.extent + 1.0) * (n / 2.0))
        row = np.floor((np.asarray(v) / self.extent + 1.0) * (n / 2.0))
        valid = (col >= 0) & (col < n) & (row >= 0) & (row < n)
        col = np.clip(col, 0, n - 1).astype(np.intp)
        row = np.clip(row, 0, n - 1).astype(np.intp)
        return self.mask[row, col] & valid


def quarter_turn_mismatch(mask: np.ndarray, turns: int) -> float:
    """Pixels that change when a centred square mask turns by ``turns`` × 90°, per mask pixel."""
    return float(np.count_nonzero(mask ^ np.rot90(mask, turns)) / max(np.count_nonzero(mask), 1))


def _fitted(*contours: list[tuple[float, float]]) -> tuple[np.ndarray, ...]:
    """Contours drawn on any grid, moved so their bounding box is centred and scaled to touch
    the frame along its longer side."""
    points = np.concatenate([np.asarray(c, dtype=np.float64) for c in contours])
    lo, hi = points.min(axis=0), points.max(axis=0)
    centre, half = (lo + hi) / 2.0, (hi - lo).max() / 2.0
    return tuple((np.asarray(c, dtype=np.float64) - centre) / half for c in contours)


def polygon_area(contours: tuple[np.ndarray, ...]) -> float:
    """Area of an outline whose first contour is the outside and every later one a hole in it."""

    def enclosed(c: np.ndarray) -> float:
        return 0.5 * abs(float(np.dot(c[:, 0], np.roll(c[:, 1], -1)) - np.dot(c[:, 1], np.roll(c[:, 0], -1))))

    return enclosed(contours[0]) - sum(enclosed(c) for c in contours[1:])


def with_area(contours: tuple[np.ndarray, ...], area: float) -> tuple[np.ndarray, ...]:
    """The contours scaled about the frame centre to enclose ``area``: classes of one size, so that
    size predicts no class. Refuses to grow a shape past the frame."""
    factor = float(np.sqrt(area / polygon_area(contours)))
    if factor > 1.0 + 1e-9:
        raise ValueError(f"a shape of area {polygon_area(contours):.3f} cannot grow to {area} inside the frame")
    return tuple(c * factor for c in contours)


def _regular(count: int, radius: float, phase: float) -> np.ndarray:
    angle = np.deg2rad(phase + 360.0 * np.arange(count) / count)
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def _star(points: int, inner: float) -> np.ndarray:
    outer = _regular(points, 1.0, -90.0)
    between = _regular(points, inner, -90.0 + 180.0 / points)
    return np.stack([outer, between], axis=1).reshape(-1, 2)


def _geometric() -> dict[str, Shape]:
    # Asymmetric shapes (the classes of the suite) are drawn on a 10-unit grid (v down), fitted to
    # the frame, then scaled to one common area; symmetric ones (distractors, the Red-Green boxes)
    # are drawn about the frame centre, their centre of symmetry, and keep their size.
    asymmetric = {
        "L": [[(0, 0), (3, 0), (3, 7), (7, 7), (7, 10), (0, 10)]],
        "F": [[(0, 0), (7, 0), (7, 2.5), (3, 2.5), (3, 4.5), (6, 4.5), (6, 7), (3, 7), (3, 10), (0, 10)]],
        "P": [[(0, 0), (7, 0), (7, 6), (3, 6), (3, 10), (0, 10)], [(3, 2), (5, 2), (5, 4), (3, 4)]],
        "arrow": [[(0, 3.5), (6, 3.5), (6, 1), (10, 5), (6, 9), (6, 6.5), (0, 6.5)]],
        "right-triangle": [[(0, 0), (0, 10), (7, 10)]],
        "kite": [[(5, 0), (8, 3.5), (5, 10), (2, 3.5)]],
        "flag": [[(0, 0), (8, 0), (6, 2.5), (8, 5), (1.5, 5), (1.5, 10), (0, 10)]],
        "key": [
            [
                (0, 0),
                (4.5, 0),
                (4.5, 2.2),
                (10, 2.2),
                (10, 5.5),
                (9, 5.5),
                (9, 3.8),
                (8, 3.8),
                (8, 5),
                (7, 5),
                (7, 3.8),
                (4.5, 3.8),
                (4.5, 6),
                (0, 6),
            ],
            [(1.2, 1.8), (3.3, 1.8), (3.3, 4.2), (1.2, 4.2)],
        ],
        "house": [[(1, 5), (5, 1), (6.5, 2.5), (6.5, 1), (8, 1), (8, 4), (9, 5), (9, 10), (1, 10)]],
        "chevron": [[(0, 0), (3, 0), (8, 5), (3, 10), (0, 10), (5, 5)]],
        "trapezoid": [[(2.5, 2), (7.5, 2), (10, 8), (0, 8)]],
        "lightning": [[(3, 0), (8, 0), (5.5, 4), (8.5, 4), (2, 10), (4, 5.5), (1.5, 5.5)]],
    }
    shapes: dict[str, Shape] = {
        name: PolygonShape.build(name, "geometric", 1, with_area(_fitted(*contours), CLASS_AREA))
        for name, contours in asymmetric.items()
    }
    symmetric = {
        "square": (4, [(-1, -1), (1, -1), (1, 1), (-1, 1)]),
        "cross": (
            4,
            [
                (-0.3, -1),
                (0.3, -1),
                (0.3, -0.3),
                (1, -0.3),
                (1, 0.3),
                (0.3, 0.3),
                (0.3, 1),
                (-0.3, 1),
                (-0.3, 0.3),
                (-1, 0.3),
                (-1, -0.3),
                (-0.3, -0.3),
            ],
        ),
        "star": (5, _star(5, 0.45)),
        "hexagon": (6, _regular(6, 1.0, 0.0)),
    }
    for name, (order, outline) in symmetric.items():
        shapes[name] = PolygonShape.build(name, "geometric", order, (np.asarray(outline),))
    shapes["circle"] = CircleShape("circle", "geometric", 0, 1.0)
    return shapes


_GEOMETRIC = _geometric()
GEOMETRIC_SHAPES: tuple[str, ...] = tuple(_GEOMETRIC)
ASYMMETRIC_SHAPES: tuple[str, ...] = tuple(n for n, s in _GEOMETRIC.items() if s.symmetry == 1)


def geometric_shape(name: str) -> Shape:
    """The geometric shape called ``name`` (one of :data:`GEOMETRIC_SHAPES`)."""
    return _GEOMETRIC[name]
