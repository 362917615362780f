"""Novel shapes: seeded random closed curves, an unlimited supply of new classes.

Class ``k`` of set ``set_seed`` is a pure function of the pair: a star-shaped curve with radius
``r(θ) = 1 + Σ_j a_j cos(jθ + φ_j)`` over a few harmonics, amplitudes and phases drawn from
``np.random.default_rng([set_seed, k])``, taken as a polygon of ``VERTICES`` points and fitted to
the frame (bounding box centred, longer side touching it). A curve that looks nearly the same after
a quarter, half or three-quarter turn is redrawn from the same stream, so every novel shape has
rotational symmetry 1 and rotation is well posed for it.
"""

from __future__ import annotations

import numpy as np

from elsewhere.errors import ElsewhereError
from elsewhere.generator.shapes import NOVEL_AREA, PolygonShape, polygon_area, quarter_turn_mismatch, with_area

VERTICES = 256
HARMONICS = 6
MIN_TURN_MISMATCH = 0.15
_CHECK_SIZE = 64
_MAX_DRAWS = 1000


def novel_names(set_seed: int, count: int, start: int = 0) -> tuple[str, ...]:
    """Shape names ``"novel:<set_seed>:<k>"`` for ``k`` in ``start, ..., start + count - 1``."""
    for label, value in (("set_seed", set_seed), ("count", count), ("start", start)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ElsewhereError(f"novel_names {label} must be an integer >= 0; got {value!r}")
    return tuple(f"novel:{set_seed}:{k}" for k in range(start, start + count))


def _draw(rng: np.random.Generator) -> np.ndarray:
    order = np.arange(1, HARMONICS + 1)
    amplitude = rng.uniform(0.0, 1.0, HARMONICS) / order**0.7
    amplitude *= rng.uniform(0.4, 0.75) / amplitude.sum()
    phase = rng.uniform(0.0, 2.0 * np.pi, HARMONICS)
    theta = 2.0 * np.pi * np.arange(VERTICES) / VERTICES
    radius = 1.0 + (amplitude * np.cos(np.outer(theta, order) + phase)).sum(axis=1)
    outline = radius[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
    lo, hi = outline.min(axis=0), outline.max(axis=0)
    return (outline - (lo + hi) / 2.0) / ((hi - lo).max() / 2.0)


def _turn_mismatch(outline: np.ndarray) -> float:
    """Smallest share of pixels that change when the curve turns by 90°, 180° or 270°."""
    shape = PolygonShape.build("check", "novel", 1, (outline,))
    # Lattice point (row, col) sits at the centre of cell (row, col) of a grid over the frame.
    step = _CHECK_SIZE / 2.0
    placement = np.array([[step, 0.0, step - 0.5], [0.0, step, step - 0.5]])
    mask = shape.raster(placement, _CHECK_SIZE, _CHECK_SIZE)
    return min(quarter_turn_mismatch(mask, turns) for turns in (1, 2, 3))


def novel_outline(set_seed: int, k: int) -> np.ndarray:
    """The ``(VERTICES, 2)`` polygon of class ``k`` of novel set ``set_seed``, in frame units."""
    rng = np.random.default_rng([set_seed, k])
    for _ in range(_MAX_DRAWS):
        outline = _draw(rng)
        # Large enough to be scaled down to the common area (shape, not size), and asymmetric.
        if polygon_area((outline,)) >= NOVEL_AREA and _turn_mismatch(outline) >= MIN_TURN_MISMATCH:
            (scaled,) = with_area((outline,), NOVEL_AREA)
            return scaled
    raise RuntimeError(f"novel shape {set_seed}:{k}: no asymmetric curve in {_MAX_DRAWS} draws")


def novel_shape(spec: str) -> PolygonShape:
    """The novel shape for ``"<set_seed>:<k>"`` (call through ``get_shape``, which caches).

    Raises:
        ValueError: if ``spec`` is not two non-negative integers separated by a colon.
    """
    parts = spec.split(":")
    # Canonical integers only (no signs, no leading zeros), so each shape has one name.
    if len(parts) != 2 or not all(p.isascii() and p.isdecimal() and str(int(p)) == p for p in parts):
        raise ElsewhereError(f"novel shape must be named 'novel:<set_seed>:<k>' with integers >= 0; got 'novel:{spec}'")
    set_seed, k = int(parts[0]), int(parts[1])
    return PolygonShape.build(f"novel:{set_seed}:{k}", "novel", 1, (novel_outline(set_seed, k),))
