"""Appearance: the nuisances around an object — its colour, the background and distractors.

A ``Style`` says which nuisances vary; ``compose_scene`` draws them from a required generator and
returns the complete ``Scene``, passing the object's factors (shape, position, rotation, scale)
through unchanged. The object always stands out: a random colour differs from the background's
grey level by at least ``MIN_CONTRAST`` in luminance, and a white object gets a background no
lighter than ``255 - MIN_CONTRAST``. Distractors lie wholly on the canvas and never overlap the
object's bounding disc or each other's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from elsewhere.errors import ElsewhereError
from elsewhere.generator.catalog import get_shape
from elsewhere.generator.render import check_sprite
from elsewhere.generator.scene import RGB, Background, Scene, Sprite

MIN_CONTRAST = 80.0
LUMA = np.array([0.299, 0.587, 0.114])
PLACEMENT_TRIES = 50
_COLOUR_CANDIDATES = 256


@dataclass(frozen=True)
class Style:
    """Which nuisances vary, and how.

    Attributes:
        colour: ``"white"`` objects, or a ``"random"`` colour per object.
        background: ``"plain"`` black, ``"uniform"`` random grey level, or ``"noise"``: a random
            level plus Gaussian noise.
        noise: std of the background noise in grey levels (for ``"noise"``).
        distractors: at most this many distractors; the count is uniform in ``[0, distractors]``.
        distractor_shapes: shapes the distractors are drawn from.
        distractor_scale: range of distractor scales (fraction of the canvas side).
    """

    colour: Literal["white", "random"] = "white"
    background: Literal["plain", "uniform", "noise"] = "plain"
    noise: float = 0.0
    distractors: int = 0
    distractor_shapes: tuple[str, ...] = ("circle", "square", "cross")
    distractor_scale: tuple[float, float] = (0.08, 0.14)

    def __post_init__(self) -> None:
        if self.colour not in ("white", "random"):
            raise ElsewhereError(f"style colour must be 'white' or 'random'; got {self.colour!r}")
        if self.background not in ("plain", "uniform", "noise"):
            raise ElsewhereError(f"style background must be 'plain', 'uniform' or 'noise'; got {self.background!r}")
        if not (isinstance(self.noise, (int, float, np.number)) and 0.0 <= self.noise < np.inf):
            raise ElsewhereError(f"style noise must be a finite std >= 0 in grey levels; got {self.noise!r}")
        if not isinstance(self.distractors, int) or isinstance(self.distractors, bool) or self.distractors < 0:
            raise ElsewhereError(f"style distractors must be an integer >= 0; got {self.distractors!r}")
        if not isinstance(self.distractor_shapes, tuple) or not self.distractor_shapes:
            raise ElsewhereError(
                f"style distractor_shapes must be a non-empty tuple of shape names; got {self.distractor_shapes!r}"
            )
        for name in self.distractor_shapes:
            get_shape(name)
        scale = self.distractor_scale
        if not (isinstance(scale, tuple) and len(scale) == 2 and 0.0 < scale[0] <= scale[1] <= 1.0):
            raise ElsewhereError(
                f"style distractor_scale must be a pair (lo, hi) with 0 < lo <= hi <= 1; got {scale!r}"
            )


def _contrasting_colour(level: float, rng: np.random.Generator) -> RGB:
    """A uniformly random RGB whose luminance differs from ``level`` by >= ``MIN_CONTRAST``."""
    candidates = rng.integers(0, 256, size=(_COLOUR_CANDIDATES, 3))
    good = np.abs(candidates @ LUMA - level) >= MIN_CONTRAST
    first = int(good.argmax())
    if good[first]:
        return tuple(candidates[first].tolist())
    # Unreachable in practice: even at mid-grey about one candidate in ten qualifies.
    return (0, 0, 0) if level > 127.5 else (255, 255, 255)


def _background(style: Style, rng: np.random.Generator) -> Background:
    if style.background == "plain":
        return Background("plain", (0, 0, 0))
    # A white object must stay visible, so its background stays MIN_CONTRAST below white.
    top = 255 if style.colour == "random" else 255 - int(MIN_CONTRAST)
    level = int(rng.integers(0, top + 1))
    if style.background == "uniform":
        return Background("uniform", (level, level, level))
    seed = int(rng.integers(0, 2**32))
    return Background("noise", (level, level, level), float(style.noise), seed)


def _colour(style: Style, level: float, rng: np.random.Generator) -> RGB:
    return (255, 255, 255) if style.colour == "white" else _contrasting_colour(level, rng)


def _first_clear(
    centres: np.ndarray, reach: float, taken: list[tuple[float, float, float]]
) -> tuple[float, float] | None:
    """The first of ``centres`` whose disc of radius ``reach`` overlaps none of the ``taken`` discs.

    The first centre usually is clear, so it is tested alone, with scalars, before the batch is
    tested as arrays; both use the same arithmetic, so they agree on every centre.
    """
    x, y = centres[0]
    if all(np.hypot(x - tx, y - ty) >= tr + reach for tx, ty, tr in taken):
        return float(x), float(y)
    discs = np.array(taken)
    gap = np.hypot(centres[:, None, 0] - discs[:, 0], centres[:, None, 1] - discs[:, 1])
    free = np.flatnonzero((gap >= discs[:, 2] + reach).all(axis=1))
    return (float(centres[free[0], 0]), float(centres[free[0], 1])) if free.size else None


def _distractors(target: Sprite, style: Style, level: float, rng: np.random.Generator) -> tuple[Sprite, ...]:
    # Discs (centre x, centre y, radius) that a new distractor must keep clear of.
    taken = [(target.x, target.y, target.scale / 2.0 * get_shape(target.shape).radius)]
    placed = []
    for _ in range(int(rng.integers(0, style.distractors + 1))):
        name = style.distractor_shapes[int(rng.integers(len(style.distractor_shapes)))]
        scale = float(rng.uniform(*style.distractor_scale))
        rotation = float(rng.uniform(0.0, 360.0))
        colour = _contrasting_colour(level, rng)
        reach = scale / 2.0 * get_shape(name).radius
        if reach > 0.5:
            continue
        free = _first_clear(rng.uniform(reach, 1.0 - reach, size=(PLACEMENT_TRIES, 2)), reach, taken)
        if free is None:
            continue
        x, y = free
        placed.append(Sprite(name, x, y, rotation, scale, colour))
        taken.append((x, y, reach))
    return tuple(placed)


def compose_scene(
    shape: str, x: float, y: float, rotation: float, scale: float, style: Style, rng: np.random.Generator
) -> Scene:
    """The scene of one object with its nuisances drawn from ``rng`` as ``style`` says.

    Args:
        shape: the object's shape name.
        x: centre, fraction of the canvas side from the left.
        y: centre, fraction of the canvas side from the top.
        rotation: degrees, counter-clockwise as seen.
        scale: side of the shape's frame as a fraction of the canvas side.
        style: which nuisances vary.
        rng: the only source of randomness.

    Raises:
        ValueError: on an unknown shape or a pose off the canvas.
    """
    check_sprite(Sprite(shape, x, y, rotation, scale))
    background = _background(style, rng)
    level = float(background.colour[0])
    target = Sprite(shape, x, y, rotation, scale, _colour(style, level, rng))
    return Scene(target, background, _distractors(target, style, level, rng))
