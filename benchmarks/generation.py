"""Generation throughput and memory: `elsewhere generate` against a plain reference, in one run.

The workload is the cluttered protocol (noisy background, distractors), so that both sides
encode noisy PNGs. The reference is written the way a user would write it: draw each 64×64 image with PIL (polygon on
a 4× supersampled canvas over a noisy background, then a box-filter resize), yield rows from a
generator into ``datasets.Dataset.from_generator``, and write parquet. Both produce the same
number of images of the same kind. Memory: peak resident memory of the generator at one protocol's
``small`` and ``full`` sizes (10× the images) — flat means the two peaks are about equal.

    python benchmarks/generation.py [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PROTOCOL = "location-halves-clutter"


def reference(out: Path, count: int) -> None:
    import datasets
    import numpy as np
    from PIL import Image, ImageDraw

    def rows():
        rng = np.random.default_rng(0)
        for i in range(count):
            level = int(rng.integers(256))
            noise = rng.normal(level, 16, (256, 256, 3)).clip(0, 255).astype(np.uint8)
            canvas = Image.fromarray(noise)
            cx, cy, r = rng.uniform(60, 196, 2).tolist() + [rng.uniform(25, 36)]
            angles = np.sort(rng.uniform(0, 2 * np.pi, 7))
            points = [(cx + r * np.cos(a), cy + r * np.sin(a)) for a in angles]
            ImageDraw.Draw(canvas).polygon(points, fill=tuple(int(c) for c in rng.integers(256, size=3)))
            yield {
                "id": f"ref/{i}",
                "image": canvas.resize((64, 64), Image.BOX),
                "label": int(rng.integers(10)),
                "x": cx / 256,
                "y": cy / 256,
            }

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "image": datasets.Image(),
            "label": datasets.ClassLabel(num_classes=10),
            "x": datasets.Value("float32"),
            "y": datasets.Value("float32"),
        }
    )
    dataset = datasets.Dataset.from_generator(rows, features=features, cache_dir=str(out / "cache"))
    dataset.to_parquet(str(out / "reference.parquet"))


def ours(out: Path, size: str, workers: int) -> int:
    from elsewhere.api import generate

    manifest = generate(out / "dataset", protocols=PROTOCOL, size=size, seed=0, workers=workers, progress=False)
    return sum(s["rows"] for s in manifest["protocols"][PROTOCOL]["splits"].values())


def _measure(kind: str, size: str, count: int, workers: int) -> dict:
    """Run one measurement in a fresh process, so peak memory is its own."""
    code = (
        f"import sys, time, json, resource; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import generation as g; from pathlib import Path\n"
        f"out = Path({tempfile.mkdtemp()!r})\n"
        "start = time.perf_counter()\n"
        f"n = g.ours(out, {size!r}, {workers}) if {kind!r} == 'ours' else "
        f"(g.reference(out, {count}) or {count})\n"
        "seconds = time.perf_counter() - start\n"
        "peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
        " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(json.dumps({'images': n, 'seconds': seconds, 'peak_mib': peak / 1024}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    if result.returncode:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--skip-full", action="store_true", help="skip the memory run at size full")
    args = parser.parse_args()
    small = _measure("ours", "small", 0, args.workers)
    ref = _measure("reference", "", small["images"], 1)
    print(f"workload: {small['images']} images of 64×64, {args.workers} workers, {os.cpu_count()} cores")
    for name, m in (("reference (PIL + from_generator + parquet)", ref), ("elsewhere generate", small)):
        print(
            f"{name:<44} {m['images'] / m['seconds']:8.0f} images/s  "
            f"{m['seconds']:6.1f} s  peak {m['peak_mib']:6.0f} MiB"
        )
    print(f"speed-up: {ref['seconds'] / small['seconds'] * small['images'] / ref['images']:.2f}×")
    if not args.skip_full:
        full = _measure("ours", "full", 0, args.workers)
        print(
            f"memory: {small['images']} images peak {small['peak_mib']:.0f} MiB; "
            f"{full['images']} images peak {full['peak_mib']:.0f} MiB "
            f"({full['images'] / full['seconds']:.0f} images/s)"
        )


if __name__ == "__main__":
    main()
