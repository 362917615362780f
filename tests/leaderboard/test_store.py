"""The leaderboard store against real SQLite files: round trips, migrations, concurrency, crashes."""

from __future__ import annotations

import hashlib
import inspect
import math
import multiprocessing
import os
import re
import signal
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import elsewhere.leaderboard.store as store_module
from elsewhere.leaderboard import settings
from elsewhere.leaderboard.store import MIGRATIONS, TABLE_COLUMNS, DuplicateSubmission, RateLimited, Store

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
FORK = multiprocessing.get_context("fork")


def wilson(correct: int, n: int) -> list[float]:
    """95% Wilson interval, computed here independently of any project code."""
    z = 1.959963984540054
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [centre - half, centre + half]


def make_results(ood_correct: int, id_correct: int, n: int = 1000, classes: int = 10) -> dict:
    """A results-like dict as the evaluation harness writes it (metrics, maps, provenance)."""
    ood, id_ = ood_correct / n, id_correct / n
    chance = 1 / classes
    return {
        "schema_version": 1,
        "protocol": {"name": "location-halves", "version": 1},
        "dataset": {"fingerprint": "f" * 64},
        "model": {"name": "cnn", "parameters": 12345},
        "metrics": {
            "ood_accuracy": {"value": ood, "ci": wilson(ood_correct, n), "n": n},
            "id_accuracy": {"value": id_, "ci": wilson(id_correct, n), "n": n},
            "gap": {"value": id_ - ood, "ci": [id_ - ood - 0.05, id_ - ood + 0.05], "n": n},
            "normalised_gap": {"value": (id_ - ood) / (id_ - chance), "ci": None, "n": n},
        },
        "maps": {"location": {"grid": 4, "accuracy": [ood] * 16, "n": [n // 16] * 16}},
        "versions": {"elsewhere": "0.1.0", "numpy": np.__version__},
        "device": "cpu",
    }


def sha(key: object) -> str:
    return hashlib.sha256(f"predictions {key}".encode()).hexdigest()


def submit(store: Store, key: object, **fields) -> store_module.Submission:
    """Add one submission whose every field derives from ``key`` unless overridden."""
    values = {
        "submitter": f"user-{key}",
        "model_name": f"model-{key}",
        "model": {"family": "cnn", "parameters": 1000, "link": "https://example.org/m", "training_data": "train split"},
        "protocol": "location-halves",
        "protocol_version": 1,
        "variant": "public",
        "fingerprint": "f" * 64,
        "predictions_sha256": sha(key),
        "results": make_results(600, 900),
    }
    values.update(fields)
    values.setdefault("identity", f"ip:{values['submitter']}")
    return store.add(**values)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "folder" / "leaderboard.sqlite"


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_round_trip_add_get_list_table(db: Path) -> None:
    specs = [
        # key, ood correct, id correct, family, parameters, verified, protocol
        ("a", 550, 950, "cnn", 50_000, False, "location-halves"),
        ("b", 820, 930, "resnet", 2_000_000, True, "location-halves"),
        ("c", 700, 990, "mlp", None, False, "location-halves"),
        ("d", 900, 910, "cnn", 80_000, False, "rotation-extrapolation"),
    ]
    store = Store(db)
    added = []
    for i, (key, ood, id_, family, params, verified, protocol) in enumerate(specs):
        model = {"family": family, "parameters": params, "verified": verified, "link": f"https://example.org/{key}"}
        added.append(
            submit(
                store,
                key,
                model=model,
                protocol=protocol,
                results=make_results(ood, id_),
                now=T0 + timedelta(minutes=i),
            )
        )

    assert db.exists()
    assert [s.id for s in added] == sorted({s.id for s in added})
    first = store.get(added[0].id)
    assert first == added[0]
    assert first.submitter == "user-a" and first.model_name == "model-a"
    assert first.model == {
        "family": "cnn",
        "parameters": 50_000,
        "verified": False,
        "link": "https://example.org/a",
        "training_data": "",
    }
    assert first.results == make_results(550, 950)
    assert first.ood_accuracy == 0.55 and first.ood_ci == tuple(wilson(550, 1000))
    assert first.id_accuracy == 0.95 and first.gap == pytest.approx(0.4)
    assert first.created == "2025-03-01T12:00:00.000000Z" == first.updated
    assert first.status == "scored" and first.predictions_sha256 == sha("a")

    assert [s.model_name for s in store.list()] == ["model-a", "model-b", "model-c", "model-d"]
    assert [s.model_name for s in store.list(protocol="location-halves")] == ["model-a", "model-b", "model-c"]
    assert store.list(variant="private") == []

    table = store.table(protocol="location-halves")
    assert list(table.columns) == list(TABLE_COLUMNS)
    halves = [s for s in specs if s[6] == "location-halves"]
    expected_order = [s[0] for s in sorted(halves, key=lambda s: -s[1])]
    assert list(table["model_name"]) == [f"model-{k}" for k in expected_order]
    row = table.set_index("model_name").loc["model-b"]
    assert row["ood_accuracy"] == 0.82 and row["id_accuracy"] == 0.93
    assert [row["ood_ci_lo"], row["ood_ci_hi"]] == wilson(820, 1000)
    assert [row["id_ci_lo"], row["id_ci_hi"]] == wilson(930, 1000)
    assert row["gap"] == pytest.approx(0.11) and row["normalised_gap"] == pytest.approx(0.11 / (0.93 - 0.1))
    assert row["ood_n"] == 1000 and row["family"] == "resnet" and row["parameters"] == 2_000_000
    assert bool(row["verified"]) is True and row["link"] == "https://example.org/b"
    assert table["parameters"].dtype == "Int64" and table["verified"].dtype == bool
    assert pd.isna(table.set_index("model_name").loc["model-c", "parameters"])

    assert len(store.table()) == 4
    assert list(store.table(families=["cnn"])["model_name"]) == ["model-d", "model-a"]
    assert list(
        store.table(
            protocol="location-halves", families=["cnn", "resnet"], min_parameters=10_000, max_parameters=100_000
        )["model_name"]
    ) == ["model-a"]
    assert list(store.table(min_parameters=0)["model_name"]) == ["model-d", "model-b", "model-a"]
    assert list(store.table(verified=True)["model_name"]) == ["model-b"]
    assert list(store.table(search="MODEL-C")["model_name"]) == ["model-c"]
    assert store.table(families=[]).empty and store.table(variant="private").empty
    assert store.table(families=[]).dtypes.equals(table.dtypes)
    with pytest.raises(ValueError, match="min_parameters"):
        store.table(min_parameters=10, max_parameters=5)


def test_ties_in_accuracy_go_to_the_earlier_submission(db: Path) -> None:
    store = Store(db)
    submit(store, "late", results=make_results(700, 900), now=T0 + timedelta(hours=1))
    submit(store, "early", results=make_results(700, 900), now=T0)
    assert list(store.table()["model_name"]) == ["model-early", "model-late"]


def test_wal_mode_and_schema_version(db: Path) -> None:
    Store(db)
    conn = raw(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 2
    conn.close()


def test_old_version_file_gets_pending_migrations(db: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = raw(db)
    conn.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
    conn.execute(
        "INSERT INTO submissions (submitter, model_name, family, parameters, verified, protocol, protocol_version, variant,"
        " fingerprint, predictions_sha256, ood_accuracy, created, updated)"
        " VALUES ('old', 'old-model', 'mlp', 10, 0, 'location-halves', 1, 'public', 'fp', ?, 0.25,"
        " '2024-01-01T00:00:00.000000Z', '2024-01-01T00:00:00.000000Z')",
        (sha("old"),),
    )
    conn.execute(
        'INSERT INTO documents VALUES (1, \'{"family": "mlp"}\', \'{"metrics": {"ood_accuracy": {"value": 0.25}}}\')'
    )
    assert conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'events'").fetchone()[0] == 0
    conn.close()

    store = Store(db)
    conn = raw(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'events'").fetchone()[0] == 1
    conn.close()
    old = store.get(1)
    assert (old.model_name, old.ood_accuracy) == ("old-model", 0.25)
    store.hide(1, "superseded")
    assert store.list() == [] and [e["action"] for e in store.events(1)] == ["hide"]
    assert submit(store, "new").id == 2
    # Rows from before identities count against the identity of their typed name.
    assert store.used("name:old", now=datetime(2024, 1, 1, 12, tzinfo=UTC)) == 1


def test_ids_from_api_calls_are_validated(db: Path) -> None:
    store = Store(db)
    entry = submit(store, "a")
    assert store.get(str(entry.id)).id == entry.id
    for bad in (2**64, -1, 0, "1e9", "9" * 400, "../1", 1.5, True, None):
        with pytest.raises(ValueError, match="not valid") as info:
            store.get(bad)
        assert "\n" not in str(info.value) and len(str(info.value)) < 200
    with pytest.raises(ValueError, match="not valid"):
        store.hide(2**70, "x")
    with pytest.raises(ValueError, match="no submission with id 99"):
        store.get(99)


def test_one_round_open_at_a_time_and_closed_once(db: Path) -> None:
    store = Store(db)
    first = store.open_round("a" * 64, {"protocols": {}}, now=T0)
    with pytest.raises(ValueError, match="still open"):
        store.open_round("b" * 64, {"protocols": {}}, now=T0)
    store.close_round(first, "the secret", [], now=T0 + timedelta(days=1))
    with pytest.raises(ValueError, match="not open"):
        store.close_round(first, "another", [], now=T0 + timedelta(days=2))
    with pytest.raises(ValueError, match="already used"):
        store.open_round("a" * 64, {"protocols": {}}, now=T0)
    second = store.open_round("b" * 64, {"protocols": {}}, now=T0 + timedelta(days=3))
    assert [r["id"] for r in store.rounds()] == [first, second]
    assert store.rounds()[0]["secret"] == "the secret" and store.rounds()[1]["secret"] is None
    conn = raw(db)
    for statement in ("UPDATE rounds SET secret = 'rewritten' WHERE id = 1", "DELETE FROM rounds"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(statement)
    conn.close()


def test_operator_key_is_claimed_once(db: Path) -> None:
    store = Store(db)
    store.check_operator("k3y-of-the-0perator")
    store.check_operator("k3y-of-the-0perator")
    with pytest.raises(ValueError, match="does not match"):
        store.check_operator("a guessed operator key")
    # Only the key's SHA-256 is kept.
    stored = b"".join(path.read_bytes() for path in db.parent.iterdir() if path.name.startswith(db.name))
    assert b"k3y-of-the-0perator" not in stored


def test_newer_schema_version_is_refused(db: Path) -> None:
    Store(db)
    conn = raw(db)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(ValueError, match=f"schema version {len(MIGRATIONS) + 1}, newer") as info:
        Store(db)
    assert "\n" not in str(info.value)


def test_files_that_are_not_stores_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="not an elsewhere leaderboard store"):
        Store(junk)
    other = tmp_path / "other.sqlite"
    conn = raw(other)
    conn.execute("CREATE TABLE unrelated (x)")
    conn.close()
    with pytest.raises(ValueError, match="something else"):
        Store(other)
    with pytest.raises(ValueError, match="folder"):
        Store(tmp_path)


def _add_one(path: str, key: int, start: threading.Event | multiprocessing.synchronize.Event) -> None:
    store = Store(path)
    start.wait(10)
    # With a rate limit the transaction reads before it writes: the case that needs BEGIN IMMEDIATE.
    submit(store, key, rate_limit_per_day=5)


def test_twenty_concurrent_threads_all_persist(db: Path) -> None:
    store = Store(db)
    start = threading.Event()
    errors: list[BaseException] = []

    def work(key: int) -> None:
        try:
            _add_one(str(db), key, start)
        except BaseException as exc:  # collected so the main thread can fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join(30)
    assert errors == []
    stored = store.list()
    assert len(stored) == 20 and len({s.id for s in stored}) == 20
    assert {s.predictions_sha256 for s in stored} == {sha(k) for k in range(20)}


def test_twenty_concurrent_processes_all_persist(db: Path) -> None:
    store = Store(db)
    start = FORK.Event()
    processes = [FORK.Process(target=_add_one, args=(str(db), k, start)) for k in range(20)]
    for p in processes:
        p.start()
    start.set()
    for p in processes:
        p.join(30)
    assert [p.exitcode for p in processes] == [0] * 20
    stored = store.list()
    assert len(stored) == 20 and len({s.id for s in stored}) == 20
    assert {s.submitter for s in stored} == {f"user-{k}" for k in range(20)}
    conn = raw(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_duplicate_predictions_are_refused(db: Path) -> None:
    store = Store(db)
    first = submit(store, "x")
    with pytest.raises(DuplicateSubmission, match="already stored for location-halves") as info:
        submit(store, "y", predictions_sha256=sha("x"))
    assert "\n" not in str(info.value)
    # The same predictions are fine for another protocol, the private variant or other data.
    submit(store, "y", predictions_sha256=sha("x"), protocol="location-quadrant")
    submit(store, "z", predictions_sha256=sha("x"), variant="private")
    submit(store, "v", predictions_sha256=sha("x"), fingerprint="e" * 64)
    store.hide(first.id, "secret plan")
    with pytest.raises(DuplicateSubmission) as info:
        submit(store, "w", predictions_sha256=sha("x").upper())
    # The attack: a refusal must not reveal which (hidden) entry holds the predictions.
    message = str(info.value)
    assert str(first.id) not in message.split("sha256")[0] and "model-x" not in message and "user-x" not in message
    assert "hidden" not in message
    assert len(store.list(variant=None, include_hidden=True)) == 4


def test_racing_duplicates_exactly_one_wins(db: Path) -> None:
    store = Store(db)
    barrier = threading.Barrier(10)
    outcomes: list[str] = []

    def work(key: int) -> None:
        barrier.wait()
        try:
            submit(store, key, predictions_sha256=sha("same"))
            outcomes.append("stored")
        except DuplicateSubmission:
            outcomes.append("duplicate")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["duplicate"] * 9 + ["stored"]
    assert len(store.list()) == 1


def test_rate_limit_per_day(db: Path) -> None:
    store = Store(db)
    for hour in range(3):
        submit(store, f"r{hour}", submitter="alice", rate_limit_per_day=3, now=T0 + timedelta(hours=hour))
    with pytest.raises(RateLimited, match="limit is 3") as info:
        submit(store, "r3", submitter="alice", rate_limit_per_day=3, now=T0 + timedelta(hours=3))
    reset = (T0 + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert reset in str(info.value) and "\n" not in str(info.value)
    submit(store, "bob", submitter="bob", rate_limit_per_day=3, now=T0 + timedelta(hours=3))
    with pytest.raises(RateLimited):
        submit(
            store, "r3", submitter="alice", rate_limit_per_day=3, now=T0 + timedelta(hours=24) - timedelta(seconds=1)
        )
    submit(store, "r3", submitter="alice", rate_limit_per_day=3, now=T0 + timedelta(hours=24))
    assert len(store.list()) == 5
    submit(store, "r4", submitter="alice", rate_limit_per_day=None, now=T0 + timedelta(hours=24, minutes=1))
    # A limit keyed on a typed name alone would be dodged by renaming: a limited add needs an identity.
    with pytest.raises(ValueError, match="needs the identity"):
        submit(store, "r5", submitter="alice", identity=None, rate_limit_per_day=3)


def _add_then_die(path: str, marker: str) -> None:
    def die(new_id: int) -> None:
        Path(marker).write_text(str(new_id))
        os.kill(os.getpid(), signal.SIGKILL)

    submit(Store(path), "doomed", _before_commit=die)


def test_crash_mid_submission_leaves_no_partial_row(db: Path, tmp_path: Path) -> None:
    store = Store(db)
    kept = submit(store, "kept")
    marker = tmp_path / "reached-commit"
    child = FORK.Process(target=_add_then_die, args=(str(db), str(marker)))
    child.start()
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    doomed_id = int(marker.read_text())  # the rows were written inside the transaction

    reopened = Store(db)
    assert [s.id for s in reopened.list(include_hidden=True, variant=None)] == [kept.id]
    with pytest.raises(ValueError, match=f"no submission with id {doomed_id}"):
        reopened.get(doomed_id)
    conn = raw(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 1
    conn.close()
    # The killed writer's lock is gone: the same predictions can now be stored.
    assert submit(reopened, "doomed").predictions_sha256 == sha("doomed")


def test_error_before_commit_rolls_back(db: Path) -> None:
    store = Store(db)

    def fail(new_id: int) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        submit(store, "k", _before_commit=fail)
    assert store.list(include_hidden=True) == []
    submit(store, "k")


def test_restart_keeps_everything(db: Path) -> None:
    with Store(db) as store:
        added = [submit(store, k, now=T0 + timedelta(seconds=k)) for k in range(5)]
        store.hide(added[1].id, "broken link")
        before_table = store.table()
    with pytest.raises(ValueError, match="closed"):
        store.list()
    reopened = Store(db)
    assert reopened.list(include_hidden=True) == [reopened.get(s.id) for s in added]
    assert [s.status for s in reopened.list(include_hidden=True)] == ["scored", "hidden", "scored", "scored", "scored"]
    pd.testing.assert_frame_equal(reopened.table(), before_table)
    assert len(reopened.events()) == 1


def test_hide_and_restore_are_audited(db: Path) -> None:
    store = Store(db)
    keep, gone = submit(store, "keep"), submit(store, "gone")
    store.hide(gone.id, "labels leaked", now=T0)
    assert [s.id for s in store.list()] == [keep.id]
    assert list(store.table()["id"]) == [keep.id]
    hidden = store.get(gone.id)
    assert hidden.status == "hidden" and hidden.hidden and hidden.updated == "2025-03-01T12:00:00.000000Z"
    assert hidden.results == gone.results and hidden.created == gone.created
    assert [s.id for s in store.list(include_hidden=True)] == [keep.id, gone.id]
    assert store.events() == [
        {
            "id": 1,
            "submission_id": gone.id,
            "action": "hide",
            "reason": "labels leaked",
            "created": "2025-03-01T12:00:00.000000Z",
        }
    ]
    with pytest.raises(ValueError, match="already hidden"):
        store.hide(gone.id, "again")
    with pytest.raises(ValueError, match="no submission with id 99"):
        store.hide(99, "nothing")
    with pytest.raises(ValueError, match="no submission with id 99"):
        store.get(99)
    with pytest.raises(ValueError, match="reason"):
        store.hide(keep.id, "  ")
    store.restore(gone.id, "false alarm")
    assert [s.id for s in store.list()] == [keep.id, gone.id]
    assert [(e["action"], e["reason"]) for e in store.events(gone.id)] == [
        ("hide", "labels leaked"),
        ("restore", "false alarm"),
    ]


def test_append_only_is_enforced(db: Path) -> None:
    source = inspect.getsource(store_module)
    assert re.search(r"\bDELETE\s+FROM\b", source, re.IGNORECASE) is None
    # Besides the migration that fills the new identity column, the only updates are a status change
    # and closing a round (which the rounds_frozen trigger allows once).
    assert re.findall(r"UPDATE\s+\w+\s+SET\s+[\w\s=?,]+", source) == [
        "UPDATE submissions SET identity = ",
        "UPDATE rounds SET closed = ?, secret = ? WHERE id = ?",
        "UPDATE submissions SET status = ?, updated = ? WHERE id = ?",
    ]
    store = Store(db)
    entry = submit(store, "a")
    store.hide(entry.id, "r")
    conn = raw(db)
    for statement in (
        "DELETE FROM submissions",
        "DELETE FROM documents",
        "DELETE FROM events",
        "UPDATE submissions SET ood_accuracy = 1.0",
        "UPDATE submissions SET submitter = 'mallory'",
        "UPDATE documents SET results = '{}'",
        "UPDATE events SET reason = 'x'",
        "UPDATE submissions SET identity = 'someone else'",
    ):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(statement)
    conn.close()
    assert store.get(entry.id).ood_accuracy == entry.ood_accuracy


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("predictions_sha256", "abc", "64 hexadecimal"),
        ("variant", "secret", "variant 'secret' is unknown"),
        ("protocol_version", 0, "protocol_version"),
        ("submitter", "   ", "submitter must be a non-empty"),
        ("submitter", "ali\x00ce", "U\\+0000"),
        ("submitter", "alice\u202e", "U\\+202E"),
        ("model_name", "mo\u200bdel", "U\\+200B"),
        ("identity", "", "identity must be a non-empty"),
        ("model_name", "x" * 201, "at most 200"),
        ("model", {"parameters": -1}, "parameters"),
        ("model", {"verified": "yes"}, "verified"),
        ("results", {"metrics": {}}, "metrics.ood_accuracy.value"),
        ("results", {"metrics": [0.5]}, "metrics.ood_accuracy.value"),
        ("results", {"metrics": {"ood_accuracy": {"value": 1.5}}}, "in \\[0, 1\\]"),
        ("results", {"metrics": {"ood_accuracy": {"value": 0.5}, "gap": {"value": float("nan")}}}, "NaN|null"),
        ("results", {"metrics": {"ood_accuracy": {"value": 0.5, "n": 10.5}}}, "refused by the store"),
        ("now", datetime(2025, 1, 1), "timezone-aware"),
    ],
)
def test_malformed_fields_are_one_line_errors(db: Path, field: str, value: object, message: str) -> None:
    store = Store(db)
    with pytest.raises(ValueError, match=message) as info:
        submit(store, "bad", **{field: value})
    assert "\n" not in str(info.value)
    assert store.list(include_hidden=True) == []


def test_settings_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ELSEWHERE_DB", "ELSEWHERE_RATE_LIMIT", "ELSEWHERE_MAX_UPLOAD_MB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert settings.database_path() == tmp_path / "cache" / "elsewhere" / "leaderboard.sqlite"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert settings.database_path() == Path.home() / ".cache" / "elsewhere" / "leaderboard.sqlite"
    assert settings.rate_limit_per_day() == 20
    assert settings.max_upload_bytes() == 50 * 1024 * 1024
    monkeypatch.setenv("ELSEWHERE_DB", str(tmp_path / "x.sqlite"))
    monkeypatch.setenv("ELSEWHERE_RATE_LIMIT", "5")
    monkeypatch.setenv("ELSEWHERE_MAX_UPLOAD_MB", "0.5")
    assert settings.database_path() == tmp_path / "x.sqlite"
    assert settings.rate_limit_per_day() == 5
    assert settings.max_upload_bytes() == 512 * 1024


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ELSEWHERE_DB", ""),
        ("ELSEWHERE_RATE_LIMIT", "0"),
        ("ELSEWHERE_RATE_LIMIT", "many"),
        ("ELSEWHERE_MAX_UPLOAD_MB", "-1"),
        ("ELSEWHERE_MAX_UPLOAD_MB", "nan"),
    ],
)
def test_settings_reject_bad_values(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    read = {
        "ELSEWHERE_DB": settings.database_path,
        "ELSEWHERE_RATE_LIMIT": settings.rate_limit_per_day,
        "ELSEWHERE_MAX_UPLOAD_MB": settings.max_upload_bytes,
    }[name]
    with pytest.raises(ValueError, match=name) as info:
        read()
    assert "\n" not in str(info.value)
