"""Results: the self-describing, schema-versioned JSON every scoring path ends in.

A results dict says what was scored (protocol name, version and dataset fingerprint), by what
(model metadata, where the predictions came from, their sha256), with what (harness and package
versions, device, time), and how well (the metrics of :mod:`evaluation.metrics`). It also keeps,
per evaluated split, which items were scored (sha256 of their sorted ids) and which were right
(one bit per item in sorted-id order), so two results on the same items can be compared pair by
pair (:mod:`evaluation.compare`) without the predictions. ``results.schema.json`` (JSON Schema
2020-12, shipped in this package) defines the format; bump :data:`SCHEMA_VERSION` when it changes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import platform
import subprocess
from datetime import UTC, datetime
from functools import cache
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.metrics import aligned_predictions
from elsewhere.evaluation.predictions import predictions_sha256
from elsewhere.evaluation.truth import Truth, canonical_order, id_array, ids_sha256
from elsewhere.files import write_text_atomic

SCHEMA_VERSION = 1
SCHEMA_FILE = "results.schema.json"
HARNESS = "elsewhere"
UNKNOWN_VERSION = "0+unknown"
PACKAGES = ("numpy", "pandas", "torch", "datasets")
# Bits are packed most significant first (numpy's default ``bitorder="big"``).
BIT_ORDER = "big"
_SHOWN_CHARS = 160


def build_results(
    *,
    truth: Truth,
    predictions: pd.DataFrame,
    metrics: dict,
    model: dict,
    source: str,
    device: str | None = None,
) -> dict:
    """The results of ``predictions`` (aligned to ``truth``) with their ``metrics``.

    ``model`` is free metadata with at least ``name``; ``parameters`` (an int) defaults to None.
    ``source`` says where the predictions came from (e.g. ``"predictions:preds.csv"`` or
    ``"model:net.py:build"``) and is stored as ``model["source"]``.
    """
    if not isinstance(model, dict) or not isinstance(model.get("name"), str) or not model["name"]:
        raise ElsewhereError(f"model metadata needs a non-empty 'name'; got {model!r:.120}")
    correct = aligned_predictions(truth, predictions) == truth.frame["label"].to_numpy()
    ids = id_array(truth.frame["id"])
    order = canonical_order(ids)
    split = truth.frame["split"].to_numpy(dtype=object)[order]
    items = {name: _items(ids, correct, order[split == name]) for name in truth.splits}
    return {
        "schema_version": SCHEMA_VERSION,
        "protocol": {
            "name": truth.protocol,
            "version": truth.version,
            "fingerprint": truth.fingerprint,
            "class_names": list(truth.class_names),
        },
        "dataset": truth.dataset,
        "model": {"parameters": None, **model, "source": source},
        "metrics": metrics,
        "items": items,
        "predictions_sha256": predictions_sha256(predictions),
        "harness": harness(),
        "device": device,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _items(ids: pa.Array, correct: np.ndarray, positions: np.ndarray) -> dict:
    """Count, ids hash and packed correctness of the items at ``positions`` (in sorted-id order)."""
    bits = np.packbits(correct[positions], bitorder=BIT_ORDER)
    return {
        "count": int(positions.size),
        "ids_sha256": ids_sha256(ids.take(positions)),
        "correct_bits": base64.b64encode(bits.tobytes()).decode("ascii"),
    }


def harness() -> dict:
    """Name, version and source commit of this harness, the Python version and key package versions."""
    return {
        "name": HARNESS,
        "version": _version(HARNESS) or UNKNOWN_VERSION,
        "commit": harness_commit(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
    }


@cache
def harness_commit() -> str | None:
    """The git commit this harness was installed from, or None when it cannot be known.

    A ``pip install git+URL`` records the commit in the distribution's ``direct_url.json`` (PEP
    610); an editable install is asked with ``git`` in its source folder, with ``+dirty`` when
    tracked files differ from that commit.
    """
    try:
        direct = json.loads(metadata.distribution(HARNESS).read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, json.JSONDecodeError):
        direct = {}
    if direct.get("vcs_info", {}).get("commit_id"):
        return str(direct["vcs_info"]["commit_id"])
    source = Path(__file__).resolve().parent
    if not (source.parent / "pyproject.toml").is_file():
        return None  # not a source checkout (an installed or vendored copy): a repository around it is not its source
    try:
        commit = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if len(commit) == 40 else None


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (weights, shards), read in chunks: memory stays flat."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@cache
def schema() -> dict:
    """The results JSON Schema shipped with this package."""
    return json.loads(resources.files("elsewhere.evaluation").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def validate_results(results: dict) -> None:
    """Check ``results`` against the schema (as the JSON it would be written as).

    Raises:
        ValueError: one line naming the first problem and where it is.
    """
    if not isinstance(results, dict):
        raise ElsewhereError(f"results must be a JSON object (dict); got {type(results).__name__}")
    try:
        document = json.loads(json.dumps(results, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ElsewhereError(
            f"results are not plain JSON ({_short(error)}); use finite Python numbers, strings, lists and dicts"
        ) from None
    error = best_match(Draft202012Validator(schema()).iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ElsewhereError(
            f"results do not match schema version {SCHEMA_VERSION} at {where}: {_short(error.message)}"
        )
    for split, entry in document["items"].items():
        _bits(entry, split)


def _bits(entry: dict, split: str) -> np.ndarray:
    """The packed bytes of one split's ``correct_bits``, checked to hold one bit per item."""
    try:
        raw = np.frombuffer(base64.b64decode(entry["correct_bits"], validate=True), dtype=np.uint8)
    except ValueError:
        raise ElsewhereError(f"results items/{split}/correct_bits is not valid base64") from None
    if raw.size != -(-entry["count"] // 8):
        raise ElsewhereError(
            f"results items/{split}/correct_bits holds {raw.size * 8} bits for "
            f"{entry['count']} items; it must pack exactly one bit per item"
        )
    return raw


def write_results(results: dict, path: str | Path) -> None:
    """Validate ``results`` and write them as JSON, atomically (a temp file, then a rename)."""
    validate_results(results)
    path = Path(path)
    text = json.dumps(results, indent=2, allow_nan=False) + "\n"
    write_text_atomic(path, text)


def load_results(path: str | Path) -> dict:
    """Read and validate a results file.

    Raises:
        ValueError: for a missing file, invalid JSON, another schema version, or a schema violation.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ElsewhereError(f"results file {path} does not exist; give the path of a results JSON") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ElsewhereError(f"cannot read results file {path}: {_short(error)}") from None
    try:
        results = json.loads(text)
    except json.JSONDecodeError as error:
        raise ElsewhereError(
            f"results file {path} is not valid JSON (line {error.lineno}, column "
            f"{error.colno}: {error.msg}); give a file written by elsewhere"
        ) from None
    if not isinstance(results, dict):
        raise ElsewhereError(f"results file {path} holds a JSON {type(results).__name__}, not an object")
    version = results.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ElsewhereError(
            f"results file {path} has schema_version {version!r}; this harness reads "
            f"version {SCHEMA_VERSION} (rescore with a matching elsewhere)"
        )
    try:
        validate_results(results)
    except ValueError as error:
        raise ElsewhereError(f"results file {path}: {error}") from None
    return results


def correct_items(results: dict, split: str) -> tuple[str, np.ndarray]:
    """``(ids_sha256, correct)`` of a split: one bool per item, items sorted by id."""
    items = results.get("items", {})
    if split not in items:
        raise ElsewhereError(f"results hold no split {split!r}; they hold: {', '.join(items) or 'none'}")
    entry = items[split]
    bits = np.unpackbits(_bits(entry, split), count=entry["count"], bitorder=BIT_ORDER)
    return entry["ids_sha256"], bits.astype(bool)
