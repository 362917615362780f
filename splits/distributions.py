"""Factor distributions: which classes appear where, at what rotation and at what scale.

A split of a protocol draws its factors from one of these. Membership (``contains``) is a
predicate over the factors, so a held-out split is proven disjoint from the training split by
checking points, never hoped to be by the luck of a draw. ``Mixture`` expresses class-dependent
regions (composition: each class seen only in some places).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from elsewhere.errors import ElsewhereError
from elsewhere.splits.intervals import Interval, IntervalSet, Value
from elsewhere.splits.regions import Region

ScalarSet = Interval | IntervalSet | Value


@dataclass(frozen=True)
class Factors:
    """One draw from a distribution: the class and the pose of the object."""

    label: int
    x: float
    y: float
    rotation: float
    scale: float


@dataclass(frozen=True)
class Distribution:
    """Classes uniformly, and independently a location, a rotation and a scale."""

    classes: tuple[int, ...]
    location: Region
    rotation: ScalarSet = Value(0.0)
    scale: ScalarSet = Value(0.25)

    @property
    def parts(self) -> tuple[Distribution, ...]:
        return (self,)

    @property
    def all_classes(self) -> tuple[int, ...]:
        return self.classes

    def sample(self, rng: np.random.Generator) -> Factors:
        label = self.classes[int(rng.integers(len(self.classes)))]
        x, y = self.location.sample(rng)
        return Factors(label, x, y, self.rotation.sample(rng), self.scale.sample(rng))

    def contains(self, label, x, y, rotation, scale) -> np.ndarray:
        """Whether each factor tuple (arrays broadcast) could have been drawn from here."""
        return (
            np.isin(np.asarray(label), self.classes)
            & self.location.contains(x, y)
            & self.rotation.contains(rotation)
            & self.scale.contains(scale)
        )

    def describe(self) -> str:
        return (
            f"location {self.location.describe()}; rotation {self.rotation.describe()}; scale {self.scale.describe()}"
        )

    def to_dict(self) -> dict:
        return {
            "classes": list(self.classes),
            "location": self.location.to_dict(),
            "rotation": self.rotation.to_dict(),
            "scale": self.scale.to_dict(),
        }


@dataclass(frozen=True)
class Mixture:
    """A union of distributions, each over its own classes; classes stay equally likely."""

    parts: tuple[Distribution, ...]

    def __post_init__(self):
        labels = [c for part in self.parts for c in part.classes]
        if len(labels) != len(set(labels)):
            raise ElsewhereError("a mixture's parts must cover disjoint classes; each class in one part")

    @property
    def all_classes(self) -> tuple[int, ...]:
        return tuple(sorted(c for part in self.parts for c in part.classes))

    def sample(self, rng: np.random.Generator) -> Factors:
        weights = np.array([len(part.classes) for part in self.parts], dtype=float)
        part = self.parts[int(rng.choice(len(self.parts), p=weights / weights.sum()))]
        return part.sample(rng)

    def contains(self, label, x, y, rotation, scale) -> np.ndarray:
        result = np.zeros(np.broadcast(label, x, y, rotation, scale).shape, dtype=bool)
        for part in self.parts:
            result |= part.contains(label, x, y, rotation, scale)
        return result

    def describe(self) -> str:
        return " | ".join(f"classes {list(p.classes)}: {p.describe()}" for p in self.parts)

    def to_dict(self) -> dict:
        return {"mixture": [part.to_dict() for part in self.parts]}


FactorDistribution = Distribution | Mixture
