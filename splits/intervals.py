"""Sets of values of a scalar factor (rotation in degrees, scale), decided by predicate.

They are to rotation and scale what :mod:`splits.regions` is to location: ``contains(values)``
decides membership, ``sample(rng)`` draws uniformly, ``to_dict`` describes. An :class:`Interval`
is half-open, ``lo <= v < hi``, so ``[0, 90)`` and ``[90, 180)`` share no value; a :class:`Value`
is one number, tested by exact equality (compare the float64 values that were sampled, not a
float32 copy that rounded them); an :class:`IntervalSet` is a union of both, built with ``|``.
There is no wrap-around: a set of angles is a set of numbers, so normalise angles (for instance
to ``[0, 360)``) before asking ``contains``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from elsewhere.errors import ElsewhereError
from elsewhere.splits.regions import EmptyRegionError, checked_kind, finite

_KINDS: dict[str, tuple[str, ...]] = {
    "interval": ("lo", "hi"),
    "value": ("value",),
    "interval_set": ("parts",),
}


class ValueSet(ABC):
    """A set of values of one scalar factor; ``a | b`` is their :class:`IntervalSet`."""

    @abstractmethod
    def contains(self, values: ArrayLike) -> NDArray[np.bool_]:
        """Whether each value lies in the set (NaN never does)."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> float:
        """One value drawn from the set."""

    @abstractmethod
    def describe(self) -> str:
        """One readable line, e.g. ``"[0, 90) or {180}"``."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description, the inverse of :func:`interval_from_dict`."""

    @property
    @abstractmethod
    def span(self) -> tuple[float, float]:
        """``(smallest, largest)`` value bounding the set (the largest may be an open end)."""

    @property
    @abstractmethod
    def length(self) -> float:
        """Total length; 0 for single values."""

    @abstractmethod
    def is_empty(self) -> bool:
        """True only for an :class:`IntervalSet` without parts."""

    def __or__(self, other: object) -> IntervalSet:
        if not isinstance(other, ValueSet):
            return NotImplemented
        return IntervalSet((self, other))


@dataclass(frozen=True)
class Interval(ValueSet):
    """Values ``lo <= v < hi``; a single value is a :class:`Value`, not ``Interval(v, v)``."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        lo, hi = finite("interval", "lo", self.lo), finite("interval", "hi", self.hi)
        if lo > hi:
            raise ElsewhereError(f"interval lo={lo:g} > hi={hi:g}; lo must be below hi")
        if lo == hi:
            raise ElsewhereError(f"interval [{lo:g}, {hi:g}) is empty; use Value({lo:g}) for a single value")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    def contains(self, values: ArrayLike) -> NDArray[np.bool_]:
        v = np.asarray(values, dtype=np.float64)
        return (v >= self.lo) & (v < self.hi)

    def sample(self, rng: np.random.Generator) -> float:
        # uniform() may round up to hi itself, which the half-open interval excludes.
        return min(float(rng.uniform(self.lo, self.hi)), math.nextafter(self.hi, self.lo))

    def describe(self) -> str:
        return f"[{self.lo:g}, {self.hi:g})"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "interval", "lo": self.lo, "hi": self.hi}

    @property
    def span(self) -> tuple[float, float]:
        return self.lo, self.hi

    @property
    def length(self) -> float:
        return self.hi - self.lo

    def is_empty(self) -> bool:
        return False


@dataclass(frozen=True)
class Value(ValueSet):
    """The single value ``value`` (e.g. rotation fixed at 0)."""

    value: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", finite("value", "value", self.value))

    def contains(self, values: ArrayLike) -> NDArray[np.bool_]:
        return np.asarray(values, dtype=np.float64) == self.value

    def sample(self, rng: np.random.Generator) -> float:
        return self.value

    def describe(self) -> str:
        return f"{{{self.value:g}}}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "value", "value": self.value}

    @property
    def span(self) -> tuple[float, float]:
        return self.value, self.value

    @property
    def length(self) -> float:
        return 0.0

    def is_empty(self) -> bool:
        return False


def _canonical(parts: tuple[ValueSet, ...]) -> tuple[Interval | Value, ...]:
    flat: list[Interval | Value] = []
    for part in parts:
        flat.extend(part.parts if isinstance(part, IntervalSet) else (part,))
    merged: list[Interval] = []
    for part in sorted((p for p in flat if isinstance(p, Interval)), key=lambda p: p.lo):
        if merged and part.lo <= merged[-1].hi:
            merged[-1] = Interval(merged[-1].lo, max(merged[-1].hi, part.hi))
        else:
            merged.append(part)
    values = sorted({p.value for p in flat if isinstance(p, Value)})
    singles = [Value(v) for v in values if not any(i.lo <= v < i.hi for i in merged)]
    return tuple(sorted([*merged, *singles], key=lambda p: (p.span[0], isinstance(p, Interval))))


@dataclass(frozen=True)
class IntervalSet(ValueSet):
    """A union of intervals and values, stored canonically: sorted, overlapping or touching
    intervals merged, values inside an interval dropped, so equal sets compare equal.

    :meth:`sample` is uniform over the total length: an interval is picked with probability
    proportional to its length. A :class:`Value` has length 0, so beside any interval it is
    contained but never drawn; a set of values alone picks one of them uniformly.
    """

    parts: tuple[Interval | Value, ...] = ()

    def __post_init__(self) -> None:
        parts = tuple(self.parts) if isinstance(self.parts, (list, tuple)) else self.parts
        if not isinstance(parts, tuple) or not all(isinstance(p, ValueSet) for p in parts):
            raise ElsewhereError(f"interval set parts={self.parts!r} is invalid; give a tuple of Interval and Value")
        object.__setattr__(self, "parts", _canonical(parts))

    def contains(self, values: ArrayLike) -> NDArray[np.bool_]:
        v = np.asarray(values, dtype=np.float64)
        inside = np.zeros(v.shape, dtype=bool)
        for part in self.parts:
            inside |= part.contains(v)
        return inside

    def sample(self, rng: np.random.Generator) -> float:
        intervals = [p for p in self.parts if isinstance(p, Interval)]
        if intervals:
            lengths = np.array([p.length for p in intervals])
            return intervals[rng.choice(len(intervals), p=lengths / lengths.sum())].sample(rng)
        if self.parts:
            return self.parts[rng.integers(len(self.parts))].sample(rng)
        raise EmptyRegionError("interval set is empty, nothing to sample; give it an Interval or a Value")

    def describe(self) -> str:
        return " or ".join(p.describe() for p in self.parts) or "empty"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "interval_set", "parts": [p.to_dict() for p in self.parts]}

    @property
    def span(self) -> tuple[float, float]:
        if not self.parts:
            raise EmptyRegionError("interval set is empty, it has no span; give it an Interval or a Value")
        return min(p.span[0] for p in self.parts), max(p.span[1] for p in self.parts)

    @property
    def length(self) -> float:
        return float(sum(p.length for p in self.parts))

    def is_empty(self) -> bool:
        return not self.parts


def interval_from_dict(d: dict[str, Any]) -> Interval | Value | IntervalSet:
    """Rebuild an :class:`Interval`, :class:`Value` or :class:`IntervalSet` from ``to_dict``."""
    kind = checked_kind(d, _KINDS, "interval")
    if kind == "interval":
        return Interval(d["lo"], d["hi"])
    if kind == "value":
        return Value(d["value"])
    if not isinstance(d["parts"], (list, tuple)):
        raise ElsewhereError(f"interval_set parts must be a list of descriptions; got {d['parts']!r:.80}")
    return IntervalSet(tuple(interval_from_dict(p) for p in d["parts"]))
