"""Train every reference baseline on every protocol and tabulate out-of-location accuracy.

Each run is `elsewhere train` (train split, best epoch on validation, seed 0) and lands in
``RUNS/<protocol>/<arch>/``; finished runs are kept, so the script resumes where it stopped.
The general architectures run on every protocol, the Red-Green networks on ``red-green``. The
table goes to stdout and to ``RUNS/baselines.md``.

    python benchmarks/baselines.py --data out/dataset --runs out/runs [--jobs 2] [--epochs N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

GENERAL = ("mlp", "cnn-flatten", "cnn-gap", "cnn-blurpool", "coordconv", "resnet-small")
RED_GREEN = ("redgreen-valid", "redgreen-same", "redgreen-full", "redgreen-circular")
HEADROOM = 0.95


def plan(protocols: list[str], architectures: tuple[str, ...]) -> list[tuple[str, str]]:
    runs = [(p, a) for p in protocols for a in architectures if a in GENERAL]
    if "red-green" in protocols:
        runs += [("red-green", a) for a in architectures if a in RED_GREEN]
    return runs


def run(data: str, runs: Path, protocol: str, arch: str, epochs: int | None) -> str:
    out = runs / protocol / arch
    if (out / "results.json").is_file():
        return f"kept {protocol}/{arch}"
    command = [
        sys.executable,
        "-m",
        "elsewhere.cli",
        "train",
        "--data",
        data,
        "--protocol",
        protocol,
        "--arch",
        arch,
        "--out",
        str(out),
        "--quiet",
    ]
    if epochs:
        command += ["--epochs", str(epochs)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode:
        return f"FAILED {protocol}/{arch}: {result.stderr.strip().splitlines()[-1:]}"
    return result.stdout.strip()


def table(runs: Path, protocols: list[str], architectures: tuple[str, ...]) -> str:
    """Out-of-location accuracy (in-distribution accuracy) per protocol and architecture."""
    from elsewhere.splits.registry import get_protocol

    columns = [a for a in architectures if a in GENERAL]
    lines = [
        "| protocol | " + " | ".join(columns) + " | note |",
        "| --- | " + " | ".join("---" for _ in columns) + " | --- |",
    ]
    for protocol in protocols:
        cells, gap_ood = [], None
        for arch in columns:
            path = runs / protocol / arch / "results.json"
            if not path.is_file():
                cells.append("–")
                continue
            metrics = json.loads(path.read_text())["metrics"]
            ood, iid = metrics["ood_accuracy"]["value"], metrics["id_accuracy"]["value"]
            cells.append(f"{ood:.3f} ({iid:.3f})")
            if arch == "cnn-gap":
                gap_ood = ood
        note = "control" if get_protocol(protocol).control else ""
        if gap_ood is not None and gap_ood > HEADROOM and not note:
            note = f"cnn-gap above {HEADROOM:.0%}: no headroom"
        lines.append(f"| `{protocol}` | " + " | ".join(cells) + f" | {note} |")
    if "red-green" in protocols:
        lines += ["", "| Red-Green network | similar (test_id) | dissimilar (test_ood) |", "| --- | --- | --- |"]
        for arch in RED_GREEN:
            path = runs / "red-green" / arch / "results.json"
            if path.is_file():
                metrics = json.loads(path.read_text())["metrics"]
                lines.append(
                    f"| `{arch}` | {metrics['id_accuracy']['value']:.3f} | {metrics['ood_accuracy']['value']:.3f} |"
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    from elsewhere.splits.registry import protocol_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--runs", required=True)
    parser.add_argument("--protocols", default=",".join(protocol_names()))
    parser.add_argument("--archs", default=",".join(GENERAL + RED_GREEN))
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    protocols = args.protocols.split(",")
    architectures = tuple(args.archs.split(","))
    runs = Path(args.runs)
    with ThreadPoolExecutor(args.jobs) as pool:
        for line in pool.map(lambda pa: run(args.data, runs, *pa, args.epochs), plan(protocols, architectures)):
            print(line, flush=True)
    text = table(runs, protocols, architectures)
    (runs / "baselines.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
