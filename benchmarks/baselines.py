"""Train the reference baselines on every protocol and tabulate out-of-location accuracy.

A thin wrapper over ``elsewhere sweep`` (``evaluation.sweep``): the general architectures on every
protocol, the Red-Green networks on ``red-green``, seed 0 unless told otherwise; finished runs are
kept, so the script resumes where it stopped. The machine-readable table is ``RUNS/baselines.json``;
a Markdown view of it goes to stdout and to ``RUNS/baselines.md``.

    python benchmarks/baselines.py --data out/dataset --runs out/runs [--jobs 2] [--epochs N] [--seeds 0,1]
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from pathlib import Path
from statistics import mean

from elsewhere.evaluation.sweep import Settings, parse_names, parse_seeds, plan_sweep, run_sweep
from elsewhere.splits.baseline_table import Row
from elsewhere.splits.engines import Engine

GENERAL = ("mlp", "cnn-flatten", "cnn-gap", "cnn-blurpool", "coordconv", "resnet-small")
RED_GREEN = ("redgreen-valid", "redgreen-same", "redgreen-full", "redgreen-circular")


def markdown(rows: list[Row]) -> str:
    """Mean out-of-location accuracy (in-distribution accuracy) over seeds, protocol × architecture."""
    cells = defaultdict(list)
    for row in rows:
        cells[row.protocol, row.architecture].append(row)
    protocols = list(dict.fromkeys(r.protocol for r in rows))
    architectures = list(dict.fromkeys(r.architecture for r in rows))
    lines = [
        "| protocol | " + " | ".join(architectures) + " |",
        "| --- | " + " | ".join("---" for _ in architectures) + " |",
    ]
    for protocol in protocols:
        values = []
        for arch in architectures:
            runs = cells.get((protocol, arch))
            values.append(
                f"{mean(r.ood_accuracy for r in runs):.3f} ({mean(r.id_accuracy for r in runs):.3f})" if runs else "–"
            )
        lines.append(f"| `{protocol}` | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    from elsewhere.splits.registry import protocol_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--protocols", default=",".join(protocol_names()))
    parser.add_argument("--archs", default=",".join(GENERAL + RED_GREEN))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="runs at once on the local engine")
    parser.add_argument("--engine", default="local", choices=("local", "ray"))
    parser.add_argument("--address", default=None)
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    runs = plan_sweep(parse_names(args.archs), parse_names(args.protocols), parse_seeds(args.seeds))
    engine = Engine(args.engine, args.jobs if args.engine == "local" else None, args.address)
    rows = run_sweep(args.runs, runs, Settings(args.data, args.epochs), engine)
    text = markdown(rows)
    (Path(args.runs) / "baselines.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
