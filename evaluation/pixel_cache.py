"""Decoded pixels kept on disk, so that a split evaluated again is read, not decoded.

Decoding a 64×64 PNG costs about 61 CPU µs; the reference CNNs' forward pass costs about 2 µs
per image on one H200 (README, Benchmarks), so no number of decode workers on one machine keeps
such a GPU busy. Researchers evaluate many checkpoints on the same splits: with a cache folder,
the first evaluation decodes each split once into one uint8 ``N×H×W×3`` ``.npy`` file, and every
later one maps that file into memory, where a batch is a slice.

A file is named by the SHA-256 of the split's shard checksums in the manifest, so other data, a
regeneration whose bytes differ, or another split never reads it. A file that is unreadable or
does not hold the split's shape is decoded again and replaced (it is only a cache); files are
written under a temporary name and renamed into place, so a reader never sees half of one, and
the staging files of killed writers are removed by the next write of the same split.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import datasets
import numpy as np

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.runner import decode_split, image_batches
from elsewhere.files import atomic_path, remove_stale

FORMAT = "elsewhere-pixels-1"
BATCH = 256


def pixel_key(manifest: dict, protocol: str, split: str) -> str:
    """The cache name of ``protocol``/``split``: a digest of its shards' paths and checksums."""
    try:
        shards = manifest["protocols"][protocol]["splits"][split]["shards"]
        lines = [FORMAT, protocol, split, *sorted(f"{s['path']} {s['sha256']}" for s in shards)]
    except (KeyError, TypeError):
        raise ElsewhereError(
            f"the dataset's manifest lists no shard checksums for {protocol}/{split}, which name its pixel cache; "
            "regenerate the dataset, or evaluate without a pixel cache"
        ) from None
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def cached_pixels(dataset: datasets.Dataset, key: str, folder: str | Path, *, progress: bool = False) -> np.ndarray:
    """The split's images as uint8 N×H×W×3, memory-mapped from ``folder/<key>.npy`` (written first
    if missing or damaged).

    A file is used only if it is a regular file of exactly the split's shape whose first and last
    images are the split's own (decoded to check): a file swapped for another split's, or of other
    images, is decoded again.
    """
    if not str(folder).strip():  # an empty name would silently mean the current folder
        raise ElsewhereError("the pixel cache folder is an empty name; give a folder")
    if len(dataset) == 0:
        raise ElsewhereError("the split is empty; nothing to predict")
    ends = decode_split(dataset.select([0, len(dataset) - 1])).numpy()
    shape = (len(dataset), *ends.shape[1:])
    pixels = _read(Path(folder) / f"{key}.npy", shape)
    if pixels is None or not (np.array_equal(pixels[0], ends[0]) and np.array_equal(pixels[-1], ends[-1])):
        _write(dataset, shape, Path(folder), key, progress)
        pixels = _read(Path(folder) / f"{key}.npy", shape)
    if pixels is None:
        raise ElsewhereError(f"the pixel cache in {folder} could not be read back; give another folder")
    return pixels


def _write(dataset: datasets.Dataset, shape: tuple[int, ...], folder: Path, key: str, progress: bool) -> None:
    """Decode the split batch by batch into a fresh file (one batch in memory), renamed into place whole."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale(folder / f"{key}.npy")
        with atomic_path(folder / f"{key}.npy") as staging:
            out = np.lib.format.open_memmap(staging, mode="w+", dtype=np.uint8, shape=shape)
            at = 0
            for batch in image_batches(dataset, batch_size=BATCH, num_workers=0):
                if tuple(batch.shape[1:]) != shape[1:]:
                    raise ElsewhereError(
                        f"images of one split differ in size ({tuple(batch.shape[1:3])} and {shape[1:3]}); every "
                        "image must share the canvas"
                    )
                out[at : at + len(batch)] = batch.numpy()
                at += len(batch)
            out.flush()
            del out
    except OSError as error:
        raise ElsewhereError(
            f"cannot write the pixel cache in {folder} ({error.strerror or type(error).__name__}); give a "
            "writable folder, or evaluate without a cache"
        ) from None


def _read(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached array if ``path`` is a regular file holding uint8 images of ``shape``, else None."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block the read forever
            return None
        # Copy-on-write: the array is writable (as torch wants) yet nothing written reaches the file.
        pixels = np.load(path, mmap_mode="c", allow_pickle=False)
    except (OSError, ValueError, EOFError, OverflowError):
        return None
    return pixels if pixels.dtype == np.uint8 and pixels.shape == shape else None
