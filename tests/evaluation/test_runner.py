"""Running models over dataset splits, and building them from user code and safetensors weights."""

import io
import textwrap

import datasets
import numpy as np
import pyarrow as pa
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn

from elsewhere.evaluation.architectures import create_model
from elsewhere.evaluation.loading import build_model, count_parameters, load_factory, load_weights, save_weights
from elsewhere.evaluation.runner import (
    channel_statistics,
    decode_images,
    decode_split,
    predict,
    resolve_device,
    to_float,
)
from elsewhere.evaluation.training import TrainConfig, train

CPU = torch.device("cpu")


def _manual(model: nn.Module, dataset: datasets.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The plain way: decode each image through ``datasets``, run it alone, softmax."""
    model.eval()
    probabilities = []
    with torch.no_grad():
        for row in dataset:
            pixels = torch.from_numpy(np.array(row["image"].convert("RGB"))).permute(2, 0, 1).float() / 255
            probabilities.append(torch.softmax(model(pixels[None]), dim=1)[0].numpy())
    probabilities = np.stack(probabilities)
    return probabilities.argmax(axis=1), probabilities


# Devices


def test_resolve_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    assert resolve_device("cpu") == CPU
    with pytest.raises(ValueError, match="no CUDA"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match=r"auto\|cpu\|cuda"):
        resolve_device("gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


# Predicting


@pytest.mark.parametrize("num_workers", [0, 2])
def test_predict_equals_a_plain_loop_in_dataset_order(image_splits, num_workers):
    split = image_splits["test_id"]
    model = create_model("cnn-gap", 2, 32, seed=3)
    expected_predictions, expected_probabilities = _manual(model, split)
    # A batch size that leaves a short last batch.
    predictions, probabilities = predict(
        model, split, device=CPU, batch_size=40, num_workers=num_workers, progress=False
    )
    assert predictions.dtype == np.int64 and probabilities.dtype == np.float32
    assert probabilities.shape == (len(split), 2)
    np.testing.assert_array_equal(predictions, expected_predictions)
    np.testing.assert_allclose(probabilities, expected_probabilities, atol=1e-6, rtol=0)


def test_predict_follows_a_reordered_split(image_splits):
    split = image_splits["test_id"]
    model = create_model("cnn-flatten", 2, 32, seed=0)
    _, probabilities = predict(model, split, device=CPU, batch_size=32, num_workers=0, progress=False)
    order = np.random.default_rng(0).permutation(len(split))
    _, shuffled = predict(model, split.select(order), device=CPU, batch_size=32, num_workers=0, progress=False)
    np.testing.assert_allclose(shuffled, probabilities[order], atol=1e-6, rtol=0)


def test_memory_layout_does_not_change_results(image_splits):
    split = image_splits["test_id"]
    model = create_model("resnet-small", 2, 32, seed=0)
    _, channels_last = predict(model, split, device=CPU, channels_last=True, num_workers=0, progress=False)
    _, contiguous = predict(model, split, device=CPU, channels_last=False, num_workers=0, progress=False)
    np.testing.assert_allclose(channels_last, contiguous, atol=1e-5, rtol=0)


def test_predict_puts_the_model_in_eval_mode(image_splits):
    model = create_model("resnet-small", 2, 32, seed=0).train()
    predict(model, image_splits["test_id"].select(range(8)), device=CPU, num_workers=0, progress=False)
    assert not model.training


def test_predict_refuses_a_model_that_returns_no_logits(image_splits):
    model = nn.Sequential(nn.Flatten(start_dim=0))
    with pytest.raises(ValueError, match="logits of shape"):
        predict(model, image_splits["test_id"], device=CPU, num_workers=0, progress=False)


class Fixed(nn.Module):
    """Returns ``make(x)`` and counts its calls, to see how soon a bad output is refused."""

    def __init__(self, make):
        super().__init__()
        self.make = make
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.make(x)


def test_predict_refuses_logits_of_another_width_on_the_first_batch(image_splits):
    model = Fixed(lambda x: torch.zeros(len(x), 5))
    message = _one_line_error(
        lambda: predict(model, image_splits["test_id"], device=CPU, batch_size=40, num_classes=2, progress=False)
    )
    assert "returned shape (40, 5) for 40 images; it must return logits of shape (40, 2)" in message
    assert model.calls == 1


def test_predict_refuses_outputs_that_are_not_tensors(image_splits):
    model = Fixed(lambda x: (torch.zeros(len(x), 2),))
    message = _one_line_error(lambda: predict(model, image_splits["test_id"], device=CPU, progress=False))
    assert "returned a tuple for 96 images, not a tensor" in message


def _poisoned(value: float, batch: int):
    """Zero logits, but ``value`` in the first row of batch number ``batch``."""
    calls = []

    def make(x):
        calls.append(None)
        logits = torch.zeros(len(x), 2)
        if len(calls) == batch:
            logits[0, 1] = value
        return logits

    return make


@pytest.mark.parametrize(
    ("value", "batch", "calls"), [(float("nan"), 1, 1), (float("inf"), 3, 3), (float("-inf"), 2, 3)]
)
def test_predict_refuses_non_finite_logits(image_splits, value, batch, calls):
    model = Fixed(_poisoned(value, batch))
    message = _one_line_error(
        lambda: predict(model, image_splits["test_id"], device=CPU, batch_size=32, num_classes=2, progress=False)
    )
    seen = 32 if batch == 1 else 96
    assert f"NaN or infinite logits for 1 of {seen} images" in message
    # Found on the first batch, the model is not run further; later, it is found at the end.
    assert model.calls == calls


def test_channel_statistics_given_or_from_the_model():
    plain = nn.Identity()
    assert channel_statistics(plain) is None
    mean, std = channel_statistics(plain, mean=(0.5, 0.4, 0.3))
    assert mean.flatten().tolist() == pytest.approx([0.5, 0.4, 0.3]) and std.flatten().tolist() == [1, 1, 1]
    own = nn.Identity()
    own.input_mean, own.input_std = (0.1, 0.2, 0.3), torch.tensor([0.5, 0.5, 0.5])
    mean, std = channel_statistics(own)
    assert mean.shape == (1, 3, 1, 1) and mean.flatten().tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert std.flatten().tolist() == [0.5, 0.5, 0.5]
    # Given values win over the model's own, as a pair.
    mean, std = channel_statistics(own, std=(2, 2, 2))
    assert mean.flatten().tolist() == [0, 0, 0] and std.flatten().tolist() == [2, 2, 2]


@pytest.mark.parametrize(
    ("mean", "std", "message"),
    [
        ((0.5, 0.5), None, "bad input mean (0.5, 0.5); give three finite numbers"),
        (None, (1, float("nan"), 1), "bad input std"),
        ("abc", None, "bad input mean 'abc'"),
        (None, (1, 0, 1), "every channel's std must be above 0"),
        (None, (1, -1, 1), "every channel's std must be above 0"),
    ],
)
def test_bad_channel_statistics_are_one_line(mean, std, message):
    assert message in _one_line_error(lambda: channel_statistics(nn.Identity(), mean, std))


def test_predict_normalises_inputs_per_channel(image_splits):
    split = image_splits["test_id"].select(range(8))
    seen = []
    model = Fixed(lambda x: seen.append(x.clone()) or torch.zeros(len(x), 2))
    statistics = channel_statistics(model, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0))
    predict(model, split, device=CPU, num_workers=0, statistics=statistics, progress=False)
    pixels = torch.from_numpy(np.stack([np.asarray(image) for image in split["image"]])).permute(0, 3, 1, 2) / 255
    expected = (pixels - torch.tensor([0.5, 0.25, 0.0]).view(1, 3, 1, 1)) / torch.tensor([0.5, 0.25, 2.0]).view(
        1, 3, 1, 1
    )
    torch.testing.assert_close(seen[0], expected, atol=1e-6, rtol=0)
    assert torch.equal(
        to_float(torch.from_numpy(np.array(split["image"][0]))[None], CPU, channels_last=False), pixels[:1]
    )


class ViewHead(nn.Module):
    """Reshapes with .view() after a convolution, as many hand-written models do."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.linear = nn.Linear(4 * 32 * 32, 2)

    def forward(self, x):
        features = self.conv(x)
        return self.linear(features.view(features.shape[0], -1))


def test_models_that_need_contiguous_tensors_still_run(image_splits):
    split = image_splits["test_id"]
    model = ViewHead()
    predictions, probabilities = predict(model, split, device=CPU, num_workers=0, progress=False)
    expected_predictions, expected_probabilities = _manual(model, split)
    np.testing.assert_array_equal(predictions, expected_predictions)
    np.testing.assert_allclose(probabilities, expected_probabilities, atol=1e-6, rtol=0)
    # Asked for explicitly, the layout is not second-guessed.
    with pytest.raises(ValueError, match="view"):
        predict(ViewHead(), split, device=CPU, channels_last=True, num_workers=0, progress=False)


def test_a_failing_model_is_one_line():
    class Broken(nn.Module):
        def forward(self, x):
            raise KeyError("no such layer\nanywhere")

    split = datasets.Dataset.from_dict(
        {"image": [Image.fromarray(np.zeros((8, 8, 3), np.uint8))]},
        features=datasets.Features({"image": datasets.Image()}),
    )
    message = _one_line_error(lambda: predict(Broken(), split, device=CPU, num_workers=0, progress=False))
    assert "the model failed on a batch of shape (1, 3, 8, 8) with KeyError" in message
    assert "no such layer" in message


def test_predict_refuses_empty_and_imageless_splits(image_splits):
    model = create_model("mlp", 2, 32, seed=0)
    with pytest.raises(ValueError, match="empty"):
        predict(model, image_splits["test_id"].select([]), device=CPU, progress=False)
    with pytest.raises(ValueError, match="no 'image' column"):
        predict(model, image_splits["test_id"].remove_columns("image"), device=CPU, progress=False)


def _png(image: np.ndarray) -> bytes:
    """Any PNG Pillow writes (grey ones too), as a user's own dataset may hold."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _image_table(*images: np.ndarray) -> pa.Table:
    return pa.table({"image": [{"bytes": _png(image), "path": None} for image in images]})


def test_decode_converts_grey_to_rgb_and_refuses_mixed_sizes():
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    decoded = decode_images(_image_table(grey, grey))
    assert decoded.shape == (2, 8, 8, 3)
    assert all(np.array_equal(decoded[0, :, :, c], grey) for c in range(3))
    with pytest.raises(ValueError, match="differ in size"):
        decode_images(_image_table(np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8)))


def test_decode_split_matches_datasets_own_decoding(image_splits):
    split = image_splits["validation"]
    decoded = decode_split(split, batch_size=50, num_workers=0)
    expected = np.stack([np.asarray(image) for image in split["image"]])
    assert decoded.dtype == torch.uint8
    np.testing.assert_array_equal(decoded.numpy(), expected)


@pytest.mark.gpu
def test_cuda_bf16_channels_last_agrees_with_cpu(image_splits):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    split = image_splits["test_id"]
    model = create_model("cnn-flatten", 2, 32, seed=0)
    # A trained model, so that agreement is not decided by near-ties of random logits.
    train(
        model,
        image_splits["train"],
        image_splits["validation"],
        TrainConfig(epochs=2, batch_size=32),
        device=CPU,
        progress=False,
    )
    on_cpu, _ = predict(model, split, device=CPU, num_workers=0, progress=False)
    on_gpu, probabilities = predict(
        model, split, device=torch.device("cuda"), bf16=True, channels_last=True, num_workers=2, progress=False
    )
    assert next(model.parameters()).device.type == "cuda"
    assert np.isfinite(probabilities).all()
    assert (on_gpu == on_cpu).mean() >= 0.95


@pytest.mark.gpu
def test_cuda_normalises_and_refuses_non_finite_logits_as_cpu_does(image_splits):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    split = image_splits["test_id"]
    seen = {}

    def record(x):
        seen.setdefault(x.device.type, x.float().cpu())
        return torch.zeros(len(x), 2, device=x.device)

    statistics = channel_statistics(nn.Identity(), mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0))
    for device in (CPU, torch.device("cuda")):
        predict(Fixed(record), split, device=device, batch_size=32, statistics=statistics, progress=False)
    torch.testing.assert_close(seen["cuda"], seen["cpu"], atol=1e-6, rtol=0)
    poisoned = Fixed(lambda x: torch.full((len(x), 2), float("nan"), device=x.device))
    message = _one_line_error(
        lambda: predict(poisoned, split, device=torch.device("cuda"), batch_size=32, num_classes=2, progress=False)
    )
    assert "NaN or infinite logits for 32 of 32 images" in message and poisoned.calls == 1


# Loading models and weights

MODEL_FILE = """
import torch
from torch import nn

def both(num_classes, canvas):
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * canvas * canvas, num_classes))

def classes_only(num_classes=2):
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))

def anything(**options):
    return nn.Linear(options["canvas"], options["num_classes"])

def plain():
    return nn.Linear(2, 2)

def not_a_model(num_classes):
    return "model"

def broken():
    raise RuntimeError("weights server\\nunreachable")

NUMBER = 3
"""


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(textwrap.dedent(MODEL_FILE))
    return path


def _one_line_error(call) -> str:
    with pytest.raises(ValueError) as error:
        call()
    message = str(error.value)
    assert "\n" not in message
    return message


def test_factories_get_only_the_arguments_they_take(model_file):
    assert build_model(f"{model_file}:both", num_classes=4, canvas=8)[1].weight.shape == (4, 3 * 8 * 8)
    assert build_model(f"{model_file}:classes_only", num_classes=5, canvas=8)[1].out_features == 5
    assert build_model(f"{model_file}:anything", num_classes=6, canvas=7).weight.shape == (6, 7)
    assert isinstance(build_model(f"{model_file}:plain", num_classes=6, canvas=7), nn.Linear)


def test_factory_file_may_import_its_neighbours(tmp_path):
    (tmp_path / "helper_layers_for_test.py").write_text("from torch import nn\nWIDTH = 5\n")
    (tmp_path / "entry.py").write_text(
        "from torch import nn\nimport helper_layers_for_test as h\ndef make():\n    return nn.Linear(h.WIDTH, 2)\n"
    )
    assert build_model(f"{tmp_path / 'entry.py'}:make", num_classes=2, canvas=8).in_features == 5


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{file}", "path/to/file.py:function"),
        ("{file}:", "path/to/file.py:function"),
        ("{missing}:both", "does not exist"),
        ("{file}:nothing", "has no 'nothing'; it defines anything, both, broken, classes_only, not_a_model, plain"),
        ("{file}:NUMBER", "is not callable (it is of type int)"),
        ("{broken_file}:f", "SyntaxError"),
        ("{raising_file}:f", "ZeroDivisionError: division by zero"),
    ],
)
def test_factory_spec_errors_are_one_line(model_file, tmp_path, spec, message):
    (tmp_path / "syntax.py").write_text("def f(:\n    pass\n")
    (tmp_path / "raising.py").write_text("1 / 0\n")
    spec = spec.format(
        file=model_file,
        missing=tmp_path / "absent.py",
        broken_file=tmp_path / "syntax.py",
        raising_file=tmp_path / "raising.py",
    )
    assert message in _one_line_error(lambda: load_factory(spec))


def test_factory_results_are_checked(model_file):
    assert "returned a str" in _one_line_error(
        lambda: build_model(f"{model_file}:not_a_model", num_classes=2, canvas=8)
    )
    message = _one_line_error(lambda: build_model(f"{model_file}:broken", num_classes=2, canvas=8))
    assert "RuntimeError: weights server unreachable" in message


def test_weights_round_trip_gives_identical_outputs(tmp_path):
    model = create_model("resnet-small", 3, 32, seed=1).eval()
    # Move batch-norm statistics off their initial values so that buffers are tested too.
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 3, 32, 32))
    model.eval()
    path = tmp_path / "run" / "model.safetensors"
    save_weights(model, path)
    assert [p.name for p in path.parent.iterdir()] == ["model.safetensors"]
    other = create_model("resnet-small", 3, 32, seed=2).eval()
    images = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert not torch.equal(model(images), other(images))
        load_weights(other, path)
        assert torch.equal(model(images), other(images))


def test_channels_last_models_save_fine(tmp_path):
    model = create_model("cnn-gap", 2, 32, seed=0).to(memory_format=torch.channels_last)
    save_weights(model, tmp_path / "m.safetensors")
    fresh = create_model("cnn-gap", 2, 32, seed=5)
    load_weights(fresh, tmp_path / "m.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))


@pytest.mark.parametrize("name", ["model.pt", "model.pth", "model.bin"])
def test_pickle_formats_refused(tmp_path, name):
    model = create_model("mlp", 2, 8, seed=0)
    torch.save(model.state_dict(), tmp_path / name)
    assert "only safetensors" in _one_line_error(lambda: load_weights(model, tmp_path / name))


def test_missing_and_corrupt_weight_files_refused(tmp_path):
    model = create_model("mlp", 2, 8, seed=0)
    assert "does not exist" in _one_line_error(lambda: load_weights(model, tmp_path / "none.safetensors"))
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    assert "not a readable safetensors" in _one_line_error(lambda: load_weights(model, tmp_path / "bad.safetensors"))


def test_mismatched_weights_refused(tmp_path):
    gap = create_model("cnn-gap", 2, 32, seed=0)
    flatten = create_model("cnn-flatten", 2, 32, seed=0)
    save_weights(flatten, tmp_path / "flatten.safetensors")
    message = _one_line_error(lambda: load_weights(gap, tmp_path / "flatten.safetensors"))
    assert "missing (1.2.bias, 1.2.weight)" in message
    assert "unexpected (2.bias, 2.weight)" in message
    wrong_shape = {k: v for k, v in gap.state_dict().items()}
    wrong_shape["1.2.weight"] = torch.zeros(5, 64)
    save_file(wrong_shape, tmp_path / "shape.safetensors")
    assert "1.2.weight (5, 64) vs (2, 64)" in _one_line_error(lambda: load_weights(gap, tmp_path / "shape.safetensors"))


def test_weights_of_another_architecture_with_the_same_keys_are_refused(tmp_path):
    """The Red-Green paddings share every key and shape: only the file's record tells them apart."""
    save_weights(create_model("redgreen-full", 2, 32, seed=0), tmp_path / "full.safetensors")
    circular = create_model("redgreen-circular", 2, 32, seed=0)
    message = _one_line_error(lambda: load_weights(circular, tmp_path / "full.safetensors"))
    assert "holds 'redgreen-full' weights" in message and "redgreen-circular" in message


def test_a_hostile_record_is_quoted_not_sent_to_the_terminal(tmp_path):
    """The record is a stranger's text: escape sequences in it must not reach the terminal raw."""
    model = create_model("cnn-gap", 2, 32, seed=0)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    for record in ({"architecture": "\x1b]0;pwned\x07\x1b[2J"}, {"architecture": "cnn-gap", "revision": "\x1b[2J"}):
        save_file(tensors, tmp_path / "hostile.safetensors", metadata={"format": "pt", **record})
        message = _one_line_error(lambda: load_weights(model, tmp_path / "hostile.safetensors"))
        assert "\x1b" not in message and "\\x1b" in message


def test_weights_of_an_older_revision_are_refused(tmp_path):
    """vit-tiny gained its image standardisation without new weights: an older file fits every key."""
    model = create_model("vit-tiny", 2, 32, seed=0)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, tmp_path / "old.safetensors", metadata={"format": "pt", "architecture": "vit-tiny"})
    message = _one_line_error(
        lambda: load_weights(create_model("vit-tiny", 2, 32, seed=1), tmp_path / "old.safetensors")
    )
    assert "'vit-tiny' revision '1'" in message and "revision 2" in message
    save_weights(model, tmp_path / "new.safetensors")
    load_weights(create_model("vit-tiny", 2, 32, seed=1), tmp_path / "new.safetensors")
    # A researcher's own file, without elsewhere's record, is checked by its keys alone.
    save_file(tensors, tmp_path / "plain.safetensors")
    load_weights(create_model("vit-tiny", 2, 32, seed=1), tmp_path / "plain.safetensors")


def test_count_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2, bias=False))
    assert count_parameters(model) == 3 * 4 + 4 + 4 * 2
    shared = nn.Linear(2, 2)
    assert count_parameters(nn.Sequential(shared, shared)) == 6


def test_plain_png_fast_path_reads_what_pillow_reads_and_refuses_the_rest():
    import struct
    import zlib

    from elsewhere.evaluation.runner import plain_png_pixels
    from elsewhere.splits.shards import png_bytes

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(4, 9, 13, 3), dtype=np.uint8)
    for blob, image in zip((png_bytes(i) for i in images), images):
        assert np.array_equal(plain_png_pixels(blob), image)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(blob))), image)
    # Pillow's own PNGs of noise use row filters: left to Pillow.
    buffer = io.BytesIO()
    Image.fromarray(images[0]).save(buffer, format="PNG")
    assert plain_png_pixels(buffer.getvalue()) is None
    good = png_bytes(images[0])
    corrupt_crc = good[:-16] + bytes([good[-16] ^ 1]) + good[-15:]
    assert plain_png_pixels(corrupt_crc) is None
    assert plain_png_pixels(good[:24] + b"\x10" + good[25:]) is None  # 16-bit: not ours
    assert plain_png_pixels(good[:60]) is None and plain_png_pixels(b"") is None

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))

    # A tiny header over a stream that would inflate to 100 MB: refused after inflating one row too many.
    bomb = zlib.compress(bytes(100_000_000), 9)
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
    assert plain_png_pixels(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", bomb) + chunk(b"IEND", b"")) is None
