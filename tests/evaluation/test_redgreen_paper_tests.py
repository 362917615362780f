"""The script that scores Red-Green networks on the paper's own tests (built from our training split)."""

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from elsewhere.api import generate
from elsewhere.evaluation.data import load_split
from elsewhere.evaluation.harness import train_baseline
from elsewhere.evaluation.runner import decode_split
from elsewhere.splits.redgreen import BOTTOM_ROW, BOX, MAX_COLUMN, MAX_FIRST_COLUMN, MIN_GAP, ROW_OFFSETS, TOP_ROW

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "redgreen_paper_tests.py"


def _script():
    spec = importlib.util.spec_from_file_location("redgreen_paper_tests", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args) -> subprocess.CompletedProcess:
    # One thread: these networks are tiny, and on a busy machine torch's threads wait on each other
    # (the retraining below took 7 s with one, 92 s with the default while another job ran).
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, SCRIPT, *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=environment)


def test_the_paper_tests_are_the_first_training_images_and_those_moved_into_the_other_band(tiny_dataset):
    training = load_split(tiny_dataset, "red-green", "train")
    sets = _script().test_sets(tiny_dataset, training)
    pixels, labels = decode_split(training), np.asarray(training["label"])
    similar, similar_labels = sets["paper similar"]
    assert torch.equal(similar, pixels[: len(similar)]) and (similar_labels == labels[: len(similar)]).all()
    moved, moved_labels = sets["paper dissimilar"]
    assert (moved_labels == similar_labels).all()
    low, high = ROW_OFFSETS
    for image, label in zip(moved.numpy(), moved_labels):
        rows = np.flatnonzero(image.any(axis=(1, 2)))
        band = BOTTOM_ROW if label == 0 else TOP_ROW  # the other class's band: no box wrapped or cut
        assert band + low <= rows.min() and rows.max() <= band + high + BOX - 1
        assert image.sum() == 2 * BOX * BOX * 255  # both boxes whole: one full channel each


def test_a_periodic_network_answers_both_paper_tests_alike(tiny_dataset):
    done = _run("--data", tiny_dataset, "--retrain", "redgreen-periodic", "--seeds", "0")
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("| `redgreen-periodic` |"))
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    first = min(1000, len(load_split(tiny_dataset, "red-green", "train")))
    assert cells[1:3] == ["ours", f"first {first:,} training images (paper)"]
    assert cells[3] == cells[4] and cells[5] == "100.0"


def test_the_authors_images_are_the_ones_their_generator_draws():
    # Checked once against the published generator transcribed line by line (NumPy's legacy
    # RandomState stream is stable across versions); pinned so that no edit changes them unseen.
    pixels, labels = _script().authors_draw()
    digest = hashlib.sha256(pixels.tobytes() + labels.astype(np.int64).tobytes()).hexdigest()
    assert digest == "a35834812320267db845ec0dccfbe2acf50091a69d09aecca105119b4dee782f"


@pytest.mark.parametrize("seed", [1988, 7])
def test_the_authors_images_follow_their_layout(seed):
    pixels, labels = _script().authors_draw(200, seed=seed)
    assert (labels == np.arange(200) % 2).all()
    low, high = ROW_OFFSETS
    for image, label in zip(pixels, labels):
        red, green = (np.argwhere(image[..., channel]) for channel in (0, 1))
        assert len(red) == len(green) == BOX * BOX and not image[..., 2].any()
        left, right = (red, green) if label == 0 else (green, red)
        assert right[:, 1].min() - left[:, 1].min() >= MIN_GAP and left[:, 1].min() <= MAX_FIRST_COLUMN
        band = TOP_ROW if label == 0 else BOTTOM_ROW
        for box in (left, right):
            assert band + low <= box[:, 0].min() <= band + high and box[:, 1].max() <= MAX_COLUMN + BOX - 1


def test_another_authors_seed_draws_other_images():
    theirs, _ = _script().authors_draw(50)
    other, _ = _script().authors_draw(50, seed=7)
    assert not (theirs == other).all(axis=(1, 2, 3)).any()


def test_a_shuffled_training_order_is_its_own_reproducible_run(tiny_dataset):
    script = _script()
    training = load_split(tiny_dataset, "red-green", "train")

    def weights(shuffled: bool) -> torch.Tensor:
        model = script.retrained(training, "redgreen-same", 0, shuffled=shuffled)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    shuffled = weights(True)
    assert torch.equal(shuffled, weights(True))
    assert not torch.equal(shuffled, weights(False))
    done = _run("--data", tiny_dataset, "--retrain", "redgreen-periodic", "--train-order", "shuffled")
    assert done.returncode == 0, done.stderr
    assert "| `redgreen-periodic` | ours, shuffled once |" in done.stdout


@pytest.fixture(scope="module")
def tiny_run(tiny_dataset, tmp_path_factory) -> Path:
    """A red-green run of one epoch on the tiny suite."""
    run = tmp_path_factory.mktemp("run") / "redgreen-same"
    train_baseline(tiny_dataset, "red-green", "redgreen-same", run, epochs=1, device="cpu", progress=False)
    return run


def test_bad_input_gets_one_line(tiny_dataset, tiny_run, tmp_path):
    other = tmp_path / "other"
    generate(other, protocols="red-green", size="tiny", seed=1234, workers=1, progress=False)
    for args, says in (
        ((tmp_path,), "does not exist"),
        ((tiny_run, tiny_run), "a second run of redgreen-same with seed 0"),
        (("--retrain", "redgreen-same", "--seeds", "0,0"), "names a seed twice"),
        (("--retrain", "redgreen-nonesuch"), "unknown architecture 'redgreen-nonesuch'"),
        (("--retrain", "cnn-gap"), "--retrain takes Red-Green networks"),
        (("--retrain", "redgreen-same", "--seeds", "one"), "bad seeds 'one'"),
        ((), "give run folders to score"),
        ((tmp_path, "--authors-data"), "score run folders without it"),
        (("--retrain", "redgreen-same", "--authors-seed", "3"), "with --authors-data"),
        (("--retrain", "redgreen-same", "--authors-data", "--authors-seed", "-1"), "from 0 to 4294967295"),
        (("--retrain", "redgreen-same", "--authors-data", "--authors-seed", "x"), "invalid int value"),
        ((tmp_path, "--train-order", "shuffled"), "applies to --retrain runs"),
        (("--retrain", "redgreen-same", "--train-order", "sorted"), "invalid choice: 'sorted'"),
    ):
        done = _run("--data", tiny_dataset, *args)
        assert done.returncode != 0 and says in done.stderr and "Traceback" not in done.stderr
    done = _run("--data", other, tiny_run)  # a run scored against data it did not train on
    assert done.returncode != 0 and "trained on other red-green data" in done.stderr
