"""Benchmark of the leaderboard store: rank 10,000 stored submissions, whole and filtered.

Fills a temporary store through ``Store.add`` (one transaction each, as real submissions arrive)
with seeded fake results of realistic size (metrics with intervals, a location map, a distance
curve), then times ``Store.table()`` for the whole board, one protocol, and one protocol filtered
by model family and parameter range. Times are server-side: the call that the app makes, from
SQL to DataFrame, without any rendering.

    python benchmarks/leaderboard_store.py [--submissions 10000] [--seed 0] [--repeats 20]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from elsewhere.leaderboard.store import Store

PROTOCOLS = (
    "location-halves",
    "location-quadrant",
    "location-centre",
    "location-checkerboard",
    "rotation-extrapolation",
    "scale-interpolation",
)
FAMILIES = ("cnn", "mlp", "resnet", "vit", "other")
GRID = 8


def fake_results(rng: np.random.Generator, protocol: str, n: int = 2000) -> dict:
    """A results dict shaped like the harness's output, with random accuracies."""
    id_acc = float(rng.uniform(0.6, 1.0))
    ood_acc = float(id_acc * rng.uniform(0.2, 1.0))
    half = 1.96 * np.sqrt(np.array([ood_acc, id_acc]) * (1 - np.array([ood_acc, id_acc])) / n)
    cells = np.clip(ood_acc + rng.normal(0, 0.1, GRID * GRID), 0, 1).round(4)

    def metric(value: float, spread: float) -> dict:
        return {"value": value, "ci": [value - spread, value + spread], "n": n}

    return {
        "schema_version": 1,
        "protocol": {"name": protocol, "version": 1},
        "metrics": {
            "ood_accuracy": metric(ood_acc, float(half[0])),
            "id_accuracy": metric(id_acc, float(half[1])),
            "gap": metric(id_acc - ood_acc, float(half.sum())),
            "normalised_gap": metric((id_acc - ood_acc) / (id_acc - 0.1), 0.05),
            "consistency": metric(float(rng.uniform(0.5, 1)), 0.02),
            "flip_rate": metric(float(rng.uniform(0, 0.3)), 0.01),
        },
        "maps": {
            "location": {"grid": GRID, "accuracy": cells.tolist(), "n": [n // GRID**2] * GRID**2},
            "distance": {"bins": list(range(10)), "accuracy": np.sort(cells[:10])[::-1].tolist()},
        },
        "versions": {"elsewhere": "0.1.0", "numpy": np.__version__},
        "device": "cpu",
    }


def fill(store: Store, submissions: int, rng: np.random.Generator) -> None:
    """Add ``submissions`` fake entries, one transaction each."""
    protocols = rng.choice(PROTOCOLS, submissions)
    families = rng.choice(FAMILIES, submissions)
    parameters = np.round(10 ** rng.uniform(3, 8, submissions)).astype(int)
    for i in range(submissions):
        store.add(
            submitter=f"user-{i % 500}",
            model_name=f"model-{i}",
            model={"family": str(families[i]), "parameters": int(parameters[i]), "verified": i % 50 == 0},
            protocol=str(protocols[i]),
            protocol_version=1,
            variant="public",
            fingerprint="0" * 64,
            predictions_sha256=hashlib.sha256(f"predictions {i}".encode()).hexdigest(),
            results=fake_results(rng, str(protocols[i])),
        )


def timed(call: Callable[[], object], repeats: int) -> tuple[float, float, object]:
    """Median and best wall time of ``call`` in milliseconds, and its last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times)), float(np.min(times)), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "leaderboard.sqlite")
        start = time.perf_counter()
        fill(store, args.submissions, rng)
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(folder).iterdir()) / 2**20
        print(
            f"filled {args.submissions} submissions in {seconds:.1f} s ({seconds / args.submissions * 1000:.2f} ms per add), {size:.1f} MiB on disk"
        )
        cases = {
            "table() (whole board)": lambda: store.table(),
            "table(protocol)": lambda: store.table(protocol="location-halves"),
            "table(protocol, family, parameters 1e4..1e6)": lambda: store.table(
                protocol="location-halves", families=["cnn", "resnet"], min_parameters=10_000, max_parameters=1_000_000
            ),
            "get(id)": lambda: store.get(args.submissions // 2),
        }
        for name, call in cases.items():
            median, best, result = timed(call, args.repeats)
            rows = f"{len(result):>6} rows" if hasattr(result, "columns") else " " * 11
            print(f"{name:<46} {rows}  median {median:7.2f} ms  best {best:7.2f} ms")


if __name__ == "__main__":
    main()
