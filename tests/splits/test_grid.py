import json

import numpy as np
import pytest

from elsewhere.splits.grid import Grid


def naive_cell(grid: Grid, x: float, y: float) -> int:
    """Cell of one point found by scanning the cell edges one by one."""
    if not (grid.lo <= x <= grid.hi and grid.lo <= y <= grid.hi):
        return -1
    w = (grid.hi - grid.lo) / grid.n

    def index(v: float) -> int:
        for k in range(grid.n):
            if grid.lo + k * w <= v < grid.lo + (k + 1) * w:
                return k
        return grid.n - 1

    return index(y) * grid.n + index(x)


@pytest.mark.parametrize("grid", [Grid(1), Grid(3), Grid(8), Grid(5, 0.1, 0.9)])
def test_cell_of_matches_scan_of_edges(grid):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-0.1, 1.1, (2, 300))
    expected = [naive_cell(grid, a, b) for a, b in zip(x, y)]
    got = grid.cell_of(x, y)
    assert got.dtype == np.int64
    assert got.tolist() == expected


def test_cell_of_boundaries():
    grid = Grid(2)
    # (x, y) -> cell: interior edge 0.5 goes to the upper cell, the outer edge 1 to the last.
    cases = {
        (0.0, 0.0): 0,
        (0.5, 0.0): 1,
        (0.0, 0.5): 2,
        (0.4999, 0.4999): 0,
        (1.0, 1.0): 3,
        (1.0, 0.0): 1,
        (-1e-12, 0.3): -1,
        (0.3, 1.0 + 1e-12): -1,
        (np.nan, 0.3): -1,
    }
    x, y = np.array(list(cases)).T
    assert grid.cell_of(x, y).tolist() == list(cases.values())
    assert int(Grid(4, 0.25, 0.75).cell_of(0.75, 0.25)) == 3
    assert int(Grid(4, 0.25, 0.75).cell_of(0.2, 0.5)) == -1


def test_cell_of_broadcasts():
    grid = Grid(4)
    x = np.array([0.1, 0.3, 0.6, 0.9])
    cells = grid.cell_of(x[None, :], x[:, None])
    assert cells.shape == (4, 4)
    assert cells.tolist() == grid.rows().tolist()


@pytest.mark.parametrize("grid", [Grid(1), Grid(2), Grid(7), Grid(6, 0.2, 0.8)])
def test_centre_round_trip(grid):
    cells = np.arange(grid.size)
    x, y = grid.centre(cells)
    assert grid.cell_of(x, y).tolist() == cells.tolist()
    row, col = grid.row_col(cells)
    assert (row * grid.n + col).tolist() == cells.tolist()


def test_centre_values():
    x, y = Grid(2).centre([0, 1, 2, 3])
    assert x.tolist() == [0.25, 0.75, 0.25, 0.75]
    assert y.tolist() == [0.25, 0.25, 0.75, 0.75]
    x, y = Grid(4, 0.2, 0.6).centre(6)
    assert float(x) == pytest.approx(0.2 + 2.5 * 0.1)
    assert float(y) == pytest.approx(0.2 + 1.5 * 0.1)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_neighbour_pairs(n):
    grid = Grid(n)
    pairs = grid.neighbour_pairs()
    assert pairs.shape == (2 * n * (n - 1), 2)
    expected = set()
    for a in range(n * n):
        for b in range(a + 1, n * n):
            ra, ca, rb, cb = a // n, a % n, b // n, b % n
            if abs(ra - rb) + abs(ca - cb) == 1:
                expected.add((a, b))
    assert {tuple(p) for p in pairs.tolist()} == expected
    assert len({tuple(p) for p in pairs.tolist()}) == len(pairs)


def test_rows_and_columns():
    grid = Grid(3)
    rows, columns = grid.rows(), grid.columns()
    assert rows.shape == columns.shape == (3, 3)
    for i in range(3):
        x, y = grid.centre(rows[i])
        assert np.all(np.diff(x) > 0) and np.all(y == y[0])
        x, y = grid.centre(columns[i])
        assert np.all(np.diff(y) > 0) and np.all(x == x[0])
    assert rows[1].tolist() == [3, 4, 5]
    assert columns[1].tolist() == [1, 4, 7]
    assert grid.size == 9


def test_dict_round_trip():
    for grid in (Grid(4), Grid(3, 0.125, 0.875)):
        d = json.loads(json.dumps(grid.to_dict()))
        assert Grid.from_dict(d) == grid


@pytest.mark.parametrize(
    "make",
    [
        lambda: Grid(0),
        lambda: Grid(2.5),
        lambda: Grid(True),
        lambda: Grid(3, 0.5, 0.5),
        lambda: Grid(3, 0.8, 0.2),
        lambda: Grid(3, 0.0, float("inf")),
        lambda: Grid(3).centre(9),
        lambda: Grid(3).row_col(-1),
        lambda: Grid(3).centre(1.5),
        lambda: Grid.from_dict({"n": 3}),
    ],
)
def test_invalid_input_is_one_line_value_error(make):
    with pytest.raises(ValueError) as info:
        make()
    assert "\n" not in str(info.value) and ";" in str(info.value)


def test_frozen_and_hashable():
    assert Grid(3) == Grid(3, 0, 1)
    assert repr(Grid(3)) == repr(Grid(np.int64(3), np.float64(0), 1))
    assert len({Grid(3), Grid(3, 0.0, 1.0)}) == 1
