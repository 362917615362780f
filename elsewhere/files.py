"""Atomic file writes: a file (or a folder) appears complete under its name, or not at all.

Every stage writes files that others read (shards, results, predictions, weights, figures), and an
interrupted write must never leave a truncated file under the final name, nor destroy the file it
was replacing. :func:`atomic_path` gives the writer a temporary path in the same folder (so the
rename stays on one file system), then flushes it to disk and renames it over the target with
``os.replace``, which is atomic on POSIX and Windows; on any error the temporary file is removed
and the old file is left as it was. Temporary names carry the writer's process id, so what a killed
writer left behind (SIGKILL cannot be cleaned up after) is recognised and removed by
:func:`remove_stale`. :func:`atomic_folder` does the same for a folder of files (a
dataset, a training run). Like :mod:`elsewhere.errors`, this module imports nothing of ours, so
every stage may use it without breaking the rule that imports point one way.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it becomes ``path``, on error it vanishes.

    The writer creates the temporary file any way it likes (a library that takes a path,
    ``open(..., "wb")``); the folder of ``path`` must exist. The file is fsynced before the
    rename, and the folder after it, so a crash leaves either the old file or the new one. With
    ``replace=False`` an existing ``path`` is never replaced, even one that appeared during the
    write: the file is hard-linked into place, and ``FileExistsError`` is raised if that name is taken.
    """
    path = Path(path)
    # A fresh name, created by the writer with the usual permissions (mkstemp's would be 0600).
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}-{secrets.token_hex(8)}")
    try:
        yield temporary
        _fsync(temporary)
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
            temporary.unlink()
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


@contextmanager
def atomic_folder(path: str | Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield a new empty folder beside ``path`` to fill; on success it becomes ``path``, on error it vanishes.

    The staging folder is named after this process (``.NAME.partial-PID``), so that staging folders
    left by killed runs are recognised, and removed on entry (:func:`remove_stale`), by the next run
    for the same ``path``. With ``replace=True`` a folder already at ``path`` is renamed aside, the new one
    renamed in and the old one removed (if the second rename fails, the old folder is put back);
    with ``replace=False`` one already there (finished meanwhile by another process) is kept and
    the new one discarded.

    A symbolic link at ``path`` is followed: the folder it names is the one replaced (a dataset
    linked from a larger disk stays there). A file at ``path`` is refused before anything is made.

    Raises:
        OSError: if ``path`` is a file or a symbolic link loop, the staging folder cannot be
            created, or a rename fails.
    """
    try:
        path = Path(path).resolve()
    except RuntimeError as error:  # a symbolic link loop (Python 3.11; 3.13 raises OSError)
        raise OSError(errno.ELOOP, str(error), str(path)) from None
    with suppress(FileNotFoundError):  # one stat: another run may swap the folder between two checks
        if not stat.S_ISDIR(path.stat().st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "a file is there, not a folder", str(path))
    parent = path.parent
    remove_stale(path)
    staging = parent / f".{path.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
        if not path.exists():
            try:
                os.replace(staging, path)
            except OSError:
                if replace or not path.exists():
                    raise
                shutil.rmtree(staging)  # another process finished it between the check and the rename
        elif not replace:
            shutil.rmtree(staging)
        else:
            retired = parent / f".{path.name}.replaced-{os.getpid()}"
            os.replace(path, retired)
            try:
                os.replace(staging, path)
            except BaseException:
                os.replace(retired, path)
                raise
            shutil.rmtree(retired)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_folder(parent)


def remove_stale(path: str | Path) -> None:
    """Remove the temporary files and staging folders for ``path`` of writers whose process is gone.

    A run killed between its two folder renames left the old folder aside and none at ``path``:
    that folder is put back, not removed. It lists the folder of ``path``, so a writer of many
    files in one folder calls it once, not per file.
    """
    path = Path(path)
    parent, name = path.parent, path.name
    if not parent.is_dir():
        return
    for entry in sorted(parent.iterdir()):
        for prefix in (f".{name}.partial-", f".{name}.replaced-"):
            pid = entry.name.removeprefix(prefix).split("-")[0]  # folders: PID; files: PID-RANDOM
            if entry.name.startswith(prefix) and pid.isdecimal() and int(pid) != os.getpid() and not _alive(int(pid)):
                if entry.is_symlink() or not entry.is_dir():
                    with suppress(OSError):
                        entry.unlink()
                elif prefix.endswith(".replaced-") and not os.path.lexists(path):
                    with suppress(OSError):  # another run put it back first
                        os.replace(entry, path)
                else:
                    shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically (see :func:`atomic_path`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def _fsync(path: Path) -> None:
    with open(path, "rb") as file:
        os.fsync(file.fileno())


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; folders cannot be opened this way on Windows.
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
