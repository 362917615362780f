"""Rendering: a scene to an RGB image, purely and with sub-pixel accuracy.

The canvas is the unit square, pixel ``(row, col)`` covering ``[col, col + 1] × [row, row + 1]``
in pixel units. Each sprite is anti-aliased by supersampling: its shape is tested at the centres of
a ``supersample × supersample`` grid of points in every pixel of its bounding box, and the share
of points inside is its coverage, with which its colour is blended over what lies beneath
(background, then distractors in order, then the object). Because the sample grid is fixed to the
canvas and the shape's placement is continuous, moving an object by one pixel moves its image by
exactly one pixel, and moving it by less changes the coverage of its edge pixels smoothly.

``render_batch`` draws many scenes at once with the same arithmetic, so each of its images is
byte for byte ``render`` of its scene; ``render`` is a batch of one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from elsewhere.errors import ElsewhereError
from elsewhere.generator.catalog import get_shape
from elsewhere.generator.scene import Background, Scene, Sprite
from elsewhere.generator.shapes import PolygonShape, Shape, scanline

MIN_CANVAS = 8
MIN_OBJECT_PIXELS = 3.0
# Lattice points (sprites × rows × columns) painted in one array operation: bounds memory.
LATTICE_BUDGET = 1 << 22
# Images painted together: enough to amortise the per-call work, few enough to stay in cache.
IMAGES_PER_PASS = 32
_QUARTER_TURNS = ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))


def _is_int(value: object) -> bool:
    # A plain int first: the common case, several times faster than the general test.
    return type(value) is int or (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)))


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


def _backgrounds(images: np.ndarray, backgrounds: list[Background]) -> None:
    """Fill ``images`` (``N × 3 × canvas × canvas`` float32) with their backgrounds."""
    canvas = images.shape[2]
    images[:] = np.array([b.colour for b in backgrounds], dtype=np.float32)[:, :, None, None]
    noisy = [i for i, b in enumerate(backgrounds) if b.kind == "noise" and b.noise > 0]
    if noisy:
        grain = np.empty((len(noisy), canvas, canvas), dtype=np.float32)
        for row, i in enumerate(noisy):
            rng = np.random.default_rng(backgrounds[i].seed)
            grain[row] = rng.standard_normal((canvas, canvas), dtype=np.float32)
        grain *= np.array([backgrounds[i].noise for i in noisy], dtype=np.float32)[:, None, None]
        noise = images[noisy] + grain[:, None]
        images[noisy] = _clip(noise)


def _clip(values: np.ndarray) -> np.ndarray:
    """``np.clip(values, 0, 255)`` in place, the same values several times faster."""
    np.maximum(values, 0.0, out=values)
    np.minimum(values, 255.0, out=values)
    return values


@dataclass(frozen=True)
class _Placed:
    """One sprite fixed on the canvas: its lattice window and the map from its frame to it."""

    image: int
    shape: Shape
    placement: np.ndarray
    r0: int
    c0: int
    rows: int
    cols: int
    colour: tuple[int, int, int]


def _place(image: int, sprite: Sprite, canvas: int, supersample: int) -> _Placed | None:
    shape = get_shape(sprite.shape)
    half = sprite.scale * canvas / 2.0
    cx, cy = sprite.x * canvas, sprite.y * canvas
    cos, sin = _cos_sin(float(sprite.rotation))
    # The shape lies inside both its turned frame and its bounding disc.
    reach = half * min(shape.radius, abs(cos) + abs(sin))
    c0, c1 = max(math.floor(cx - reach), 0), min(math.ceil(cx + reach), canvas)
    r0, r1 = max(math.floor(cy - reach), 0), min(math.ceil(cy + reach), canvas)
    if c0 >= c1 or r0 >= r1:
        return None
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
    return _Placed(image, shape, placement, r0, c0, r1 - r0, c1 - c0, sprite.colour)


def _lattice(sprites: list[_Placed], supersample: int) -> np.ndarray:
    """Whether each lattice point of each sprite's window is inside it: ``(S, C, R)`` of 0/1.

    Column-major per sprite, so that the running parity along each lattice row is one vectorised
    sum down the columns. Windows are padded to the largest of the batch; what lies past a
    sprite's own window is garbage that the caller masks. Polygons run one scanline over all their
    edges at once (``shapes.scanline``, as ``PolygonShape.raster`` does for one); other shapes use
    their own ``raster``.
    """
    rows = max(s.rows for s in sprites) * supersample
    cols = max(s.cols for s in sprites) * supersample
    polygons = [i for i, s in enumerate(sprites) if isinstance(s.shape, PolygonShape)]
    windows = [(s.rows * supersample, s.cols * supersample) for s in sprites]
    if polygons:
        filled = scanline([(sprites[i].shape, sprites[i].placement, *windows[i]) for i in polygons], rows, cols)
        if len(polygons) == len(sprites):
            return filled
    inside = np.zeros((len(sprites), cols, rows), dtype=np.uint8)
    if polygons:
        inside[polygons] = filled
    for i, s in enumerate(sprites):
        if not isinstance(s.shape, PolygonShape):
            r, c = windows[i]
            inside[i, :c, :r] = s.shape.raster(s.placement, r, c).T
    return inside


def _coverage(hits: np.ndarray, supersample: int) -> np.ndarray:
    """Lattice points inside per pixel: ``(S, A, B)`` of 0/1 to ``(S, A / k, B / k)`` int32."""
    if supersample**2 > 255:
        count, rows, cols = hits.shape
        return hits.reshape(count, rows // supersample, supersample, cols // supersample, supersample).sum(
            axis=(2, 4), dtype=np.int32
        )
    # Strided sums of uint8 (at most k² <= 255 per pixel): several times faster than a reduce.
    across = sum(hits[:, :, j::supersample] for j in range(1, supersample)) + hits[:, :, ::supersample]
    down = sum(across[:, j::supersample] for j in range(1, supersample)) + across[:, ::supersample]
    return down.astype(np.int32)


def _paint(images: np.ndarray, sprites: list[_Placed], supersample: int) -> None:
    """Blend sprites of distinct images over ``images`` (padded so every window fits)."""
    hits = _lattice(sprites, supersample)
    cols, rows = hits.shape[1] // supersample, hits.shape[2] // supersample
    counts = _coverage(hits, supersample).transpose(0, 2, 1)
    own_rows = np.array([s.rows for s in sprites])[:, None, None]
    own_cols = np.array([s.cols for s in sprites])[:, None, None]
    counts *= (np.arange(rows)[None, :, None] < own_rows) & (np.arange(cols)[None, None, :] < own_cols)
    alpha = (counts * np.float32(1.0 / supersample**2))[:, None]
    # Every (row, col) window of every image as a view; sprites of one call lie in distinct images,
    # so cutting their windows out and writing them back never overlaps.
    windows = np.lib.stride_tricks.sliding_window_view(images, (rows, cols), axis=(2, 3), writeable=True)
    which = np.array([s.image for s in sprites])
    r0, c0 = np.array([s.r0 for s in sprites]), np.array([s.c0 for s in sprites])
    region = windows[which, :, r0, c0]
    region += (np.array([s.colour for s in sprites], dtype=np.float32)[:, :, None, None] - region) * alpha
    windows[which, :, r0, c0] = region


def _batches(sprites: list[_Placed], supersample: int) -> list[list[_Placed]]:
    """Sprites grouped by window size, each group's padded lattice within ``LATTICE_BUDGET`` points."""
    groups, group, rows, cols = [], [], 0, 0
    for sprite in sorted(sprites, key=lambda s: (s.rows, s.cols)):
        r, c = max(rows, sprite.rows), max(cols, sprite.cols)
        if group and (len(group) + 1) * r * c * supersample**2 > LATTICE_BUDGET:
            groups.append(group)
            group, r, c = [], sprite.rows, sprite.cols
        group.append(sprite)
        rows, cols = r, c
    return [*groups, group] if group else groups


def render_batch(scenes: Sequence[Scene], canvas: int = 64, supersample: int = 4) -> np.ndarray:
    """Draw many scenes at once; image ``i`` is exactly ``render(scenes[i], canvas, supersample)``.

    Sprites are painted in layers (each image's distractors in order, then its object), each
    layer for ``IMAGES_PER_PASS`` images together, so the work per sprite is a share of a few
    array operations rather than a few of its own.

    Returns:
        ``uint8`` array of shape ``(len(scenes), canvas, canvas, 3)``.

    Raises:
        ValueError: as ``render`` does, for the first bad scene.
    """
    for scene in scenes:
        _check(scene, canvas, supersample)
    out = np.empty((len(scenes), canvas, canvas, 3), dtype=np.uint8)
    for start in range(0, len(scenes), IMAGES_PER_PASS):
        stop = start + IMAGES_PER_PASS
        _render_pass(scenes[start:stop], canvas, supersample, out[start:stop])
    return out


def _render_pass(scenes: Sequence[Scene], canvas: int, supersample: int, out: np.ndarray) -> None:
    layers = [
        [p for p in (_place(i, s, canvas, supersample) for s in (*scene.distractors, scene.object)) if p is not None]
        for i, scene in enumerate(scenes)
    ]
    pad = max((max(p.rows, p.cols) for layer in layers for p in layer), default=0)
    # Channels first while painting (numpy's inner loops then run along rows, not over 3 values);
    # the padding lets every sprite's window be cut from the canvas whole.
    images = np.zeros((len(scenes), 3, canvas + pad, canvas + pad), dtype=np.float32)
    _backgrounds(images[:, :, :canvas, :canvas], [scene.background for scene in scenes])
    for depth in range(max((len(layer) for layer in layers), default=0)):
        sprites = [layer[depth] for layer in layers if len(layer) > depth]
        for batch in _batches(sprites, supersample):
            _paint(images, batch, supersample)
    # Each paint is a convex blend of values in [0, 255], so the rounded pixels need no clipping.
    pixels = np.rint(images[:, :, :canvas, :canvas])
    for channel in range(3):  # one interleaving copy per channel: far faster than a 4-d transpose
        out[..., channel] = pixels[:, channel]


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
    return render_batch((scene,), canvas, supersample)[0]
