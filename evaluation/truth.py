"""What the harness knows about the items it scores: their labels and factors, never their images.

A :class:`Truth` is built once per protocol from the dataset (``evaluation.data.load_truth``) or,
on the leaderboard, from labels it holds itself. Predictions are checked against it and scored
with it, so scoring needs no images and no model. The frame has one row per evaluated item:

============  ===============================================================================
``id``        str, unique, stable (e.g. ``"location-halves/test_ood/0000123"``)
``split``     str: ``test_id``, ``test_ood``, ``probe`` or another test split of the protocol
``label``     int: class index into ``class_names``
``x, y``      float: object centre, origin top-left, ``y`` down
``rotation``  float: degrees, counter-clockwise
``scale``     float: object size as a fraction of the canvas side
``cell``      int: index on the protocol's location grid (``row * n + col``), -1 if outside
``group``     int: probe group (the same object instance at every sweep position), -1 if none
``region``    str: name of the region the item lies in (``train``, ``held-out``, ...)
============  ===============================================================================
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import ArrayLike

from elsewhere.errors import ElsewhereError
from elsewhere.splits.grid import Grid
from elsewhere.splits.names import EVALUATED_SPLITS
from elsewhere.splits.regions import Region

COLUMNS = ("id", "split", "label", "x", "y", "rotation", "scale", "cell", "group", "region")
FACTORS = ("location", "rotation", "scale", "class-location")
SHA256_HEX = r"[0-9a-f]{64}"

_INTEGER_COLUMNS = ("label", "cell", "group")
_FLOAT_COLUMNS = ("x", "y", "rotation", "scale")
_TEXT_COLUMNS = ("id", "split", "region")


@dataclass(frozen=True, eq=False)
class Truth:
    """Labels and factors of every evaluated item of one protocol (see the module docstring).

    The frame is copied, given a fresh index and normalised dtypes (int64, float64, str) on
    construction; ids must be unique, non-empty and free of line breaks (they are hashed as lines).
    ``evaluated_classes`` are the labels the evaluated items are drawn from (a protocol may name
    more classes, e.g. pretraining shapes); left empty, they are the labels present in the frame.
    Predictions may name any class of ``class_names``.
    """

    protocol: str
    version: int
    fingerprint: str
    class_names: tuple[str, ...]
    frame: pd.DataFrame
    grid: Grid
    train_region: Region | None
    factors: tuple[str, ...]
    evaluated_classes: tuple[int, ...] = ()
    # Where the data came from (see evaluation.data.dataset_source); recorded in the results.
    dataset: dict | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.frame, pd.DataFrame):
            raise ElsewhereError(f"truth frame must be a pandas DataFrame; got {type(self.frame).__name__}")
        missing = [c for c in COLUMNS if c not in self.frame.columns]
        if missing:
            raise ElsewhereError(f"truth frame lacks columns {missing}; it needs {', '.join(COLUMNS)}")
        if self.frame.empty:
            raise ElsewhereError("truth frame has no items; it needs one row per evaluated item")
        if not isinstance(self.fingerprint, str) or not re.fullmatch(SHA256_HEX, self.fingerprint):
            raise ElsewhereError(
                f"fingerprint={self.fingerprint!r:.80} is invalid; give the dataset's sha256 "
                "fingerprint (64 lowercase hex digits)"
            )
        names = tuple(str(c) for c in self.class_names)
        if len(names) < 2 or len(set(names)) != len(names):
            raise ElsewhereError(f"class_names={self.class_names!r} is invalid; give two or more distinct names")
        unknown = [f for f in self.factors if f not in FACTORS]
        if unknown:
            raise ElsewhereError(f"unknown factors {unknown}; allowed are {', '.join(FACTORS)}")
        if not isinstance(self.grid, Grid):
            raise ElsewhereError(f"truth grid must be a splits.grid.Grid; got {type(self.grid).__name__}")
        if self.train_region is not None and not isinstance(self.train_region, Region):
            raise ElsewhereError(f"train_region must be a splits.regions.Region or None; got {self.train_region!r}")
        frame = self._normalised(self.frame.loc[:, list(COLUMNS)], len(names))
        evaluated = tuple(int(c) for c in self.evaluated_classes) or tuple(int(c) for c in np.unique(frame["label"]))
        if not evaluated or not all(0 <= c < len(names) for c in evaluated):
            raise ElsewhereError(
                f"evaluated_classes={self.evaluated_classes!r} is invalid; give indices into the "
                f"{len(names)} class names (or leave it empty to use the labels present)"
            )
        object.__setattr__(self, "evaluated_classes", evaluated)
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "factors", tuple(self.factors))
        object.__setattr__(self, "version", int(self.version))
        object.__setattr__(self, "frame", frame)

    @staticmethod
    def _normalised(frame: pd.DataFrame, classes: int) -> pd.DataFrame:
        frame = frame.reset_index(drop=True).copy()
        for column in _TEXT_COLUMNS:
            if frame[column].isna().any():
                raise ElsewhereError(f"truth column {column!r} has missing values; every item needs one")
            frame[column] = frame[column].astype(str)
        for column in _INTEGER_COLUMNS:
            values = pd.to_numeric(frame[column], errors="coerce")
            if values.isna().any() or (values != np.floor(values)).any():
                raise ElsewhereError(f"truth column {column!r} must hold whole numbers")
            frame[column] = values.astype(np.int64)
        for column in _FLOAT_COLUMNS:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(np.float64)
        ids = frame["id"]
        if (ids.str.len() == 0).any() or ids.str.contains("\n", regex=False).any():
            raise ElsewhereError("truth ids must be non-empty and hold no line break")
        duplicated = ids[ids.duplicated()]
        if len(duplicated):
            raise ElsewhereError(
                f"truth has {len(duplicated)} duplicated ids, first {duplicated.iloc[0]!r}; ids must be unique"
            )
        bad = ~frame["label"].between(0, classes - 1)
        if bad.any():
            raise ElsewhereError(
                f"truth has {int(bad.sum())} labels outside 0..{classes - 1}, "
                f"first {int(frame['label'][bad].iloc[0])} (id {frame['id'][bad].iloc[0]!r})"
            )
        return frame

    @property
    def chance(self) -> float:
        """Accuracy of guessing uniformly among the evaluated classes."""
        return 1.0 / len(self.evaluated_classes)

    @cached_property
    def splits(self) -> tuple[str, ...]:
        """Splits present in the frame: the standard ones first, then others by name."""
        present = set(self.frame["split"].unique())
        return tuple(s for s in EVALUATED_SPLITS if s in present) + tuple(sorted(present - set(EVALUATED_SPLITS)))


def id_array(ids: ArrayLike) -> pa.Array:
    """``ids`` (a Series, array, list or Arrow array) as one contiguous Arrow string array."""
    if not isinstance(ids, (pa.Array, pa.ChunkedArray)):
        ids = pa.array(ids, type=pa.string())
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    return ids if pa.types.is_string(ids.type) else pc.cast(ids, pa.string())


def canonical_order(ids: ArrayLike) -> np.ndarray:
    """Positions that sort ``ids`` by code point: the order in which items are hashed and packed."""
    return pc.sort_indices(id_array(ids)).to_numpy()


def id_lines(ids: ArrayLike) -> bytes:
    """``ids`` in the given order as UTF-8, each followed by a newline."""
    values = id_array(ids).to_pylist()
    return ("\n".join(values) + "\n").encode() if values else b""


def ids_sha256(ids: ArrayLike) -> str:
    """SHA-256 of the ids sorted by code point, one per line: which items a result covers."""
    ids = id_array(ids)
    return hashlib.sha256(id_lines(ids.take(pc.sort_indices(ids)))).hexdigest()
