"""Does the harness's data path starve the GPU? GPU utilisation of ``predict`` against the bare forward pass.

Each workload runs in a loop for ``--seconds`` while ``nvidia-smi`` samples the GPU's utilisation
every 100 ms: the bare forward pass of the model over images already on the GPU (the most the
model can keep the GPU busy), then ``evaluation.runner.predict`` over the split from parquet
(decoding, collation, transfer, softmax, copy back) with 0 workers and with its default workers,
and ``predict`` reading the split's pixel cache (``evaluate --pixel-cache``: decoded once, then
mapped from disk). If the data path keeps up, ``predict`` keeps the GPU about as busy as the bare
pass. Before the models, the feed alone (the batches ``predict`` would receive, each copied once as
pinning them does, no model) is timed from the PNGs and from the cache: on a machine without a GPU
this is the figure to read. Same model,
batch and bf16 autocast as ``harness_overhead.py``; each model is the reference architecture at
its initial weights (speed does not depend on them).

    python benchmarks/gpu_feed.py --data DIR [--protocol location-halves] [--split train] [--seconds 6]
        [--device cuda|cpu]
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable

import datasets
import torch
from torch import nn

from elsewhere.evaluation.architectures import create_model
from elsewhere.evaluation.pixel_cache import cached_pixels, pixel_key
from elsewhere.evaluation.runner import array_batches, decode_split, image_batches, predict, to_float
from elsewhere.splits.dataset import read_manifest

BATCH = 256


def sampled(seconds: float, step: Callable[[], int], device: torch.device) -> tuple[float, list[int]]:
    """Images per second of ``step()`` (which returns the images it ran) looped for ``seconds``, and
    the GPU utilisation samples (%) taken meanwhile (none without nvidia-smi)."""
    try:
        smi = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "100"],
            stdout=subprocess.PIPE,
            text=True,
        )
    except FileNotFoundError:
        smi = None
    time.sleep(0.5)  # nvidia-smi's first samples come before the workload: skipped below
    images, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        images += step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    rate = images / (time.perf_counter() - start)
    if smi is None:
        return rate, []
    smi.terminate()
    lines = smi.communicate()[0].split()
    return rate, [int(v) for v in lines[5:] if v.isdigit()]


def bare(model: nn.Module, images: torch.Tensor, device: torch.device) -> int:
    """The forward pass alone over images already on the device, in bf16 autocast on CUDA."""
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        for i in range(0, len(images), BATCH):
            model(images[i : i + BATCH])
    return len(images)


def end_to_end(
    model: nn.Module, split: datasets.Dataset, device: torch.device, workers: int | None, pixels=None
) -> int:
    """``predict`` over the split, from parquet (or its pixel cache) to probabilities."""
    predict(model, split, device=device, batch_size=BATCH, num_workers=workers, pixels=pixels, progress=False)
    return len(split)


def feed(loader) -> int:
    """The batches alone, each copied once into fresh memory as pinning them for CUDA does."""
    return sum(len(batch.clone()) for batch in loader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--protocol", default="location-halves")
    parser.add_argument("--split", default="train")
    parser.add_argument("--archs", default="cnn-gap,resnet-small")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    split = datasets.load_dataset(args.data, args.protocol, split=args.split)
    images = to_float(decode_split(split).to(device), device, channels_last=True)
    classes = split.features["label"].num_classes
    cache = tempfile.mkdtemp(prefix="pixel-cache-")
    try:
        key = pixel_key(read_manifest(args.data), args.protocol, args.split)
        pixels = cached_pixels(split, key, cache)
        run(args, device, split, images, classes, pixels)
    finally:
        shutil.rmtree(cache)


def run(args, device: torch.device, split: datasets.Dataset, images: torch.Tensor, classes: int, pixels) -> None:
    print(
        f"{len(split)} images of {args.protocol}/{args.split}, batch {BATCH}, {torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}"
    )
    print("architecture  workload                img/s   GPU util % (mean, median, samples)")
    feeds = {
        "feed: PNGs, in process": lambda: image_batches(split, batch_size=BATCH, num_workers=0),
        "feed: pixel cache": lambda: array_batches(pixels, batch_size=BATCH),
    }
    for label, loader in feeds.items():
        rate, _ = sampled(args.seconds, lambda loader=loader: feed(loader()), device)
        print(f"{'-':<13} {label:<22} {rate:9.0f}", flush=True)
    for arch in args.archs.split(","):
        model = create_model(arch, classes, images.shape[-1], seed=0).to(device).eval()
        model = model.to(memory_format=torch.channels_last)

        bare(model, images, device)
        predict(
            model,
            split.select(range(min(BATCH, len(split)))),
            device=device,
            batch_size=BATCH,
            num_workers=0,
            progress=False,
        )
        workloads = {
            "bare forward": functools.partial(bare, model, images, device),
            "predict, 0 workers": functools.partial(end_to_end, model, split, device, 0),
            "predict, default": functools.partial(end_to_end, model, split, device, None),
            "predict, pixel cache": functools.partial(end_to_end, model, split, device, None, pixels),
        }
        for label, step in workloads.items():
            rate, samples = sampled(args.seconds, step, device)
            util = (
                f"{statistics.mean(samples):5.1f} {statistics.median(samples):5.1f} {len(samples):4d}"
                if samples
                else "no samples"
            )
            print(f"{arch:<13} {label:<22} {rate:9.0f}   {util}", flush=True)


if __name__ == "__main__":
    main()
