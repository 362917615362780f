"""Red-Green networks scored on the paper's own two tests, to tell its figures from ours.

In the authors' code (``utils_red_green.py`` of oskyhn/CNNs-Without-Borders), the training, validation
and test generators all reseed NumPy with 1988 and draw the same values in the same order. So the
paper's *similar* test is the first 1,000 training images, its validation set is the same 1,000
images, and its *dissimilar* test is those images moved 16 rows. The paper's figures are training
accuracies, and a network exactly invariant to that move answers both tests alike, image by image.
Ours are held-back layouts, never trained on (``splits/redgreen.py``).

This script builds the paper's two tests from our training split (its first 1,000 images, and the
same moved 16 rows: a wrapped move on the 32-pixel canvas, which for these layouts moves both boxes
within it) and scores Red-Green networks on them, beside our ``test_id`` and ``test_ood``:

- RUN folders (``elsewhere sweep`` or ``elsewhere train`` output): their saved weights;
- ``--retrain ARCH ...``: fresh runs (``--seeds``) with the recipe of ``elsewhere sweep``, but the
  best epoch chosen where the authors' code chooses it, on the first 1,000 training images (their
  early stopping waits one epoch longer: 9 epochs without improvement, ours 8). Nothing is written.
- ``--authors-data``: the fresh runs train on the authors' own 2,000 images instead of ours (drawn
  as their generator draws them, from NumPy's legacy generator seeded with 1988), and the paper's
  two tests are built from those. ``--authors-seed N`` draws another 2,000 images the same way:
  how far the figures move between draws says how much of a difference one draw of data can make.
- ``--train-order shuffled``: the fresh runs see the training images in one random order
  (``Dataset.shuffle`` seeded by the run's seed; the recipe does not reshuffle between epochs)
  instead of as drawn (the authors' alternate the two classes). The validation set and the paper's
  tests stay the first 1,000 drawn.

    python benchmarks/redgreen_paper_tests.py --data SUITE RUNS/red-green/redgreen-* RUNS/seed-*/red-green/redgreen-*
    python benchmarks/redgreen_paper_tests.py --data SUITE --retrain redgreen-periodic --seeds 0,1,2 [--authors-data]
    python benchmarks/redgreen_paper_tests.py --data SUITE --retrain redgreen-full --authors-data --authors-seed 1
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset, Features, Image, Value

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.architectures import create_model
from elsewhere.evaluation.data import load_split, manifest_of, protocol_entry
from elsewhere.evaluation.loading import load_weights
from elsewhere.evaluation.results import load_results
from elsewhere.evaluation.runner import decode_split, predict
from elsewhere.evaluation.training import default_config, train
from elsewhere.splits.redgreen import (
    BOTTOM_ROW,
    BOX,
    CANVAS,
    MAX_COLUMN,
    MAX_FIRST_COLUMN,
    MIN_GAP,
    ROW_OFFSETS,
    TOP_ROW,
)
from elsewhere.splits.shards import png_batch

PROTOCOL = "red-green"
PAPER_TEST = 1000  # the authors' similar test and validation set: the first 1,000 training images
AUTHORS_SEED, AUTHORS_TRAIN = 1988, 2000
MOVE = BOTTOM_ROW - TOP_ROW  # 16 rows: the authors' dissimilar test swaps the two bands
CLASSES = 2
DEVICE = torch.device("cpu")


def accuracy(model: torch.nn.Module, pixels: torch.Tensor, labels: np.ndarray) -> np.ndarray:
    """Per-image correctness (bool) of ``model`` on uint8 N×H×W×3 ``pixels``."""
    predicted, _ = predict(
        model, Dataset.from_dict({"label": labels}), device=DEVICE, pixels=pixels.numpy(), progress=False
    )
    return predicted == labels


def authors_draw(count: int = AUTHORS_TRAIN, seed: int = AUTHORS_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The authors' training images as uint8 N×H×W×3 and their labels, drawn as their generator
    draws them: NumPy's legacy generator seeded with 1988 (theirs) or ``seed``; even images
    red-left in the top band, odd ones green-left in the bottom band; per image the left box's
    column and row, then the right box's, both redrawn until the right box is ``MIN_GAP`` or more
    columns further."""
    rng = np.random.RandomState(seed)
    pixels = np.zeros((count, CANVAS, CANVAS, 3), np.uint8)
    labels = np.arange(count) % 2
    low, high = ROW_OFFSETS
    for image, label in zip(pixels, labels):
        band = TOP_ROW if label == 0 else BOTTOM_ROW
        left_channel, right_channel = (0, 1) if label == 0 else (1, 0)  # red is channel 0, green 1
        left, left_row = rng.randint(MAX_FIRST_COLUMN + 1), band + rng.randint(low, high + 1)
        while True:
            right, right_row = rng.randint(left, MAX_COLUMN + 1), band + rng.randint(low, high + 1)
            if right - left >= MIN_GAP:
                break
        image[left_row : left_row + BOX, left : left + BOX, left_channel] = 255
        image[right_row : right_row + BOX, right : right + BOX, right_channel] = 255
    return pixels, labels


def as_dataset(pixels: np.ndarray, labels: np.ndarray) -> Dataset:
    """Images and labels as a split the trainer reads: PNG images and a ``label`` column."""
    images = [{"bytes": png, "path": None} for png in png_batch(pixels)]
    features = Features({"image": Image(), "label": Value("int64")})
    return Dataset.from_dict({"image": images, "label": labels.tolist()}, features=features)


def training_set(data: str, authors_seed: int | None) -> Dataset:
    """Our training split, or (``authors_seed`` given) the authors' images drawn with that seed."""
    return load_split(data, PROTOCOL, "train") if authors_seed is None else as_dataset(*authors_draw(seed=authors_seed))


def first_images(training: Dataset) -> Dataset:
    """The authors' validation set and similar test: the first ``PAPER_TEST`` training images."""
    return training.select(range(min(PAPER_TEST, len(training))))


def test_sets(data: str, training: Dataset) -> dict[str, tuple[torch.Tensor, np.ndarray]]:
    """The paper's two tests built from ``training``, and our two, as (pixels, labels)."""
    first = first_images(training)
    pixels, labels = decode_split(first), np.asarray(first["label"])
    named = {"paper similar": (pixels, labels), "paper dissimilar": (torch.roll(pixels, MOVE, dims=1), labels)}
    for split in ("test_id", "test_ood"):
        dataset = load_split(data, PROTOCOL, split)
        named[split] = (decode_split(dataset), np.asarray(dataset["label"]))
    return named


def scores(model: torch.nn.Module, sets: dict) -> dict[str, float]:
    """Accuracy in percent on each test, and the share of the paper's test images answered alike
    before and after the move (100 for a network exactly invariant to it)."""
    correct = {name: accuracy(model, pixels, labels) for name, (pixels, labels) in sets.items()}
    result = {name: 100 * float(c.mean()) for name, c in correct.items()}
    result["alike"] = 100 * float(np.mean(correct["paper similar"] == correct["paper dissimilar"]))
    return result


def saved_run(folder: Path, fingerprint: str) -> tuple[str, int, torch.nn.Module]:
    """A trained run's architecture, seed and model, from the folder ``elsewhere train`` wrote;
    refused unless it trained on the data whose ``red-green`` has ``fingerprint``."""
    record = load_results(folder / "results.json")
    protocol, model_record = record["protocol"], record["model"]
    architecture, seed = model_record.get("architecture"), model_record.get("training", {}).get("seed")
    if protocol["name"] != PROTOCOL or not str(architecture).startswith("redgreen-"):
        raise ElsewhereError(
            f"{folder}: a run of {architecture!r} on {protocol['name']!r}; give Red-Green networks on {PROTOCOL}"
        )
    if protocol["fingerprint"] != fingerprint:
        raise ElsewhereError(f"{folder}: trained on other {PROTOCOL} data than --data holds; give that run's suite")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ElsewhereError(f"{folder}: its results record no whole-number training seed ({seed!r})")
    model = create_model(architecture, CLASSES, CANVAS, seed=seed)
    load_weights(model, folder / "model.safetensors")
    return architecture, seed, model


def retrained(training: Dataset, architecture: str, seed: int, shuffled: bool = False) -> torch.nn.Module:
    """A fresh run whose best epoch is chosen on the first training images, as the authors' is;
    ``shuffled``: trained on the images in one random order drawn from ``seed``."""
    config = replace(default_config(architecture), seed=seed)
    model = create_model(architecture, CLASSES, CANVAS, seed=seed)
    ordered = training.shuffle(seed=seed) if shuffled else training
    train(model, ordered, first_images(training), config, device=DEVICE, progress=False)
    return model


def seed_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad seeds {text!r}; give whole numbers, comma-separated") from None


def summary(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", type=Path, help="red-green run folders to score")
    parser.add_argument("--data", required=True, help="a suite from `elsewhere generate` (size small)")
    parser.add_argument("--retrain", nargs="*", default=[], metavar="ARCH", help="Red-Green networks to retrain")
    parser.add_argument("--seeds", default=[0], type=seed_list, help="seeds of the retrained runs, comma-separated")
    parser.add_argument("--authors-data", action="store_true", help="retrain on the authors' images, not ours")
    parser.add_argument(
        "--authors-seed",
        type=int,
        default=None,
        metavar="N",
        help=f"with --authors-data: draw with N, not {AUTHORS_SEED}",
    )
    parser.add_argument(
        "--train-order",
        choices=("drawn", "shuffled"),
        default="drawn",
        help="retrained runs see the images as drawn, or in one seeded random order",
    )
    args = parser.parse_args()
    if not args.runs and not args.retrain:
        parser.error("give run folders to score, or --retrain ARCH")
    if any(not name.startswith("redgreen-") for name in args.retrain):
        parser.error(f"--retrain takes Red-Green networks (redgreen-...), not {args.retrain!r}")
    if args.authors_data and args.runs:
        parser.error("--authors-data builds the paper's tests from the authors' images: score run folders without it")
    if args.authors_seed is not None and not (args.authors_data and 0 <= args.authors_seed < 2**32):
        parser.error(f"--authors-seed takes a whole number from 0 to {2**32 - 1}, with --authors-data")
    if args.runs and args.train_order != "drawn":
        parser.error("--train-order applies to --retrain runs: score run folders without it")
    if len(set(args.seeds)) < len(args.seeds):
        parser.error(f"--seeds names a seed twice ({args.seeds})")
    rows: dict[tuple[str, str, str], dict[int, dict]] = {}

    def add(row: tuple[str, str, str], seed: int, figures: dict, what: str) -> None:
        if seed in rows.setdefault(row, {}):
            raise ElsewhereError(f"{what}: a second run of {row[0]} with seed {seed}; give each run once")
        rows[row][seed] = figures

    try:
        _, entry = protocol_entry(manifest_of(args.data), args.data, PROTOCOL)
        authors_seed = None
        if args.authors_data:
            authors_seed = AUTHORS_SEED if args.authors_seed is None else args.authors_seed
        training = training_set(args.data, authors_seed)
        sets = test_sets(args.data, training)
        names = {None: "ours", AUTHORS_SEED: "the authors' images"}
        trained_on = names.get(authors_seed, f"the authors' generator, seed {authors_seed}")
        if args.train_order == "shuffled":
            trained_on += ", shuffled once"
        count = len(sets["paper similar"][1])
        for folder in args.runs:
            architecture, seed, model = saved_run(folder, entry["fingerprint"])
            add((architecture, "ours", "held-back validation (ours)"), seed, scores(model, sets), str(folder))
        for architecture in args.retrain:
            for seed in args.seeds:
                model = retrained(training, architecture, seed, shuffled=args.train_order == "shuffled")
                selection = f"first {count:,} training images (paper)"
                add((architecture, trained_on, selection), seed, scores(model, sets), "--retrain")
    except ElsewhereError as error:
        raise SystemExit(f"redgreen_paper_tests: error: {error}") from None
    columns = ("paper similar", "paper dissimilar", "alike", "test_id", "test_ood")
    headers = (
        f"paper's similar test (training images 0–{count - 1})",
        f"paper's dissimilar test (those moved {MOVE} rows)",
        "answered alike",
        "ours: test_id",
        "ours: test_ood",
    )
    print("| network | trained on | best epoch chosen on | " + " | ".join(headers) + " | seeds |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in columns) + " | --- |")
    for (architecture, trained_on, selection), runs in sorted(rows.items()):
        cells = [summary([runs[seed][c] for seed in sorted(runs)]) for c in columns]
        seeds = ", ".join(str(seed) for seed in sorted(runs))
        print(f"| `{architecture}` | {trained_on} | {selection} | " + " | ".join(cells) + f" | {len(runs)} ({seeds}) |")


if __name__ == "__main__":
    main()
