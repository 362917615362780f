"""Shards: the unit of parallel generation, each a pure function of (protocol, split, shard).

A shard renders its rows in small row groups and streams them into one parquet file, so memory
stays flat however many images a split has. The file is written under a temporary name and moved
into place when complete. Rows carry exactly the dataset's column contract.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from elsewhere.files import atomic_path, write_bytes_atomic
from elsewhere.generator.render import render_batch
from elsewhere.splits.protocol import Protocol
from elsewhere.splits.registry import get_protocol
from elsewhere.splits.sampling import Sample, draw, private_id, private_part, sample_order

ROWS_PER_SHARD = 2000
ROWS_PER_GROUP = 250
PNG_LEVEL = 1


def features(class_names: Sequence[str], private: bool = False) -> datasets.Features:
    """The column contract of every split of every protocol; a private variant publishes ``id`` and ``image`` only.

    Every other column of a private variant (the label and the factors that predict it: position,
    cell, probe group, region) goes to the operator's labels file, ``LABELS_SCHEMA``.
    """
    if private:
        return datasets.Features({"id": datasets.Value("string"), "image": datasets.Image()})
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=list(class_names)),
            "x": datasets.Value("float32"),
            "y": datasets.Value("float32"),
            "rotation": datasets.Value("float32"),
            "scale": datasets.Value("float32"),
            "cell": datasets.Value("int32"),
            "group": datasets.Value("int32"),
            "region": datasets.Value("string"),
        }
    )


@dataclass(frozen=True)
class Shard:
    """Rows ``start:stop`` of one split, written as shard ``index`` of ``count``."""

    protocol: str
    split: str
    index: int
    count: int
    start: int
    stop: int

    @property
    def path(self) -> str:
        return f"data/{self.protocol}/{self.split}-{self.index:05d}-of-{self.count:05d}.parquet"


@dataclass(frozen=True)
class Job:
    """What every shard of one generation run shares."""

    seed: int
    size: str
    canvas: int | None = None
    secret: tuple[int, ...] = ()
    withhold_labels: bool = False
    # SHA-256 of the operator secret (``sampling.commitment``), recorded in a private variant's files.
    commitment: str = ""

    def protocol(self, name: str) -> Protocol:
        protocol = get_protocol(name)
        return protocol if self.canvas is None else dataclasses.replace(protocol, canvas=self.canvas)


@dataclass(frozen=True)
class Written:
    """A finished shard: where it is, its checksum, and the labels it withheld (if any)."""

    shard: Shard
    sha256: str
    rows: int
    withheld: pa.Table | None = None


def plan(protocols: tuple[Protocol, ...], size: str) -> list[Shard]:
    """Every shard of every split of ``protocols``, largest splits first."""
    shards = []
    for protocol in protocols:
        for split in protocol.split_names:
            rows = protocol.split_size(split, size)
            count = max(1, -(-rows // ROWS_PER_SHARD))
            bounds = np.linspace(0, rows, count + 1).round().astype(int)
            shards += [Shard(protocol.name, split, i, count, int(bounds[i]), int(bounds[i + 1])) for i in range(count)]
    return sorted(shards, key=lambda s: s.start - s.stop)


def png_bytes(image: np.ndarray) -> bytes:
    """One ``H × W × 3`` uint8 image as PNG (see ``png_batch``)."""
    return png_batch(image[None])[0]


def png_batch(images: np.ndarray) -> list[bytes]:
    """``N × H × W × 3`` uint8 images as PNG files: 8-bit RGB, no filter, zlib level ``PNG_LEVEL``.

    Written directly rather than through Pillow: on these images the unfiltered rows compress
    smaller than Pillow's adaptive filters and in a fraction of the time, and the only work per
    image left is one ``zlib.compress``. Any PNG decoder reads the same pixels back.
    """
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        raise ValueError(f"PNG rows must be N × H × W × 3 uint8 images; got {images.shape} {images.dtype}")
    count, height, width, _ = images.shape
    # Each scanline is its filter type (0: none) followed by its pixels.
    lines = np.zeros((count, height, 1 + 3 * width), dtype=np.uint8)
    lines[:, :, 1:] = images.reshape(count, height, 3 * width)
    head = _PNG_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return [head + _chunk(b"IDAT", zlib.compress(line, PNG_LEVEL)) + _PNG_END for line in lines]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = _chunk(b"IEND", b"")


def _row_group(protocol: Protocol, split: str, start: int, stop: int, job: Job) -> pa.Table:
    order = sample_order(protocol.name, split, protocol.split_size(split, job.size), job.secret)
    samples = [draw(protocol, split, int(i), job.seed, job.secret) for i in order[start:stop]]
    return row_table(protocol, samples, png_batch(render_batch([s.scene for s in samples], protocol.canvas)))


def row_table(protocol: Protocol, samples: list[Sample], images: list[bytes]) -> pa.Table:
    """The dataset's columns for ``samples`` and their PNG ``images``."""
    factors = [s.factors for s in samples]
    label = np.array([f.label for f in factors], dtype=np.int64)
    x, y, rotation, scale = (
        np.array([getattr(f, k) for f in factors], dtype=np.float64) for k in ("x", "y", "rotation", "scale")
    )
    columns = {
        "id": pa.array([s.id for s in samples], pa.string()),
        "image": pa.StructArray.from_arrays(
            [pa.array(images, pa.binary()), pa.nulls(len(images), pa.string())], names=["bytes", "path"]
        ),
        "label": pa.array(label),
        "x": pa.array(x.astype(np.float32)),
        "y": pa.array(y.astype(np.float32)),
        "rotation": pa.array(rotation.astype(np.float32)),
        "scale": pa.array(scale.astype(np.float32)),
        "cell": pa.array(protocol.grid.cell_of(x, y).astype(np.int32)),
        "group": pa.array(np.array([s.group for s in samples], dtype=np.int32)),
        "region": pa.array(protocol.region_of(label, x, y, rotation, scale).astype(str), pa.string()),
    }
    return pa.table(columns)


def write_shard(shard: Shard, root: Path, job: Job) -> Written:
    """Render and write ``shard`` under ``root``; the file appears only when complete."""
    protocol = job.protocol(shard.protocol)
    schema = features(protocol.class_names, job.withhold_labels).arrow_schema
    final = Path(root) / shard.path
    final.parent.mkdir(parents=True, exist_ok=True)
    withheld = []
    with atomic_path(final) as partial, pq.ParquetWriter(partial, schema) as writer:
        for start in range(shard.start, shard.stop, ROWS_PER_GROUP):
            table = _row_group(protocol, shard.split, start, min(start + ROWS_PER_GROUP, shard.stop), job)
            if job.withhold_labels:
                table, labels = _withhold(table, shard, job)
                withheld.append(labels)
            writer.write_table(table.cast(schema))
    digest = hashlib.sha256(final.read_bytes()).hexdigest()
    labels = pa.concat_tables(withheld) if withheld else None
    return Written(shard, digest, shard.stop - shard.start, labels)


def build_shard(task: tuple[Shard, Job]) -> tuple[Written, bytes]:
    """Write ``(shard, job)`` in a scratch folder and return it whole: a remote worker's task."""
    shard, job = task
    with tempfile.TemporaryDirectory(prefix="elsewhere-shard-") as scratch:
        written = write_shard(shard, Path(scratch), job)
        return written, (Path(scratch) / shard.path).read_bytes()


def save_shard(root: Path, written: Written, data: bytes) -> Written:
    """Put a shard built elsewhere under ``root``, whole or not at all, after checking its bytes."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != written.sha256:
        raise OSError(f"shard {written.shard.path} arrived damaged (sha256 {digest}, built as {written.sha256})")
    final = Path(root) / written.shard.path
    final.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(final, data)
    return written


# The operator's labels file of a private variant: everything the published shards leave out.
LABELS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("protocol", pa.string()),
        ("split", pa.string()),
        ("part", pa.string()),
        ("label", pa.int64()),
        ("x", pa.float32()),
        ("y", pa.float32()),
        ("rotation", pa.float32()),
        ("scale", pa.float32()),
        ("cell", pa.int32()),
        ("group", pa.int32()),
        ("region", pa.string()),
    ]
)


def _withhold(table: pa.Table, shard: Shard, job: Job) -> tuple[pa.Table, pa.Table]:
    """Split a private row group into what is published (opaque ``id``, ``image``) and what is withheld."""
    indices = [int(name.rsplit("/", 1)[1]) for name in table.column("id").to_pylist()]
    ids = pa.array([private_id(shard.protocol, shard.split, i, job.secret) for i in indices], pa.string())
    parts = pa.array([private_part(shard.protocol, shard.split, i, job.secret) for i in indices], pa.string())
    published = pa.table({"id": ids, "image": table.column("image")})
    withheld = (
        table.drop_columns(["image"])
        .set_column(0, "id", ids)
        .add_column(1, "protocol", pa.array([shard.protocol] * len(table), pa.string()))
        .add_column(2, "split", pa.array([shard.split] * len(table), pa.string()))
        .add_column(3, "part", parts)
    )
    return published, withheld.select(LABELS_SCHEMA.names).cast(LABELS_SCHEMA)
