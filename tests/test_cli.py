"""The evaluation commands end to end on the real tiny dataset: score, evaluate, compare, report."""

import json
import textwrap

import datasets
import numpy as np
import pandas as pd
import pytest
import torch

from elsewhere.cli import main
from elsewhere.evaluation.loading import load_factory, save_weights
from elsewhere.evaluation.results import load_results

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

    status, out, _ = _run(capsys, "report", tmp_path / "b.json", "--out", tmp_path / "plots")
    assert status == 0
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


def test_evaluate_runs_a_factory_with_safetensors_weights(tiny_dataset, tmp_path, capsys):
    factory = tmp_path / "net.py"
    factory.write_text(textwrap.dedent(FACTORY))
    model = load_factory(f"{factory}:build")(10)
    with torch.no_grad():
        model.gain.fill_(2.0)
    save_weights(model, tmp_path / "net.safetensors")
    status, out, _ = _run(
        capsys,
        "evaluate",
        "--data",
        tiny_dataset,
        "--protocol",
        PROTOCOL,
        "--model",
        f"{factory}:build",
        "--weights",
        tmp_path / "net.safetensors",
        "--out",
        tmp_path / "e.json",
        "--save-predictions",
        tmp_path / "p.parquet",
        "--device",
        "cpu",
        "--quiet",
    )
    assert status == 0, out
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
