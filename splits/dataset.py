"""The dataset folder: generate every shard of a suite in parallel and publish it as one folder.

The folder is a Hugging Face dataset repo (card, ``data/<protocol>/<split>-*.parquet``) plus
``elsewhere.json``, the manifest that records the seed, the protocols in full and every shard's
checksum. It is built in a hidden sibling folder and moved into place only when complete, so a
failed or interrupted run leaves nothing half-written behind.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import ExitStack
from functools import partial
from importlib import metadata
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from elsewhere.errors import ElsewhereError
from elsewhere.files import atomic_folder, atomic_path
from elsewhere.splits.card import write_card
from elsewhere.splits.engines import Engine, connect_ray, run_tasks
from elsewhere.splits.protocol import SIZES, Protocol
from elsewhere.splits.shards import Job, Written, build_shard, plan, save_shard, write_shard

MANIFEST = "elsewhere.json"
MANIFEST_FORMAT = 1
LABELS_FORMAT = 1
# Key of the labels file's Parquet metadata (``labels_metadata``).
LABELS_KEY = b"elsewhere.labels"
MAX_SEED = 2**63 - 1


def check_request(
    out: Path,
    protocols: tuple[Protocol, ...],
    job: Job,
    workers: int,
    overwrite: bool,
    labels_out: str | Path | None = None,
) -> None:
    """Refuse, with one line each, everything that would fail later or destroy something."""
    if job.size not in SIZES:
        raise ElsewhereError(f"unknown size {job.size!r}; choose one of {', '.join(SIZES)}")
    if not isinstance(job.seed, int) or not 0 <= job.seed <= MAX_SEED:
        raise ElsewhereError(f"bad seed {job.seed!r}; a seed is a whole number from 0 to {MAX_SEED}")
    if workers < 1:
        raise ElsewhereError(f"bad number of workers {workers}; use at least 1")
    if out.exists() and not out.is_dir():
        raise ElsewhereError(f"output {out} is a file; give a folder that is empty or does not exist")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ElsewhereError(
                f"output folder {out} is not empty; give an empty or new folder "
                f"(or allow overwriting to replace an elsewhere dataset)"
            )
        if not (out / MANIFEST).is_file():
            raise ElsewhereError(
                f"will not overwrite {out}: it holds no {MANIFEST}, so it is not an "
                f"elsewhere dataset; give an empty or new folder"
            )
        foreign = _foreign_files(out)
        if foreign:
            raise ElsewhereError(
                f"will not overwrite {out}: it holds {len(foreign)} files that are not part of the elsewhere "
                f"dataset (first: {foreign[0]}); move them out of the folder first"
            )
    if job.withhold_labels:
        _check_labels_path(labels_out, out)
    for protocol in protocols:
        job.protocol(protocol.name).check()


def generate(
    out: str | Path,
    protocols: tuple[Protocol, ...],
    job: Job,
    *,
    workers: int | None = None,
    labels_out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    engine: str = "local",
    address: str | None = None,
) -> dict:
    """Write the dataset folder ``out`` for ``protocols``; returns the manifest.

    ``engine`` runs the shards in local processes (``workers`` of them) or as Ray tasks (on the
    cluster at ``address``, see ``splits.engines``); the folder is the same byte for byte.
    """
    out = Path(out)
    cores = os.cpu_count() or 1
    workers = cores if workers is None else workers
    check_request(out, protocols, job, workers, overwrite, labels_out)
    # More processes than cores only adds memory and forks: the work is CPU-bound.
    workers = min(workers, cores)
    runner = Engine(engine, workers, address)
    if runner.kind == "ray":
        connect_ray(runner.address)  # an unreachable cluster fails here, before anything is written
    labels_written = False
    try:
        with ExitStack() as stack:
            try:
                staging = stack.enter_context(atomic_folder(out))
            except OSError as error:
                raise ElsewhereError(
                    f"cannot write under {out.resolve().parent} ({error.strerror}); "
                    "give an output folder you may write to"
                ) from None
            written = _write_shards(staging, protocols, job, runner, progress)
            resolved = tuple(job.protocol(p.name) for p in protocols)
            manifest = _manifest(resolved, job, written)
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            write_card(staging, resolved, manifest, job)
            if job.withhold_labels:
                _write_labels(labels_out, written, manifest)
                labels_written = True
    except BaseException:
        if labels_written:
            Path(labels_out).unlink(missing_ok=True)
        raise
    return manifest


def _write_shards(root: Path, protocols, job: Job, engine: Engine, progress: bool) -> list[Written]:
    shards = plan(protocols, job.size)
    total = sum(s.stop - s.start for s in shards)
    written = []
    with tqdm(total=total, unit="img", desc="generating", disable=not progress) as bar:
        if engine.kind == "local":
            # Local workers share this file system: each streams its shard straight into place.
            results = run_tasks(partial(write_shard, root=root, job=job), shards, engine)
        else:
            # Remote workers send each shard back whole; only this process writes the folder.
            results = (save_shard(root, *built) for built in run_tasks(build_shard, [(s, job) for s in shards], engine))
        for result in results:
            written.append(result)
            bar.update(result.rows)
    return sorted(written, key=lambda w: w.shard.path)


def fingerprint(shards: list[dict]) -> str:
    """One checksum over a protocol's shard checksums: identifies the exact data scored against."""
    lines = sorted(f"{s['path']} {s['sha256']}" for s in shards)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _manifest(protocols: tuple[Protocol, ...], job: Job, written: list[Written]) -> dict:
    entries = {}
    for protocol in protocols:
        splits = {}
        for split in protocol.split_names:
            shards = [
                {"path": w.shard.path, "sha256": w.sha256, "rows": w.rows}
                for w in written
                if w.shard.protocol == protocol.name and w.shard.split == split
            ]
            splits[split] = {"rows": sum(s["rows"] for s in shards), "shards": shards}
        all_shards = [s for split in splits.values() for s in split["shards"]]
        entries[protocol.name] = {
            "version": protocol.version,
            "fingerprint": fingerprint(all_shards),
            "splits": splits,
            "protocol": protocol.to_dict(),
        }
    return {
        "format": MANIFEST_FORMAT,
        "generator": {
            "name": "elsewhere",
            "version": _version("elsewhere"),
            "packages": {p: _version(p) for p in ("numpy", "pillow", "pyarrow")},
        },
        "seed": job.seed,
        "size": job.size,
        "variant": "private" if job.secret else "public",
        "labels": "withheld" if job.withhold_labels else "included",
        **({"secret_sha256": job.commitment} if job.withhold_labels else {}),
        "protocols": entries,
    }


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _check_labels_path(path: str | Path | None, out: Path) -> None:
    """The labels file must be new, and outside the dataset folder (which is published, and replaced)."""
    if path is None:
        raise ElsewhereError("labels are withheld but no labels file was given; name a labels file")
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise ElsewhereError(f"labels file {path} already exists; name a new file (labels are never overwritten)")
    target, folder = path.resolve(), out.resolve()
    if target == folder or folder in target.parents:
        raise ElsewhereError(
            f"labels file {path} is inside the output folder {out}, which is published; put it outside that folder"
        )


def labels_metadata(manifest: dict) -> dict:
    """What a labels file records about its dataset: the secret's SHA-256, seed, size and fingerprints."""
    return {
        "format": LABELS_FORMAT,
        "secret_sha256": manifest["secret_sha256"],
        "seed": manifest["seed"],
        "size": manifest["size"],
        "fingerprints": {name: entry["fingerprint"] for name, entry in manifest["protocols"].items()},
    }


def _write_labels(path: str | Path | None, written: list[Written], manifest: dict) -> None:
    """Write the labels file whole, never replacing a file that exists or appears meanwhile."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.concat_tables([w.withheld for w in written if w.withheld is not None]).sort_by("id")
    table = table.replace_schema_metadata({LABELS_KEY: json.dumps(labels_metadata(manifest))})
    try:
        with atomic_path(path, replace=False) as temporary:
            pq.write_table(table, temporary)
    except FileExistsError:
        raise ElsewhereError(f"labels file {path} appeared while generating; name a new file") from None


def _foreign_files(out: Path) -> list[str]:
    """Files in a dataset folder that its manifest and card do not account for (sorted)."""
    try:
        manifest = read_manifest(out)
        own = {MANIFEST, "README.md"}
        own |= {
            s["path"]
            for entry in manifest["protocols"].values()
            for split in entry["splits"].values()
            for s in split["shards"]
        }
    except (ElsewhereError, KeyError, TypeError, AttributeError):
        own = {MANIFEST, "README.md"}
    found = []
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out).as_posix()
        if path.is_dir() and not path.is_symlink():
            continue
        # The card's example sheets: images/<protocol>/<split>.png.
        if relative in own or (
            relative.startswith("images/") and relative.endswith(".png") and relative.count("/") == 2
        ):
            continue
        found.append(relative)
    return found


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a dataset folder, with a clear error if the folder is not one."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ElsewhereError(f"{folder} is not an elsewhere dataset folder: it has no {MANIFEST}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ElsewhereError(f"{path} is not valid JSON ({error}); regenerate the dataset") from None
