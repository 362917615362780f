"""Running a model over a dataset split: the harness's fast input path, on CUDA when present.

A split is read as contiguous batches of rows. Each DataLoader worker takes one whole batch: it
slices the split's Arrow table, decodes the PNG bytes with Pillow into one uint8 N×H×W×3 array and
hands that over (decoding through ``datasets``' own image feature costs about a third more per
image). The uint8 batch crosses to the device as it is — a quarter of the bytes of float32 — pinned
and non-blocking on CUDA, and becomes float in [0, 1] there. The NHWC batch permuted to NCHW
already has the channels-last memory layout, so channels-last costs no copy.

Given a split's decoded pixels (``evaluation.pixel_cache``), ``predict`` reads slices of them in
place of the PNGs: decoding, not the model, bounds a small model on a GPU.

Defaults: ``predict`` on CPU decodes in this process (the model's threads already use every
core); otherwise ``num_workers`` is ``min(4, os.cpu_count())``, or 0 when the split has fewer
than ``SMALL_SPLIT`` rows: starting two workers takes about 0.2 s, about what they save on 2000
images. Workers asked for on CPU run at the lowest scheduling priority (see
``_yield_to_the_model``). bf16 autocast is on for CUDA and off for CPU; channels-last is on for
both (on this project's 2-core CPU machine the baseline CNNs run about twice as fast with it).

The model contract: the input is float32 N×3×H×W, RGB in [0, 1] (H = W = the protocol's canvas),
optionally normalised per channel as ``(x − mean) / std`` (see :func:`channel_statistics`); the
output is logits N×classes. ``predict`` refuses any other output in one line: the shape on the
first batch already, non-finite values as soon as they are seen.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Sequence

import datasets
import numpy as np
import pyarrow as pa
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.loading import one_line

DEVICES = ("auto", "cpu", "cuda")
# Larger images go through Pillow, which bounds its own memory (decompression-bomb check).
PLAIN_PNG_MAX_PIXELS = 4096 * 4096
SMALL_SPLIT = 2048
MAX_WORKERS = 4
IMAGE_COLUMN = "image"
# A model may carry its own input normalisation (e.g. ImageNet statistics) as these attributes.
MEAN_ATTRIBUTE = "input_mean"
STD_ATTRIBUTE = "input_std"

Statistics = tuple[torch.Tensor, torch.Tensor]


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA if available else CPU; ``cpu``; ``cuda`` (refused when there is none)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ElsewhereError("device cuda was asked for but no CUDA GPU is available; use the device cpu or auto")
        return torch.device("cuda")
    raise ElsewhereError(f"unknown device {device!r}; choose one of {'|'.join(DEVICES)}")


def decode_images(table: pa.Table) -> np.ndarray:
    """The ``image`` column of an Arrow table (PNG/JPEG structs) as one uint8 N×H×W×3 array."""
    images = table.column(IMAGE_COLUMN).combine_chunks()
    blobs = images.field("bytes").to_pylist()
    paths = images.field("path").to_pylist()
    out: np.ndarray | None = None
    for i, (blob, path) in enumerate(zip(blobs, paths)):
        pixels = plain_png_pixels(blob) if blob is not None else None
        if pixels is not None and (out is None or pixels.shape == out.shape[1:]):
            if out is None:
                out = np.empty((len(blobs), *pixels.shape), np.uint8)
            out[i] = pixels
            continue
        with Image.open(io.BytesIO(blob) if blob is not None else path) as image:
            if image.mode != "RGB":
                image = image.convert("RGB")
            if out is None:
                out = np.empty((len(blobs), image.height, image.width, 3), np.uint8)
            if image.size != (out.shape[2], out.shape[1]):
                raise ElsewhereError(
                    f"images of one split differ in size ({image.width}×{image.height} "
                    f"and {out.shape[2]}×{out.shape[1]}); every image must share the canvas"
                )
            out[i] = np.asarray(image)
    if out is None:
        raise ElsewhereError("cannot decode an empty batch of images")
    return out


def plain_png_pixels(blob: bytes) -> np.ndarray | None:
    """The pixels of an unfiltered 8-bit RGB PNG, as ``elsewhere generate`` writes them, or None.

    A fast path past Pillow (which costs ~100 µs per small image in parsing alone): read the header,
    join the IDAT chunks (CRC-checked), inflate at most the expected number of bytes, and take the
    rows if every row's filter byte is 0. Anything else — other formats, filters, a bad CRC, too
    much or too little data — returns None, and the caller decodes with Pillow.
    """
    if len(blob) < 45 or blob[:16] != b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR":
        return None
    width, height = int.from_bytes(blob[16:20], "big"), int.from_bytes(blob[20:24], "big")
    if blob[24:29] != b"\x08\x02\x00\x00\x00" or not 0 < width * height <= PLAIN_PNG_MAX_PIXELS:
        return None
    data, at = [], 33
    while at + 12 <= len(blob):
        length, kind = int.from_bytes(blob[at : at + 4], "big"), blob[at + 4 : at + 8]
        body = blob[at + 8 : at + 8 + length]
        if len(body) != length or at + 12 + length > len(blob):
            return None
        if kind == b"IDAT":
            if zlib.crc32(body, zlib.crc32(kind)) != int.from_bytes(blob[at + 8 + length : at + 12 + length], "big"):
                return None
            data.append(body)
        elif kind == b"IEND":
            break
        elif kind[0] & 0x20 == 0:  # a critical chunk we do not read (a palette, say)
            return None
        at += 12 + length
    size = height * (1 + 3 * width)
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(b"".join(data), size + 1)
    except zlib.error:
        return None
    if len(raw) != size or not inflate.eof:
        return None
    rows = np.frombuffer(raw, np.uint8).reshape(height, 1 + 3 * width)
    if rows[:, 0].any():
        return None
    return rows[:, 1:].reshape(height, width, 3)


class ImageBatches(torch.utils.data.Dataset):
    """Batch ``i`` of a split: rows ``i*batch_size`` up to the next batch, decoded to uint8 NHWC."""

    def __init__(self, dataset: datasets.Dataset, batch_size: int):
        if IMAGE_COLUMN not in dataset.column_names:
            raise ElsewhereError(
                f"the dataset has no {IMAGE_COLUMN!r} column (it has "
                f"{', '.join(dataset.column_names)}); give an elsewhere dataset split"
            )
        if batch_size < 1:
            raise ElsewhereError(f"bad batch size {batch_size}; use at least 1")
        self.rows = dataset.select_columns([IMAGE_COLUMN]).with_format("arrow")
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.rows) // self.batch_size)

    def __getitem__(self, index: int) -> torch.Tensor:
        start = index * self.batch_size
        return torch.from_numpy(decode_images(self.rows[start : start + self.batch_size]))


class ArrayBatches(torch.utils.data.Dataset):
    """Batch ``i`` of already decoded uint8 N×H×W×3 pixels (a memory-mapped pixel cache): a view,
    copied only where it must move (into pinned memory on CUDA)."""

    def __init__(self, pixels: np.ndarray, batch_size: int):
        if batch_size < 1:
            raise ElsewhereError(f"bad batch size {batch_size}; use at least 1")
        self.pixels = pixels
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.pixels) // self.batch_size)

    def __getitem__(self, index: int) -> torch.Tensor:
        start = index * self.batch_size
        return torch.from_numpy(self.pixels[start : start + self.batch_size])


def _yield_to_the_model(worker_id: int) -> None:
    # On CPU the workers share the cores with the model's threads. Left at equal priority they
    # stall its parallel regions; at the lowest they decode whenever those threads wait (between
    # batches, or for the next batch, when both workers then decode at once).
    if hasattr(os, "nice"):
        os.nice(19)


def image_batches(
    dataset: datasets.Dataset,
    *,
    batch_size: int,
    num_workers: int | None,
    pin_memory: bool = False,
    low_priority: bool = False,
) -> torch.utils.data.DataLoader:
    """A loader yielding the split's images in order as uint8 N×H×W×3 tensors, decoded in workers."""
    if num_workers is None:
        num_workers = 0 if len(dataset) < SMALL_SPLIT else min(MAX_WORKERS, os.cpu_count() or 1)
    if num_workers < 0:
        raise ElsewhereError(f"bad number of workers {num_workers}; use 0 (decode in this process) or more")
    return torch.utils.data.DataLoader(
        ImageBatches(dataset, batch_size),
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
        worker_init_fn=_yield_to_the_model if low_priority else None,
    )


def array_batches(pixels: np.ndarray, *, batch_size: int, pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """A loader yielding already decoded pixels in order as uint8 N×H×W×3 tensors, in this process."""
    return torch.utils.data.DataLoader(ArrayBatches(pixels, batch_size), batch_size=None, pin_memory=pin_memory)


def _three(values, what: str) -> torch.Tensor:
    try:
        tensor = torch.as_tensor(values, dtype=torch.float32).detach().cpu().flatten()
    except (TypeError, ValueError, RuntimeError):
        tensor = None
    if tensor is None or tensor.numel() != 3 or not torch.isfinite(tensor).all():
        raise ElsewhereError(f"bad input {what} {values!r:.60}; give three finite numbers, one per channel R, G, B")
    return tensor


def channel_statistics(
    model: nn.Module, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> Statistics | None:
    """The per-channel ``(mean, std)`` that the model's input is normalised with, or None for none.

    Given ``mean``/``std`` win; otherwise the model's own ``input_mean``/``input_std`` attributes.
    Of a pair, a missing mean is 0 and a missing std is 1 (values on the [0, 1] scale).
    """
    if mean is None and std is None:
        mean, std = getattr(model, MEAN_ATTRIBUTE, None), getattr(model, STD_ATTRIBUTE, None)
    if mean is None and std is None:
        return None
    mean = _three((0.0, 0.0, 0.0) if mean is None else mean, "mean")
    std = _three((1.0, 1.0, 1.0) if std is None else std, "std")
    if (std <= 0).any():
        raise ElsewhereError(f"bad input std {std.tolist()}; every channel's std must be above 0")
    return mean.view(1, 3, 1, 1), std.view(1, 3, 1, 1)


def to_float(
    batch: torch.Tensor, device: torch.device, *, channels_last: bool, statistics: Statistics | None = None
) -> torch.Tensor:
    """A uint8 N×H×W×3 batch as float N×3×H×W in [0, 1] on ``device``, normalised by ``statistics``."""
    x = batch.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
    if statistics is not None:
        mean, std = statistics
        x = x.sub_(mean.to(device)).div_(std.to(device))
    return x if channels_last else x.contiguous()


def decode_split(
    dataset: datasets.Dataset, *, num_workers: int | None = None, batch_size: int = 256, progress: bool = False
) -> torch.Tensor:
    """Every image of a split, in order, as one uint8 N×H×W×3 tensor in memory."""
    if len(dataset) == 0:
        raise ElsewhereError("the split is empty; nothing to decode")
    loader = image_batches(dataset, batch_size=batch_size, num_workers=num_workers)
    with tqdm(total=len(dataset), unit="img", desc="decoding", disable=not progress) as bar:
        parts = []
        for batch in loader:
            parts.append(batch)
            bar.update(len(batch))
    return torch.cat(parts)


class ModelError(ElsewhereError):
    """The model's forward pass raised; the message is one line, the original error is chained."""


def _forward(
    model: nn.Module, batch: torch.Tensor, device: torch.device, channels_last: bool, statistics: Statistics | None
) -> torch.Tensor:
    images = to_float(batch, device, channels_last=channels_last, statistics=statistics)
    try:
        return model(images)
    except Exception as error:
        hint = "; a smaller batch size needs less memory" if isinstance(error, torch.OutOfMemoryError) else ""
        raise ModelError(
            f"the model failed on a batch of shape {tuple(images.shape)} with {one_line(error)}{hint}"
        ) from error


def _check_logits(logits, images: int, num_classes: int | None) -> None:
    """Refuse an output that is not a tensor of logits, one row per image and one column per class."""
    classes = "number of classes" if num_classes is None else str(num_classes)
    expected = f"it must return logits of shape ({images}, {classes}), one per image and class"
    if not isinstance(logits, torch.Tensor):
        raise ElsewhereError(
            f"the model returned a {type(logits).__name__} for {images} images, not a tensor; {expected}"
        )
    if logits.ndim != 2 or logits.shape[0] != images or (num_classes is not None and logits.shape[1] != num_classes):
        raise ElsewhereError(f"the model returned shape {tuple(logits.shape)} for {images} images; {expected}")


def _refuse_non_finite(non_finite: torch.Tensor, seen: int) -> None:
    count = int(non_finite.item())
    if count:
        raise ElsewhereError(
            f"the model returned NaN or infinite logits for {count} of {seen} images; it must return finite logits"
        )


def predict(
    model: nn.Module,
    dataset: datasets.Dataset,
    *,
    device: torch.device,
    batch_size: int = 256,
    num_workers: int | None = None,
    bf16: bool | None = None,
    channels_last: bool | None = None,
    num_classes: int | None = None,
    statistics: Statistics | None = None,
    pixels: np.ndarray | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over every image of ``dataset``, in dataset order.

    Returns the predicted class (int64, N) and the softmax probabilities (float32, N×C). The model
    is moved to ``device`` and put in eval mode. ``bf16`` and ``channels_last`` default to the
    module docstring's choices for the device. ``num_classes``, when given, is the width the
    logits must have; ``statistics`` normalise the input (:func:`channel_statistics`). ``pixels``,
    when given, are the split's images already decoded (``evaluation.pixel_cache``), read in place of
    the PNGs in this process.
    """
    if len(dataset) == 0:
        raise ElsewhereError("the split is empty; nothing to predict")
    if pixels is not None and len(pixels) != len(dataset):
        raise ElsewhereError(f"the decoded pixels hold {len(pixels)} images, the split {len(dataset)}; decode it again")
    cuda = device.type == "cuda"
    bf16 = cuda if bf16 is None else bf16
    layout_chosen = channels_last is not None
    channels_last = True if channels_last is None else channels_last
    if statistics is not None:
        statistics = (statistics[0].to(device), statistics[1].to(device))
    model.eval().to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if num_workers is None and not cuda:
        # On CPU the model's threads already use every core; decoding beside them measured
        # slower end to end (benchmarks/harness_overhead.py) than decoding between batches.
        num_workers = 0
    if pixels is not None:
        loader = array_batches(pixels, batch_size=batch_size, pin_memory=cuda)
    else:
        loader = image_batches(
            dataset, batch_size=batch_size, num_workers=num_workers, pin_memory=cuda, low_priority=not cuda
        )
    # Results stay on the device until the end: a copy back per batch would make the host wait
    # for the device each time instead of queueing the next batch. So does the count of images
    # with non-finite logits, read once after the first batch (to fail fast) and once at the end.
    probabilities, predictions = [], []
    non_finite = torch.zeros((), dtype=torch.int64, device=device)
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16),
        tqdm(total=len(dataset), unit="img", desc="predicting", disable=not progress) as bar,
    ):
        for batch in loader:
            try:
                logits = _forward(model, batch, device, channels_last, statistics)
            except ModelError:
                if layout_chosen or not channels_last or predictions:
                    raise
                # Models that reshape with .view() refuse channels-last tensors: run such a model
                # in the default layout rather than fail.
                channels_last = False
                model.to(memory_format=torch.contiguous_format)
                logits = _forward(model, batch, device, channels_last, statistics)
            _check_logits(logits, len(batch), num_classes)
            logits = logits.float()
            non_finite += (~torch.isfinite(logits).all(dim=1)).sum()
            if not predictions:
                _refuse_non_finite(non_finite, len(batch))
            probabilities.append(torch.softmax(logits, dim=1))
            predictions.append(logits.argmax(dim=1))
            bar.update(len(batch))
        _refuse_non_finite(non_finite, len(dataset))
        return torch.cat(predictions).cpu().numpy(), torch.cat(probabilities).cpu().numpy()
