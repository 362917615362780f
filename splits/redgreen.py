"""Kayhan & van Gemert's Red-Green experiment (CVPR 2020), as a protocol of the suite, drawn as the
authors' code draws it.

Black 32×32 canvases with a red and a green 4×4 box. Class ``red-left``: red left of green, in a
top band; class ``green-left``: green left of red, in a bottom band. Each box's top row is drawn
independently, the band's row (7 or 23) plus an offset in −4..+3. The first box's left column is
0–9; the second box's is at least 5 to its right and at most 27. The "similar" test (``test_id``)
repeats that; the "dissimilar" test (``test_ood``) is the same layouts shifted 16 pixels
vertically, so the bands swap between the classes. A network that reads absolute position
(through zero padding) can solve training from the band alone, and fails the swap.

Two departures from the authors' data, both to make the test mean what it claims:

- No validation or test image repeats a training image. In the authors' code each generator
  reseeds NumPy with the same seed and draws the same values, so their validation set and similar
  test are the first 1000 training images themselves, and their dissimilar test is those images
  moved 16 rows (``benchmarks/redgreen_paper_tests.py`` builds these two tests from ours). An
  earlier draw of ours, independent per split, still had 637 of 1000 similar test images
  byte-identical to training images. Now every layout (class, both boxes' columns and rows)
  belongs by a hash either to the training pool or to the held-back pool (one in ``HELD_BACK``);
  training draws only from the first, validation and ``test_id`` only from the second. The
  dissimilar tests cannot repeat a training image: their bands are the other class's.
- A third test, ``test_moved``: the dissimilar bands, and the boxes moved horizontally. In the
  published layout the left box's column (0–9, against 5–27 for the right one) tells which colour
  is left: a threshold on the red box's column fitted on training scores 0.96 on both published
  tests. In ``test_moved`` the pair, 5 to ``MOVED_MAX_GAP`` columns apart (the gaps training sees
  most), is placed uniformly wherever it fits, and the same rule scores 0.70. No layout can make
  each box's column alone useless while "left of" holds: the two classes' mean columns would then
  be equal for both boxes, and so would their mean difference.

The factors ``x, y`` are the centre of the left box, snapped to whole pixels so boxes are crisp.
"""

from __future__ import annotations

import hashlib
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
TOP_ROW, BOTTOM_ROW = 7, 23
ROW_OFFSETS = (-4, 3)
MAX_FIRST_COLUMN, MIN_GAP, MAX_COLUMN = 9, 5, 27
HELD_BACK = 4
MOVED_MAX_GAP = 9
MOVED = "test_moved"
# Which layouts each split draws: the training pool, the held-back pool, or any.
POOLS = {"train": "train", "validation": "held-back", "test_id": "held-back"}
SIZES = {
    "tiny": {"train": 64, "validation": 32, "test_id": 32, "test_ood": 32, MOVED: 32, "probe": 2},
    "small": {"train": 2000, "validation": 1000, "test_id": 1000, "test_ood": 1000, MOVED: 1000, "probe": 50},
    "full": {"train": 2000, "validation": 1000, "test_id": 1000, "test_ood": 1000, MOVED: 1000, "probe": 50},
}


def _band(row: int, last_column: int) -> Rect:
    """Centres of a left box whose top row is ``row`` plus an offset and left column 0..last_column."""
    half = BOX // 2
    low, high = ROW_OFFSETS
    return Rect(
        half / CANVAS, (last_column + half + 1) / CANVAS, (row + low + half) / CANVAS, (row + high + half + 1) / CANVAS
    )


def _classes(red_left_row: int, green_left_row: int, last_column: int = MAX_FIRST_COLUMN) -> Mixture:
    scale = Value(BOX / CANVAS)
    return Mixture(
        (
            Distribution((0,), _band(red_left_row, last_column), Value(0.0), scale),
            Distribution((1,), _band(green_left_row, last_column), Value(0.0), scale),
        )
    )


def red_green_protocol() -> Protocol:
    similar = _classes(TOP_ROW, BOTTOM_ROW)
    dissimilar = _classes(BOTTOM_ROW, TOP_ROW)
    moved = _classes(BOTTOM_ROW, TOP_ROW, MAX_COLUMN - MIN_GAP)
    sweep = tuple((row + BOX // 2) / CANVAS for row in range(0, CANVAS - BOX + 1, 4))
    return Protocol(
        name="red-green",
        version=2,
        title="Red-Green (Kayhan & van Gemert 2020)",
        description="Which box is left, red or green? In training the answer is also written in "
        "the vertical band the boxes sit in; the held-out test shifts the images by 16 pixels so "
        "the bands swap, and test_moved also moves the pair of boxes horizontally. 2000 train, "
        "1000 validation, 1000 similar, 1000 dissimilar and 1000 moved test images; no validation "
        "or test image repeats a training image.",
        rationale="The held-out bands of each class are exactly the training bands of the other, "
        "so any use of absolute position is punished; test_moved also takes away the left box's "
        "column, which alone tells the class in the published layout. Only the relative order of "
        "the boxes transfers to both.",
        family="boxes",
        class_names=("red-left", "green-left"),
        held_out=("class-location",),
        splits={
            "train": similar,
            "validation": similar,
            "test_id": similar,
            "test_ood": dissimilar,
            MOVED: moved,
        },
        grid=Grid(4, 0.0, 1.0),
        canvas=CANVAS,
        probe=Probe("y", sweep, base="test_id"),
        scene="red-green",
        sizes=SIZES,
    )


def held_back(label: int, layout: tuple[int, int, int, int]) -> bool:
    """Whether a layout (left column, left row, right column, right row) of class ``label`` is
    reserved for validation and testing: a fixed hash, so membership is checkable."""
    digest = hashlib.sha256(bytes([label, *layout])).digest()
    return digest[0] % HELD_BACK == 0


def _second_box(label: int, column: int, row: int, split: str, rng: np.random.Generator) -> tuple[int, int]:
    """The right box's (column, row): uniform over the published choices, within the split's pool."""
    band = TOP_ROW if row < CANVAS // 2 else BOTTOM_ROW
    low, high = ROW_OFFSETS
    choices = [(c, band + o) for c in range(column + MIN_GAP, MAX_COLUMN + 1) for o in range(low, high + 1)]
    pool = POOLS.get(split)
    for index in rng.permutation(len(choices)):
        second = choices[index]
        if pool is None or held_back(label, (column, row, *second)) == (pool == "held-back"):
            return second
    raise AssertionError(f"no {pool} layout with a left box at column {column}, row {row}")


def red_green_scene(split: str, factors: Factors, rng: np.random.Generator) -> tuple[Scene, Factors]:
    """The two boxes of one sample of ``split``, on the 32-pixel grid; the left box's centre snapped to it."""
    column = int(np.floor(factors.x * CANVAS)) - BOX // 2
    row = int(np.floor(factors.y * CANVAS)) - BOX // 2
    if split == MOVED:
        # A near pair placed anywhere it fits: each box's column is then mostly the pair's place.
        gap = int(rng.integers(MIN_GAP, MOVED_MAX_GAP + 1))
        column = int(rng.integers(0, MAX_COLUMN - gap + 1))
        second, second_row = _second_box(factors.label, column, row, split, rng)
        second = column + gap
    else:
        second, second_row = _second_box(factors.label, column, row, split, rng)
    first_colour, second_colour = (RED, GREEN) if factors.label == 0 else (GREEN, RED)
    snapped = replace(factors, x=(column + BOX // 2) / CANVAS, y=(row + BOX // 2) / CANVAS)

    def box(left: int, top: int, colour) -> Sprite:
        return Sprite("square", (left + BOX // 2) / CANVAS, (top + BOX // 2) / CANVAS, 0.0, BOX / CANVAS, colour)

    first = box(column, row, first_colour)
    scene = Scene(first, Background("plain", (0, 0, 0)), (box(second, second_row, second_colour),))
    return scene, snapped
