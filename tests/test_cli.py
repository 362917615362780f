"""Every command end to end on the real tiny dataset, its human-readable output as well as --json."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from importlib.metadata import version

import datasets
import numpy as np
import pandas as pd
import pytest
import torch

from elsewhere.cli import build_parser, main
from elsewhere.evaluation.loading import load_factory, save_weights
from elsewhere.evaluation.results import load_results
from elsewhere.splits.names import EVALUATED_SPLITS
from elsewhere.splits.registry import protocol_names

PROTOCOL = "location-halves"
FACTORY = """
    import torch
    from torch import nn

    class Brightest(nn.Module):
        '''Predicts the class of the brightest mean channel, a fixed rule with one weight.'''

        def __init__(self, num_classes):
            super().__init__()
            self.num_classes = num_classes
            self.gain = nn.Parameter(torch.ones(1))

        def forward(self, x):
            means = x.mean(dim=(2, 3)) * self.gain
            logits = torch.zeros(len(x), self.num_classes)
            logits[torch.arange(len(x)), means.argmax(1)] = 1.0
            return logits

    def build(num_classes):
        return Brightest(num_classes)
"""


def _run(capsys, *argv) -> tuple[int, str, str]:
    """What the command printed: not what the test printed before (a first read of the data prints
    the progress bars of `datasets`)."""
    capsys.readouterr()
    status = main([str(a) for a in argv])
    out = capsys.readouterr()
    return status, out.out, out.err.strip()


def _evaluated(tiny_dataset) -> pd.DataFrame:
    frames = [
        datasets.load_dataset(str(tiny_dataset), PROTOCOL, split=split)
        .select_columns(["id", "label", "x"])
        .to_pandas()
        .assign(split=split)
        for split in ("test_id", "test_ood", "probe")
    ]
    return pd.concat(frames, ignore_index=True)


def test_score_compare_and_report(tiny_dataset, tmp_path, capsys):
    items = _evaluated(tiny_dataset)
    oracle = items[["id"]].assign(prediction=items["label"])
    # Right only where the object is in the trained (left) half: the classic failure.
    left_only = items[["id"]].assign(prediction=np.where(items["x"] < 0.5, items["label"], (items["label"] + 1) % 10))
    oracle.to_csv(tmp_path / "oracle.csv", index=False)
    left_only.to_parquet(tmp_path / "left.parquet", index=False)

    status, out, _ = _run(
        capsys,
        "score",
        "--data",
        tiny_dataset,
        "--protocol",
        PROTOCOL,
        "--predictions",
        tmp_path / "oracle.csv",
        "--out",
        tmp_path / "a.json",
    )
    assert status == 0 and "out-of-location accuracy 1.0000" in out
    status, _, _ = _run(
        capsys,
        "score",
        "--data",
        tiny_dataset,
        "--protocol",
        PROTOCOL,
        "--predictions",
        tmp_path / "left.parquet",
        "--out",
        tmp_path / "b.json",
    )
    assert status == 0
    b = load_results(tmp_path / "b.json")
    ood = items[items["split"] == "test_ood"]
    assert b["metrics"]["ood_accuracy"]["value"] == pytest.approx(float((ood["x"] < 0.5).mean()))
    assert b["metrics"]["id_accuracy"]["value"] == 1.0
    assert b["protocol"]["name"] == PROTOCOL and len(b["protocol"]["fingerprint"]) == 64

    status, out, _ = _run(capsys, "compare", tmp_path / "a.json", tmp_path / "b.json", "--json")
    comparison = json.loads(out)
    assert status == 0 and comparison["difference"]["value"] == pytest.approx(1.0)
    assert comparison["p_value"] < 1e-6
    n = comparison["n"]
    status, out, err = _run(capsys, "compare", tmp_path / "a.json", tmp_path / "b.json")
    assert status == 0 and err == ""
    assert out.startswith(f"test_ood, {n} paired items: A (oracle) 1.0000, B (left) 0.0000; A − B +1.0000 (95% CI +")
    assert "McNemar p = " in out and out.count("\n") == 1

    status, out, _ = _run(capsys, "report", tmp_path / "b.json", "--out", tmp_path / "plots")
    assert status == 0
    assert sorted(out.split()) == sorted(str(p) for p in (tmp_path / "plots").iterdir())
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["curves.png", "location_map.png", "summary.png"]


def test_bad_predictions_are_one_line(tiny_dataset, tmp_path, capsys):
    items = _evaluated(tiny_dataset)
    items[["id"]].assign(prediction=items["label"]).iloc[1:].to_csv(tmp_path / "short.csv", index=False)
    status, _, err = _run(
        capsys,
        "score",
        "--data",
        tiny_dataset,
        "--protocol",
        PROTOCOL,
        "--predictions",
        tmp_path / "short.csv",
        "--out",
        tmp_path / "r.json",
    )
    assert status == 2 and "missing" in err and items["id"][0] in err and "\n" not in err
    assert not (tmp_path / "r.json").exists()


def test_bad_predictions_are_one_line_on_a_cold_cache(tiny_dataset, tmp_path, capsys, monkeypatch):
    # The first read of a dataset builds the `datasets` cache, whose progress bars went to stderr in
    # front of the error: a new user's first refused file was several lines. A cache of its own here,
    # so that the first read happens in this test whatever ran before.
    cache = tmp_path / "cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    (tmp_path / "bad.csv").write_text("id,prediction\nnot-an-id,0\n")
    predictions = ("--predictions", tmp_path / "bad.csv", "--out", tmp_path / "r.json")
    status, out, err = _run(capsys, "score", "--data", tiny_dataset, "--protocol", PROTOCOL, *predictions)
    assert any(cache.iterdir()), "the dataset was not read into the cold cache"
    assert status == 2 and out == "" and err.startswith("elsewhere score: error: ") and "\n" not in err
    assert not (tmp_path / "r.json").exists()


def test_evaluate_runs_a_factory_with_safetensors_weights(tiny_dataset, tmp_path, capsys):
    factory = tmp_path / "net.py"
    factory.write_text(textwrap.dedent(FACTORY))
    model = load_factory(f"{factory}:build")(10)
    with torch.no_grad():
        model.gain.fill_(2.0)
    save_weights(model, tmp_path / "net.safetensors")
    evaluate = ("evaluate", "--data", tiny_dataset, "--protocol", PROTOCOL, "--model", f"{factory}:build")
    evaluate += ("--weights", tmp_path / "net.safetensors", "--device", "cpu", "--quiet")
    status, out, _ = _run(capsys, *evaluate, "--out", tmp_path / "e.json", "--save-predictions", tmp_path / "p.parquet")
    assert status == 0, out
    assert out.startswith(f"{PROTOCOL}: out-of-location accuracy ") and out.endswith(
        f"results in {tmp_path / 'e.json'}\n"
    )
    evaluated = load_results(tmp_path / "e.json")
    assert evaluated["device"] == "cpu" and evaluated["model"]["parameters"] == 1
    # The saved predictions scored again give the same results: one harness, one truth.
    status, _, _ = _run(
        capsys,
        "score",
        "--data",
        tiny_dataset,
        "--protocol",
        PROTOCOL,
        "--predictions",
        tmp_path / "p.parquet",
        "--out",
        tmp_path / "s.json",
    )
    rescored = load_results(tmp_path / "s.json")
    assert rescored["predictions_sha256"] == evaluated["predictions_sha256"]
    # Read from a pixel cache (filled by the first run, read by the second), the same predictions.
    for _ in range(2):
        status, _, _ = _run(capsys, *evaluate, "--out", tmp_path / "c.json", "--pixel-cache", tmp_path / "pixels")
        assert (
            status == 0 and load_results(tmp_path / "c.json")["predictions_sha256"] == evaluated["predictions_sha256"]
        )
    assert len(list((tmp_path / "pixels").glob("*.npy"))) == 3
    assert rescored["metrics"]["accuracy"] == evaluated["metrics"]["accuracy"]
    # The rule is known, so its accuracy can be computed from the images directly.
    table = datasets.load_dataset(str(tiny_dataset), PROTOCOL, split="test_ood")
    expected = np.mean(
        [np.asarray(r["image"].convert("RGB"), dtype=float).mean((0, 1)).argmax() == r["label"] for r in table]
    )
    assert evaluated["metrics"]["ood_accuracy"]["value"] == pytest.approx(expected)

    if not torch.cuda.is_available():
        status, _, err = _run(
            capsys,
            "evaluate",
            "--data",
            tiny_dataset,
            "--protocol",
            PROTOCOL,
            "--model",
            f"{factory}:build",
            "--out",
            tmp_path / "c.json",
            "--device",
            "cuda",
        )
        assert status == 2 and "cuda" in err.lower() and "\n" not in err
    status, _, err = _run(
        capsys,
        "evaluate",
        "--data",
        tiny_dataset,
        "--protocol",
        PROTOCOL,
        "--model",
        f"{factory}:build",
        "--weights",
        tmp_path / "net.pt",
        "--out",
        tmp_path / "c.json",
        "--device",
        "cpu",
        "--quiet",
    )
    assert status == 2 and "safetensors" in err and "\n" not in err


# The model contract: logits of the protocol's width, finite, on inputs normalised as asked.

CONTRACT_MODELS = """
    import torch
    from torch import nn

    class ChannelMeans(nn.Module):
        '''Logits: the mean of each input channel in classes 0-2, far below that elsewhere.'''

        def __init__(self, width):
            super().__init__()
            self.width = width

        def forward(self, x):
            logits = torch.full((len(x), self.width), -1e3)
            logits[:, :3] = x.mean(dim=(2, 3))
            return logits

    def means(num_classes):
        return ChannelMeans(num_classes)

    def means_normalised_itself(num_classes):
        model = ChannelMeans(num_classes)
        model.input_mean, model.input_std = (0.5, 0.2, 0.1), (0.1, 0.5, 1.0)
        return model

    def five(num_classes, canvas):
        return ChannelMeans(5)

    class NaNs(nn.Module):
        def forward(self, x):
            return torch.full((len(x), 10), float("nan"))

    def nans():
        return NaNs()
"""
MEAN, STD = (0.5, 0.2, 0.1), (0.1, 0.5, 1.0)


@pytest.fixture
def contract_models(tmp_path):
    path = tmp_path / "contract.py"
    path.write_text(textwrap.dedent(CONTRACT_MODELS))
    return path


def _evaluate(capsys, data, model, out, *extra):
    return _run(
        capsys,
        "evaluate",
        "--data",
        data,
        "--protocol",
        PROTOCOL,
        "--model",
        model,
        "--out",
        out,
        "--device",
        "cpu",
        "--quiet",
        *extra,
    )


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("five", "the model returned shape (32, 5) for 32 images; it must return logits of shape (32, 10)"),
        ("nans", "the model returned NaN or infinite logits for 32 of 32 images"),
    ],
)
def test_a_model_breaking_the_contract_is_refused_in_one_line(
    tiny_dataset, contract_models, tmp_path, capsys, factory, message
):
    status, out, err = _evaluate(capsys, tiny_dataset, f"{contract_models}:{factory}", tmp_path / "r.json")
    assert status == 2 and out == ""
    assert err.startswith("elsewhere evaluate: error: ") and message in err and "\n" not in err
    assert not (tmp_path / "r.json").exists()


def test_inputs_are_normalised_by_the_options_or_the_model(tiny_dataset, contract_models, tmp_path, capsys):
    flags = ("--mean", ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD)))
    runs = {
        "plain": (f"{contract_models}:means",),
        "options": (f"{contract_models}:means", *flags),
        "attributes": (f"{contract_models}:means_normalised_itself",),
    }
    predicted = {}
    for name, (model, *extra) in runs.items():
        status, _, err = _evaluate(
            capsys,
            tiny_dataset,
            model,
            tmp_path / f"{name}.json",
            "--save-predictions",
            tmp_path / f"{name}.parquet",
            *extra,
        )
        assert status == 0, err
        predicted[name] = pd.read_parquet(tmp_path / f"{name}.parquet").set_index("id")["prediction"]
    # The expected predictions, from the images themselves: argmax over channels of (mean − m) / s.
    table = datasets.load_dataset(str(tiny_dataset), PROTOCOL, split="test_ood")
    channel_means = np.stack(
        [np.asarray(r["image"].convert("RGB"), dtype=np.float64).mean((0, 1)) / 255 for r in table]
    )
    expected = ((channel_means - MEAN) / STD).argmax(axis=1)
    np.testing.assert_array_equal(predicted["options"][table["id"]].to_numpy(), expected)
    np.testing.assert_array_equal(predicted["attributes"][table["id"]].to_numpy(), expected)
    assert (predicted["plain"][table["id"]].to_numpy() != expected).any()
    recorded = load_results(tmp_path / "options.json")["model"]["input"]
    assert recorded == {"mean": pytest.approx(list(MEAN)), "std": pytest.approx(list(STD))}
    assert "input" not in load_results(tmp_path / "plain.json")["model"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--mean", "0.5,0.5"), "argument --mean: got '0.5,0.5'; give three numbers R,G,B"),
        (("--std", "a,b,c"), "argument --std: got 'a,b,c'; give three numbers R,G,B"),
    ],
)
def test_bad_normalisation_options_are_usage_errors(tiny_dataset, contract_models, tmp_path, capsys, options, message):
    with pytest.raises(SystemExit) as exit_:
        _evaluate(capsys, tiny_dataset, f"{contract_models}:means", tmp_path / "r.json", *options)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and message in err and "\n" not in err


def test_a_zero_std_is_refused(tiny_dataset, contract_models, tmp_path, capsys):
    status, _, err = _evaluate(capsys, tiny_dataset, f"{contract_models}:means", tmp_path / "r.json", "--std", "1,0,1")
    assert status == 2 and "every channel's std must be above 0" in err and "\n" not in err


def test_evaluate_help_states_the_contract(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for fact in ("float32 N×3×H×W", "RGB in [0, 1]", "num_classes", "canvas", "input_mean", "input_std", "logits N×C"):
        assert fact in text


def test_score_help_states_the_predictions_format(tiny_dataset, capsys):
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    text = capsys.readouterr().out
    assert all(split in text for split in EVALUATED_SPLITS)
    assert all(column in text for column in ("id", "prediction", "probabilities"))
    # The example's rows are real: ids of the dataset, a class index and a class name.
    example = [line.strip().split(",") for line in text.split("id,prediction")[1].strip().splitlines()]
    names = datasets.load_dataset(str(tiny_dataset), PROTOCOL, split="test_id").features["label"].names
    assert set(_evaluated(tiny_dataset)["id"]) >= {row[0] for row in example}
    assert example[0][1].isdigit() and int(example[0][1]) < len(names) and example[1][1] in names


# The other commands' human-readable output


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"elsewhere {version('elsewhere')}\n"


def test_protocols_lists_every_protocol(capsys):
    status, out, _ = _run(capsys, "protocols")
    lines = out.splitlines()
    assert status == 0 and [line.split()[0] for line in lines] == list(protocol_names())
    assert any(line.split()[0] == "iid" and "(control)" in line for line in lines)
    status, out, _ = _run(capsys, "protocols", "--json")
    assert [p["name"] for p in json.loads(out)] == list(protocol_names())


@pytest.mark.parametrize(("protocols", "counted"), [("iid", "1 protocol"), ("iid,red-green", "2 protocols")])
def test_generate_counts_in_words(tmp_path, capsys, protocols, counted):
    out_folder = tmp_path / "d"
    status, out, _ = _run(
        capsys, "generate", "--out", out_folder, "--size", "tiny", "--protocols", protocols, "--workers", "1", "--quiet"
    )
    manifest = json.loads((out_folder / "elsewhere.json").read_text())
    images = sum(s["rows"] for p in manifest["protocols"].values() for s in p["splits"].values())
    assert status == 0 and out == f"wrote {images} images in {counted} to {out_folder}\n"


def test_train_prints_its_results(tiny_dataset, tmp_path, capsys):
    status, out, _ = _run(
        capsys,
        "train",
        "--data",
        tiny_dataset,
        "--protocol",
        PROTOCOL,
        "--arch",
        "mlp",
        "--epochs",
        "1",
        "--out",
        tmp_path / "run",
        "--device",
        "cpu",
        "--quiet",
    )
    ood = load_results(tmp_path / "run" / "results.json")["metrics"]["ood_accuracy"]["value"]
    assert status == 0 and out.startswith(f"{PROTOCOL}: out-of-location accuracy {ood:.4f} [")
    assert out.endswith(f"results in {tmp_path / 'run' / 'results.json'}\n")


def test_red_green_scores_its_moved_test_end_to_end(tiny_dataset, tmp_path, capsys):
    """The third Red-Green test (boxes moved horizontally too) is scored with an interval and summarised."""
    run = tmp_path / "run"
    status, out, _ = _run(
        capsys,
        *("train", "--data", tiny_dataset, "--protocol", "red-green", "--arch", "redgreen-same"),
        *("--epochs", "1", "--out", run, "--device", "cpu", "--quiet"),
    )
    results = load_results(run / "results.json")
    moved = results["metrics"]["accuracy"]["test_moved"]
    rows = datasets.load_dataset(str(tiny_dataset), "red-green", split="test_moved").num_rows
    assert status == 0 and moved["n"] == rows == results["items"]["test_moved"]["count"] > 0
    assert moved["ci"][0] <= moved["value"] <= moved["ci"][1]
    assert results["model"]["pretrained"] is False and results["model"]["training"]["config"]["pretrained"] is False
    assert f"; test_moved {moved['value']:.4f} [{moved['ci'][0]:.4f}, {moved['ci'][1]:.4f}]; results in" in out


def test_red_green_predictions_must_cover_the_moved_test(tiny_dataset, tmp_path, capsys):
    frames = {
        split: datasets.load_dataset(str(tiny_dataset), "red-green", split=split).select_columns(["id", "label"])
        for split in ("test_id", "test_ood", "test_moved", "probe")
    }
    items = pd.concat([frame.to_pandas() for frame in frames.values()], ignore_index=True)
    oracle = items[["id"]].assign(prediction=items["label"])
    score = ("score", "--data", tiny_dataset, "--protocol", "red-green")
    moved = oracle["id"].str.contains("/test_moved/")
    oracle[~moved].to_csv(tmp_path / "without.csv", index=False)
    status, out, err = _run(capsys, *score, "--predictions", tmp_path / "without.csv", "--out", tmp_path / "a.json")
    assert status == 2 and out == "" and "\n" not in err and not (tmp_path / "a.json").exists()
    assert f"{int(moved.sum())} of {len(oracle):,} evaluated ids are missing, first 'red-green/test_moved/" in err
    assert "test_moved" in err.split("every item of")[1]
    oracle.to_csv(tmp_path / "all.csv", index=False)
    status, out, _ = _run(capsys, *score, "--predictions", tmp_path / "all.csv", "--out", tmp_path / "b.json")
    assert status == 0 and "test_moved 1.0000" in out
    assert load_results(tmp_path / "b.json")["metrics"]["accuracy"]["test_moved"]["value"] == 1.0


def test_submit_prints_the_stored_entry(tiny_dataset, tmp_path, capsys):
    items = _evaluated(tiny_dataset)
    items[["id"]].assign(prediction=items["label"]).to_csv(tmp_path / "oracle.csv", index=False)
    status, out, _ = _run(
        capsys,
        "submit",
        "--data",
        tiny_dataset,
        "--protocol",
        PROTOCOL,
        "--predictions",
        tmp_path / "oracle.csv",
        "--model-name",
        "oracle",
        "--db",
        tmp_path / "board.sqlite",
        "--submitter",
        "tester",
    )
    assert status == 0 and out == f"stored entry #1: oracle on {PROTOCOL}, out-of-location accuracy 1.0000\n"


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("--size", "huge", "'tiny', 'small', 'full'"),
        ("--device", "gpu", "'auto', 'cpu', 'cuda'"),
    ],
)
def test_options_with_known_values_refuse_others(tmp_path, capsys, option, value, allowed):
    command = {"--size": ["generate", "--out", tmp_path / "d"]}.get(
        option, ["train", "--data", tmp_path, "--protocol", PROTOCOL, "--arch", "mlp", "--out", tmp_path / "r"]
    )
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in [*command, option, value]])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and f"argument {option}: invalid choice: '{value}'" in err and allowed in err
    assert "\n" not in err


@pytest.mark.parametrize(
    ("arch", "words"),
    [
        ("cnn-gapp", "unknown architecture 'cnn-gapp' (did you mean 'cnn-gap'?); valid architectures: mlp,"),
        ("alexnet", "unknown architecture 'alexnet'; valid architectures: mlp,"),
        ("timm:../../etc", "bad backbone name 'timm:../../etc'"),
        ("timm:resnet18+pretrained+pretrained", "bad backbone name"),
        ("timm:", "bad backbone name 'timm:'"),
        ("torchvision:+pretrained", "bad backbone name"),
        ("timm:resnet18\n--out=/tmp/x", "bad backbone name 'timm:resnet18\\n--out=/tmp/x'"),
        ("timm:" + "a" * 101, "bad backbone name"),
        ("timm:a:b", "bad backbone name"),
        ("+pretrained", "unknown architecture '+pretrained'"),
    ],
)
def test_train_refuses_an_unknown_architecture_in_one_line(tmp_path, capsys, arch, words):
    command = ["train", "--data", tmp_path, "--protocol", PROTOCOL, "--arch", arch, "--out", tmp_path / "r"]
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in command])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and f"argument --arch: {words}" in err
    assert "bad backbone" in err or err.endswith("or a library backbone, 'timm:NAME' or 'torchvision:NAME'")
    assert "\n" not in err and not (tmp_path / "r").exists()


def test_train_help_lists_the_registry_and_the_backbone_forms(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = "".join(capsys.readouterr().out.split())  # help wraps lines at hyphens too
    from elsewhere.evaluation.architectures import list_architectures

    assert ",".join(list_architectures()) in text
    assert all(form in text for form in ("timm:NAME", "torchvision:NAME", "--pretrained", "ARCH+pretrained"))


def test_pretrained_is_refused_for_networks_without_published_weights(tiny_dataset, tmp_path, capsys):
    status, out, err = _run(
        capsys,
        *("train", "--data", tiny_dataset, "--protocol", PROTOCOL, "--arch", "cnn-gap", "--pretrained"),
        *("--out", tmp_path / "r", "--quiet"),
    )
    assert status == 2 and out == "" and "\n" not in err and not (tmp_path / "r").exists()
    assert "'cnn-gap' has no published weights" in err


def test_a_backbone_whose_library_is_missing_is_one_line_naming_the_extra(tiny_dataset, tmp_path, capsys):
    try:
        import timm  # noqa: F401

        pytest.skip("timm is usable here")
    except Exception:  # missing, or built for another torch
        pass
    status, out, err = _run(
        capsys,
        *("train", "--data", tiny_dataset, "--protocol", PROTOCOL, "--arch", "timm:resnet18", "--pretrained"),
        *("--out", tmp_path / "r", "--quiet", "--device", "cpu"),
    )
    assert status == 2 and out == "" and "\n" not in err and not (tmp_path / "r").exists()
    assert "backbone library 'timm' is not usable here" in err and "pip install 'elsewhere[backbones]'" in err


def test_leaderboard_refuses_a_port_in_use_before_doing_anything(tiny_dataset, tmp_path, capsys):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        status, out, err = _run(
            capsys,
            "leaderboard",
            "--data",
            tiny_dataset,
            "--db",
            tmp_path / "board.sqlite",
            "--port",
            port,
            "--baselines",
            tmp_path / "runs",
        )
    assert status == 2 and out == "" and "\n" not in err
    assert f"cannot serve on 127.0.0.1:{port}" in err and "choose another port with --port" in err
    assert not (tmp_path / "board.sqlite").exists()


def test_leaderboard_address_defaults_follow_gradio_settings(monkeypatch):
    arguments = ["leaderboard", "--data", "d"]
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    args = build_parser().parse_args(arguments)
    assert (args.host, args.port) == ("127.0.0.1", 7860)
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    args = build_parser().parse_args(arguments)
    assert (args.host, args.port) == ("0.0.0.0", 7861)
    assert build_parser().parse_args([*arguments, "--host", "::1"]).host == "::1"


def test_scoring_imports_neither_torch_nor_gradio(tiny_dataset, tmp_path):
    items = _evaluated(tiny_dataset)
    items[["id"]].assign(prediction=items["label"]).to_csv(tmp_path / "p.csv", index=False)
    script = (
        "import sys; from elsewhere.cli import main; "
        f"status = main(['score', '--data', {str(tiny_dataset)!r}, '--protocol', {PROTOCOL!r}, "
        f"'--predictions', {str(tmp_path / 'p.csv')!r}, '--out', {str(tmp_path / 'r.json')!r}]); "
        "print(status, sorted(m for m in ('torch', 'gradio') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "0 []"


def test_a_reader_that_stops_early_is_no_error():
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `elsewhere protocols | head -1` once head has its line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "elsewhere.cli", "protocols"], stdout=write_end, stderr=subprocess.PIPE, text=True
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


@pytest.mark.parametrize("port", ["0", "65536", "-1", "http", "1e3"])
def test_leaderboard_refuses_ports_that_are_none(tiny_dataset, capsys, port):
    with pytest.raises(SystemExit) as exit_:
        main(["leaderboard", "--data", str(tiny_dataset), "--port", port])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and f"argument --port: got '{port}'; give a whole number from 1 to 65535" in err


@pytest.mark.parametrize("host", ["1.2.3", "999.1.1.1"])  # not this machine's; no address at all
def test_leaderboard_refuses_a_host_that_is_not_here(tiny_dataset, tmp_path, capsys, host):
    status, _, err = _run(capsys, "leaderboard", "--data", tiny_dataset, "--db", tmp_path / "b.sqlite", "--host", host)
    assert status == 2 and f"cannot serve on {host}:" in err and "address of this machine with --host" in err
    assert "--port" not in err and "\n" not in err
