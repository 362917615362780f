"""The location grid of a protocol: ``n × n`` equal cells over the square ``[lo, hi]²`` of centres.

Cells are numbered row-major, ``cell = row * n + col``, with the row taken from ``y`` (row 0 at
the top, since ``y`` points down) and the column from ``x``. Cells are half-open like the regions
(``lo + col·w <= x < lo + (col + 1)·w``), except that the upper edge ``hi`` belongs to the last
row and column, so every point of the closed square has exactly one cell. The grid gives the
``cell`` column of the dataset, the positions of the probe split, and the maps of evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from elsewhere.errors import ElsewhereError

_FIELDS = ("n", "lo", "hi")


@dataclass(frozen=True)
class Grid:
    """``n × n`` cells over ``[lo, hi]²``; see the module docstring for numbering and edges."""

    n: int
    lo: float = 0.0
    hi: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise ElsewhereError(f"grid size n={self.n!r} is invalid; it must be an integer >= 1")
        for name in ("lo", "hi"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
                raise ElsewhereError(f"grid {name}={value!r} is invalid; it must be a finite number")
        if self.lo >= self.hi:
            raise ElsewhereError(f"grid lo={self.lo!r} >= hi={self.hi!r}; lo must be below hi")
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "lo", float(self.lo))
        object.__setattr__(self, "hi", float(self.hi))

    @property
    def size(self) -> int:
        """Number of cells, ``n * n``."""
        return self.n * self.n

    @property
    def step(self) -> float:
        """Side of one cell."""
        return (self.hi - self.lo) / self.n

    def cell_of(self, x: ArrayLike, y: ArrayLike) -> NDArray[np.int64]:
        """Cell index of each point (broadcast), -1 for points outside ``[lo, hi]²`` or NaN."""
        x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        inside = (x >= self.lo) & (x <= self.hi) & (y >= self.lo) & (y <= self.hi)
        col = self._index(np.where(inside, x, self.lo))
        row = self._index(np.where(inside, y, self.lo))
        return np.where(inside, row * self.n + col, -1).astype(np.int64)

    def _index(self, value: NDArray[np.float64]) -> NDArray[np.int64]:
        scaled = np.floor((value - self.lo) / (self.hi - self.lo) * self.n).astype(np.int64)
        return np.minimum(scaled, self.n - 1)

    def row_col(self, cell: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Row (from the top) and column (from the left) of each cell index."""
        cell = self._cells(cell)
        return cell // self.n, cell % self.n

    def centre(self, cell: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Centre ``(x, y)`` of each cell."""
        row, col = self.row_col(cell)
        return self.lo + (col + 0.5) * self.step, self.lo + (row + 0.5) * self.step

    def _cells(self, cell: ArrayLike) -> NDArray[np.int64]:
        cell = np.asarray(cell)
        if cell.size and not np.issubdtype(cell.dtype, np.integer):
            raise ElsewhereError(f"cell indices must be integers; got dtype {cell.dtype}")
        cell = cell.astype(np.int64)
        bad = (cell < 0) | (cell >= self.size)
        if bad.any():
            raise ElsewhereError(
                f"cell index {int(cell[bad].flat[0])} is outside the {self.n}x{self.n} grid; "
                f"allowed are 0 to {self.size - 1}"
            )
        return cell

    def rows(self) -> NDArray[np.int64]:
        """``(n, n)`` cell indices; row ``i`` lists the cells of grid row ``i`` left to right."""
        return np.arange(self.size, dtype=np.int64).reshape(self.n, self.n)

    def columns(self) -> NDArray[np.int64]:
        """``(n, n)`` cell indices; row ``j`` lists the cells of grid column ``j`` top to bottom."""
        return self.rows().T.copy()

    def neighbour_pairs(self) -> NDArray[np.int64]:
        """``(2 n (n - 1), 2)`` pairs ``(a, b)``, ``a < b``, of side-adjacent cells, sorted."""
        idx = self.rows()
        pairs = np.concatenate(
            [
                np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], axis=1),
                np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], axis=1),
            ]
        )
        return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description, the inverse of :meth:`from_dict`."""
        return {"n": self.n, "lo": self.lo, "hi": self.hi}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Grid:
        """Rebuild a grid from :meth:`to_dict`'s output."""
        if not isinstance(d, dict) or set(d) != set(_FIELDS):
            got = ", ".join(sorted(map(str, d))) if isinstance(d, dict) else type(d).__name__
            raise ElsewhereError(f"grid description needs fields {', '.join(_FIELDS)}; got {got}")
        return cls(d["n"], d["lo"], d["hi"])
