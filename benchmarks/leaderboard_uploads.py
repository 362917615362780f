"""Benchmark of reading an uploaded predictions file: 1,000,032 rows as CSV, Parquet and JSON lines.

The truth is the slow test's million-row one (``tests/evaluation/test_metrics.million_truth``:
probe 500k in groups of 64, test_id and test_ood 250k each); the file holds every id once, in
reverse order, with its true class. Each format is read by :func:`evaluation.predictions.read_predictions`
(every bound checked, as an upload is) ``--repeats`` times; the figures are the best process CPU
time and the best wall time, since the machine may be shared. ``--reference FILE`` also times
another version of ``evaluation/predictions.py`` (e.g. ``git show REV:evaluation/predictions.py >
FILE``), its reads interleaved with this version's so that both see the same load. ``--profile``
prints the top of a cProfile of one read per format instead.

    python benchmarks/leaderboard_uploads.py [--repeats 5] [--formats csv parquet jsonl] [--reference FILE]
    python benchmarks/leaderboard_uploads.py --profile
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from elsewhere.evaluation.predictions import make_predictions, read_predictions, write_predictions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "evaluation"))
from test_metrics import million_truth  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--formats", nargs="+", default=["parquet", "csv", "jsonl"])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--reference", type=Path, default=None, help="another version of evaluation/predictions.py")
    args = parser.parse_args()
    readers = {"this": read_predictions}
    if args.reference is not None:
        spec = importlib.util.spec_from_file_location("reference_predictions", args.reference)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        readers["reference"] = module.read_predictions
    truth = million_truth(np.random.default_rng(0))
    label = truth.frame["label"].to_numpy()
    frame = make_predictions(truth.frame["id"][::-1], label[::-1])
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.formats:
            path = Path(folder) / f"p.{kind}"
            write_predictions(frame, path)
            if args.profile:
                profile = cProfile.Profile()
                profile.runcall(read_predictions, path, truth)
                print(f"== {kind}")
                pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
                continue
            cpu: dict[str, list[float]] = {version: [] for version in readers}
            wall: dict[str, list[float]] = {version: [] for version in readers}
            for _ in range(args.repeats):
                for version, read in readers.items():
                    c0, w0 = time.process_time(), time.perf_counter()
                    back = read(path, truth)
                    cpu[version].append(time.process_time() - c0)
                    wall[version].append(time.perf_counter() - w0)
                    assert (back["prediction"].to_numpy() == label).all()
            size = path.stat().st_size / 2**20
            for version in readers:
                times = sorted(wall[version])
                print(
                    f"{kind:8s} {size:6.1f} MiB  {version:9s} best CPU {min(cpu[version]):.2f} s  best wall "
                    f"{times[0]:.2f} s  (median wall {times[len(times) // 2]:.2f} s, {args.repeats} reads)"
                )


if __name__ == "__main__":
    main()
