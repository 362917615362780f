"""Does the harness's data path starve the GPU? GPU utilisation of ``predict`` against the bare forward pass.

Each workload runs in a loop for ``--seconds`` while ``nvidia-smi`` samples the GPU's utilisation
every 100 ms: the bare forward pass of the model over images already on the GPU (the most the
model can keep the GPU busy), then ``evaluation.runner.predict`` over the split from parquet
(decoding, collation, transfer, softmax, copy back) with 0 workers and with its default workers.
If the data path keeps up, ``predict`` keeps the GPU about as busy as the bare pass. Same model,
batch and bf16 autocast as ``harness_overhead.py``; each model is the reference architecture at
its initial weights (speed does not depend on them).

    python benchmarks/gpu_feed.py --data DIR [--protocol location-halves] [--split train] [--seconds 6]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import time
from collections.abc import Callable

import datasets
import torch
from torch import nn

from elsewhere.evaluation.architectures import create_model
from elsewhere.evaluation.runner import decode_split, predict, to_float

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


def end_to_end(model: nn.Module, split: datasets.Dataset, device: torch.device, workers: int | None) -> int:
    """``predict`` over the split, from parquet to probabilities."""
    predict(model, split, device=device, batch_size=BATCH, num_workers=workers, progress=False)
    return len(split)


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
    print(
        f"{len(split)} images of {args.protocol}/{args.split}, batch {BATCH}, {torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}"
    )
    print("architecture  workload                img/s   GPU util % (mean, median, samples)")
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
        }
        for label, step in workloads.items():
            rate, samples = sampled(args.seconds, step, device)
            util = (
                f"{statistics.mean(samples):5.1f} {statistics.median(samples):5.1f} {len(samples):4d}"
                if samples
                else "no samples"
            )
            print(f"{arch:<13} {label:<20} {rate:9.0f}   {util}", flush=True)


if __name__ == "__main__":
    main()
