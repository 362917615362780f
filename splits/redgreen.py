"""Kayhan & van Gemert's Red-Green experiment (CVPR 2020), as a protocol of the suite.

Black 32×32 canvases with a red and a green 4×4 box. Class ``red-left``: red left of green, both
in a top band (box top row 7 ± 2). Class ``green-left``: green left of red, in a bottom band (row
23 ± 2). The first box's left column is 0–9; the second box starts at least 5 pixels to its right.
The "similar" test (``test_id``) repeats that; the "dissimilar" test (``test_ood``) shifts every
image 16 pixels vertically, so the bands swap between the classes. A network that reads absolute
position (through zero padding) can solve training from the band alone, and fails the swap.

The factors ``x, y`` are the centre of the first box, snapped to whole pixels so boxes are crisp.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from elsewhere.generator import Background, Scene, Sprite
from elsewhere.splits.distributions import Distribution, Factors, Mixture
from elsewhere.splits.grid import Grid
from elsewhere.splits.intervals import Value
from elsewhere.splits.protocol import Probe, Protocol
from elsewhere.splits.regions import Rect

CANVAS = 32
BOX = 4
RED, GREEN = (255, 0, 0), (0, 255, 0)
TOP_ROW, BOTTOM_ROW, JITTER = 7, 23, 2
MAX_FIRST_COLUMN, MIN_GAP = 9, 5
SIZES = {
    "tiny": {"train": 64, "validation": 32, "test_id": 32, "test_ood": 32, "probe": 2},
    "small": {"train": 2000, "validation": 1000, "test_id": 1000, "test_ood": 1000, "probe": 50},
    "full": {"train": 2000, "validation": 1000, "test_id": 1000, "test_ood": 1000, "probe": 50},
}


def _band(top_row: int) -> Rect:
    """Centres of a first box whose top row is top_row ± JITTER and left column 0..MAX_FIRST_COLUMN."""
    half = BOX // 2
    return Rect(
        half / CANVAS,
        (MAX_FIRST_COLUMN + half + 1) / CANVAS,
        (top_row - JITTER + half) / CANVAS,
        (top_row + JITTER + half + 1) / CANVAS,
    )


def _classes(red_left_row: int, green_left_row: int) -> Mixture:
    scale = Value(BOX / CANVAS)
    return Mixture(
        (
            Distribution((0,), _band(red_left_row), Value(0.0), scale),
            Distribution((1,), _band(green_left_row), Value(0.0), scale),
        )
    )


def red_green_protocol() -> Protocol:
    similar = _classes(TOP_ROW, BOTTOM_ROW)
    dissimilar = _classes(BOTTOM_ROW, TOP_ROW)
    sweep = tuple((row + BOX // 2) / CANVAS for row in range(0, CANVAS - BOX + 1, 4))
    return Protocol(
        name="red-green",
        version=1,
        title="Red-Green (Kayhan & van Gemert 2020)",
        description="Which box is left, red or green? In training the answer is also written in "
        "the vertical band the boxes sit in; the held-out test shifts the images by 16 pixels so "
        "the bands swap. 2000 train, 1000 validation, 1000 similar and 1000 dissimilar test images.",
        rationale="The held-out bands of each class are exactly the training bands of the other, "
        "so any use of absolute position is punished; only the relative order of the boxes "
        "transfers.",
        family="boxes",
        class_names=("red-left", "green-left"),
        held_out=("class-location",),
        splits={"train": similar, "validation": similar, "test_id": similar, "test_ood": dissimilar},
        grid=Grid(4, 0.0, 1.0),
        canvas=CANVAS,
        probe=Probe("y", sweep, base="test_id"),
        scene="red-green",
        sizes=SIZES,
    )


def red_green_scene(factors: Factors, rng: np.random.Generator) -> tuple[Scene, Factors]:
    """The two boxes of one sample, on the 32-pixel grid; the first box's centre snapped to it."""
    column = int(np.floor(factors.x * CANVAS)) - BOX // 2
    row = int(np.floor(factors.y * CANVAS)) - BOX // 2
    second = int(rng.integers(column + MIN_GAP, CANVAS - BOX + 1))
    first_colour, second_colour = (RED, GREEN) if factors.label == 0 else (GREEN, RED)
    snapped = replace(factors, x=(column + BOX // 2) / CANVAS, y=(row + BOX // 2) / CANVAS)

    def box(left: int, colour) -> Sprite:
        return Sprite("square", (left + BOX // 2) / CANVAS, snapped.y, 0.0, BOX / CANVAS, colour)

    scene = Scene(box(column, first_colour), Background("plain", (0, 0, 0)), (box(second, second_colour),))
    return scene, snapped
