"""The leaderboard's store: an append-only SQLite file of scored submissions.

A submission is kept whole (submitter, model metadata, protocol + version + dataset fingerprint,
predictions sha256, the full results JSON) and is never edited or removed; an operator can only
*hide* it (and restore it), and every such change is a row in the append-only ``events`` table.
SQLite triggers refuse deletes and content updates, so not even a hand-written query can rewrite
history.

Layout. ``submissions`` holds the small, typed columns the ranking needs; the JSON documents live
in ``documents`` (one row per submission). The ranking columns (family, parameters, accuracies and
their intervals, gap...) are copied out of the JSON by SQLite's ``json_extract`` in the INSERT
itself (see ``_EXTRACTED``): submissions never change, so the copies never go stale, and ranking
10,000 entries reads small rows instead of parsing 10,000 JSON documents.

Concurrency. Every operation opens its own connection and closes it before returning, so a
``Store`` may be shared by threads and survives ``fork``: sqlite3 connections are never shared.
The file is in WAL mode (readers never block the writer), every write is one ``BEGIN IMMEDIATE``
transaction, and a writer waits up to ``BUSY_TIMEOUT_S`` for the lock. Duplicate predictions are
refused by a unique index, so two racing submissions of the same file cannot both land. The price
of a connection per operation is small next to a submission's scoring: when the last connection
closes SQLite checkpoints the WAL, so an ``add`` costs a few fsyncs (about 5 ms on a plain disk).

Schema versions. ``MIGRATIONS`` are SQL scripts applied in order, each in its own transaction,
and ``PRAGMA user_version`` counts those applied. Append a script to change the schema; never
edit one that has shipped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from elsewhere.errors import ElsewhereError

BUSY_TIMEOUT_S = 5.0
RATE_WINDOW = timedelta(hours=24)
VARIANTS = ("public", "private")
STATUSES = ("scored", "hidden")
MODEL_DEFAULTS: dict[str, Any] = {
    "link": None,
    "parameters": None,
    "family": "other",
    "training_data": "",
    "verified": False,
}
MAX_TEXT = 200
MAX_ID = 2**63 - 1
# Unicode categories refused in stored text: controls, format characters (bidi overrides, zero-width
# spaces and joiners), surrogates, private-use and unassigned code points. Shown to other visitors,
# they would make one name look like another, or reorder the text around it.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE submissions (
        id INTEGER PRIMARY KEY,
        submitter TEXT NOT NULL CHECK (length(submitter) > 0),
        model_name TEXT NOT NULL CHECK (length(model_name) > 0),
        family TEXT NOT NULL,
        parameters INTEGER CHECK (parameters >= 0),
        verified INTEGER NOT NULL CHECK (verified IN (0, 1)),
        link TEXT,
        protocol TEXT NOT NULL CHECK (length(protocol) > 0),
        protocol_version INTEGER NOT NULL CHECK (protocol_version >= 1),
        variant TEXT NOT NULL CHECK (variant IN ('public', 'private')),
        fingerprint TEXT NOT NULL,
        predictions_sha256 TEXT NOT NULL CHECK (length(predictions_sha256) = 64),
        ood_accuracy REAL NOT NULL,
        ood_ci_lo REAL,
        ood_ci_hi REAL,
        ood_n INTEGER,
        id_accuracy REAL,
        id_ci_lo REAL,
        id_ci_hi REAL,
        gap REAL,
        gap_ci_lo REAL,
        gap_ci_hi REAL,
        normalised_gap REAL,
        status TEXT NOT NULL DEFAULT 'scored' CHECK (status IN ('scored', 'hidden')),
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    ) STRICT;
    CREATE TABLE documents (
        submission_id INTEGER PRIMARY KEY REFERENCES submissions (id),
        model TEXT NOT NULL CHECK (json_valid(model)),
        results TEXT NOT NULL CHECK (json_valid(results))
    ) STRICT;
    CREATE UNIQUE INDEX submissions_predictions ON submissions (protocol, variant, predictions_sha256);
    CREATE INDEX submissions_submitter ON submissions (submitter, created);
    """,
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        submission_id INTEGER NOT NULL REFERENCES submissions (id),
        action TEXT NOT NULL CHECK (action IN ('hide', 'restore')),
        reason TEXT NOT NULL CHECK (length(reason) > 0),
        created TEXT NOT NULL
    ) STRICT;
    CREATE INDEX events_submission ON events (submission_id, id);
    CREATE TRIGGER submissions_keep BEFORE DELETE ON submissions
    BEGIN SELECT RAISE(ABORT, 'submissions are append-only: hide an entry instead'); END;
    CREATE TRIGGER submissions_frozen BEFORE UPDATE OF
        id, submitter, model_name, family, parameters, verified, link, protocol, protocol_version,
        variant, fingerprint, predictions_sha256, ood_accuracy, ood_ci_lo, ood_ci_hi, ood_n,
        id_accuracy, id_ci_lo, id_ci_hi, gap, gap_ci_lo, gap_ci_hi, normalised_gap, created
        ON submissions
    BEGIN SELECT RAISE(ABORT, 'submissions are append-only: only status and updated may change'); END;
    CREATE TRIGGER documents_keep BEFORE DELETE ON documents
    BEGIN SELECT RAISE(ABORT, 'documents are append-only'); END;
    CREATE TRIGGER documents_frozen BEFORE UPDATE ON documents
    BEGIN SELECT RAISE(ABORT, 'documents are append-only'); END;
    CREATE TRIGGER events_keep BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
    CREATE TRIGGER events_frozen BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
    """,
    # Identities and evaluation rounds. The rate limit keys on ``identity`` (a login, an --auth user
    # or a client address), never on the typed name; rows from before keep their name as identity.
    # A duplicate is the same predictions on the same data (fingerprint), so a new round's data
    # takes a file again. ``rounds`` records each round's commitment and, once closed, its secret;
    # ``round_entries`` seals each round submission's predictions until ``round_finals`` scores them.
    """
    ALTER TABLE submissions ADD COLUMN identity TEXT;
    UPDATE submissions SET identity = 'name:' || submitter;
    CREATE INDEX submissions_identity ON submissions (identity, created);
    DROP INDEX submissions_predictions;
    CREATE UNIQUE INDEX submissions_predictions ON submissions (protocol, variant, fingerprint, predictions_sha256);
    DROP TRIGGER submissions_frozen;
    CREATE TRIGGER submissions_frozen BEFORE UPDATE OF
        id, submitter, model_name, family, parameters, verified, link, protocol, protocol_version,
        variant, fingerprint, predictions_sha256, ood_accuracy, ood_ci_lo, ood_ci_hi, ood_n,
        id_accuracy, id_ci_lo, id_ci_hi, gap, gap_ci_lo, gap_ci_hi, normalised_gap, created, identity
        ON submissions
    BEGIN SELECT RAISE(ABORT, 'submissions are append-only: only status and updated may change'); END;
    CREATE TABLE rounds (
        id INTEGER PRIMARY KEY,
        commitment TEXT NOT NULL UNIQUE CHECK (length(commitment) = 64),
        data TEXT NOT NULL CHECK (json_valid(data)),
        opened TEXT NOT NULL,
        closed TEXT,
        secret TEXT,
        CHECK ((closed IS NULL) = (secret IS NULL))
    ) STRICT;
    CREATE UNIQUE INDEX rounds_one_open ON rounds ((closed IS NULL)) WHERE closed IS NULL;
    CREATE TRIGGER rounds_keep BEFORE DELETE ON rounds
    BEGIN SELECT RAISE(ABORT, 'rounds are append-only'); END;
    CREATE TRIGGER rounds_frozen BEFORE UPDATE ON rounds
    WHEN OLD.closed IS NOT NULL OR NEW.id IS NOT OLD.id OR NEW.commitment IS NOT OLD.commitment
        OR NEW.data IS NOT OLD.data OR NEW.opened IS NOT OLD.opened
    BEGIN SELECT RAISE(ABORT, 'rounds are append-only: a round is only closed, once'); END;
    CREATE TABLE round_entries (
        submission_id INTEGER PRIMARY KEY REFERENCES submissions (id),
        round_id INTEGER NOT NULL REFERENCES rounds (id),
        predictions BLOB NOT NULL
    ) STRICT;
    CREATE INDEX round_entries_round ON round_entries (round_id, submission_id);
    CREATE TABLE round_finals (
        submission_id INTEGER PRIMARY KEY REFERENCES round_entries (submission_id),
        ood_accuracy REAL NOT NULL,
        results TEXT NOT NULL CHECK (json_valid(results))
    ) STRICT;
    CREATE TRIGGER round_entries_keep BEFORE DELETE ON round_entries
    BEGIN SELECT RAISE(ABORT, 'round entries are append-only'); END;
    CREATE TRIGGER round_entries_frozen BEFORE UPDATE ON round_entries
    BEGIN SELECT RAISE(ABORT, 'round entries are append-only'); END;
    CREATE TRIGGER round_finals_keep BEFORE DELETE ON round_finals
    BEGIN SELECT RAISE(ABORT, 'final scores are append-only'); END;
    CREATE TRIGGER round_finals_frozen BEFORE UPDATE ON round_finals
    BEGIN SELECT RAISE(ABORT, 'final scores are append-only'); END;
    CREATE TABLE operator (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        key_sha256 TEXT NOT NULL CHECK (length(key_sha256) = 64),
        created TEXT NOT NULL
    ) STRICT;
    CREATE TRIGGER operator_keep BEFORE DELETE ON operator
    BEGIN SELECT RAISE(ABORT, 'the operator key is set once'); END;
    CREATE TRIGGER operator_frozen BEFORE UPDATE ON operator
    BEGIN SELECT RAISE(ABORT, 'the operator key is set once'); END;
    """,
)

# Ranking columns of ``submissions`` and the JSON path each is copied from at insert time.
_EXTRACTED: tuple[tuple[str, str, str], ...] = (
    ("family", "model", "$.family"),
    ("parameters", "model", "$.parameters"),
    ("verified", "model", "$.verified"),
    ("link", "model", "$.link"),
    ("ood_accuracy", "results", "$.metrics.ood_accuracy.value"),
    ("ood_ci_lo", "results", "$.metrics.ood_accuracy.ci[0]"),
    ("ood_ci_hi", "results", "$.metrics.ood_accuracy.ci[1]"),
    ("ood_n", "results", "$.metrics.ood_accuracy.n"),
    ("id_accuracy", "results", "$.metrics.id_accuracy.value"),
    ("id_ci_lo", "results", "$.metrics.id_accuracy.ci[0]"),
    ("id_ci_hi", "results", "$.metrics.id_accuracy.ci[1]"),
    ("gap", "results", "$.metrics.gap.value"),
    ("gap_ci_lo", "results", "$.metrics.gap.ci[0]"),
    ("gap_ci_hi", "results", "$.metrics.gap.ci[1]"),
    ("normalised_gap", "results", "$.metrics.normalised_gap.value"),
)

# The columns of ``Store.table`` and their pandas dtypes, in display order.
TABLE_COLUMNS: dict[str, str] = {
    "id": "int64",
    "submitter": "str",
    "model_name": "str",
    "family": "str",
    "parameters": "Int64",
    "verified": "bool",
    "link": "str",
    "protocol": "str",
    "protocol_version": "int64",
    "variant": "str",
    "fingerprint": "str",
    "ood_accuracy": "float64",
    "ood_ci_lo": "float64",
    "ood_ci_hi": "float64",
    "ood_n": "Int64",
    "id_accuracy": "float64",
    "id_ci_lo": "float64",
    "id_ci_hi": "float64",
    "gap": "float64",
    "gap_ci_lo": "float64",
    "gap_ci_hi": "float64",
    "normalised_gap": "float64",
    "created": "str",
}

_SUBMISSION_SQL = """
    SELECT s.id, s.submitter, s.model_name, d.model, s.protocol, s.protocol_version, s.variant,
           s.fingerprint, s.predictions_sha256, d.results, s.status, s.created, s.updated
    FROM submissions AS s JOIN documents AS d ON d.submission_id = s.id
"""
_INSERT_SQL = (
    "INSERT INTO submissions (submitter, identity, model_name, protocol, protocol_version, variant, fingerprint,"
    f" predictions_sha256, created, updated, {', '.join(column for column, _, _ in _EXTRACTED)})"
    " VALUES (:submitter, :identity, :model_name, :protocol, :protocol_version, :variant, :fingerprint,"
    f" :predictions_sha256, :created, :updated, {', '.join(f'json_extract(:{doc}, {path!r})' for _, doc, path in _EXTRACTED)})"
    " RETURNING id"
)
_SHA256 = re.compile(r"[0-9a-f]{64}")


class DuplicateSubmission(ElsewhereError):
    """The same predictions (by sha256) are already stored for this protocol and variant."""


class RateLimited(ElsewhereError):
    """The submitter has used up their submissions for the last 24 hours."""


@dataclass(frozen=True)
class Submission:
    """One stored submission, as it was submitted, with its current status.

    ``model`` holds ``link``, ``parameters`` (int or None), ``family`` (e.g. "cnn", "mlp",
    "resnet", "other"), ``training_data`` (a note) and ``verified`` (True for baselines the
    operator ran), plus any other keys the submitter gave. ``results`` is the whole results JSON.
    Timestamps are UTC ISO 8601 strings.
    """

    id: int
    submitter: str
    model_name: str
    model: dict
    protocol: str
    protocol_version: int
    variant: str
    fingerprint: str
    predictions_sha256: str
    results: dict
    status: str
    created: str
    updated: str

    @property
    def ood_accuracy(self) -> float | None:
        """Headline out-of-location accuracy (``results.metrics.ood_accuracy.value``)."""
        return _metric(self.results, "ood_accuracy", "value")

    @property
    def ood_ci(self) -> tuple[float, float] | None:
        """95% interval of the out-of-location accuracy."""
        ci = _metric(self.results, "ood_accuracy", "ci")
        return (ci[0], ci[1]) if isinstance(ci, list) and len(ci) == 2 else None

    @property
    def id_accuracy(self) -> float | None:
        """In-distribution accuracy (``results.metrics.id_accuracy.value``)."""
        return _metric(self.results, "id_accuracy", "value")

    @property
    def gap(self) -> float | None:
        """ID minus OOD accuracy (``results.metrics.gap.value``)."""
        return _metric(self.results, "gap", "value")

    @property
    def hidden(self) -> bool:
        """Whether an operator has hidden this entry."""
        return self.status == "hidden"


class Store:
    """The leaderboard's SQLite file; see the module docstring for layout and concurrency."""

    def __init__(self, path: str | Path) -> None:
        """Open (or create, with parent folders) the store at ``path`` and bring its schema up to date."""
        if str(path) == ":memory:" or str(path).startswith("file:"):
            raise ElsewhereError(
                f"store path {str(path)!r} is not allowed; give a file path (each operation opens its own connection)"
            )
        self.path = Path(path).expanduser()
        if self.path.is_dir():
            raise ElsewhereError(
                f"store path {str(self.path)!r} is a folder; give a file path, e.g. {self.path / 'leaderboard.sqlite'}"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._closed = False
        with self._connect() as conn:
            # A damaged file is refused before anything is read from it or written to it.
            problems = [row[0] for row in conn.execute("PRAGMA quick_check(3)").fetchall()]
            if problems != ["ok"]:
                raise ElsewhereError(
                    f"store {str(self.path)!r} is damaged ({'; '.join(problems)[:160]}); restore it from a backup "
                    "or use another store file"
                )
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise ElsewhereError(
                    f"store {str(self.path)!r} could not switch to WAL journal mode (got {mode!r}); put it on a local disk"
                )
            _migrate(conn, self.path)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    def close(self) -> None:
        """Refuse further operations; no connection stays open between operations."""
        self._closed = True

    def add(
        self,
        *,
        submitter: str,
        model_name: str,
        model: dict,
        protocol: str,
        protocol_version: int,
        variant: str,
        fingerprint: str,
        predictions_sha256: str,
        results: dict,
        identity: str | None = None,
        rate_limit_per_day: int | None = None,
        round_entry: tuple[int, bytes] | None = None,
        now: datetime | None = None,
        _before_commit: Callable[[int], None] | None = None,
    ) -> Submission:
        """Store one scored submission in a single transaction and return it.

        Args:
            identity: who submits, as the caller established it (a login, an --auth user, a client
                address); the rate limit counts per identity, never per typed ``submitter`` name, so a
                rate-limited add needs one. Omitted (the operator's own entries), it is ``name:<submitter>``.
            rate_limit_per_day: most submissions ``identity`` may make in any 24 hours (hidden
                ones count); ``None`` for no limit (the operator's own baselines).
            round_entry: ``(round id, sealed predictions)`` for a submission to an open evaluation
                round; refused if that round is not open when the transaction runs.
            now: the submission time (timezone-aware; default: the clock).
            _before_commit: test seam, called with the new id after the rows are written and before
                COMMIT, so tests can kill the process mid-transaction. Not for production use.

        Raises:
            RateLimited: the identity is over ``rate_limit_per_day``.
            DuplicateSubmission: the same predictions are stored for this protocol and variant.
            ValueError: a field is malformed.
        """
        row = {
            "submitter": _text("submitter", submitter),
            "model_name": _text("model_name", model_name),
            "model": _json_text("model", _model_metadata(model)),
            "protocol": _text("protocol", protocol),
            "protocol_version": _positive_int("protocol_version", protocol_version),
            "variant": _variant(variant),
            "fingerprint": _text("fingerprint", fingerprint, limit=None),
            "predictions_sha256": _sha256(predictions_sha256),
            "results": _json_text("results", _results(results)),
            "created": _timestamp(now),
            "identity": _text("identity", identity, limit=None) if identity is not None else None,
        }
        row["updated"] = row["created"]
        if rate_limit_per_day is not None:
            _positive_int("rate_limit_per_day", rate_limit_per_day)
            if identity is None:
                raise ElsewhereError(
                    "a rate-limited submission needs the identity of its sender, not only a typed name"
                )
        if row["identity"] is None:
            row["identity"] = f"name:{row['submitter']}"
        try:
            with self._transaction() as conn:
                if rate_limit_per_day is not None:
                    _check_rate(conn, row["identity"], row["created"], rate_limit_per_day)
                if round_entry is not None:
                    _check_open(conn, round_entry[0])
                new_id = conn.execute(_INSERT_SQL, row).fetchone()[0]
                conn.execute(
                    "INSERT INTO documents (submission_id, model, results) VALUES (?, ?, ?)",
                    (new_id, row["model"], row["results"]),
                )
                if round_entry is not None:
                    conn.execute(
                        "INSERT INTO round_entries (submission_id, round_id, predictions) VALUES (?, ?, ?)",
                        (new_id, round_entry[0], round_entry[1]),
                    )
                if _before_commit is not None:
                    _before_commit(new_id)
        except sqlite3.IntegrityError as exc:
            if self._is_duplicate(row["protocol"], row["variant"], row["fingerprint"], row["predictions_sha256"]):
                # Which entry holds them is not said: it may be hidden, or someone else's.
                raise DuplicateSubmission(
                    f"these predictions (sha256 {row['predictions_sha256'][:12]}…) are already stored for "
                    f"{row['protocol']} ({row['variant']}); submit new predictions instead"
                ) from None
            raise ElsewhereError(
                f"submission refused by the store: {exc}; metric values must be JSON numbers or null"
            ) from None
        return _submission(
            (
                new_id,
                row["submitter"],
                row["model_name"],
                row["model"],
                row["protocol"],
                row["protocol_version"],
                row["variant"],
                row["fingerprint"],
                row["predictions_sha256"],
                row["results"],
                "scored",
                row["created"],
                row["updated"],
            )
        )

    def hide(self, submission_id: int, reason: str, *, now: datetime | None = None) -> None:
        """Hide an entry from the leaderboard (operator action, recorded with ``reason``)."""
        self._set_status(submission_id, "hide", "hidden", reason, now)

    def restore(self, submission_id: int, reason: str, *, now: datetime | None = None) -> None:
        """Show a hidden entry again (operator action, recorded with ``reason``)."""
        self._set_status(submission_id, "restore", "scored", reason, now)

    def events(self, submission_id: int | None = None) -> list[dict]:
        """The audit trail of operator actions, oldest first (optionally for one entry)."""
        sql = "SELECT id, submission_id, action, reason, created FROM events"
        params: tuple = ()
        if submission_id is not None:
            sql += " WHERE submission_id = ?"
            params = (parse_submission_id(submission_id),)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY id", params).fetchall()
        return [dict(zip(("id", "submission_id", "action", "reason", "created"), row)) for row in rows]

    def get(self, submission_id: int) -> Submission:
        """The submission with ``submission_id`` (hidden ones too); unknown ids are a ValueError."""
        submission_id = parse_submission_id(submission_id)
        with self._connect() as conn:
            row = conn.execute(_SUBMISSION_SQL + " WHERE s.id = ?", (submission_id,)).fetchone()
        if row is None:
            raise ElsewhereError(
                f"no submission with id {submission_id!r} in {str(self.path)!r}; see the leaderboard table for ids"
            )
        return _submission(row)

    def list(
        self, *, protocol: str | None = None, variant: str | None = "public", include_hidden: bool = False
    ) -> list[Submission]:
        """Submissions in id order, optionally for one protocol; ``variant=None`` lists both variants."""
        where, params = [], []
        if protocol is not None:
            where.append("s.protocol = ?")
            params.append(protocol)
        if variant is not None:
            where.append("s.variant = ?")
            params.append(_variant(variant))
        if not include_hidden:
            where.append("s.status = 'scored'")
        sql = _SUBMISSION_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY s.id"
        with self._connect() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_submission(row) for row in rows]

    def table(
        self,
        *,
        protocol: str | None = None,
        variant: str = "public",
        families: Sequence[str] | None = None,
        min_parameters: int | None = None,
        max_parameters: int | None = None,
        verified: bool | None = None,
        search: str | None = None,
    ) -> pd.DataFrame:
        """Visible entries as flat rows (columns ``TABLE_COLUMNS``), best out-of-location accuracy first.

        Filtering happens in SQL. ``families`` keeps the listed families (an empty list keeps
        none); a parameter bound drops entries whose size is unknown; ``search`` is an
        (ASCII) case-insensitive substring of the model name or submitter. Ties in accuracy go to the
        earlier submission.
        """
        where, params = ["status = 'scored'", "variant = ?"], [_variant(variant)]
        if protocol is not None:
            where.append("protocol = ?")
            params.append(protocol)
        if families is not None:
            families = [families] if isinstance(families, str) else list(families)
            where.append(f"family IN ({', '.join('?' * len(families))})")
            params.extend(families)
        if min_parameters is not None:
            where.append("parameters >= ?")
            params.append(_count("min_parameters", min_parameters))
        if max_parameters is not None:
            where.append("parameters <= ?")
            params.append(_count("max_parameters", max_parameters))
        if min_parameters is not None and max_parameters is not None and min_parameters > max_parameters:
            raise ElsewhereError(
                f"min_parameters {min_parameters} is above max_parameters {max_parameters}; give min <= max"
            )
        if verified is not None:
            where.append("verified = ?")
            params.append(int(bool(verified)))
        if search:
            where.append("(instr(lower(model_name), ?) > 0 OR instr(lower(submitter), ?) > 0)")
            params.extend([search.lower()] * 2)
        sql = (
            f"SELECT {', '.join(TABLE_COLUMNS)} FROM submissions WHERE {' AND '.join(where)}"
            " ORDER BY ood_accuracy DESC, created, id"
        )
        with self._connect() as conn:
            rows = conn.execute(sql, params).fetchall()
        return _frame(rows)

    def used(self, identity: str, *, now: datetime | None = None) -> int:
        """Submissions ``identity`` made in the 24 hours before ``now`` (hidden ones count)."""
        identity, stamp = _text("identity", identity, limit=None), _timestamp(now)
        with self._connect() as conn:
            return _recent(conn, identity, stamp)[0]

    def check_operator(self, key: str, *, now: datetime | None = None) -> None:
        """Refuse unless ``key`` is this store's operator key; the first key checked becomes it.

        Operator actions (verified entries, opening rounds) need the key; only its SHA-256 is kept.
        """
        digest = hashlib.sha256(_text("operator key", key, limit=None).encode()).hexdigest()
        with self._transaction() as conn:
            row = conn.execute("SELECT key_sha256 FROM operator").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO operator (id, key_sha256, created) VALUES (1, ?, ?)", (digest, _timestamp(now))
                )
            elif not hmac.compare_digest(row[0], digest):
                raise ElsewhereError(
                    f"the operator key does not match the one store {str(self.path)!r} was claimed with; "
                    "verified entries and evaluation rounds are operator actions"
                )

    def open_round(self, commitment: str, data: dict, *, now: datetime | None = None) -> int:
        """Record a new evaluation round (at most one is open) and return its id."""
        commitment, document = _sha256(commitment, "commitment"), _json_text("round data", data)
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM rounds WHERE commitment = ?", (commitment,)).fetchone():
                raise ElsewhereError("this secret was already used by a round; each round needs a new secret")
            open_ = conn.execute("SELECT id FROM rounds WHERE closed IS NULL").fetchone()
            if open_ is not None:
                raise ElsewhereError(f"round {open_[0]} is still open; close it before opening another")
            return conn.execute(
                "INSERT INTO rounds (commitment, data, opened) VALUES (?, ?, ?) RETURNING id",
                (commitment, document, _timestamp(now)),
            ).fetchone()[0]

    def rounds(self) -> list[dict]:
        """Every round, oldest first: id, commitment, data, opened, closed and (once closed) secret."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, commitment, data, opened, closed, secret FROM rounds ORDER BY id"
            ).fetchall()
        keys = ("id", "commitment", "data", "opened", "closed", "secret")
        return [{**dict(zip(keys, row)), "data": json.loads(row[2])} for row in rows]

    def round_entries(self, round_id: int) -> list[tuple[int, bytes]]:
        """``(submission id, sealed predictions)`` of every submission to ``round_id``, hidden ones too."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT submission_id, predictions FROM round_entries WHERE round_id = ? ORDER BY submission_id",
                (round_id,),
            ).fetchall()
        return [(row[0], bytes(row[1])) for row in rows]

    def round_entry_ids(self, round_id: int) -> list[int]:
        """The submission ids of ``round_id``, hidden ones too, without their sealed predictions."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT submission_id FROM round_entries WHERE round_id = ? ORDER BY submission_id", (round_id,)
            ).fetchall()
        return [row[0] for row in rows]

    def final_fields(self, round_id: int, paths: Sequence[str]) -> dict[int, tuple]:
        """Some fields of the final results of ``round_id``'s entries, by submission id, as SQLite's
        ``json_extract`` reads ``paths`` (e.g. ``$.metrics.ood_accuracy.value``; None where absent):
        a table needs a few numbers, not every entry's whole results."""
        columns = ", ".join("json_extract(f.results, ?)" for _ in paths)
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT f.submission_id, {columns} FROM round_finals AS f"
                " JOIN round_entries AS e ON e.submission_id = f.submission_id WHERE e.round_id = ?",
                (*paths, round_id),
            ).fetchall()
        return {row[0]: tuple(row[1:]) for row in rows}

    def final_results(self, submission_id: int) -> dict | None:
        """The final-part results of a closed round's entry, or None (not a round's entry, or its round is open)."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT results FROM round_finals WHERE submission_id = ?", (parse_submission_id(submission_id),)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def close_round(
        self, round_id: int, secret: str, finals: Sequence[tuple[int, dict]], *, now: datetime | None = None
    ) -> None:
        """Close ``round_id`` in one transaction: reveal ``secret`` and store each entry's final results."""
        secret, stamp = _text("secret", secret, limit=None), _timestamp(now)
        with self._transaction() as conn:
            row = conn.execute("SELECT closed FROM rounds WHERE id = ?", (round_id,)).fetchone()
            if row is None or row[0] is not None:
                raise ElsewhereError(f"round {round_id} is not open; see the rounds with elsewhere round status")
            conn.execute("UPDATE rounds SET closed = ?, secret = ? WHERE id = ?", (stamp, secret, round_id))
            for entry_id, results in finals:
                conn.execute(
                    "INSERT INTO round_finals (submission_id, ood_accuracy, results) VALUES (?, ?, ?)",
                    (entry_id, _metric(_results(results), "ood_accuracy", "value"), _json_text("results", results)),
                )

    def finals(self, round_id: int) -> dict[int, dict]:
        """The final results of a closed round's entries, by submission id (empty while it is open)."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT f.submission_id, f.results FROM round_finals AS f"
                " JOIN round_entries AS e ON e.submission_id = f.submission_id WHERE e.round_id = ?",
                (round_id,),
            ).fetchall()
        return {row[0]: json.loads(row[1]) for row in rows}

    def _set_status(self, submission_id: int, action: str, status: str, reason: str, now: datetime | None) -> None:
        submission_id = parse_submission_id(submission_id)
        reason = _text("reason", reason, limit=None)
        stamp = _timestamp(now)
        with self._transaction() as conn:
            row = conn.execute("SELECT status FROM submissions WHERE id = ?", (submission_id,)).fetchone()
            if row is None:
                raise ElsewhereError(
                    f"no submission with id {submission_id!r} in {str(self.path)!r}; see the leaderboard table for ids"
                )
            if row[0] == status:
                raise ElsewhereError(f"submission {submission_id} is already {status}; nothing to {action}")
            conn.execute("UPDATE submissions SET status = ?, updated = ? WHERE id = ?", (status, stamp, submission_id))
            conn.execute(
                "INSERT INTO events (submission_id, action, reason, created) VALUES (?, ?, ?, ?)",
                (submission_id, action, reason, stamp),
            )

    def _is_duplicate(self, protocol: str, variant: str, fingerprint: str, sha256: str) -> bool:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT 1 FROM submissions WHERE protocol = ? AND variant = ? AND fingerprint = ?"
                " AND predictions_sha256 = ?",
                (protocol, variant, fingerprint, sha256),
            ).fetchone()
        return row is not None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if self._closed:
            raise ElsewhereError(f"store {str(self.path)!r} is closed; open a new Store")
        try:
            # isolation_level=None: transactions are spelled out (BEGIN IMMEDIATE ... COMMIT).
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.OperationalError as exc:
            raise OSError(f"cannot open store {str(self.path)!r}: {exc}") from None
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            # FULL: an acknowledged submission survives power loss, not only a crash.
            conn.execute("PRAGMA synchronous = FULL")
            yield conn
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            if "not a database" in str(exc):
                raise ElsewhereError(
                    f"{str(self.path)!r} is not an elsewhere leaderboard store ({exc}); use another store file"
                ) from None
            if "malformed" in str(exc) or "corrupt" in str(exc):
                raise ElsewhereError(
                    f"store {str(self.path)!r} is damaged ({exc}); restore it from a backup or use another store file"
                ) from None
            if "readonly" in str(exc) or "read-only" in str(exc) or "unable to open" in str(exc):
                raise OSError(
                    f"store {str(self.path)!r} cannot be written ({exc}); the store and its folder must be writable"
                ) from None
            if "locked" in str(exc) or "busy" in str(exc):
                raise OSError(
                    f"store {str(self.path)!r} stayed busy for {BUSY_TIMEOUT_S:g} s ({exc}); try again"
                ) from None
            raise
        finally:
            conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            # IMMEDIATE takes the write lock up front, so the checks and the insert see one state.
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Apply the pending ``MIGRATIONS``, each in its own write transaction."""
    latest = len(MIGRATIONS)
    while True:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > latest:
            raise ElsewhereError(
                f"store {str(path)!r} has schema version {version}, newer than this elsewhere knows ({latest}); "
                "upgrade elsewhere to open it"
            )
        if version == latest:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            if conn.execute("PRAGMA user_version").fetchone()[0] == version:
                if version == 0 and conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]:
                    raise ElsewhereError(
                        f"{str(path)!r} is a SQLite database of something else (it has tables but no store schema); "
                        "use a new store file"
                    )
                for statement in _statements(MIGRATIONS[version]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, one at a time (``executescript`` would commit early)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending.strip()
            pending = ""
    if pending.strip():
        raise ElsewhereError(f"migration script ends in an incomplete statement: {pending.strip()[:60]!r}")


def _recent(conn: sqlite3.Connection, identity: str, created: str) -> tuple[int, str | None]:
    """How many submissions ``identity`` made in the 24 hours before ``created``, and the oldest's time."""
    since = _format(datetime.fromisoformat(created) - RATE_WINDOW)
    return conn.execute(
        "SELECT count(*), min(created) FROM submissions WHERE identity = ? AND created > ?", (identity, since)
    ).fetchone()


def _check_rate(conn: sqlite3.Connection, identity: str, created: str, limit: int) -> None:
    count, oldest = _recent(conn, identity, created)
    if count >= limit:
        resets = _format(datetime.fromisoformat(oldest) + RATE_WINDOW)
        # The identity may be a client address: it is not echoed back.
        raise RateLimited(
            f"you have made {count} submissions in the last 24 hours, the limit is {limit} (whatever name "
            f"you submit under); the next one is allowed after {resets}"
        )


def _check_open(conn: sqlite3.Connection, round_id: int) -> None:
    row = conn.execute("SELECT closed FROM rounds WHERE id = ?", (round_id,)).fetchone()
    if row is None or row[0] is not None:
        raise ElsewhereError(
            f"evaluation round {round_id} is not open (it closed while this submission was scored); "
            "submit again to the round that is open now"
        )


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """``rows`` as a DataFrame with the dtypes of ``TABLE_COLUMNS``, built column by column."""
    columns = list(zip(*rows)) if rows else [()] * len(TABLE_COLUMNS)
    return pd.DataFrame(
        {
            # numpy turns None into NaN for floats; nullable Int64 and str keep missing values missing.
            name: pd.array(values, dtype=dtype) if dtype in ("Int64", "str") else np.array(values, dtype=dtype)
            for (name, dtype), values in zip(TABLE_COLUMNS.items(), columns)
        }
    )


def _submission(row: tuple) -> Submission:
    (
        id_,
        submitter,
        model_name,
        model,
        protocol,
        version,
        variant,
        fingerprint,
        sha,
        results,
        status,
        created,
        updated,
    ) = row
    return Submission(
        id=id_,
        submitter=submitter,
        model_name=model_name,
        model=json.loads(model),
        protocol=protocol,
        protocol_version=version,
        variant=variant,
        fingerprint=fingerprint,
        predictions_sha256=sha,
        results=json.loads(results),
        status=status,
        created=created,
        updated=updated,
    )


def _metric(results: dict, metric: str, field: str) -> Any:
    metrics = results.get("metrics")
    entry = metrics.get(metric) if isinstance(metrics, dict) else None
    return entry.get(field) if isinstance(entry, dict) else None


def _text(name: str, value: object, limit: int | None = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ElsewhereError(f"{name} must be a non-empty string, got {value!r:.80}")
    value = clean_text(name, value.strip())
    if limit is not None and len(value) > limit:
        raise ElsewhereError(f"{name} is {len(value)} characters long; at most {limit} are allowed")
    return value


def clean_text(name: str, value: str, allowed: str = "") -> str:
    """``value`` in Unicode NFC; refuses controls, bidi and zero-width characters (``REFUSED_CATEGORIES``).

    ``allowed`` lists characters let through anyway (e.g. a line break in notes).
    """
    value = unicodedata.normalize("NFC", value)
    for position, char in enumerate(value):
        if char not in allowed and unicodedata.category(char) in REFUSED_CATEGORIES:
            raise ElsewhereError(
                f"{name} holds the invisible or control character U+{ord(char):04X} at position {position}; "
                "use visible characters only"
            )
    return value


def parse_submission_id(value: object) -> int:
    """``value`` as a submission id (a whole number 1..2**63-1, or its decimal text); else one line."""
    if isinstance(value, str) and value.strip().isdecimal() and len(value.strip()) <= len(str(MAX_ID)):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise ElsewhereError(
            f"submission id {value!r:.40} is not valid; give a whole number from the table's id column"
        )
    return value


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ElsewhereError(f"{name} must be a whole number of at least 1, got {value!r}")
    return value


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ElsewhereError(f"{name} must be a whole number of at least 0, got {value!r}")
    return value


def _variant(value: object) -> str:
    if value not in VARIANTS:
        raise ElsewhereError(f"variant {value!r} is unknown; use one of {', '.join(VARIANTS)}")
    return value


def _sha256(value: object, name: str = "predictions_sha256") -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value.lower()):
        raise ElsewhereError(f"{name} must be 64 hexadecimal digits, got {value!r:.80}")
    return value.lower()


def _model_metadata(model: object) -> dict:
    """``model`` with the standard keys filled in and their types checked."""
    if not isinstance(model, dict):
        raise ElsewhereError(
            f"model must be a dict of metadata ({', '.join(MODEL_DEFAULTS)}), got {type(model).__name__}"
        )
    merged = {**MODEL_DEFAULTS, **model}
    params = merged["parameters"]
    if params is not None and (isinstance(params, bool) or not isinstance(params, int) or params < 0):
        raise ElsewhereError(f"model parameters must be a whole number of at least 0 or None, got {params!r}")
    if not isinstance(merged["verified"], bool):
        raise ElsewhereError(f"model verified must be True or False, got {merged['verified']!r}")
    merged["family"] = _text("model family", merged["family"], limit=50)
    if merged["link"] is not None and not isinstance(merged["link"], str):
        raise ElsewhereError(f"model link must be a string or None, got {merged['link']!r}")
    if not isinstance(merged["training_data"], str):
        raise ElsewhereError(f"model training_data must be a string note, got {merged['training_data']!r}")
    return merged


def _results(results: object) -> dict:
    if not isinstance(results, dict):
        raise ElsewhereError(f"results must be the results JSON as a dict, got {type(results).__name__}")
    value = _metric(results, "ood_accuracy", "value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ElsewhereError(
            f"results need metrics.ood_accuracy.value, a number in [0, 1], to be ranked; got {value!r}"
        )
    return results


def _json_text(name: str, document: dict) -> str:
    try:
        # NaN is not JSON: SQLite's json functions would reject the whole document.
        return json.dumps(document, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ElsewhereError(
            f"{name} is not storable as JSON ({exc}); use plain numbers, strings, lists, dicts and null for NaN"
        ) from None


def _timestamp(now: datetime | None) -> str:
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ElsewhereError(
            f"now must be timezone-aware, got naive {now.isoformat()}; pass e.g. datetime.now(timezone.utc)"
        )
    return _format(now)


def _format(moment: datetime) -> str:
    # One fixed-width format, so that timestamps order correctly as text in SQL.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
