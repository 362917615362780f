"""A scene is the complete, frozen description of one image: its factors and its nuisances.

Coordinates, stated once for the whole project: ``x`` and ``y`` are the object's centre as
fractions of the canvas side, origin at the top-left corner, ``y`` pointing down. ``rotation`` is
in degrees, counter-clockwise as seen on the image. ``scale`` is the side of the shape's canonical
square frame ``[-1, 1]²`` as a fraction of the canvas side, so a ``square`` of scale 0.25 on a
64-pixel canvas is a 16-pixel box. Everything random about an image is drawn before a ``Scene``
exists; ``render(scene, canvas)`` is pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

RGB = tuple[int, int, int]
BackgroundKind = Literal["plain", "uniform", "noise"]


@dataclass(frozen=True)
class Sprite:
    """One object on the canvas: a named shape with its pose and colour."""

    shape: str
    x: float
    y: float
    rotation: float = 0.0
    scale: float = 0.25
    colour: RGB = (255, 255, 255)


@dataclass(frozen=True)
class Background:
    """What lies behind the objects.

    ``plain`` and ``uniform`` fill the canvas with ``colour`` (``uniform`` marks that the colour was
    drawn at random); ``noise`` adds per-pixel Gaussian noise of standard deviation ``noise`` (in
    grey levels) on top of ``colour``, its pattern a pure function of ``seed``.
    """

    kind: BackgroundKind = "plain"
    colour: RGB = (0, 0, 0)
    noise: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class Scene:
    """The object to recognise, what lies behind it, and any distractors drawn beneath it."""

    object: Sprite
    background: Background = field(default_factory=Background)
    distractors: tuple[Sprite, ...] = ()
