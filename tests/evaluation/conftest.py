"""Fixtures for the model-runner tests: a small real dataset folder, read through ``load_dataset``.

Each image is a dark, slightly noisy canvas with one bright square; the label says which half
(left or right) of the canvas the square's centre lies in. The folder has the dataset contract's
columns, a card with a ``demo`` config and parquet shards, so the tests exercise the real loading
path. The task is trivially learnable, so training tests can check that learning happens in
seconds; the real generator's data is exercised by the harness and report tests.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest

from elsewhere.splits import shards

IMAGE_CANVAS = 32
IMAGE_SPLIT_SIZES = {"train": 384, "validation": 128, "test_id": 96}
IMAGE_CLASSES = ("left", "right")
IMAGE_SEED = 5


def draw_squares(n: int, canvas: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` images (uint8 n×canvas×canvas×3) with a bright square, and its centre ``x, y`` in [0, 1]."""
    side = max(3, canvas // 8)
    top_left = rng.integers(0, canvas - side + 1, size=(n, 2))
    # Keep the square's centre off the vertical midline so every label is unambiguous.
    centre_x = (top_left[:, 0] + side / 2) / canvas
    near = np.abs(centre_x - 0.5) < 1 / canvas
    top_left[near, 0] = np.where(centre_x[near] < 0.5, top_left[near, 0] - 2, top_left[near, 0] + 2)
    images = rng.integers(0, 40, size=(n, canvas, canvas, 3), dtype=np.uint8)
    rows = np.arange(canvas)
    inside_y = (rows[None, :] >= top_left[:, 1:2]) & (rows[None, :] < top_left[:, 1:2] + side)
    inside_x = (rows[None, :] >= top_left[:, 0:1]) & (rows[None, :] < top_left[:, 0:1] + side)
    mask = inside_y[:, :, None] & inside_x[:, None, :]
    colour = rng.integers(180, 256, size=(n, 3), dtype=np.uint8)
    images[mask] = np.repeat(colour, mask.sum(axis=(1, 2)), axis=0)
    x = (top_left[:, 0] + side / 2) / canvas
    y = (top_left[:, 1] + side / 2) / canvas
    return images, x.astype(np.float32), y.astype(np.float32)


def write_image_folder(
    root: Path, *, config: str, canvas: int, sizes: dict[str, int], rng: np.random.Generator
) -> Path:
    """Write a dataset folder (card + ``data/<config>/<split>-00000-of-00001.parquet``) under ``root``."""
    features = shards.features(IMAGE_CLASSES)
    for split, n in sizes.items():
        images, x, y = draw_squares(n, canvas, rng)
        label = (x >= 0.5).astype(np.int64)
        table = datasets.Dataset.from_dict(
            {
                "id": [f"{config}/{split}/{i:06d}" for i in range(n)],
                "image": [{"bytes": shards.png_bytes(image), "path": None} for image in images],
                "label": label,
                "x": x,
                "y": y,
                "rotation": np.zeros(n, np.float32),
                "scale": np.full(n, 1 / 8, np.float32),
                "cell": (np.minimum((y * 2).astype(np.int32), 1) * 2 + np.minimum((x * 2).astype(np.int32), 1)),
                "group": np.full(n, -1, np.int32),
                "region": np.where(label == 0, "train", "held-out").tolist(),
            },
            features=features,
        )
        path = root / "data" / config / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(str(path))
    data_files = "".join(f"      - split: {split}\n        path: data/{config}/{split}-*\n" for split in sizes)
    (root / "README.md").write_text(f"---\nconfigs:\n  - config_name: {config}\n    data_files:\n{data_files}---\n")
    return root


def load_image_split(folder: Path, split: str, cache: Path, config: str = "demo") -> datasets.Dataset:
    """One split of a folder written by ``write_image_folder``, read the way users read it."""
    return datasets.load_dataset(str(folder), config, split=split, cache_dir=str(cache))


@pytest.fixture(scope="session")
def image_dataset_folder(tmp_path_factory) -> Path:
    """A written dataset folder of bright-square images (see the module docstring)."""
    root = tmp_path_factory.mktemp("image-folder")
    return write_image_folder(
        root, config="demo", canvas=IMAGE_CANVAS, sizes=IMAGE_SPLIT_SIZES, rng=np.random.default_rng(IMAGE_SEED)
    )


@pytest.fixture(scope="session")
def image_splits(image_dataset_folder, tmp_path_factory) -> dict[str, datasets.Dataset]:
    """Every split of ``image_dataset_folder``, loaded with ``datasets.load_dataset``."""
    cache = tmp_path_factory.mktemp("image-cache")
    return {split: load_image_split(image_dataset_folder, split, cache) for split in IMAGE_SPLIT_SIZES}
