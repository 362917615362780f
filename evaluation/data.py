"""Reading the benchmark's data for scoring: a dataset folder or a Hub repo id, through `datasets`.

The harness reads the splits with ``datasets.load_dataset`` (exactly as users do) and the manifest
``elsewhere.json`` beside them (from the folder, or from the repo through ``huggingface_hub``), and
checks that the protocol version in the data is the one this harness knows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import datasets
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.truth import Truth
from elsewhere.splits.dataset import LABELS_FORMAT, LABELS_KEY, MANIFEST, read_manifest
from elsewhere.splits.distributions import Distribution
from elsewhere.splits.grid import Grid
from elsewhere.splits.names import is_evaluated
from elsewhere.splits.protocol import Protocol
from elsewhere.splits.registry import get_protocol
from elsewhere.splits.shards import LABELS_SCHEMA

FACTOR_COLUMNS = ["id", "label", "x", "y", "rotation", "scale", "cell", "group", "region"]


def manifest_of(data: str | Path) -> dict:
    """The manifest of a dataset folder, or of a dataset repo on the Hub (or in its local cache)."""
    if Path(data).is_dir():
        return read_manifest(data)
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(str(data), MANIFEST, repo_type="dataset")
    except Exception as error:  # the hub client raises many types; all mean "not readable"
        raise ElsewhereError(
            f"cannot read {MANIFEST} of {data!r}: it is neither a dataset folder nor "
            f"a reachable dataset repo ({type(error).__name__})"
        ) from None
    return json.loads(Path(path).read_text())


def dataset_source(data: str | Path, manifest: dict) -> dict:
    """Which data was read: the Hub repo id and the commit read (None for a folder) and the version tag.

    For a repo, the commit is the snapshot folder the manifest was read from (the Hub cache keeps
    each commit's files under ``snapshots/<commit>``), so it is known offline too.
    """
    from elsewhere.splits.publish import dataset_tag

    tag = dataset_tag(manifest)
    if Path(data).is_dir():
        return {"repo_id": None, "revision": None, "tag": tag}
    from huggingface_hub import hf_hub_download

    snapshot = Path(hf_hub_download(str(data), MANIFEST, repo_type="dataset")).parent.name
    return {"repo_id": str(data), "revision": snapshot if len(snapshot) == 40 else None, "tag": tag}


def protocol_entry(manifest: dict, data: str | Path, name: str) -> tuple[Protocol, dict]:
    """The registered protocol ``name`` and its manifest entry, refusing version mismatches."""
    protocol = get_protocol(name)
    entries = manifest["protocols"]
    if name not in entries:
        raise ElsewhereError(f"{data} holds no protocol {name!r}; it holds: {', '.join(entries)}")
    entry = entries[name]
    if entry["version"] != protocol.version:
        raise ElsewhereError(
            f"{data} has {name} version {entry['version']}, this harness scores version "
            f"{protocol.version}; regenerate the data or install the matching elsewhere"
        )
    return protocol, entry


def load_split(data: str | Path, protocol: str, split: str) -> datasets.Dataset:
    """One split, read by ``load_dataset`` from a folder or a repo id."""
    try:
        return datasets.load_dataset(str(data), protocol, split=split)
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as error:
        raise ElsewhereError(f"cannot load {protocol}/{split} from {data}: {error}") from None


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Without the progress bars of `datasets`: reading the labels is a step of scoring, and on a cold
    cache its bars went to stderr in front of a refusal that must be one line."""
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def evaluated_splits(protocol: Protocol) -> tuple[str, ...]:
    """The splits of ``protocol`` that are scored: ``test_id``, ``test_ood``, any further ``test_*`` split
    (Red-Green's ``test_moved``) and the probe. A predictions file covers every one of them."""
    return tuple(s for s in protocol.split_names if is_evaluated(s))


def load_truth(data: str | Path, protocol_name: str, labels: Path | None = None) -> Truth:
    """Labels and factors of every evaluated item (never the images).

    ``labels`` is the private variant's separate labels file; without it the labels come from the
    data, and a dataset whose labels are withheld is refused.
    """
    manifest = manifest_of(data)
    protocol, entry = protocol_entry(manifest, data, protocol_name)
    if labels is not None:
        frame = private_frame(data, manifest, protocol, labels)
    elif manifest.get("labels") == "withheld":
        raise ElsewhereError(
            f"{data} is a private variant whose labels are withheld; score it with the leaderboard's labels file"
        )
    else:
        frames = []
        with _quiet_datasets():
            for split in evaluated_splits(protocol):
                frame = load_split(data, protocol_name, split).select_columns(FACTOR_COLUMNS).to_pandas()
                frame.insert(1, "split", split)
                frames.append(frame)
        frame = pd.concat(frames, ignore_index=True)
    train = protocol.train
    return Truth(
        protocol=protocol.name,
        version=protocol.version,
        fingerprint=entry["fingerprint"],
        class_names=protocol.class_names,
        frame=frame,
        grid=Grid.from_dict(entry["protocol"]["grid"]),
        train_region=train.location if isinstance(train, Distribution) else None,
        factors=protocol.held_out,
        evaluated_classes=protocol.evaluated_classes,
        dataset=dataset_source(data, manifest),
    )


def read_labels(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """A private variant's labels file (every withheld column, and ``part``) and its metadata."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise ElsewhereError(
            f"labels file {path} is not readable as Parquet ({type(error).__name__}); give the file written "
            "with the private dataset"
        ) from None
    raw = (table.schema.metadata or {}).get(LABELS_KEY)
    missing = [name for name in LABELS_SCHEMA.names if name not in table.column_names]
    try:
        metadata = json.loads(raw) if raw is not None else None
    except ValueError:
        metadata = None
    if missing or not isinstance(metadata, dict) or metadata.get("format") != LABELS_FORMAT:
        raise ElsewhereError(
            f"{path} is not a labels file of this elsewhere (format {LABELS_FORMAT}); regenerate the private "
            "dataset with its labels file"
        )
    return table.select(LABELS_SCHEMA.names).to_pandas(), metadata


def check_labels(data: str | Path, manifest: dict, metadata: dict, path: str | Path) -> None:
    """Refuse a labels file written with another secret or for other data than ``data``."""
    if manifest.get("labels") != "withheld":
        raise ElsewhereError(f"{data} is not a private variant; a labels file only goes with private data")
    if metadata.get("secret_sha256") != manifest.get("secret_sha256"):
        raise ElsewhereError(
            f"labels file {path} was written with another secret than {data}; use the labels file generated "
            "together with this dataset"
        )
    ours = {name: entry["fingerprint"] for name, entry in manifest["protocols"].items()}
    theirs = metadata.get("fingerprints")
    if not isinstance(theirs, dict) or any(theirs.get(name) != value for name, value in ours.items()):
        raise ElsewhereError(
            f"labels file {path} belongs to another dataset than {data} (protocol fingerprints differ); use the "
            "labels file generated together with this dataset"
        )


def private_frame(data: str | Path, manifest: dict, protocol: Protocol, labels: str | Path) -> pd.DataFrame:
    """The truth frame of a private variant: from the labels file, checked against the data's ids."""
    frame, metadata = read_labels(labels)
    check_labels(data, manifest, metadata, labels)
    frame = frame[(frame["protocol"] == protocol.name) & frame["split"].isin(evaluated_splits(protocol))]
    published = set()
    for split in evaluated_splits(protocol):
        published.update(load_split(data, protocol.name, split).select_columns(["id"])["id"])
    if published != set(frame["id"]):
        raise ElsewhereError(
            f"labels file {labels} does not hold exactly the ids of {data} ({protocol.name}); use the labels "
            "file generated together with this dataset"
        )
    return frame.reset_index(drop=True)
