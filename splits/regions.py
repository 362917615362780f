"""Regions: sets of object centres ``(x, y)`` in the unit square, decided by predicate.

A region answers ``contains(x, y)`` for any array of points, so whether a held-out region is
disjoint from the training region is checked, never hoped; ``sample(rng)`` draws one point
uniformly from it by rejection. Coordinates are those of :mod:`generator.scene` (``x`` right,
``y`` down, both in ``[0, 1]``), and every region is a subset of the closed unit square:
``contains`` is false outside it whatever the shape's formula says.

Shapes are half-open so that regions which tile the square share no point: :class:`Rect` holds
``x0 <= x < x1 and y0 <= y < y1``, :class:`Disc` holds ``distance < r``, :class:`Ring` holds
``inner <= distance < outer``. The one exception is the canvas edge: a rect whose ``x1`` (or
``y1``) is 1 also holds ``x == 1`` (``y == 1``), as the location grid's last cell holds its upper
edge. So :data:`EVERYWHERE` is the whole closed square, no object centre falls outside every part
of a tiling, and two rects that are disjoint without the exception stay disjoint with it.

Areas and distances are numerical, from a regular grid of points, so they work for any
combination of shapes.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from elsewhere.errors import ElsewhereError
from elsewhere.splits.grid import Grid

Bounds = tuple[float, float, float, float]
Points = tuple[NDArray[np.float64], NDArray[np.float64]]

_FIRST_BATCH = 64
_MAX_BATCH = 4096
_MAX_DRAWS = 1 << 16
# Query-by-member pairs that distance() holds in memory at once (about 32 MB of float64).
_DISTANCE_PAIRS = 1 << 22

_KINDS: dict[str, tuple[str, ...]] = {
    "rect": ("x0", "x1", "y0", "y1"),
    "disc": ("cx", "cy", "r"),
    "ring": ("cx", "cy", "inner", "outer"),
    "point": ("x", "y", "jitter"),
    "cells": ("grid", "cells"),
    "union": ("parts",),
    "difference": ("base", "minus"),
    "intersection": ("parts",),
}


class EmptyRegionError(ElsewhereError):
    """A region (or set of factor values) has no point to sample, or too few to find one."""


def _points(x: ArrayLike, y: ArrayLike) -> Points:
    x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return x, y


def finite(owner: str, name: str, value: Any) -> float:
    """``value`` as a plain float, or a one-line ValueError naming ``owner`` and ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ElsewhereError(f"{owner} {name}={value!r} is not a number; give a finite float")
    if not math.isfinite(value):
        raise ElsewhereError(f"{owner} {name}={value!r} is not finite; give a finite float")
    return float(value)


def _set_numbers(region: Region, owner: str, names: tuple[str, ...]) -> None:
    # Plain floats make equal regions hash alike and print alike, whatever number type came in.
    for name in names:
        object.__setattr__(region, name, finite(owner, name, getattr(region, name)))


def _grid_centres(resolution: int) -> Points:
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise ElsewhereError(f"resolution={resolution!r} is invalid; it must be an integer >= 1")
    centres = (np.arange(resolution) + 0.5) / resolution
    x, y = np.meshgrid(centres, centres)
    return x, y


def _clip01(value: float) -> float:
    return min(max(value, 0.0), 1.0)


class Region(ABC):
    """A set of object centres ``(x, y)`` in the closed unit square.

    Concrete regions are frozen dataclasses: they hash, compare by value and print the same way
    every run. ``a | b``, ``a - b`` and ``a & b`` build :class:`Union`, :class:`Difference` and
    :class:`Intersection`.
    """

    @abstractmethod
    def _contains(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Membership by the shape's own formula, for broadcast float arrays."""

    @abstractmethod
    def _anchors(self) -> Points:
        """A few points the region most likely holds (a centre, a corner).

        They are checked alongside the grid points, so that a region thinner than one grid step,
        such as a point without jitter, is not taken for empty.
        """

    @property
    @abstractmethod
    def bounds(self) -> Bounds:
        """``(x0, x1, y0, y1)``: a box inside ``[0, 1]²`` that holds the whole region."""

    @abstractmethod
    def describe(self) -> str:
        """One readable line, e.g. ``"x < 0.5"``."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description ``{"kind": ..., ...}``, the inverse of :func:`region_from_dict`."""

    def contains(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]:
        """Whether each point (``x`` and ``y`` broadcast together) lies in the region."""
        return self._member(*_points(x, y))

    def _member(self, x: Any, y: Any) -> Any:
        """``contains`` for float64 arrays of one shape, or for two float64 scalars."""
        return (x >= 0.0) & (x <= 1.0) & (y >= 0.0) & (y <= 1.0) & self._contains(x, y)

    def _propose(self, rng: np.random.Generator, n: int) -> tuple[NDArray, NDArray, NDArray]:
        """``n`` candidates and whether to keep each, so that kept members are uniform."""
        x0, x1, y0, y1 = self.bounds
        return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n), np.ones(n, dtype=bool)

    def sample(self, rng: np.random.Generator) -> tuple[float, float]:
        """One point drawn uniformly from the region, by rejection in growing batches.

        Raises:
            EmptyRegionError: if none of 65536 candidates fell inside.
        """
        drawn, batch = 0, _FIRST_BATCH
        while drawn < _MAX_DRAWS:
            xs, ys, keep = self._propose(rng, batch)
            # Usually the first candidate is kept: testing it alone, as scalars, skips the batch's
            # array work (the same arithmetic, so the same point is drawn).
            if keep[0] and self._member(xs[0], ys[0]):
                return float(xs[0]), float(ys[0])
            hits = np.flatnonzero(keep & self._member(xs, ys))
            if hits.size:
                return float(xs[hits[0]]), float(ys[hits[0]])
            drawn += batch
            batch = min(4 * batch, _MAX_BATCH, _MAX_DRAWS - drawn)
        x0, x1, y0, y1 = self.bounds
        raise EmptyRegionError(
            f"region {self.describe()} is empty or too small to sample: none of {drawn} points "
            f"drawn in its bounds x [{x0:g}, {x1:g}], y [{y0:g}, {y1:g}] fell inside; "
            "check that a difference or intersection leaves an area, or enlarge the region"
        )

    def area(self, resolution: int = 512) -> float:
        """Fraction of the unit square covered, counted on a ``resolution²`` grid of cell centres."""
        x, y = _grid_centres(resolution)
        return float(self.contains(x, y).mean())

    def is_empty(self, resolution: int = 512) -> bool:
        """True if no grid point of that resolution and none of the region's anchors lies inside."""
        x, y = _grid_centres(resolution)
        ax, ay = self._anchors()
        return not (self.contains(ax, ay).any() or self.contains(x, y).any())

    def distance(self, x: ArrayLike, y: ArrayLike, resolution: int = 256) -> NDArray[np.float64]:
        """Euclidean distance from each point to the region: 0 inside, ``inf`` if it is empty.

        Measured to the nearest member among a ``resolution²`` grid of cell centres (plus the
        anchors), so it is exact inside and within about ``1 / resolution`` outside. Only members
        with a non-member side neighbour are searched: the nearest member of a point outside is
        one of them.
        """
        qx, qy = _points(x, y)
        shape = qx.shape
        qx, qy = qx.ravel(), qy.ravel()
        gx, gy = _grid_centres(resolution)
        member = self.contains(gx, gy)
        padded = np.pad(member, 1)
        interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
        ax, ay = self._anchors()
        anchored = self.contains(ax, ay)
        edge = member & ~interior
        px = np.concatenate([gx[edge], ax[anchored]])
        py = np.concatenate([gy[edge], ay[anchored]])

        out = np.zeros(qx.size)
        outside = np.flatnonzero(~self.contains(qx, qy))
        if px.size == 0:
            out[outside] = np.inf
            return out.reshape(shape)
        step = max(1, _DISTANCE_PAIRS // px.size)
        for start in range(0, outside.size, step):
            chosen = outside[start : start + step]
            squared = (qx[chosen, None] - px) ** 2 + (qy[chosen, None] - py) ** 2
            out[chosen] = np.sqrt(squared.min(axis=1))
        return out.reshape(shape)

    def __or__(self, other: object) -> Union:
        if not isinstance(other, Region):
            return NotImplemented
        return Union(_flatten(Union, (self, other)))

    def __and__(self, other: object) -> Intersection:
        if not isinstance(other, Region):
            return NotImplemented
        return Intersection(_flatten(Intersection, (self, other)))

    def __sub__(self, other: object) -> Difference:
        if not isinstance(other, Region):
            return NotImplemented
        return Difference(self, other)


def _flatten(kind: type[Union] | type[Intersection], regions: tuple[Region, ...]) -> tuple[Region, ...]:
    parts: list[Region] = []
    for region in regions:
        parts.extend(region.parts if isinstance(region, kind) else (region,))
    return tuple(parts)


def _axis_text(name: str, lo: float, hi: float) -> str | None:
    if lo == 0.0 and hi == 1.0:
        return None
    if lo == 0.0:
        return f"{name} < {hi:g}"
    if hi == 1.0:
        return f"{name} >= {lo:g}"
    return f"{lo:g} <= {name} < {hi:g}"


@dataclass(frozen=True)
class Rect(Region):
    """``x0 <= x < x1 and y0 <= y < y1``, plus the canvas edge 1 when ``x1`` or ``y1`` is 1."""

    x0: float
    x1: float
    y0: float
    y1: float

    def __post_init__(self) -> None:
        _set_numbers(self, "rect", ("x0", "x1", "y0", "y1"))
        for axis, lo, hi in (("x", self.x0, self.x1), ("y", self.y0, self.y1)):
            if not 0.0 <= lo < hi <= 1.0:
                raise ElsewhereError(f"rect {axis} range [{lo:g}, {hi:g}) is invalid; need 0 <= {axis}0 < {axis}1 <= 1")

    def _contains(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
        in_x = (x >= self.x0) & ((x < self.x1) | ((self.x1 == 1.0) & (x == 1.0)))
        in_y = (y >= self.y0) & ((y < self.y1) | ((self.y1 == 1.0) & (y == 1.0)))
        return in_x & in_y

    def _anchors(self) -> Points:
        middle = (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2
        return np.array([self.x0, middle[0]]), np.array([self.y0, middle[1]])

    @property
    def bounds(self) -> Bounds:
        return self.x0, self.x1, self.y0, self.y1

    def describe(self) -> str:
        terms = [t for t in (_axis_text("x", self.x0, self.x1), _axis_text("y", self.y0, self.y1)) if t]
        return " and ".join(terms) or "everywhere"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "rect", "x0": self.x0, "x1": self.x1, "y0": self.y0, "y1": self.y1}


EVERYWHERE = Rect(0.0, 1.0, 0.0, 1.0)
"""The whole closed unit square (the canvas-edge rule of :class:`Rect` admits ``x == 1``)."""


def _round_bounds(cx: float, cy: float, r: float) -> Bounds:
    return _clip01(cx - r), _clip01(cx + r), _clip01(cy - r), _clip01(cy + r)


@dataclass(frozen=True)
class Disc(Region):
    """Centres at distance ``< r`` from ``(cx, cy)``."""

    cx: float
    cy: float
    r: float

    def __post_init__(self) -> None:
        _set_numbers(self, "disc", ("cx", "cy", "r"))
        if self.r <= 0.0:
            raise ElsewhereError(f"disc radius r={self.r:g} is invalid; it must be > 0")

    def _contains(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
        return np.hypot(x - self.cx, y - self.cy) < self.r

    def _anchors(self) -> Points:
        return np.array([_clip01(self.cx)]), np.array([_clip01(self.cy)])

    @property
    def bounds(self) -> Bounds:
        return _round_bounds(self.cx, self.cy, self.r)

    def describe(self) -> str:
        return f"disc r={self.r:g} at ({self.cx:g}, {self.cy:g})"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "disc", "cx": self.cx, "cy": self.cy, "r": self.r}


@dataclass(frozen=True)
class Ring(Region):
    """Centres at distance ``inner <= d < outer`` from ``(cx, cy)`` (eccentricity bands)."""

    cx: float
    cy: float
    inner: float
    outer: float

    def __post_init__(self) -> None:
        _set_numbers(self, "ring", ("cx", "cy", "inner", "outer"))
        if not 0.0 <= self.inner < self.outer:
            raise ElsewhereError(
                f"ring radii inner={self.inner:g}, outer={self.outer:g} are invalid; need 0 <= inner < outer"
            )

    def _contains(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
        d = np.hypot(x - self.cx, y - self.cy)
        return (d >= self.inner) & (d < self.outer)

    def _anchors(self) -> Points:
        mid = (self.inner + self.outer) / 2
        return (
            self.cx + mid * np.array([1.0, -1.0, 0.0, 0.0]),
            self.cy + mid * np.array([0.0, 0.0, 1.0, -1.0]),
        )

    @property
    def bounds(self) -> Bounds:
        return _round_bounds(self.cx, self.cy, self.outer)

    def describe(self) -> str:
        return f"ring {self.inner:g} <= r < {self.outer:g} around ({self.cx:g}, {self.cy:g})"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "ring", "cx": self.cx, "cy": self.cy, "inner": self.inner, "outer": self.outer}


@dataclass(frozen=True)
class Point(Region):
    """One location with a square jitter: ``|x - x_p| <= jitter and |y - y_p| <= jitter``.

    With ``jitter == 0`` membership is exact equality and :meth:`sample` returns the point itself.
    """

    x: float
    y: float
    jitter: float = 0.0

    def __post_init__(self) -> None:
        _set_numbers(self, "point", ("x", "y", "jitter"))
        if not (0.0 <= self.x <= 1.0 and 0.0 <= self.y <= 1.0):
            raise ElsewhereError(f"point ({self.x:g}, {self.y:g}) is invalid; x and y must lie in [0, 1]")
        if self.jitter < 0.0:
            raise ElsewhereError(f"point jitter={self.jitter:g} is invalid; it must be >= 0")

    def _contains(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
        return (np.abs(x - self.x) <= self.jitter) & (np.abs(y - self.y) <= self.jitter)

    def _anchors(self) -> Points:
        return np.array([self.x]), np.array([self.y])

    @property
    def bounds(self) -> Bounds:
        return _round_bounds(self.x, self.y, self.jitter)

    def describe(self) -> str:
        jitter = f" jitter {self.jitter:g}" if self.jitter else ""
        return f"point ({self.x:g}, {self.y:g}){jitter}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "point", "x": self.x, "y": self.y, "jitter": self.jitter}


@dataclass(frozen=True)
class Cells(Region):
    """A union of cells of a location grid; membership by :meth:`Grid.cell_of`.

    ``cells`` is stored sorted and without repeats, so equal sets of cells compare equal.
    """

    grid: Grid
    cells: tuple[int, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.grid, Grid):
            raise ElsewhereError(f"cells need a splits.grid.Grid; got {type(self.grid).__name__}")
        cells = np.asarray(self.cells)
        if cells.ndim != 1 or cells.size == 0:
            raise ElsewhereError(f"cells={self.cells!r} is invalid; give a non-empty sequence of cell indices")
        self.grid.row_col(cells)
        object.__setattr__(self, "cells", tuple(int(c) for c in np.unique(cells)))

    def _contains(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
        return self._table[self.grid.cell_of(x, y)]

    @cached_property
    def _table(self) -> NDArray[np.bool_]:
        # One slot per cell plus a last, false one that the index -1 (outside the grid) reads.
        table = np.zeros(self.grid.size + 1, dtype=bool)
        table[list(self.cells)] = True
        return table

    def _anchors(self) -> Points:
        x, y = self.grid.centre(np.array(self.cells))
        return np.clip(x, 0.0, 1.0), np.clip(y, 0.0, 1.0)

    @cached_property
    def bounds(self) -> Bounds:
        row, col = self.grid.row_col(np.array(self.cells))
        lo, step = self.grid.lo, self.grid.step
        return (
            _clip01(lo + int(col.min()) * step),
            _clip01(lo + int(col.max() + 1) * step),
            _clip01(lo + int(row.min()) * step),
            _clip01(lo + int(row.max() + 1) * step),
        )

    def describe(self) -> str:
        g = self.grid
        over = "" if (g.lo, g.hi) == (0.0, 1.0) else f" over [{g.lo:g}, {g.hi:g}]"
        return f"cells {', '.join(map(str, self.cells))} of the {g.n}x{g.n} grid{over}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "cells", "grid": self.grid.to_dict(), "cells": list(self.cells)}


def _operand(region: Region) -> str:
    text = region.describe()
    if isinstance(region, (Union, Difference, Intersection)) or " and " in text:
        return f"({text})"
    return text


def _joined_anchors(parts: tuple[Region, ...]) -> Points:
    anchors = [p._anchors() for p in parts]
    return np.concatenate([a[0] for a in anchors]), np.concatenate([a[1] for a in anchors])


def _regions(owner: str, parts: Any) -> tuple[Region, ...]:
    parts = tuple(parts) if isinstance(parts, (list, tuple)) else parts
    if not isinstance(parts, tuple) or not parts or not all(isinstance(p, Region) for p in parts):
        raise ElsewhereError(f"{owner} parts={parts!r} is invalid; give a non-empty tuple of regions")
    return parts


@dataclass(frozen=True)
class Union(Region):
    """Points in any of ``parts``.

    :meth:`sample` is uniform over the union's area. Parts of zero area (a point without jitter)
    are therefore never drawn beside parts with area; a union of such parts alone picks one of
    them uniformly.
    """

    parts: tuple[Region, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", _regions("union", self.parts))

    def _contains(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
        inside = self.parts[0]._contains(x, y)
        for part in self.parts[1:]:
            inside = inside | part._contains(x, y)
        return inside

    def _anchors(self) -> Points:
        return _joined_anchors(self.parts)

    @cached_property
    def bounds(self) -> Bounds:
        boxes = np.array([p.bounds for p in self.parts])
        return (
            float(boxes[:, 0].min()),
            float(boxes[:, 1].max()),
            float(boxes[:, 2].min()),
            float(boxes[:, 3].max()),
        )

    @cached_property
    def _boxes(self) -> NDArray[np.float64]:
        """The parts' bounds, one column each: x0, x1, y0, y1."""
        return np.array([p.bounds for p in self.parts]).T

    def _propose(self, rng: np.random.Generator, n: int) -> tuple[NDArray, NDArray, NDArray]:
        x0, x1, y0, y1 = self._boxes
        areas = (x1 - x0) * (y1 - y0)
        if areas.sum() == 0.0:
            which = rng.integers(len(self.parts), size=n)
            proposals = [p._propose(rng, n) for p in self.parts]
            picked = [np.stack([q[i] for q in proposals])[which, np.arange(n)] for i in range(3)]
            return picked[0], picked[1], picked[2]
        # Candidates come from the parts' boxes, chosen by box area, so sparse unions sample fast.
        # Their density is proportional to the number of boxes holding them; keeping each with
        # probability one over that number makes the kept ones uniform over the union.
        cumulative = np.cumsum(areas)
        which = np.searchsorted(cumulative, rng.uniform(0.0, cumulative[-1], n), side="right")
        which = np.minimum(which, len(self.parts) - 1)
        xs = rng.uniform(x0[which], x1[which])
        ys = rng.uniform(y0[which], y1[which])
        covering = ((xs[:, None] >= x0) & (xs[:, None] < x1) & (ys[:, None] >= y0) & (ys[:, None] < y1)).sum(axis=1)
        return xs, ys, rng.random(n) * covering < 1.0

    def describe(self) -> str:
        return " or ".join(_operand(p) for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "union", "parts": [p.to_dict() for p in self.parts]}


@dataclass(frozen=True)
class Difference(Region):
    """Points of ``base`` that are not in ``minus`` (Spriteworld's ``SetMinus``)."""

    base: Region
    minus: Region

    def __post_init__(self) -> None:
        for name in ("base", "minus"):
            if not isinstance(getattr(self, name), Region):
                raise ElsewhereError(f"difference {name}={getattr(self, name)!r} is invalid; it must be a region")

    def _contains(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
        return self.base._contains(x, y) & ~self.minus._contains(x, y)

    def _anchors(self) -> Points:
        return self.base._anchors()

    @property
    def bounds(self) -> Bounds:
        return self.base.bounds

    def _propose(self, rng: np.random.Generator, n: int) -> tuple[NDArray, NDArray, NDArray]:
        return self.base._propose(rng, n)

    def describe(self) -> str:
        return f"{_operand(self.base)} minus {_operand(self.minus)}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "difference", "base": self.base.to_dict(), "minus": self.minus.to_dict()}


@dataclass(frozen=True)
class Intersection(Region):
    """Points in every one of ``parts``."""

    parts: tuple[Region, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", _regions("intersection", self.parts))

    def _contains(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
        inside = self.parts[0]._contains(x, y)
        for part in self.parts[1:]:
            inside = inside & part._contains(x, y)
        return inside

    def _anchors(self) -> Points:
        return _joined_anchors(self.parts)

    @cached_property
    def bounds(self) -> Bounds:
        boxes = np.array([p.bounds for p in self.parts])
        x0, y0 = float(boxes[:, 0].max()), float(boxes[:, 2].max())
        # Parts whose boxes miss each other leave a box of zero size; sampling then reports empty.
        return x0, max(x0, float(boxes[:, 1].min())), y0, max(y0, float(boxes[:, 3].min()))

    def describe(self) -> str:
        return " and ".join(_operand(p) for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "intersection", "parts": [p.to_dict() for p in self.parts]}


def checked_kind(d: Any, kinds: dict[str, tuple[str, ...]], what: str) -> str:
    """The ``kind`` of a description ``d`` whose fields are exactly those ``kinds`` lists for it."""
    if not isinstance(d, dict) or d.get("kind") not in kinds:
        kind = d.get("kind") if isinstance(d, dict) else type(d).__name__
        raise ElsewhereError(f"unknown {what} kind {kind!r}; expected one of: {', '.join(sorted(kinds))}")
    kind, fields = d["kind"], kinds[d["kind"]]
    if set(d) - {"kind"} != set(fields):
        got = ", ".join(sorted(set(map(str, d)) - {"kind"})) or "none"
        raise ElsewhereError(f"{what} of kind {kind!r} needs fields {', '.join(fields)}; got {got}")
    return kind


def region_from_dict(d: dict[str, Any]) -> Region:
    """Rebuild a region from :meth:`Region.to_dict`'s output."""
    kind = checked_kind(d, _KINDS, "region")
    if kind in ("union", "intersection"):
        if not isinstance(d["parts"], (list, tuple)):
            raise ElsewhereError(f"{kind} parts must be a list of region descriptions; got {d['parts']!r:.80}")
        parts = tuple(region_from_dict(p) for p in d["parts"])
        return Union(parts) if kind == "union" else Intersection(parts)
    if kind == "difference":
        return Difference(region_from_dict(d["base"]), region_from_dict(d["minus"]))
    if kind == "cells":
        return Cells(Grid.from_dict(d["grid"]), tuple(d["cells"]))
    shape = {"rect": Rect, "disc": Disc, "ring": Ring, "point": Point}[kind]
    return shape(**{name: d[name] for name in _KINDS[kind]})
