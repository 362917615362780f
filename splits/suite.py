"""The standard suite: every protocol of the published dataset, each with why it tests what it claims.

Conventions shared by the suite: canvases of 64 pixels; objects in random colours on a random
uniform grey (``PLAIN``), with clutter only where a protocol says so; object centres kept far
enough from the border that the whole object is on the canvas (``_margin``); the location grid is
8×8 over that valid square; validation and test_id repeat the training distribution with fresh
samples. A protocol on which every architecture of the reference panel transfers above 95% is
marked a sanity control, from the committed baseline table (``splits.controls``): it checks
transfer but cannot rank models.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator

import numpy as np

from elsewhere.generator import ASYMMETRIC_SHAPES, Style, glyph_names, novel_names
from elsewhere.splits.controls import CONTROL, RANKED, panel_rows, verdict
from elsewhere.splits.distributions import Distribution, Mixture
from elsewhere.splits.grid import Grid
from elsewhere.splits.intervals import Interval, IntervalSet, Value
from elsewhere.splits.protocol import Probe, Protocol
from elsewhere.splits.redgreen import red_green_protocol
from elsewhere.splits.regions import Cells, Disc, Point, Rect, Region, Ring

SHAPES = ASYMMETRIC_SHAPES[:10]
LOCATION_SCALE = Interval(0.20, 0.28)
ROTATION_SCALE = Interval(0.22, 0.28)
# Distractors that no class resembles: a small turned square looked like the kite.
CLUTTERED = Style(colour="random", background="noise", noise=16.0, distractors=2, distractor_shapes=("circle", "cross"))
PLAIN = Style(colour="random", background="uniform")
GRID_CELLS = 8
ROTATION_SWEEP = tuple(float(a) for a in range(-180, 180, 15))
SCALE_SWEEP = tuple(round(0.12 + 0.02 * i, 2) for i in range(15))
NOVEL_SET = 1
BLYTHING_SET = 2
POINT = (0.3, 0.3)
# Shifts (pixels of the 64-pixel canvas) of the location-point probes: between and at multiples of
# the strides of common networks, so aliasing (failing between) and untrained-location failure
# (failing everywhere away from the point) are told apart.
SHIFTS = (0, 1, 2, 4, 8, 16)
OWN_POINT_RADIUS = 0.3
# Held-out centres of the cluttered halves keep this far from the trained half.
HALVES_GAP = 0.1


def _margin(max_scale: float, rotates: bool) -> float:
    """Half the object's extent: its frame's half side, or half diagonal if it may rotate."""
    return max_scale / 2 * (math.sqrt(2) if rotates else 1.0)


def _location_protocol(
    name: str,
    title: str,
    description: str,
    rationale: str,
    train: Region,
    held_out: Region,
    margin: float,
    *,
    classes=SHAPES,
    family="geometric",
    control=False,
    style=PLAIN,
    probe=Probe(),
) -> Protocol:
    """A protocol whose training and held-out splits differ only in where the object is."""
    valid = Rect(margin, 1 - margin, margin, 1 - margin)
    labels = tuple(range(len(classes)))

    def at(region: Region) -> Distribution:
        return Distribution(labels, region & valid, Value(0.0), LOCATION_SCALE)

    return Protocol(
        name=name,
        version=2,
        title=title,
        description=description,
        rationale=rationale,
        family=family,
        class_names=tuple(classes),
        held_out=("location",),
        splits={"train": at(train), "validation": at(train), "test_id": at(train), "test_ood": at(held_out)},
        grid=Grid(GRID_CELLS, margin, 1 - margin),
        style=style,
        control=control,
        probe=probe,
    )


def _suite() -> list[Protocol]:
    m = _margin(LOCATION_SCALE.hi, rotates=False)
    everywhere = Rect(0, 1, 0, 1)
    coarse = Grid(4, m, 1 - m)
    black = tuple(c for c in range(coarse.size) if (c // 4 + c % 4) % 2 == 0)
    white = tuple(c for c in range(coarse.size) if c not in black)
    protocols = [
        _location_protocol(
            "location-halves-clutter",
            "Left half → right of x = 0.6, in clutter",
            "Objects are centred in the left half for training and right of x = 0.6 for the held-out "
            "test, on noisy backgrounds with up to two distractor shapes (circles and crosses, which "
            "no class resembles) that lie wholly on the canvas and never overlap the object.",
            "The network must find the object among distractors, so position-specific shortcuts are "
            "harder to learn and to unlearn: headroom. Held-out centres keep 0.1 (6.4 px) from the "
            "trained half, so none sits at the boundary; objects are 13–18 px wide, so a held-out "
            "object's pixels can still reach into the training region. Distractors are drawn alike "
            "in both halves (count, distance to the object, distance to the border).",
            Rect(0, 0.5, 0, 1),
            Rect(0.5 + HALVES_GAP, 1, 0, 1),
            m,
            style=CLUTTERED,
        ),
        _location_protocol(
            "location-halves",
            "Left half → right half",
            "Objects are centred in the left half of the canvas for training and in the right half "
            "for the held-out test (Biscione & Bowers 2021, train on a half).",
            "Train and held-out centres are separated by the line x = 0.5 (half-open), so every "
            "held-out object sits at a horizontal position never used for training.",
            Rect(0, 0.5, 0, 1),
            Rect(0.5, 1, 0, 1),
            m,
        ),
        _location_protocol(
            "location-quadrant",
            "Three quadrants → the fourth",
            "Training covers the canvas except the bottom-right quadrant; the held-out test lies "
            "only there (Spriteworld's train-on-square-minus-quadrant).",
            "Each held-out location's x and y were seen in training separately, but never together: "
            "this tests combining position coordinates, not extrapolating either.",
            everywhere - Rect(0.5, 1, 0.5, 1),
            Rect(0.5, 1, 0.5, 1),
            m,
        ),
        _location_protocol(
            "location-centre-periphery",
            "Centre → periphery",
            "Training centres lie in a disc of radius 0.15 around the canvas centre; held-out "
            "centres lie outside radius 0.25 (eccentricity, as in human vision studies).",
            "A ring of width 0.1 separates the two, so held-out objects do not overlap the "
            "training area's central pixels at all: pure extrapolation outwards.",
            Disc(0.5, 0.5, 0.15),
            Ring(0.5, 0.5, 0.25, 2.0),
            m,
        ),
        _location_protocol(
            "location-checkerboard",
            "Checkerboard interpolation",
            "The valid area is cut into 4×4 cells; training uses the black cells of a checkerboard, "
            "the held-out test the white cells.",
            "Every held-out cell is surrounded by trained cells: interpolation between trained "
            "locations (Schott et al. 2022), the easiest kind of generalisation over location.",
            Cells(coarse, black),
            Cells(coarse, white),
            m,
        ),
        _location_protocol(
            "location-point",
            "One point → everywhere",
            "Training objects are centred at one point, (0.3, 0.3), with one pixel of jitter; the "
            "held-out test covers every location at least 0.1 away from it (Biscione & Bowers 2021). "
            "The probe moves test_id objects down by 0, 1, 2, 4, 8 and 16 pixels.",
            "The hardest location protocol: the network never sees the object anywhere else. The "
            "probe's accuracy against shift tells aliasing (failing between multiples of a stride, "
            "recovering at them) from failing at every untrained location.",
            Point(*POINT, 1 / 64),
            everywhere - Disc(*POINT, 0.1),
            m,
            probe=_shift_probe(),
        ),
        _location_protocol(
            "location-point-jitter",
            "One point ± 4 px → everywhere",
            "As location-point, with four pixels of jitter around the training point instead of one.",
            "The twin of location-point that isolates untrained-location failure: ±4 px of jitter "
            "covers every phase of a stride-8 network's sampling grid, so aliasing alone cannot make "
            "it fail (a ResNet that fails location-point transfers here), and what still fails is "
            "transfer to locations never seen.",
            Point(*POINT, 4 / 64),
            everywhere - Disc(*POINT, 0.1),
            m,
            probe=_shift_probe(),
        ),
        _own_point(m),
        _location_protocol(
            "glyphs-halves",
            "Digits: left half → right half",
            "The ten digits of Pillow's bundled font, trained in the left half and tested in the right half.",
            "As location-halves, with familiar glyphs instead of geometric shapes.",
            Rect(0, 0.5, 0, 1),
            Rect(0.5, 1, 0, 1),
            m,
            classes=glyph_names("0123456789"),
            family="glyph",
        ),
        _location_protocol(
            "iid",
            "Control: same distribution",
            "Sanity control: train and test_ood are drawn from the same distribution over the whole "
            "canvas. A model's gap here is its noise floor.",
            "Held-out equals train by design, so this protocol is exempt from disjointness checks.",
            everywhere,
            everywhere,
            m,
            control=True,
        ),
        _composition(m),
        *_rotation_protocols(),
        *_scale_protocols(),
        _novel_objects(m),
        _blything(),
        red_green_protocol(),
    ]
    return protocols


def _shift_probe() -> Probe:
    """test_id objects (at the training point) moved down by each of ``SHIFTS`` pixels."""
    return Probe("y", tuple(POINT[1] + k / 64 for k in SHIFTS), base="test_id")


def own_points() -> tuple[tuple[float, float], ...]:
    """One point per class on a ring about the canvas centre, class 0 at the top, clockwise as seen."""
    angles = np.deg2rad(-90.0 + 360.0 * np.arange(len(SHAPES)) / len(SHAPES))
    return tuple((0.5 + OWN_POINT_RADIUS * float(np.cos(a)), 0.5 + OWN_POINT_RADIUS * float(np.sin(a))) for a in angles)


def _own_point(m: float) -> Protocol:
    valid = Rect(m, 1 - m, m, 1 - m)
    points = own_points()

    def at(label: int, where: Region) -> Distribution:
        return Distribution((label,), where & valid, Value(0.0), LOCATION_SCALE)

    def others(label: int) -> Region:
        parts = [Point(x, y, 1 / 64) for c, (x, y) in enumerate(points) if c != label]
        return functools.reduce(operator.or_, parts)

    train = Mixture(tuple(at(c, Point(*points[c], 1 / 64)) for c in range(len(SHAPES))))
    held_out = Mixture(tuple(at(c, others(c)) for c in range(len(SHAPES))))
    return Protocol(
        name="location-own-point",
        version=2,
        title="Each class at its own point → at the others'",
        description="Each class is trained at its own point (one pixel of jitter) of a ring of radius "
        "0.3 about the canvas centre, and tested at the other classes' points: a shape version of "
        "Red-Green.",
        rationale="Location alone solves training, so a network that reads position answers with "
        "the class that owns the place; the share of held-out predictions naming that owner "
        "(owner_share) says how much it does. The points are 0.19 (12 px) apart.",
        family="geometric",
        class_names=SHAPES,
        held_out=("class-location",),
        splits={"train": train, "validation": train, "test_id": train, "test_ood": held_out},
        grid=Grid(GRID_CELLS, m, 1 - m),
        style=PLAIN,
    )


def _composition(m: float) -> Protocol:
    valid = Rect(m, 1 - m, m, 1 - m)
    quadrants = (Rect(0, 0.5, 0, 0.5), Rect(0.5, 1, 0, 0.5), Rect(0, 0.5, 0.5, 1), Rect(0.5, 1, 0.5, 1))
    groups = [tuple(c for c in range(len(SHAPES)) if c % 4 == q) for q in range(4)]

    def mixture(place) -> Mixture:
        return Mixture(tuple(Distribution(groups[q], place(q) & valid, Value(0.0), LOCATION_SCALE) for q in range(4)))

    train = mixture(lambda q: Rect(0, 1, 0, 1) - quadrants[q])
    return Protocol(
        name="composition",
        version=2,
        title="Class × location composition",
        description="Each class is never seen in one quadrant of the canvas (class c misses "
        "quadrant c mod 4) but every quadrant is seen with the other classes. The held-out test "
        "shows each class in its unseen quadrant.",
        rationale="Every held-out class and every held-out location appear in training, only not "
        "together (Schott et al. 2022's composition split): this tests whether recognition "
        "factorises from position.",
        family="geometric",
        class_names=SHAPES,
        held_out=("class-location",),
        splits={"train": train, "validation": train, "test_id": train, "test_ood": mixture(lambda q: quadrants[q])},
        grid=Grid(GRID_CELLS, m, 1 - m),
        style=PLAIN,
    )


def _rotation_protocols() -> list[Protocol]:
    m = _margin(ROTATION_SCALE.hi, rotates=True)
    valid = Rect(m, 1 - m, m, 1 - m)
    labels = tuple(range(len(SHAPES)))
    even = IntervalSet(tuple(Interval(-180 + 60 * k, -150 + 60 * k) for k in range(6)))
    odd = IntervalSet(tuple(Interval(-150 + 60 * k, -120 + 60 * k) for k in range(6)))
    cases = [
        (
            "rotation-extrapolation",
            "Upright → upside down",
            "Objects are rotated by less than 45° either way in training and by more than 90° in "
            "the held-out test; locations are anywhere on the canvas.",
            "Only shapes without rotational symmetry are used, so every rotation is a distinct view; "
            "the held-out angles lie beyond the trained range (extrapolation).",
            Interval(-45, 45),
            IntervalSet((Interval(90, 180), Interval(-180, -90))),
        ),
        (
            "rotation-interpolation",
            "Rotation interpolation",
            "Rotations are cut into twelve 30° bins; training uses every other bin and the held-out "
            "test the bins between them.",
            "Every held-out angle lies between two trained angles at most 30° apart (interpolation); "
            "shapes without rotational symmetry only.",
            even,
            odd,
        ),
    ]
    return [
        Protocol(
            name=name,
            version=2,
            title=title,
            description=description,
            rationale=rationale,
            family="geometric",
            class_names=SHAPES,
            held_out=("rotation",),
            splits={
                "train": Distribution(labels, valid, train, ROTATION_SCALE),
                "validation": Distribution(labels, valid, train, ROTATION_SCALE),
                "test_id": Distribution(labels, valid, train, ROTATION_SCALE),
                "test_ood": Distribution(labels, valid, held_out, ROTATION_SCALE),
            },
            grid=Grid(GRID_CELLS, m, 1 - m),
            style=PLAIN,
            probe=Probe("rotation", ROTATION_SWEEP),
        )
        for name, title, description, rationale, train, held_out in cases
    ]


def _scale_protocols() -> list[Protocol]:
    m = _margin(SCALE_SWEEP[-1], rotates=False)
    valid = Rect(m, 1 - m, m, 1 - m)
    labels = tuple(range(len(SHAPES)))
    cases = [
        (
            "scale-extrapolation",
            "Small → large",
            "Objects span 12–22% of the canvas side in training and 28–40% in the held-out test.",
            "The held-out sizes lie beyond the trained range, with a gap, so the network must "
            "recognise objects larger than any it saw (extrapolation).",
            Interval(0.12, 0.22),
            Interval(0.28, 0.40),
        ),
        (
            "scale-interpolation",
            "Small and large → medium",
            "Training objects are either small (12–18%) or large (32–40% of the side); the held-out "
            "test shows medium sizes (22–28%).",
            "Every held-out size lies between trained sizes (interpolation).",
            IntervalSet((Interval(0.12, 0.18), Interval(0.32, 0.40))),
            Interval(0.22, 0.28),
        ),
    ]
    return [
        Protocol(
            name=name,
            version=2,
            title=title,
            description=description,
            rationale=rationale,
            family="geometric",
            class_names=SHAPES,
            held_out=("scale",),
            splits={
                "train": Distribution(labels, valid, Value(0.0), train),
                "validation": Distribution(labels, valid, Value(0.0), train),
                "test_id": Distribution(labels, valid, Value(0.0), train),
                "test_ood": Distribution(labels, valid, Value(0.0), held_out),
            },
            grid=Grid(GRID_CELLS, m, 1 - m),
            style=PLAIN,
            probe=Probe("scale", SCALE_SWEEP),
        )
        for name, title, description, rationale, train, held_out in cases
    ]


def _novel_objects(m: float) -> Protocol:
    valid = Rect(m, 1 - m, m, 1 - m)
    names = novel_names(NOVEL_SET, 30)
    old, new = tuple(range(20)), tuple(range(20, 30))
    seen = Distribution(new, Point(0.3, 0.3, 0.03), Value(0.0), LOCATION_SCALE)
    return Protocol(
        name="novel-objects",
        version=2,
        title="Novel objects learned at one place",
        description="A network first sees 20 random closed shapes everywhere (`pretrain`), then "
        "learns 10 new shapes shown only near (0.3, 0.3) (`train`), and is tested on the new "
        "shapes elsewhere (Blything et al. 2021).",
        rationale="The new shapes' held-out locations are at least 0.15 from where they were "
        "learned, but the pretraining shapes covered them: this tests whether location tolerance "
        "learned on some objects transfers to objects learned later.",
        family="novel",
        class_names=names,
        held_out=("location",),
        splits={
            "pretrain": Distribution(old, valid, Value(0.0), LOCATION_SCALE),
            "train": seen,
            "validation": seen,
            "test_id": seen,
            "test_ood": Distribution(new, valid - Disc(0.3, 0.3, 0.15), Value(0.0), LOCATION_SCALE),
        },
        grid=Grid(GRID_CELLS, m, 1 - m),
        style=PLAIN,
    )


def _blything() -> Protocol:
    scale = Value(0.25)
    m = _margin(scale.value, rotates=False)
    valid = Rect(m, 1 - m, m, 1 - m)
    names = novel_names(BLYTHING_SET, 20)
    old, new = tuple(range(10)), tuple(range(10, 20))
    centre = Distribution(new, Point(0.5, 0.5, 0.0), Value(0.0), scale)
    sides = Point(0.2, 0.5, 0.0) | Point(0.8, 0.5, 0.0)
    return Protocol(
        name="blything-centre-side",
        version=2,
        title="Train centre, test side (Blything et al.)",
        description="Novel shapes pasted at the canvas centre for training and at a side position "
        "(x = 0.2 or 0.8) for testing, after pretraining on other novel shapes spread over the "
        "canvas (Blything et al., J. Vision 2021).",
        rationale="The test positions are exactly 0.3 of the canvas from the only trained position; "
        "compare a flatten head, a global-average-pooling head, and pretraining.",
        family="novel",
        class_names=names,
        held_out=("location",),
        splits={
            "pretrain": Distribution(old, valid, Value(0.0), scale),
            "train": centre,
            "validation": centre,
            "test_id": centre,
            "test_ood": Distribution(new, sides, Value(0.0), scale),
        },
        grid=Grid(GRID_CELLS, m, 1 - m),
        style=Style(colour="white", background="plain"),
    )


def _marked(protocol: Protocol) -> Protocol:
    """The protocol marked as the panel's table decides (``splits.controls``); ``iid`` is a control by design."""
    if protocol.control:
        return protocol
    found = verdict(protocol, panel_rows())
    if found.status == RANKED:
        return protocol
    return dataclasses.replace(
        protocol, control=found.status == CONTROL, rationale=f"{protocol.rationale} {found.note()}"
    )


def standard_protocols() -> tuple[Protocol, ...]:
    """Every protocol of the published dataset, in the order the registry lists them."""
    return tuple(_marked(protocol) for protocol in _suite())
