"""Glyphs: characters as shapes, drawn with the scalable font that Pillow ships.

``ImageFont.load_default(size=...)`` (Pillow >= 10.1, Aileron Regular) draws the character once,
large, and the ink is resampled into a ``MASK_SIZE``² boolean mask whose bounding box is centred
in the frame and touches it along its longer side; ``inside`` samples that mask. The order of
rotational symmetry is measured on the mask, not assumed from the letter: a glyph is 2-fold (or
4-fold) symmetric when turning its mask by 180° (90°) changes fewer than ``SYMMETRY_TOLERANCE`` of
its pixels. In this font that holds for 0, I, N and O (none is 4-fold), but not for H and Z (a
half turn changes 7% of their pixels: H's bar sits above the middle), nor S, X and 8 (8's top
loop is smaller). Beware pairs that are rotations of each other: glyph 9 is glyph 6 turned by 180°
(they differ by under 2% of their pixels), so a rotation protocol should not hold both.
"""

from __future__ import annotations

import string

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from elsewhere.errors import ElsewhereError
from elsewhere.generator.shapes import GLYPH_AREA, MaskShape, quarter_turn_mismatch

MASK_SIZE = 256
FONT_SIZE = 640
SYMMETRY_TOLERANCE = 0.03


def glyph_names(chars: str = string.digits + string.ascii_uppercase) -> tuple[str, ...]:
    """Shape names ``"glyph:<char>"`` for each character of ``chars``, in order."""
    return tuple(f"glyph:{char}" for char in chars)


def glyph_mask(char: str) -> np.ndarray:
    """The ``MASK_SIZE``² boolean mask of ``char``, centred and fitted to the frame.

    Raises:
        ValueError: if ``char`` is not one character with visible ink in the font.
    """
    if len(char) != 1 or not char.isprintable() or char.isspace():
        raise ElsewhereError(f"glyph character must be one printable, non-space character; got {char!r}")
    font = ImageFont.load_default(size=FONT_SIZE)
    drawn = Image.new("L", (2 * FONT_SIZE, 2 * FONT_SIZE), 0)
    ImageDraw.Draw(drawn).text((FONT_SIZE, FONT_SIZE), char, fill=255, font=font, anchor="mm")
    ink = drawn.getbbox()
    if ink is None:
        raise ElsewhereError(
            f"glyph character {char!r} draws no ink in Pillow's default font; "
            "use a letter, digit or other visible character"
        )
    glyph = drawn.crop(ink)
    width, height = glyph.size
    side = max(width, height)
    # Pad so that a square box of the glyph's longer side, centred on its ink, lies inside the
    # image; the float box then centres the glyph exactly, to a fraction of a mask pixel.
    padded = Image.new("L", (width + side, height + side), 0)
    padded.paste(glyph, (side // 2, side // 2))
    cx, cy = side // 2 + width / 2.0, side // 2 + height / 2.0
    box = (cx - side / 2.0, cy - side / 2.0, cx + side / 2.0, cy + side / 2.0)
    fitted = padded.resize((MASK_SIZE, MASK_SIZE), Image.Resampling.BOX, box=box)
    return np.asarray(fitted) >= 128


def mask_symmetry(mask: np.ndarray) -> int:
    """Order of rotational symmetry of a centred square mask: 4, 2 or 1 (to ``SYMMETRY_TOLERANCE``)."""
    if quarter_turn_mismatch(mask, 1) < SYMMETRY_TOLERANCE:
        return 4
    if quarter_turn_mismatch(mask, 2) < SYMMETRY_TOLERANCE:
        return 2
    return 1


def glyph_shape(char: str) -> MaskShape:
    """The glyph shape of ``char`` (call through ``get_shape("glyph:<char>")``, which caches)."""
    mask = glyph_mask(char)
    n = mask.shape[0]
    rows, cols = np.nonzero(mask)
    # Texel corners farthest from the centre bound the shape's reach.
    u = np.maximum(np.abs(cols * (2.0 / n) - 1.0), np.abs((cols + 1) * (2.0 / n) - 1.0))
    v = np.maximum(np.abs(rows * (2.0 / n) - 1.0), np.abs((rows + 1) * (2.0 / n) - 1.0))
    # Shrunk to one common area (shape, not size); a glyph smaller than that keeps its size.
    extent = min(1.0, float(np.sqrt(GLYPH_AREA / (mask.mean() * 4.0))))
    radius = float(np.hypot(u, v).max()) * extent
    return MaskShape(f"glyph:{char}", "glyph", mask_symmetry(mask), radius, mask, extent)
