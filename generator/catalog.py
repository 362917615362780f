"""Every shape by name, across the three families: geometric, glyph and novel.

The families build on the shape classes of :mod:`generator.shapes`; this module sits above all
three, so imports run one way (``shapes`` ← ``glyphs``, ``novel`` ← ``catalog``) and a new family
is one more import here.
"""

from __future__ import annotations

import functools

from elsewhere.errors import ElsewhereError
from elsewhere.generator.glyphs import glyph_shape
from elsewhere.generator.novel import novel_shape
from elsewhere.generator.shapes import GEOMETRIC_SHAPES, Shape, geometric_shape


@functools.lru_cache(maxsize=4096)
def get_shape(name: str) -> Shape:
    """The shape called ``name``: a geometric name, ``"glyph:<char>"`` or ``"novel:<seed>:<k>"``.

    Raises:
        ElsewhereError: if the name belongs to no family.
    """
    if name in GEOMETRIC_SHAPES:
        return geometric_shape(name)
    family, _, rest = str(name).partition(":")
    if family == "glyph" and rest:
        return glyph_shape(rest)
    if family == "novel" and rest:
        return novel_shape(rest)
    raise ElsewhereError(
        f"unknown shape {name!r}; valid shapes are the geometric {', '.join(GEOMETRIC_SHAPES)}, "
        f"'glyph:<character>' (e.g. 'glyph:A') and 'novel:<set_seed>:<k>' (e.g. 'novel:0:3')"
    )
