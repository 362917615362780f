"""Shards: the PNG encoder reads back exactly, and a shard's rows are the pure renders."""

import io

import numpy as np
import pytest
from PIL import Image

from elsewhere.splits.shards import png_batch, png_bytes


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (64, 64), (17, 224)])
def test_png_reads_back_the_same_pixels(shape):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, *shape, 3), dtype=np.uint8)
    images[1] = 128  # flat
    encoded = png_batch(images)
    assert len(encoded) == 3
    for data, image in zip(encoded, images):
        decoded = Image.open(io.BytesIO(data))
        decoded.load()  # checks every chunk's CRC and the zlib stream
        assert decoded.mode == "RGB" and decoded.size == (shape[1], shape[0])
        assert np.array_equal(np.asarray(decoded), image)
    assert png_bytes(images[0]) == encoded[0]


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 4, 4), np.uint8), np.zeros((1, 4, 4, 4), np.uint8), np.zeros((1, 4, 4, 3), np.float32)]
)
def test_png_refuses_what_is_not_rgb_bytes(bad):
    with pytest.raises(ValueError, match="N × H × W × 3 uint8"):
        png_batch(bad)
