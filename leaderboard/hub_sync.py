"""The board's memory beyond one disk: an append-only export of accepted submissions, and restore from it.

Every accepted submission becomes one JSON file, ``submissions/<id>-<sha256 prefix>.json``, in a
*results dataset* on the Hub (or in a local folder standing in for it). Files are only ever added,
never changed or deleted, so the export is a history anyone with access can audit. A new Space
whose store is empty restores the board from it: the records are stored again in id order, with
their original times, so the rebuilt board ranks the same entries the same way.

Settings, read when used (never at import):

- ``ELSEWHERE_RESULTS_REPO``: ``ORG/NAME`` of the results dataset; unset, nothing is exported.
- The operator's token, found by ``huggingface_hub`` as usual (``HF_TOKEN``, ``hf auth login``);
  without one, or with ``HF_HUB_OFFLINE`` set, the export is off.

The results repo is created *private*: results hold each item's correctness, which for a private
(hidden-labels) variant would reveal the hidden labels. Entries of a private variant are never
sent to a repo that is public.

What is not exported: the submitter's identity (it may be a client address) and operator actions
after acceptance (hiding an entry); a restored entry's identity is ``name:<submitter>``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from elsewhere.errors import ElsewhereError
from elsewhere.files import write_bytes_atomic
from elsewhere.leaderboard.store import Store, Submission

RECORD_FORMAT = 1
FOLDER = "submissions"
MAX_RECORD_BYTES = 64 * 1024 * 1024
RECORD_FIELDS = (
    "id",
    "submitter",
    "model_name",
    "model",
    "protocol",
    "protocol_version",
    "variant",
    "fingerprint",
    "predictions_sha256",
    "results",
    "status",
    "created",
)
_log = logging.getLogger(__name__)
_export_lock = threading.Lock()


def record_path(entry: Submission) -> str:
    """Where an entry's record lives in the export: by id (restore order) and predictions hash."""
    return f"{FOLDER}/{entry.id:08d}-{entry.predictions_sha256[:16]}.json"


def record(entry: Submission) -> bytes:
    """The JSON record of one accepted entry (everything the board shows, nothing about who sent it)."""
    document = {"format": RECORD_FORMAT, **{name: getattr(entry, name) for name in RECORD_FIELDS}}
    return (json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


class Target(Protocol):
    """Where the export lives: the Hub, or a local folder standing in for it."""

    private: bool

    def files(self) -> set[str]: ...

    def put(self, files: dict[str, bytes], message: str) -> None: ...

    def fetch(self) -> Path: ...


class FolderTarget:
    """A local folder standing in for the results repo (tests, offline backups): same layout, same rules."""

    private = True

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"FolderTarget({str(self.folder)!r})"

    def files(self) -> set[str]:
        root = self.folder / FOLDER
        return {f"{FOLDER}/{p.name}" for p in root.glob("*.json")} if root.is_dir() else set()

    def put(self, files: dict[str, bytes], message: str) -> None:
        (self.folder / FOLDER).mkdir(parents=True, exist_ok=True)
        for path, data in files.items():
            if (self.folder / path).exists():
                raise ElsewhereError(f"{self.folder / path} exists; the export is append-only and never overwrites")
            write_bytes_atomic(self.folder / path, data)

    def fetch(self) -> Path:
        return self.folder


class HubTarget:
    """A dataset repo on the Hub, written with the operator's token, created private when missing."""

    def __init__(self, repo_id: str, token: str) -> None:
        from huggingface_hub import HfApi

        from elsewhere.splits.publish import check_repo_id

        check_repo_id(repo_id)
        self.repo_id = repo_id
        self.api = HfApi(token=token)
        self._private: bool | None = None

    def __repr__(self) -> str:
        return f"HubTarget({self.repo_id!r})"

    @property
    def private(self) -> bool:
        if self._private is None:
            self.api.create_repo(self.repo_id, repo_type="dataset", private=True, exist_ok=True)
            self._private = bool(self.api.repo_info(self.repo_id, repo_type="dataset").private)
        return self._private

    def files(self) -> set[str]:
        from huggingface_hub.errors import RepositoryNotFoundError

        try:
            listed = self.api.list_repo_files(self.repo_id, repo_type="dataset")
        except RepositoryNotFoundError:
            return set()
        return {p for p in listed if p.startswith(f"{FOLDER}/") and p.endswith(".json")}

    def put(self, files: dict[str, bytes], message: str) -> None:
        from huggingface_hub import CommitOperationAdd

        self.private  # noqa: B018 - creates the repo (private) before the first commit
        operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=data) for p, data in files.items()]
        self.api.create_commit(self.repo_id, operations, repo_type="dataset", commit_message=message)

    def fetch(self) -> Path:
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                self.repo_id, repo_type="dataset", allow_patterns=[f"{FOLDER}/*.json"], token=self.api.token
            )
        )


def target_from_environment() -> Target | None:
    """The configured results repo, or None when the export is off (no repo, offline, or no token)."""
    repo_id = os.environ.get("ELSEWHERE_RESULTS_REPO", "").strip()
    if not repo_id or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    from huggingface_hub import get_token

    token = get_token()
    return HubTarget(repo_id, token) if token else None


def export(store: Store, target: Target) -> int:
    """Add to ``target`` every entry of ``store`` it does not hold yet, in one commit; returns how many."""
    with _export_lock:
        held = target.files()
        entries = [e for e in store.list(variant=None, include_hidden=True) if record_path(e) not in held]
        if any(e.variant == "private" for e in entries) and not target.private:
            _log.warning("results repo %r is public: entries of the private variant are not exported", target)
            entries = [e for e in entries if e.variant != "private"]
        if entries:
            target.put(
                {record_path(e): record(e) for e in entries},
                f"elsewhere leaderboard: {len(entries)} accepted submission(s), up to #{entries[-1].id}",
            )
        return len(entries)


def export_accepted(store: Store) -> None:
    """Called after every accepted submission: export it (and any missed before) in the background.

    Does nothing when the export is off; a failure is logged, never raised: the entry is stored
    either way, and the next export sends what this one missed.
    """
    target = target_from_environment()
    if target is not None:
        threading.Thread(target=export_quietly, args=(store, target), daemon=True).start()


def export_quietly(store: Store, target: Target) -> None:
    try:
        export(store, target)
    except Exception as error:  # network, permissions, quota: the board keeps running
        _log.warning("export to %r failed (%s); it is retried with the next submission", target, error)


def restore(store: Store, target: Target) -> int:
    """Rebuild an empty ``store`` from the export at ``target``; returns the number of entries stored."""
    if store.list(variant=None, include_hidden=True):
        raise ElsewhereError(f"{store.path} already holds entries; restore only into an empty store")
    records = sorted(_read_records(target.fetch()), key=lambda r: r["id"])
    for document in records:
        entry = store.add(
            submitter=document["submitter"],
            model_name=document["model_name"],
            model=document["model"],
            protocol=document["protocol"],
            protocol_version=document["protocol_version"],
            variant=document["variant"],
            fingerprint=document["fingerprint"],
            predictions_sha256=document["predictions_sha256"],
            results=document["results"],
            identity=f"name:{document['submitter']}",
            now=_moment(document["created"]),
        )
        if entry.id != document["id"]:
            raise ElsewhereError(
                f"record {document['id']} was stored as #{entry.id}: the export has gaps; restore needs every record"
            )
        if document["status"] == "hidden":
            store.hide(entry.id, "hidden when exported")
    return len(records)


def _read_records(folder: Path) -> Iterable[dict]:
    for path in sorted((folder / FOLDER).glob("*.json")):
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise ElsewhereError(f"export record {path.name} is larger than {MAX_RECORD_BYTES} bytes; not a record")
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ElsewhereError(f"export record {path.name} is not JSON ({error}); fix or remove it") from None
        missing = [f for f in RECORD_FIELDS if f not in document] if isinstance(document, dict) else RECORD_FIELDS
        if missing or document.get("format") != RECORD_FORMAT:
            raise ElsewhereError(
                f"export record {path.name} is not a format-{RECORD_FORMAT} record (missing {', '.join(missing) or 'none'})"
            )
        if not isinstance(document["id"], int) or path.name.split("-")[0] != f"{document['id']:08d}":
            raise ElsewhereError(f"export record {path.name} holds id {document['id']!r}, not the one in its name")
        yield document


def _moment(text: object) -> datetime:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        raise ElsewhereError(f"export record time {text!r} is not ISO 8601") from None
