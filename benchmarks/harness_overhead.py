"""Harness overhead: end-to-end ``predict`` throughput against the model's bare forward pass.

Same model (``cnn-gap``), same batch size (256), same device settings. The bare figure runs the
model in inference mode on the split's images already decoded to float tensors in memory; the
end-to-end figure is ``evaluation.runner.predict`` over the dataset split as loaded by
``datasets.load_dataset`` (PNG decoding in workers, collation, transfer, softmax, copying back).
Target: end-to-end ≥ 85% of bare on CPU. The dataset is the real generator's ``small``
``location-halves`` (64×64 images; ``--size tiny`` for a quick check of the script, 64 training
images, where the figures mean little), written to a temporary folder unless ``--data`` names one. Each figure is the best of ``--repeats`` interleaved runs, so that a busy,
shared machine disturbs both alike.

    python benchmarks/harness_overhead.py [--data DIR | --size small] [--split train] [--repeats 3] [--num-workers N ...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import datasets
import torch

from elsewhere.evaluation.architectures import create_model
from elsewhere.evaluation.runner import decode_split, predict, to_float
from elsewhere.splits.protocol import SIZES

PROTOCOL = "location-halves"
ARCHITECTURE = "cnn-gap"
BATCH = 256


def bare_forward(model: torch.nn.Module, images: torch.Tensor, device: torch.device, bf16: bool) -> tuple[float, float]:
    """Images per second of the forward pass alone over float images already on ``device``, by
    the wall clock and by this process's CPU time (which a busy, shared machine disturbs less)."""
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        model(images[:BATCH])
        if device.type == "cuda":
            torch.cuda.synchronize()
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(images), BATCH):
            model(images[i : i + BATCH])
        if device.type == "cuda":
            torch.cuda.synchronize()
    return len(images) / (time.perf_counter() - start), len(images) / (time.process_time() - cpu)


def end_to_end(
    model: torch.nn.Module, split: datasets.Dataset, device: torch.device, num_workers: int | None
) -> tuple[float, float]:
    """Images per second of ``predict`` over the split, from parquet to probabilities (wall, CPU)."""
    start, cpu = time.perf_counter(), time.process_time()
    predict(model, split, device=device, batch_size=BATCH, num_workers=num_workers, progress=False)
    return len(split) / (time.perf_counter() - start), len(split) / (time.process_time() - cpu)


def decode_cost(split: datasets.Dataset) -> float:
    """CPU µs per image to read and decode the split's PNGs in this process (no model)."""
    cpu = time.process_time()
    decode_split(split, num_workers=0)
    return (time.process_time() - cpu) / len(split) * 1e6


def measure(split: datasets.Dataset, device: torch.device, repeats: int, workers: tuple[int | None, ...]) -> dict:
    canvas = split[0]["image"].width
    model = create_model(ARCHITECTURE, split.features["label"].num_classes, canvas, seed=0)
    bf16 = device.type == "cuda"
    # Warm up predict's settings on the model (eval, device, channels-last), so both runs share them.
    warm_up = split.select(range(min(BATCH, len(split))))
    predict(model, warm_up, device=device, batch_size=BATCH, num_workers=0, progress=False)
    images = to_float(decode_split(split).to(device), device, channels_last=True)
    bare, e2e = [], {w: [] for w in workers}
    for _ in range(repeats):
        bare.append(bare_forward(model, images, device, bf16))
        for w in workers:
            e2e[w].append(end_to_end(model, split, device, w))
    best = lambda runs: tuple(max(r[k] for r in runs) for k in (0, 1))  # noqa: E731
    return {"bare": best(bare), "end_to_end": {w: best(v) for w, v in e2e.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="dataset folder (default: generate one)")
    parser.add_argument("--size", default="small", choices=SIZES, help="size to generate without --data")
    parser.add_argument("--split", default="train", help="split to run over (default: train, 4000 images)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--num-workers",
        type=int,
        action="append",
        default=None,
        help="workers to try (repeatable; default: 0 and predict's own choice)",
    )
    args = parser.parse_args()
    workers = tuple(args.num_workers) if args.num_workers else (0, None)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.data
        if folder is None:
            from elsewhere.api import generate

            folder = Path(scratch) / "data"
            generate(folder, protocols=PROTOCOL, size=args.size, seed=0, progress=False)
        split = datasets.load_dataset(str(folder), PROTOCOL, split=args.split, cache_dir=str(Path(scratch) / "cache"))
        print(
            f"{ARCHITECTURE}, batch {BATCH}, {len(split)} images of {PROTOCOL}/{args.split}, "
            f"{os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"best of {args.repeats}"
        )
        print(f"load average {os.getloadavg()[0]:.2f}; PNG read + decode {decode_cost(split):.0f} CPU µs per image")
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
        for device in devices:
            figures = measure(split, device, args.repeats, workers)
            (bare, bare_cpu) = figures["bare"]
            print(f"{device.type}: bare forward {bare:.0f} img/s ({bare_cpu:.0f} per CPU-second)")
            for w, (rate, rate_cpu) in figures["end_to_end"].items():
                label = "predict's default workers" if w is None else f"{w} workers"
                print(
                    f"{device.type}: end-to-end, {label}: {rate:.0f} img/s, ratio {rate / bare:.3f} "
                    f"(by CPU time {rate_cpu / bare_cpu:.3f})"
                )
        print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
