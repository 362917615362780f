"""Atomic writes: the file (or folder) under its name is the old one or the complete new one, never a fragment."""

import builtins
import os
import stat
import subprocess
import sys

import pytest

from elsewhere.files import atomic_folder, atomic_path, remove_stale, write_bytes_atomic, write_text_atomic


class Interrupted(Exception):
    pass


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_writes_and_replaces(tmp_path):
    target = tmp_path / "results.json"
    write_text_atomic(target, "first\n")
    write_text_atomic(target, "second ✓\n")
    assert target.read_text(encoding="utf-8") == "second ✓\n"
    assert _leftovers(tmp_path) == []


def test_an_error_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "shard.parquet"
    write_bytes_atomic(target, b"old and complete")
    with pytest.raises(Interrupted), atomic_path(target) as temporary:
        with open(temporary, "wb") as file:
            file.write(b"new but trunc")
        raise Interrupted
    assert target.read_bytes() == b"old and complete"
    assert _leftovers(tmp_path) == []


def test_an_error_before_the_writer_created_anything_is_clean(tmp_path):
    target = tmp_path / "figure.png"
    with pytest.raises(Interrupted), atomic_path(target):
        raise Interrupted
    assert list(tmp_path.iterdir()) == []


def test_keyboard_interrupt_is_cleaned_up_too(tmp_path):
    target = tmp_path / "weights.safetensors"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temporary:
        temporary.write_bytes(b"partial")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_the_temporary_file_is_in_the_same_folder_and_hidden(tmp_path):
    target = tmp_path / "predictions.csv"
    with atomic_path(target) as temporary:
        assert temporary.parent == tmp_path and temporary.name.startswith(".predictions.csv.")
        assert not temporary.exists() and not target.exists()
        temporary.write_text("id,prediction\n")
    assert target.read_text() == "id,prediction\n"


def test_two_writers_of_one_target_use_different_temporaries(tmp_path):
    target = tmp_path / "a.txt"
    with atomic_path(target) as first, atomic_path(target) as second:
        assert first != second
        first.write_text("1")
        second.write_text("2")
    # The outer write finishes last, so its content wins; both renames succeed.
    assert target.read_text() == "1"
    assert _leftovers(tmp_path) == []


def test_a_missing_folder_is_an_os_error_and_nothing_is_written(tmp_path):
    with pytest.raises(OSError):
        write_text_atomic(tmp_path / "absent" / "x.json", "{}")
    assert list(tmp_path.iterdir()) == []


def test_the_new_file_has_the_usual_permissions_not_private_ones(tmp_path):
    target = tmp_path / "card.md"
    write_text_atomic(target, "# card\n")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_without_replace_an_existing_file_is_never_overwritten(tmp_path):
    target = tmp_path / "labels.parquet"
    with atomic_path(target, replace=False) as temporary:
        temporary.write_bytes(b"first")
    assert target.read_bytes() == b"first"
    with pytest.raises(FileExistsError), atomic_path(target, replace=False) as temporary:
        temporary.write_bytes(b"second")
    assert target.read_bytes() == b"first"
    assert _leftovers(tmp_path) == []


def test_without_replace_a_file_that_appears_during_the_write_wins(tmp_path):
    target = tmp_path / "labels.parquet"
    with pytest.raises(FileExistsError), atomic_path(target, replace=False) as temporary:
        temporary.write_bytes(b"ours")
        target.write_bytes(b"theirs")
    assert target.read_bytes() == b"theirs"
    assert _leftovers(tmp_path) == []


def _fill(folder, text: str) -> None:
    (folder / "sub").mkdir()
    (folder / "sub" / "file.txt").write_text(text)


def _read(folder) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", ["data", "data[1]*?"])
def test_a_folder_appears_whole_and_replaces_the_old_one(tmp_path, name):
    target = tmp_path / name
    with atomic_folder(target) as staging:
        assert staging.parent == tmp_path and staging.name.startswith(".") and not any(staging.iterdir())
        _fill(staging, "first")
        assert not target.exists()
    assert _read(target) == {"sub/file.txt": "first"}
    with atomic_folder(target) as staging:
        _fill(staging, "second")
    assert _read(target) == {"sub/file.txt": "second"}
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [Interrupted, KeyboardInterrupt])
def test_an_error_while_filling_keeps_the_old_folder_and_leaves_no_staging(tmp_path, error):
    target = tmp_path / "runs"
    with atomic_folder(target) as staging:
        _fill(staging, "old")
    with pytest.raises(error), atomic_folder(target) as staging:
        _fill(staging, "half")
        raise error
    assert _read(target) == {"sub/file.txt": "old"}
    assert _leftovers(tmp_path) == []


def test_without_replace_a_folder_already_there_is_kept(tmp_path):
    target = tmp_path / "run"
    with atomic_folder(target, replace=False) as staging:
        _fill(staging, "theirs")
        # Another process finishes the same folder while this one is still writing.
        (target / "sub").mkdir(parents=True)
        (target / "sub" / "file.txt").write_text("first")
    assert _read(target) == {"sub/file.txt": "first"}
    assert _leftovers(tmp_path) == []


def test_staging_left_by_a_killed_process_is_removed_and_a_live_ones_kept(tmp_path, dead_pid):
    stale = [tmp_path / f".data.partial-{dead_pid}", tmp_path / f".data.replaced-{dead_pid}"]
    for folder in stale:
        (folder / "half").mkdir(parents=True)
    alive = tmp_path / f".data.partial-{os.getppid()}"
    alive.mkdir()
    other = tmp_path / f".other.partial-{dead_pid}"  # another target's: not ours to remove
    other.mkdir()
    with atomic_folder(tmp_path / "data") as staging:
        _fill(staging, "new")
    assert not any(folder.exists() for folder in stale)
    assert alive.is_dir() and other.is_dir()


KILLED_MID_WRITE = """
import os, signal, sys
from elsewhere.files import write_text_atomic


def replace(source, destination):
    os.kill(os.getpid(), signal.SIGKILL)  # killed with the file written, before its rename


os.replace = replace
write_text_atomic(sys.argv[1], "new")
"""


def test_a_temporary_file_left_by_a_killed_writer_is_removed_by_remove_stale(tmp_path):
    """SIGKILL cannot be cleaned up after: ``remove_stale``, which a later writer of that name calls,
    removes what the dead one left, and nothing of a live writer or of another name."""
    target = tmp_path / "baselines.json"
    write_text_atomic(target, "old")
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_WRITE, str(target)], capture_output=True)
    assert killed.returncode == -9
    (left,) = _leftovers(tmp_path)
    assert left.startswith(".baselines.json.partial-") and target.read_text() == "old"
    alive = tmp_path / f".baselines.json.partial-{os.getppid()}-0123456789abcdef"  # a live writer's
    other = tmp_path / f".other.json.{left.removeprefix('.baselines.json.')}"  # another target's
    alive.write_text("writing")
    other.write_text("not ours")
    remove_stale(target)
    assert _leftovers(tmp_path) == sorted([alive.name, other.name])
    assert target.read_text() == "old"


def test_an_unwritable_place_is_an_os_error_and_nothing_is_made(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError), atomic_folder(blocker / "data"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_symbolic_link_is_followed_and_the_folder_it_names_replaced(tmp_path):
    """A dataset folder linked from elsewhere (a big disk): the new folder lands where the link points."""
    (tmp_path / "disk").mkdir()
    real, link = tmp_path / "disk" / "data", tmp_path / "data"
    with atomic_folder(real) as staging:
        _fill(staging, "old")
    link.symlink_to(real)
    with atomic_folder(link) as staging:
        _fill(staging, "new")
    assert link.is_symlink() and _read(real) == {"sub/file.txt": "new"}
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "disk") == []


def test_a_symbolic_link_loop_is_an_os_error(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(OSError), atomic_folder(tmp_path / "a"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


@pytest.mark.parametrize("replace", [True, False])
def test_a_file_where_the_folder_goes_is_an_os_error_before_anything_is_written(tmp_path, replace):
    target = tmp_path / "run"
    target.write_text("a file")
    with pytest.raises(NotADirectoryError), atomic_folder(target, replace=replace):
        pytest.fail("the body runs only when the folder can be made")
    assert target.read_text() == "a file" and sorted(p.name for p in tmp_path.iterdir()) == ["run"]


KILLED_MID_SWAP = """
import os, signal, sys
from elsewhere.files import atomic_folder

rename = os.replace


def replace(source, destination):
    # The second rename (the new folder into place) never happens: the process dies first.
    if ".partial-" in str(source):
        os.kill(os.getpid(), signal.SIGKILL)
    rename(source, destination)


os.replace = replace
with atomic_folder(sys.argv[1]) as staging:
    (staging / "new.txt").write_text("new")
"""


def test_a_folder_set_aside_by_a_process_killed_mid_swap_is_put_back(tmp_path):
    """Killed between its two renames, a run leaves the old folder aside and none in place: the next run restores it."""
    target = tmp_path / "data"
    with atomic_folder(target) as staging:
        _fill(staging, "old")
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_SWAP, str(target)], capture_output=True)
    assert killed.returncode == -9 and not target.exists()
    assert [p.split("-")[0] for p in _leftovers(tmp_path)] == [".data.partial", ".data.replaced"]
    with pytest.raises(Interrupted), atomic_folder(target):
        raise Interrupted  # this run fails too: the old folder must still be there afterwards
    assert _read(target) == {"sub/file.txt": "old"}
    assert _leftovers(tmp_path) == []


CONCURRENT_WRITER = """
import os, sys
from pathlib import Path
from elsewhere.files import atomic_folder
for _ in range(20):
    with atomic_folder(Path(sys.argv[1]), replace=sys.argv[2] == "1") as staging:
        for name in ("a", "b", "c"):
            (staging / name).write_text(str(os.getpid()))
"""


def _raised_os_error(stderr: str) -> bool:
    """Whether a traceback ends in an OSError or one of its subclasses (FileNotFoundError, ...)."""
    name = stderr.strip().splitlines()[-1].partition(":")[0] if stderr.strip() else ""
    raised = getattr(builtins, name, None)
    return isinstance(raised, type) and issubclass(raised, OSError)


@pytest.mark.parametrize("replace", [False, True])
def test_concurrent_writers_leave_one_whole_folder(tmp_path, replace):
    """Four processes write the same folder twenty times each: whatever wins, its files are all one writer's.

    Without replace every writer succeeds (the first folder is kept); with replace a writer whose swap
    loses the race may fail, with an OSError, never with a folder mixed from two writers.
    """
    target = tmp_path / "run"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_WRITER, str(target), str(int(replace))], stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    errors = [writer.communicate(timeout=120)[1].decode() for writer in writers]
    assert all(writer.returncode == 0 or _raised_os_error(error) for writer, error in zip(writers, errors)), errors
    assert replace or all(writer.returncode == 0 for writer in writers), errors
    assert len(set(_read(target).values())) == 1 and sorted(_read(target)) == ["a", "b", "c"]
    with atomic_folder(target, replace=False):  # the next run clears what the losers left aside
        pass
    assert _leftovers(tmp_path) == []
