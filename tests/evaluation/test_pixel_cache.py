"""The pixel cache: decoded once, read after, never read for other data, and damage is only a miss."""

import io
import json
import os
import shutil
import threading
import tracemalloc

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from elsewhere.cli import main
from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.architectures import create_model
from elsewhere.evaluation.data import evaluated_splits
from elsewhere.evaluation.harness import evaluate_model
from elsewhere.evaluation.pixel_cache import cached_pixels, pixel_key
from elsewhere.evaluation.runner import decode_split, predict
from elsewhere.splits.dataset import read_manifest
from elsewhere.splits.registry import get_protocol

PROTOCOL = "location-halves"
CPU = torch.device("cpu")


@pytest.fixture
def split(tiny_dataset):
    return datasets.load_dataset(str(tiny_dataset), PROTOCOL, split="test_ood")


@pytest.fixture
def key(tiny_dataset):
    return pixel_key(read_manifest(tiny_dataset), PROTOCOL, "test_ood")


def test_decoded_once_then_mapped_from_the_file(split, key, tmp_path):
    first = cached_pixels(split, key, tmp_path)
    path = tmp_path / f"{key}.npy"
    written = path.stat().st_mtime_ns
    again = cached_pixels(split, key, tmp_path)
    assert isinstance(again, np.memmap) and path.stat().st_mtime_ns == written
    assert np.array_equal(first, decode_split(split).numpy()) and np.array_equal(again, first)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_keys_differ_by_split_protocol_and_shard_bytes(tiny_dataset):
    manifest = read_manifest(tiny_dataset)
    keys = {pixel_key(manifest, p, s) for p in (PROTOCOL, "location-quadrant") for s in ("test_id", "test_ood")}
    assert len(keys) == 4
    before = pixel_key(manifest, PROTOCOL, "test_ood")
    manifest["protocols"][PROTOCOL]["splits"]["test_ood"]["shards"][0]["sha256"] = "0" * 64
    assert pixel_key(manifest, PROTOCOL, "test_ood") != before


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),  # truncated
        lambda path: path.write_bytes(b"not a numpy file"),
        lambda path: np.save(path, np.zeros((3, 64, 64, 3), np.uint8)),  # another split's shape
        lambda path: np.save(path, np.zeros((1000, 64, 64, 3), np.float32)),  # another type
        lambda path: np.save(path, np.array([{"pickled": 1}] * 4, dtype=object)),  # never unpickled
    ],
)
def test_a_damaged_file_is_decoded_again_and_replaced(split, key, tmp_path, damage):
    truth = cached_pixels(split, key, tmp_path).copy()
    damage(tmp_path / f"{key}.npy")
    assert np.array_equal(cached_pixels(split, key, tmp_path), truth)
    assert np.array_equal(np.load(tmp_path / f"{key}.npy"), truth)


def test_an_unwritable_folder_is_one_line_and_leaves_nothing(split, key, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a folder")
    with pytest.raises(ElsewhereError, match="cannot write the pixel cache") as error:
        cached_pixels(split, key, blocked / "cache")
    assert "\n" not in str(error.value)
    if os.geteuid() != 0:
        read_only = tmp_path / "read-only"
        read_only.mkdir()
        read_only.chmod(0o500)
        with pytest.raises(ElsewhereError, match="writable folder"):
            cached_pixels(split, key, read_only)
        assert list(read_only.iterdir()) == []


def test_an_empty_folder_name_is_refused(split, key):
    with pytest.raises(ElsewhereError, match="empty name"):
        cached_pixels(split, key, " ")


def test_predictions_from_the_cache_equal_those_from_the_pngs(split, key, tmp_path):
    model = create_model("cnn-gap", 10, 64, seed=0)
    plain = predict(model, split, device=CPU, batch_size=100, progress=False)
    cached = predict(
        model, split, device=CPU, batch_size=100, pixels=cached_pixels(split, key, tmp_path), progress=False
    )
    assert np.array_equal(plain[0], cached[0]) and np.array_equal(plain[1], cached[1])
    with pytest.raises(ElsewhereError, match="decode it again"):
        predict(model, split, device=CPU, pixels=np.zeros((3, 64, 64, 3), np.uint8), progress=False)


def test_evaluation_with_a_cache_scores_the_same_and_fills_it_once_per_split(tiny_dataset, tmp_path):
    factory = tmp_path / "net.py"
    factory.write_text(
        "from elsewhere.evaluation.architectures import create_model\n"
        "def build(num_classes, canvas):\n    return create_model('cnn-gap', num_classes, canvas, seed=0)\n"
    )
    runs = [
        evaluate_model(tiny_dataset, PROTOCOL, f"{factory}:build", device="cpu", pixel_cache=cache, progress=False)
        for cache in (None, tmp_path / "cache", tmp_path / "cache")
    ]
    assert len({r["predictions_sha256"] for r in runs}) == 1
    files = sorted((tmp_path / "cache").iterdir())
    assert len(files) == len(evaluated_splits(get_protocol(PROTOCOL))) and all(f.suffix == ".npy" for f in files)


# Attacks found by a red-team pass: each failed before the fix.


def _forge_header(path, shape):
    header = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {shape!r}, }}".ljust(118) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode())


def test_a_file_of_other_images_is_decoded_again(tiny_dataset, split, key, tmp_path):
    """Same row count, another image size: once used silently (wrong predictions, no error)."""
    np.save(tmp_path / f"{key}.npy", np.zeros((len(split), 16, 16, 3), np.uint8))
    assert np.array_equal(cached_pixels(split, key, tmp_path), decode_split(split).numpy())
    # Another split's cache of the same shape, put in this one's place.
    other = datasets.load_dataset(str(tiny_dataset), PROTOCOL, split="test_id").select(range(len(split)))
    np.save(tmp_path / f"{key}.npy", decode_split(other).numpy())
    assert np.array_equal(cached_pixels(split, key, tmp_path), decode_split(split).numpy())


def test_a_header_with_a_negative_dimension_is_decoded_again(split, key, tmp_path):
    _forge_header(tmp_path / f"{key}.npy", (len(split), -1, 64, 3))
    assert cached_pixels(split, key, tmp_path).shape[1:] == (64, 64, 3)


def test_a_fifo_at_the_cache_path_does_not_hang(split, key, tmp_path):
    fifo = tmp_path / f"{key}.npy"
    os.mkfifo(fifo)
    worker = threading.Thread(target=lambda: cached_pixels(split, key, tmp_path), daemon=True)
    worker.start()
    worker.join(30)
    hung = worker.is_alive()
    if hung:  # let the blocked open end before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
    assert not hung


def test_the_staging_file_never_writes_through_a_planted_link(split, key, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "cache").mkdir()
    os.symlink(victim, tmp_path / "cache" / f".{key}.{os.getpid()}.tmp.npy")  # the name once used
    cached_pixels(split, key, tmp_path / "cache")
    assert victim.read_text() == "precious\n"


def test_staging_files_of_killed_writers_are_removed_and_live_ones_kept(split, key, tmp_path, dead_pid):
    """A writer killed mid-split leaves its staging file (up to the whole split) behind; the next
    write of that split removes it, but never a live writer's."""
    dead = tmp_path / f".{key}.npy.partial-{dead_pid}-0123456789abcdef"
    live = tmp_path / f".{key}.npy.partial-{os.getppid()}-fedcba9876543210"
    other = tmp_path / f".another.npy.partial-{dead_pid}-0123456789abcdef"
    for path in (dead, live, other):
        path.write_bytes(b"\0" * 4096)
    cached_pixels(split, key, tmp_path)
    assert not dead.exists() and live.exists() and other.exists()


def test_a_manifest_without_the_split_is_one_line(tiny_dataset, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tiny_dataset, data)
    manifest = json.loads((data / "elsewhere.json").read_text())
    del manifest["protocols"][PROTOCOL]["splits"]["probe"]
    (data / "elsewhere.json").write_text(json.dumps(manifest))
    model = tmp_path / "model.py"
    model.write_text(
        "import torch\ndef f(num_classes):\n    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1),"
        " torch.nn.Flatten(), torch.nn.Linear(3, num_classes))\n"
    )
    arguments = ["evaluate", "--data", str(data), "--protocol", PROTOCOL, "--model", f"{model}:f", "--quiet"]
    arguments += ["--device", "cpu", "--out", str(tmp_path / "r.json"), "--pixel-cache", str(tmp_path / "c")]
    assert main(arguments) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "no shard checksums for location-halves/probe" in errors[0]
    assert not (tmp_path / "r.json").exists()


def test_writing_the_cache_holds_about_one_batch_in_memory(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buffer, "PNG")
    rows = 1536  # 18 MiB decoded in six batches of 256
    dataset = datasets.Dataset.from_dict({"image": [{"bytes": buffer.getvalue(), "path": None}] * rows})
    dataset = dataset.cast_column("image", datasets.Image())
    tracemalloc.start()
    cached_pixels(dataset, "k", tmp_path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < rows * 64 * 64 * 3 * 3 / 4
