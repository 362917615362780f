"""A protocol: a frozen, versioned recipe for the splits of one benchmark config.

A protocol names its classes, its canvas and location grid, the factor distribution of every split,
how its probe sweeps the same objects over locations (or rotations, scales), and the sizes of its
splits. It holds no randomness: the samples are pure functions of (seed, protocol, split, index),
made by ``splits.sampling``. Bump ``version`` whenever the samples a protocol produces change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from elsewhere.errors import ElsewhereError
from elsewhere.generator import Style
from elsewhere.generator.render import MIN_OBJECT_PIXELS
from elsewhere.splits.distributions import FactorDistribution
from elsewhere.splits.grid import Grid
from elsewhere.splits.names import PROBE, SAMPLED_SPLITS
from elsewhere.splits.regions import EmptyRegionError

SIZES = ("tiny", "small", "full")
MAX_CANVAS = 1024

# Items per split (for the probe: object instances, each rendered at every sweep position).
STANDARD_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"pretrain": 64, "train": 64, "validation": 32, "test_id": 32, "test_ood": 32, "probe": 2},
    "small": {
        "pretrain": 4000,
        "train": 4000,
        "validation": 1000,
        "test_id": 1000,
        "test_ood": 1000,
        "probe": 20,
    },
    "full": {
        "pretrain": 50000,
        "train": 50000,
        "validation": 5000,
        "test_id": 10000,
        "test_ood": 10000,
        "probe": 200,
    },
}


@dataclass(frozen=True)
class Probe:
    """How the probe renders each object instance again at every position of one factor.

    ``location`` sweeps the centres of every grid cell; ``y`` sweeps ``values`` of the vertical
    position at the instance's own ``x``; ``rotation`` and ``scale`` sweep ``values`` of that factor
    at the instance's own location.
    """

    sweep: Literal["location", "y", "rotation", "scale"] = "location"
    values: tuple[float, ...] = ()
    base: str = "test_ood"


@dataclass(frozen=True)
class Protocol:
    """One config of the published dataset. See the module docstring.

    ``control`` marks a sanity control: a protocol that holds nothing out (``iid``) or to which
    every network of the reference panel transfers (``splits.controls``), so it cannot rank models.
    """

    name: str
    version: int
    title: str
    description: str
    rationale: str
    family: Literal["geometric", "glyph", "novel", "boxes"]
    class_names: tuple[str, ...]
    held_out: tuple[str, ...]
    splits: dict[str, FactorDistribution]
    grid: Grid
    canvas: int = 64
    style: Style = field(default_factory=Style)
    probe: Probe = field(default_factory=Probe)
    scene: Literal["single", "red-green"] = "single"
    control: bool = False
    sizes: dict[str, dict[str, int]] = field(default_factory=lambda: STANDARD_SIZES)

    def __post_init__(self):
        missing = [s for s in SAMPLED_SPLITS if s not in self.splits]
        if missing:
            raise ElsewhereError(
                f"protocol {self.name!r} lacks splits {missing}; every protocol has "
                f"{', '.join(SAMPLED_SPLITS)} (the probe is derived)"
            )
        for split, distribution in self.splits.items():
            unknown = [c for c in distribution.all_classes if not 0 <= c < len(self.class_names)]
            if unknown:
                raise ElsewhereError(
                    f"protocol {self.name!r} split {split!r} uses labels {unknown}, "
                    f"outside 0..{len(self.class_names) - 1}"
                )

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(self.splits) + (PROBE,)

    @property
    def train(self) -> FactorDistribution:
        return self.splits["train"]

    @property
    def evaluated_classes(self) -> tuple[int, ...]:
        """The labels a model is asked to tell apart on the evaluated splits."""
        return tuple(sorted(set(self.splits["test_id"].all_classes) | set(self.splits["test_ood"].all_classes)))

    @property
    def probe_size(self) -> int:
        """How many images one probe instance becomes."""
        return self.grid.size if self.probe.sweep == "location" else len(self.probe.values)

    def split_size(self, split: str, size: str) -> int:
        """Rows in ``split`` at ``size`` (for the probe: instances × sweep positions)."""
        if size not in self.sizes:
            raise ElsewhereError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
        count = self.sizes[size][split]
        return count * self.probe_size if split == "probe" else count

    def region_of(self, label, x, y, rotation, scale) -> np.ndarray:
        """Name of the first named region that holds each sample: train, held-out, pretrain, or between."""
        names = np.full(np.broadcast(label, x, y, rotation, scale).shape, "between", dtype=object)
        for name, split in (("pretrain", "pretrain"), ("held-out", "test_ood"), ("train", "train")):
            if split in self.splits:
                names[self.splits[split].contains(label, x, y, rotation, scale)] = name
        return names

    def smallest_scale(self) -> float:
        """The smallest object any split (or the probe) of this protocol draws."""
        scales = [part.scale.span[0] for d in self.splits.values() for part in d.parts]
        if self.probe.sweep == "scale":
            scales += list(self.probe.values)
        return min(scales)

    def check(self) -> None:
        """Refuse a canvas too small for the objects, or a split whose region is empty."""
        if not isinstance(self.canvas, int) or not 8 <= self.canvas <= MAX_CANVAS:
            raise ElsewhereError(f"bad canvas {self.canvas!r}; a canvas is 8 to {MAX_CANVAS} pixels")
        pixels = self.smallest_scale() * self.canvas
        if pixels < MIN_OBJECT_PIXELS:
            needed = math.ceil(MIN_OBJECT_PIXELS / self.smallest_scale())
            raise ElsewhereError(
                f"canvas too small for the object: {self.name} draws objects "
                f"{pixels:.1f} px wide on a {self.canvas}-pixel canvas; use a canvas "
                f"of at least {needed} pixels"
            )
        rng = np.random.default_rng(0)
        for split, distribution in self.splits.items():
            for part in distribution.parts:
                try:
                    part.sample(rng)
                except EmptyRegionError as error:
                    raise ElsewhereError(f"impossible region in {self.name}/{split}: {error}") from None

    def to_dict(self) -> dict:
        """The protocol in JSON form, for the dataset manifest and ``elsewhere protocols --json``."""
        return {
            "name": self.name,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "rationale": self.rationale,
            "family": self.family,
            "classes": list(self.class_names),
            "held_out": list(self.held_out),
            "canvas": self.canvas,
            "grid": self.grid.to_dict(),
            "control": self.control,
            "probe": {
                "sweep": self.probe.sweep,
                "values": list(self.probe.values),
                "base": self.probe.base,
                "positions": self.probe_size,
            },
            "splits": {name: dist.to_dict() for name, dist in self.splits.items()},
        }
