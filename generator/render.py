"""Rendering: a scene to an RGB image, purely and with sub-pixel accuracy.

The canvas is the unit square, pixel ``(row, col)`` covering ``[col, col + 1] × [row, row + 1]``
in pixel units. Each sprite is anti-aliased by supersampling: its shape is tested at the centres of
a ``supersample × supersample`` grid of points in every pixel of its bounding box, and the share
of points inside is its coverage, with which its colour is blended over what lies beneath
(background, then distractors in order, then the object). Because the sample grid is fixed to the
canvas and the shape's placement is continuous, moving an object by one pixel moves its image by
exactly one pixel, and moving it by less changes the coverage of its edge pixels smoothly.
"""

from __future__ import annotations

import math

import numpy as np

from elsewhere.errors import ElsewhereError
from elsewhere.generator.catalog import get_shape
from elsewhere.generator.scene import Background, Scene, Sprite

MIN_CANVAS = 8
MIN_OBJECT_PIXELS = 3.0
_QUARTER_TURNS = ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_colour(colour: object, what: str) -> None:
    if (
        not isinstance(colour, (tuple, list))
        or len(colour) != 3
        or not all(_is_int(c) and 0 <= c <= 255 for c in colour)
    ):
        raise ElsewhereError(f"{what} colour must be three integers in [0, 255]; got {colour!r}")


def check_sprite(sprite: Sprite) -> None:
    """Raise ``ValueError`` unless ``sprite`` names a known shape with a pose on the canvas."""
    get_shape(sprite.shape)
    for axis in ("x", "y"):
        value = getattr(sprite, axis)
        if not (isinstance(value, (int, float, np.number)) and 0.0 <= value <= 1.0):
            raise ElsewhereError(f"sprite {axis} must be in [0, 1] (fraction of the canvas side); got {value!r}")
    if not (isinstance(sprite.scale, (int, float, np.number)) and 0.0 < sprite.scale <= 1.0):
        raise ElsewhereError(f"sprite scale must be in (0, 1] (fraction of the canvas side); got {sprite.scale!r}")
    if not (isinstance(sprite.rotation, (int, float, np.number)) and math.isfinite(sprite.rotation)):
        raise ElsewhereError(f"sprite rotation must be a finite number of degrees; got {sprite.rotation!r}")
    _check_colour(sprite.colour, "sprite")


def _check_background(background: Background) -> None:
    if background.kind not in ("plain", "uniform", "noise"):
        raise ElsewhereError(f"background kind must be 'plain', 'uniform' or 'noise'; got {background.kind!r}")
    _check_colour(background.colour, "background")
    if not (
        isinstance(background.noise, (int, float, np.number))
        and 0.0 <= background.noise
        and math.isfinite(background.noise)
    ):
        raise ElsewhereError(f"background noise must be a finite std >= 0 in grey levels; got {background.noise!r}")
    if not (_is_int(background.seed) and background.seed >= 0):
        raise ElsewhereError(f"background seed must be an integer >= 0; got {background.seed!r}")


def _check(scene: Scene, canvas: int, supersample: int) -> None:
    if not (_is_int(canvas) and canvas >= MIN_CANVAS):
        raise ElsewhereError(f"canvas must be an integer >= {MIN_CANVAS} (pixels); got {canvas!r}")
    if not (_is_int(supersample) and supersample >= 1):
        raise ElsewhereError(f"supersample must be an integer >= 1; got {supersample!r}")
    for sprite in (scene.object, *scene.distractors):
        check_sprite(sprite)
    # Only the object must be legible; distractors are clutter and may be smaller.
    size = scene.object.scale * canvas
    if size < MIN_OBJECT_PIXELS:
        raise ElsewhereError(
            f"canvas too small for the object: scale {scene.object.scale} × canvas "
            f"{canvas} = {size:.2f} px < {MIN_OBJECT_PIXELS:g} px; use a larger "
            "canvas or scale"
        )
    _check_background(scene.background)


def _cos_sin(degrees: float) -> tuple[float, float]:
    # Exact values at quarter turns, so that turning by 90° maps sample points onto sample points.
    turns = degrees / 90.0
    if turns == round(turns):
        return _QUARTER_TURNS[int(round(turns)) % 4]
    radians = math.radians(degrees % 360.0)
    return math.cos(radians), math.sin(radians)


def _background(background: Background, canvas: int) -> np.ndarray:
    image = np.empty((canvas, canvas, 3), dtype=np.float32)
    image[:] = np.asarray(background.colour, dtype=np.float32)
    if background.kind == "noise" and background.noise > 0:
        rng = np.random.default_rng(background.seed)
        grain = rng.standard_normal((canvas, canvas), dtype=np.float32)
        grain *= np.float32(background.noise)
        np.clip(image + grain[:, :, None], 0.0, 255.0, out=image)
    return image


def _paint(image: np.ndarray, sprite: Sprite, supersample: int) -> None:
    canvas = image.shape[0]
    shape = get_shape(sprite.shape)
    half = sprite.scale * canvas / 2.0
    cx, cy = sprite.x * canvas, sprite.y * canvas
    cos, sin = _cos_sin(float(sprite.rotation))
    # The shape lies inside both its turned frame and its bounding disc.
    reach = half * min(shape.radius, abs(cos) + abs(sin))
    c0, c1 = max(math.floor(cx - reach), 0), min(math.ceil(cx + reach), canvas)
    r0, r1 = max(math.floor(cy - reach), 0), min(math.ceil(cy + reach), canvas)
    if c0 >= c1 or r0 >= r1:
        return
    # Canonical (u, v) to lattice (col, row), where lattice point j sits at pixel coordinate
    # c0 + (j + 0.5) / supersample; y points down, so a counter-clockwise turn as seen is
    # (u, v) -> (u cos + v sin, -u sin + v cos).
    k = supersample * half
    placement = np.array(
        [
            [k * cos, k * sin, supersample * (cx - c0) - 0.5],
            [-k * sin, k * cos, supersample * (cy - r0) - 0.5],
        ]
    )
    rows, cols = r1 - r0, c1 - c0
    hits = shape.raster(placement, rows * supersample, cols * supersample)
    counts = hits.reshape(rows, supersample, cols, supersample).sum(axis=(1, 3), dtype=np.int32)
    alpha = (counts * np.float32(1.0 / supersample**2))[:, :, None]
    region = image[r0:r1, c0:c1]
    region += (np.asarray(sprite.colour, dtype=np.float32) - region) * alpha


def render(scene: Scene, canvas: int = 64, supersample: int = 4) -> np.ndarray:
    """Draw ``scene`` on a ``canvas``-pixel square.

    Args:
        scene: what to draw.
        canvas: side of the image in pixels (>= 8).
        supersample: sample points per pixel along each axis, for anti-aliasing.

    Returns:
        ``uint8`` array of shape ``(canvas, canvas, 3)``; the same scene always gives the same bytes.

    Raises:
        ValueError: on an unknown shape, a pose off the canvas, a bad colour or background, or an
            object smaller than 3 pixels.
    """
    _check(scene, canvas, supersample)
    image = _background(scene.background, canvas)
    for sprite in (*scene.distractors, scene.object):
        _paint(image, sprite, supersample)
    return np.rint(image).clip(0, 255).astype(np.uint8)
