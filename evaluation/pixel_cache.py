"""Decoded pixels kept on disk, so that a split evaluated again is read, not decoded.

Decoding a 64×64 PNG costs about 61 CPU µs; the reference CNNs' forward pass costs about 2 µs
per image on one H200 (README, Benchmarks), so no number of decode workers on one machine keeps
such a GPU busy. Researchers evaluate many checkpoints on the same splits: with a cache folder,
the first evaluation decodes each split once into one uint8 ``N×H×W×3`` ``.npy`` file, and every
later one maps that file into memory, where a batch is a slice.

A file is named by the SHA-256 of the split's shard checksums in the manifest, so other data, a
regeneration whose bytes differ, or another split never reads it. A file that is unreadable or
does not hold the split's shape is decoded again and replaced (it is only a cache); files are
written under a temporary name and renamed into place, so a reader never sees half of one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import datasets
import numpy as np

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.runner import decode_split

FORMAT = "elsewhere-pixels-1"


def pixel_key(manifest: dict, protocol: str, split: str) -> str:
    """The cache name of ``protocol``/``split``: a digest of its shards' paths and checksums."""
    shards = manifest["protocols"][protocol]["splits"][split]["shards"]
    lines = [FORMAT, protocol, split, *sorted(f"{s['path']} {s['sha256']}" for s in shards)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def cached_pixels(dataset: datasets.Dataset, key: str, folder: str | Path, *, progress: bool = False) -> np.ndarray:
    """The split's images as uint8 N×H×W×3, memory-mapped from ``folder/<key>.npy`` (written first
    if missing or damaged)."""
    folder = Path(folder)
    path = folder / f"{key}.npy"
    pixels = _read(path, len(dataset))
    if pixels is not None:
        return pixels
    staging = folder / f".{key}.{os.getpid()}.tmp.npy"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(staging, decode_split(dataset, progress=progress).numpy())
        os.replace(staging, path)
    except OSError as error:
        raise ElsewhereError(
            f"cannot write the pixel cache in {folder} ({error.strerror or type(error).__name__}); give a "
            "writable folder, or evaluate without a cache"
        ) from None
    finally:
        if staging.is_file():
            staging.unlink()
    pixels = _read(path, len(dataset))
    if pixels is None:
        raise ElsewhereError(f"the pixel cache {path} could not be read back; give another folder")
    return pixels


def _read(path: Path, rows: int) -> np.ndarray | None:
    """The cached array if ``path`` holds ``rows`` uint8 RGB images, else None."""
    try:
        # Copy-on-write: the array is writable (as torch wants) yet nothing written reaches the file.
        pixels = np.load(path, mmap_mode="c", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[0] != rows or pixels.shape[3] != 3:
        return None
    return pixels
