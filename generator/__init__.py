"""Scenes and their pure rendering: the first stage of ``elsewhere``.

A ``Scene`` holds every factor and nuisance of one image; ``compose_scene`` draws the nuisances
from a required generator, ``render`` turns a scene into pixels without any randomness of its own,
and ``get_shape`` resolves the shape names of all three families (geometric, glyph, novel).
"""

from elsewhere.generator.appearance import Style, compose_scene
from elsewhere.generator.catalog import get_shape
from elsewhere.generator.glyphs import glyph_names
from elsewhere.generator.novel import novel_names
from elsewhere.generator.render import render
from elsewhere.generator.scene import Background, Scene, Sprite
from elsewhere.generator.shapes import ASYMMETRIC_SHAPES, GEOMETRIC_SHAPES, Shape

__all__ = [
    "ASYMMETRIC_SHAPES",
    "GEOMETRIC_SHAPES",
    "Background",
    "Scene",
    "Shape",
    "Sprite",
    "Style",
    "compose_scene",
    "get_shape",
    "glyph_names",
    "novel_names",
    "render",
]
