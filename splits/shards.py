"""Shards: the unit of parallel generation, each a pure function of (protocol, split, shard).

A shard renders its rows in small row groups and streams them into one parquet file, so memory
stays flat however many images a split has. The file is written under a temporary name and moved
into place when complete. Rows carry exactly the dataset's column contract.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from elsewhere.files import atomic_path
from elsewhere.generator import render
from elsewhere.splits.protocol import Protocol
from elsewhere.splits.registry import get_protocol
from elsewhere.splits.sampling import draw

ROWS_PER_SHARD = 2000
ROWS_PER_GROUP = 250
WITHHELD_LABEL = -1
PNG_LEVEL = 1


def features(class_names: Sequence[str]) -> datasets.Features:
    """The column contract of every split of every protocol."""
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
    """PNG at zlib level 1: on these noisy canvases both faster and smaller than the default 6."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def _row_group(protocol: Protocol, split: str, start: int, stop: int, job: Job) -> pa.Table:
    samples = [draw(protocol, split, i, job.seed, job.secret) for i in range(start, stop)]
    factors = [s.factors for s in samples]
    label = np.array([f.label for f in factors], dtype=np.int64)
    x, y, rotation, scale = (
        np.array([getattr(f, k) for f in factors], dtype=np.float64) for k in ("x", "y", "rotation", "scale")
    )
    columns = {
        "id": pa.array([s.id for s in samples], pa.string()),
        "image": pa.array(
            [{"bytes": png_bytes(render(s.scene, protocol.canvas)), "path": None} for s in samples],
            pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
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
    schema = features(protocol.class_names).arrow_schema
    final = Path(root) / shard.path
    final.parent.mkdir(parents=True, exist_ok=True)
    withheld = []
    with atomic_path(final) as partial, pq.ParquetWriter(partial, schema) as writer:
        for start in range(shard.start, shard.stop, ROWS_PER_GROUP):
            table = _row_group(protocol, shard.split, start, min(start + ROWS_PER_GROUP, shard.stop), job)
            if job.withhold_labels:
                withheld.append(table.select(["id", "label"]))
                table = table.set_column(
                    table.schema.get_field_index("label"),
                    "label",
                    pa.array(np.full(len(table), WITHHELD_LABEL, np.int64)),
                )
            writer.write_table(table.cast(schema))
    digest = hashlib.sha256(final.read_bytes()).hexdigest()
    labels = pa.concat_tables(withheld) if withheld else None
    return Written(shard, digest, shard.stop - shard.start, labels)
