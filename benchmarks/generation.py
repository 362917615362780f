"""Generation throughput, cost per stage and memory: `elsewhere generate` against the plain reference.

The reference is what a user would write for the same kind of images, in one process: per image, a
polygon drawn with PIL on a 4× supersampled canvas in a random colour on a grey background (for
the cluttered workload, on Gaussian noise drawn at 64×64 with one generator, as a user would),
box-reduced to 64×64, yielded as rows to ``datasets.Dataset.from_generator`` and written with
``to_parquet``. Both sides make the same number of 64×64 images: the plain workload against
``location-halves``, the cluttered one against ``location-halves-clutter`` (noise, distractors).
The clock starts after the libraries both sides load (``datasets`` alone takes seconds); that time
is reported beside it, and the speed-up with it included.

The stage table splits one core's time per image on our side (sample the scene, render, encode the
PNG, build and write the parquet rows, each timed on its own) and the reference's (draw, PNG
encode as ``datasets`` does, the rest), next to the encode floor: ``zlib.compress`` at level 1 of
the raw pixel rows, which any PNG writer must at least do. Memory: peak resident memory of one protocol at size ``small`` and
``full`` (10× the images); flat means the two peaks are about equal.

    python benchmarks/generation.py [--workers N] [--skip-full]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOADS = {"plain": "location-halves", "cluttered": "location-halves-clutter"}
CANVAS = 64
SUPERSAMPLE = 4
STAGE_IMAGES = 2000


def _reference_image(rng, clutter: bool):
    """One image as a user would draw it: PIL polygon at 4×, box-reduced; its label and centre."""
    import numpy as np
    from PIL import Image, ImageDraw

    big = CANVAS * SUPERSAMPLE
    level = int(rng.integers(256))
    if clutter:
        noise = rng.normal(level, 16, (CANVAS, CANVAS)).clip(0, 255).astype(np.uint8)
        canvas = Image.fromarray(noise).convert("RGB").resize((big, big), Image.Resampling.NEAREST)
    else:
        canvas = Image.new("RGB", (big, big), (level, level, level))
    draw = ImageDraw.Draw(canvas)
    shapes = 1 + (int(rng.integers(3)) if clutter else 0)  # the object, and up to two distractors
    for _ in range(shapes):
        cx, cy = rng.uniform(0.15 * big, 0.85 * big, 2)
        radius = rng.uniform(0.1, 0.14) * big
        angles = np.sort(rng.uniform(0, 2 * np.pi, 7))
        points = list(zip((cx + radius * np.cos(angles)).tolist(), (cy + radius * np.sin(angles)).tolist()))
        draw.polygon(points, fill=tuple(rng.integers(256, size=3).tolist()))
    image = canvas.resize((CANVAS, CANVAS), Image.Resampling.BOX)
    return image, int(rng.integers(10)), float(cx / big), float(cy / big)


def reference(out: Path, count: int, clutter: bool) -> None:
    import datasets
    import numpy as np

    def rows(count: int, clutter: bool):
        rng = np.random.default_rng(0)
        for i in range(count):
            image, label, x, y = _reference_image(rng, clutter)
            yield {"id": f"ref/{i}", "image": image, "label": label, "x": x, "y": y}

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "image": datasets.Image(),
            "label": datasets.ClassLabel(num_classes=10),
            "x": datasets.Value("float32"),
            "y": datasets.Value("float32"),
        }
    )
    dataset = datasets.Dataset.from_generator(
        rows, gen_kwargs={"count": count, "clutter": clutter}, features=features, cache_dir=str(out / "cache")
    )
    dataset.to_parquet(str(out / "reference.parquet"))


def ours(out: Path, protocol: str, size: str, workers: int) -> int:
    from elsewhere.api import generate

    manifest = generate(out / "dataset", protocols=protocol, size=size, seed=0, workers=workers, progress=False)
    return sum(s["rows"] for s in manifest["protocols"][protocol]["splits"].values())


def _measure(call: str) -> dict:
    """Run one measurement in a fresh process, so that its peak memory is its own; its output is deleted after."""
    with tempfile.TemporaryDirectory() as scratch:
        code = (
            f"import sys, time, json, resource; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
            "import generation as g; from pathlib import Path\n"
            f"out = Path({scratch!r})\n"
            "start = time.perf_counter()\n"
            # The libraries both sides load (datasets alone takes seconds), timed apart from the work.
            "import datasets, PIL.Image, elsewhere.splits.dataset\n"
            "imports = time.perf_counter() - start\n"
            f"n = {call}\n"
            "seconds = time.perf_counter() - start - imports\n"
            "me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "peak = max(me.ru_maxrss, kids.ru_maxrss)\n"
            "cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime\n"
            "print(json.dumps({'images': n, 'seconds': seconds, 'imports': imports, 'peak_mib': peak / 1024, 'cpu': cpu}))\n"
        )
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if result.returncode:
        raise SystemExit(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _cpu(function) -> tuple[float, object]:
    start = time.process_time()
    value = function()
    return time.process_time() - start, value


def stages(protocol: str, clutter: bool, count: int = STAGE_IMAGES) -> dict[str, dict[str, float]]:
    """One core's CPU time per image (µs) in each stage, ours and the reference's, and the floor."""
    import io
    import zlib

    import numpy as np
    import pyarrow.parquet as pq

    from elsewhere.generator.render import render_batch
    from elsewhere.splits.registry import get_protocol
    from elsewhere.splits.sampling import draw
    from elsewhere.splits.shards import ROWS_PER_GROUP, features, png_batch, row_table

    p = get_protocol(protocol)
    per = 1e6 / count
    sample_s, samples = _cpu(lambda: [draw(p, "train", i, 0) for i in range(count)])
    scenes = [s.scene for s in samples]
    render_s, images = _cpu(
        lambda: np.concatenate(
            [render_batch(scenes[i : i + ROWS_PER_GROUP], p.canvas) for i in range(0, count, ROWS_PER_GROUP)]
        )
    )
    encode_s, pngs = _cpu(lambda: png_batch(images))
    floor_s, _ = _cpu(lambda: [zlib.compress(image.tobytes(), 1) for image in images])
    schema = features(p.class_names).arrow_schema

    def write():
        with tempfile.TemporaryDirectory() as scratch, pq.ParquetWriter(Path(scratch) / "s.parquet", schema) as w:
            for start in range(0, count, ROWS_PER_GROUP):
                group = slice(start, start + ROWS_PER_GROUP)
                w.write_table(row_table(p, samples[group], pngs[group]).cast(schema))

    write_s, _ = _cpu(write)
    ours_stages = {
        "sample": sample_s * per,
        "render": render_s * per,
        "encode": encode_s * per,
        "write": write_s * per,
        "total": (sample_s + render_s + encode_s + write_s) * per,
    }
    rng = np.random.default_rng(0)
    draw_s, drawn = _cpu(lambda: [_reference_image(rng, clutter)[0] for _ in range(count)])

    def pil_png(image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")  # what datasets' Image feature does with a PIL image
        return buffer.getvalue()

    ref_encode_s, _ = _cpu(lambda: [pil_png(image) for image in drawn])
    return {
        "ours": ours_stages,
        "reference": {"draw": draw_s * per, "encode": ref_encode_s * per},
        "floor": {"encode": floor_s * per},
        "sizes": {"png_bytes": float(np.mean([len(b) for b in png_batch(images[:200])]))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--skip-full", action="store_true", help="skip the memory run at size full")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="plain, cluttered or both")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, {args.workers} workers; load average before: {os.getloadavg()[0]:.2f}")
    for workload in args.workloads.split(","):
        protocol, clutter = WORKLOADS[workload], workload == "cluttered"
        mine = _measure(f"g.ours(out, {protocol!r}, 'small', {args.workers})")
        ref = _measure(f"g.reference(out, {mine['images']}, {clutter}) or {mine['images']}")
        print(f"\n{workload}: {mine['images']} images of {CANVAS}×{CANVAS} ({protocol} at size small)")
        for name, m in (("reference (PIL + from_generator, 1 process)", ref), ("elsewhere generate", mine)):
            rate = m["images"] / m["seconds"]
            print(
                f"  {name:<46} {rate:8.0f} images/s  {m['seconds']:6.1f} s (+{m['imports']:.1f} s imports)  "
                f"peak {m['peak_mib']:5.0f} MiB  CPU {m['cpu'] / m['images'] * 1e6:5.0f} µs/image "
                "(process and children, imports included)"
            )
        cpu_ratio = (ref["cpu"] / ref["images"]) / (mine["cpu"] / mine["images"])
        with_imports = (ref["seconds"] + ref["imports"]) / (mine["seconds"] + mine["imports"])
        print(
            f"  speed-up: {ref['seconds'] / mine['seconds']:.2f}× by the wall clock ({with_imports:.2f}× with the "
            f"imports); load average now "
            f"{os.getloadavg()[0]:.2f}; {cpu_ratio:.2f}× less CPU per image, so on {args.workers} free cores "
            f"about {cpu_ratio * min(args.workers, os.cpu_count()):.1f}×"
        )
        cost = stages(protocol, clutter)
        o, r = cost["ours"], cost["reference"]
        print(f"  CPU µs per image, one core ({STAGE_IMAGES} images):")
        print(
            f"    ours:      sample {o['sample']:.0f}, render {o['render']:.0f}, encode {o['encode']:.0f}, "
            f"write {o['write']:.0f}; total {o['total']:.0f}"
        )
        print(f"    reference: draw {r['draw']:.0f}, PNG encode {r['encode']:.0f} (then from_generator + parquet)")
        print(
            f"    floor:     zlib level 1 of the raw pixels {cost['floor']['encode']:.0f}; "
            f"our PNGs average {cost['sizes']['png_bytes']:.0f} bytes"
        )
    if not args.skip_full:
        protocol = WORKLOADS["plain"]
        small = _measure(f"g.ours(out, {protocol!r}, 'small', {args.workers})")
        full = _measure(f"g.ours(out, {protocol!r}, 'full', {args.workers})")
        print(
            f"\nmemory ({protocol}): {small['images']} images peak {small['peak_mib']:.0f} MiB; "
            f"{full['images']} images peak {full['peak_mib']:.0f} MiB "
            f"({full['images'] / full['seconds']:.0f} images/s)"
        )


if __name__ == "__main__":
    main()
