"""Attack: damage the leaderboard's SQLite file (truncate it, flip bytes, make it read-only) and use it.

Each damaged store must be refused at open with one line, before a row is read or written, by the
library and by the command line (exit 2, no traceback).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from elsewhere.cli import main
from elsewhere.leaderboard.store import Store

N_ENTRIES = 60


def results(k: int) -> dict:
    return {"metrics": {"ood_accuracy": {"value": (k % 100) / 100, "ci": [0, 1], "n": 100}}, "padding": "x" * 500}


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("store") / "board.sqlite"
    store = Store(path)
    for k in range(N_ENTRIES):
        store.add(
            submitter=f"user {k}",
            identity=f"ip:10.0.0.{k}",
            model_name=f"model {k}",
            model={},
            protocol="location-halves",
            protocol_version=1,
            variant="public",
            fingerprint="f" * 64,
            predictions_sha256=hashlib.sha256(str(k).encode()).hexdigest(),
            results=results(k),
        )
    # Fold the WAL into the main file, so that the file alone is the store.
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def damaged_copy(healthy: Path, folder: Path, damage) -> Path:
    path = folder / "board.sqlite"
    shutil.copyfile(healthy, path)
    data = bytearray(path.read_bytes())
    path.write_bytes(damage(data))
    return path


def truncate(data: bytearray) -> bytes:
    return bytes(data[: len(data) // 2 + 123])


def flip_table_pages(data: bytearray) -> bytes:
    page = int.from_bytes(data[16:18], "big") or 65536
    for start in range(2 * page, len(data) - page, 3 * page):
        data[start + 8 : start + 40] = os.urandom(32)
    return bytes(data)


def header_only(data: bytearray) -> bytes:
    return bytes(data[:100])


def garbage(data: bytearray) -> bytes:
    return os.urandom(len(data))


@pytest.mark.parametrize("damage", [truncate, flip_table_pages, header_only, garbage])
def test_a_damaged_store_is_refused_in_one_line(healthy, tmp_path, capsys, damage):
    path = damaged_copy(healthy, tmp_path, damage)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="damaged|not an elsewhere leaderboard store") as error:
        Store(path)
    assert "\n" not in str(error.value)
    # Nothing was written to it: the damage is left for the operator to inspect and restore.
    assert path.read_bytes() == before
    status = main(["round", "status", "--db", str(path)])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in err and "Traceback" not in err and err


def test_the_healthy_store_opens(healthy):
    assert len(Store(healthy).list()) == N_ENTRIES


def test_a_read_only_store_is_one_line(healthy):
    """Run as a user who may read but not write the store (root ignores file modes, so drop to nobody).

    The folder is made outside pytest's own temporary tree, whose root only its owner may enter.
    """
    folder = Path(tempfile.mkdtemp(prefix="elsewhere-ro-"))
    path = folder / "board.sqlite"
    shutil.copyfile(healthy, path)
    path.chmod(0o444)
    folder.chmod(0o555)
    code = (
        "import os, sys\n"
        "from elsewhere.cli import main\n"
        "import elsewhere.api, elsewhere.leaderboard.rounds, elsewhere.leaderboard.submissions\n"
        # Imported first: the venv may not be readable by nobody.
        "if os.geteuid() == 0: os.setgid(65534); os.setuid(65534)\n"
        f"sys.exit(main(['round', 'status', '--db', {str(path)!r}]))\n"
    )
    try:
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)
    err = run.stderr.strip().splitlines()
    assert run.returncode == 2, run.stderr
    assert len(err) == 1 and "cannot be written" in err[0], run.stderr
