"""The reference panel on one machine with a deadline: the sweep's runs, seed-major, longest first.

``elsewhere sweep`` trains a grid in protocol order and stops at the first failed run. A lent GPU
machine is held for minutes, so this driver orders the same runs so that whatever finishes in time
is the most useful part: every architecture × protocol at seed 0 before any seed 1, and within a
seed the longest runs first (the attention-like networks, the protocols with a pretrain stage), so
that no long run is left as a tail. A run that fails is reported and skipped, not fatal; the driver
stops early only when the first runs all fail (the machine or the install is broken). It is killed
at its deadline from outside (``timeout``): finished runs are whole folders, so
``--table-only`` then writes the baseline table from whatever finished.

    python benchmarks/panel_sweep.py --data DIR --runs DIR --archs A,B --protocols P,Q --seeds 0,1,2 \\
        --workers 12 --device cuda [--table-only] [--out TABLE]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
import traceback
from pathlib import Path

from elsewhere.evaluation.sweep import (
    TABLE,
    Run,
    Settings,
    finished,
    parse_names,
    parse_seeds,
    plan_sweep,
    save_run,
    table_rows,
    train_run,
)
from elsewhere.evaluation.training import ATTENTION_LIKE
from elsewhere.splits.baseline_table import write_table
from elsewhere.splits.engines import Engine, run_tasks
from elsewhere.splits.registry import get_protocol

# Stop when this many runs failed before any succeeded: the setup, not a run, is broken.
FIRST_FAILURES = 6


def cost(run: Run) -> int:
    """A rough relative cost: epochs × stages (attention-like networks train 40 epochs, others 12)."""
    epochs = 40 if run.architecture in ATTENTION_LIKE else 12
    stages = 2 if "pretrain" in get_protocol(run.protocol).split_names else 1
    return epochs * stages


def ordered(architectures: list[str], protocols: list[str], seeds: list[int]) -> list[Run]:
    """The grid, seed by seed, longest runs first within a seed."""
    runs = []
    for seed in seeds:
        runs += sorted(plan_sweep(architectures, protocols, [seed]), key=lambda r: (-cost(r), r))
    return runs


def read_each_protocol_once() -> None:
    """Make the harness read a protocol's splits with one ``load_dataset`` per worker process.

    Every ``load_dataset`` call parses the dataset card's YAML (about 0.6 s of pure Python), and a
    run reads up to nine splits; the workers are forked once and train many runs each.
    """
    import datasets

    from elsewhere.evaluation import data, harness

    @functools.cache
    def splits(folder: str, protocol: str) -> datasets.DatasetDict:
        return datasets.load_dataset(folder, protocol)

    def load_split(folder, protocol: str, split: str) -> datasets.Dataset:
        return splits(str(folder), protocol)[split]

    data.load_split = harness.load_split = load_split


def attempt(task: tuple[Run, Settings]) -> tuple[Run, dict[str, bytes] | None, str | None]:
    """``train_run``, with a failure returned as its message instead of raised."""
    try:
        run, files = train_run(task)
        return run, files, None
    except Exception as error:  # noqa: BLE001 — one failed run must not end the sweep
        return task[0], None, f"{type(error).__name__}: {error} | {traceback.format_exc(limit=3)[-600:]}"


def table(root: Path, runs: list[Run], out: Path) -> int:
    """Write the baseline table of the finished ``runs``."""
    rows = table_rows(root, runs)
    write_table(out, rows)
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--archs", required=True)
    parser.add_argument("--protocols", required=True)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=None, help="override every run's epochs (smoke tests)")
    parser.add_argument("--table-only", action="store_true", help="write the table of the finished runs only")
    parser.add_argument("--out", default=None, help=f"table path (default: RUNS/{TABLE})")
    args = parser.parse_args()
    root = Path(args.runs)
    runs = ordered(parse_names(args.archs), parse_names(args.protocols), parse_seeds(args.seeds))
    out = Path(args.out) if args.out else root / TABLE
    if not args.table_only:
        root.mkdir(parents=True, exist_ok=True)
        todo = [run for run in runs if not finished(root, run)]
        threads = max(1, (os.cpu_count() or 1) // args.workers)
        settings = Settings(str(Path(args.data).resolve()), args.epochs, args.device, threads)
        print(f"{len(todo)} of {len(runs)} runs to train, {args.workers} at once, {threads} threads each", flush=True)
        read_each_protocol_once()
        began, done, failed = time.perf_counter(), 0, 0
        tasks = [(run, settings) for run in todo]
        for run, files, error in run_tasks(attempt, tasks, Engine("local", args.workers)):
            elapsed = time.perf_counter() - began
            if error is None:
                save_run(root, run, files)
                done += 1
                print(f"{elapsed:7.1f}s trained {run.folder}", flush=True)
            else:
                failed += 1
                print(f"{elapsed:7.1f}s FAILED  {run.folder}: {error}", flush=True)
                if done == 0 and failed >= FIRST_FAILURES:
                    print("the first runs all failed: stopping", flush=True)
                    sys.exit(1)
        print(f"{done} trained, {failed} failed in {time.perf_counter() - began:.1f}s", flush=True)
    print(f"table: {table(root, runs, out)} of {len(runs)} runs in {out}", flush=True)


if __name__ == "__main__":
    main()
