"""Results that travel: provenance in the results, and the model-index written as the Hub parses it."""

import copy
import hashlib
import json
import re

import pytest
from huggingface_hub import ModelCard, metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results

from elsewhere.api import evaluate, score
from elsewhere.cli import main
from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.data import load_truth
from elsewhere.evaluation.export import export_to_model_card
from elsewhere.evaluation.results import load_results, write_results
from elsewhere.splits.dataset import read_manifest
from elsewhere.splits.publish import dataset_tag

PROTOCOL = "location-halves-clutter"
REPO = "someone/elsewhere"


@pytest.fixture(scope="module")
def results_file(tiny_dataset, tmp_path_factory):
    """Results of real predictions (right on even rows, wrong on odd ones) scored on the tiny folder."""
    truth = load_truth(tiny_dataset, PROTOCOL)
    frame = truth.frame[["id", "label"]].copy()
    classes = len(truth.class_names)
    frame["prediction"] = [(label + i % 2) % classes for i, label in enumerate(frame["label"])]
    folder = tmp_path_factory.mktemp("export")
    frame[["id", "prediction"]].to_csv(folder / "preds.csv", index=False)
    results = score(tiny_dataset, PROTOCOL, folder / "preds.csv", model_name="half-right")
    write_results(results, folder / "results.json")
    return folder / "results.json"


def test_results_name_the_data_and_the_harness_commit(tiny_dataset, results_file):
    results = load_results(results_file)
    assert results["dataset"] == {"repo_id": None, "revision": None, "tag": dataset_tag(read_manifest(tiny_dataset))}
    commit = results["harness"]["commit"]
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit)


def test_evaluated_weights_are_hashed(tiny_dataset, tmp_path):
    import torch
    from safetensors.torch import save_file

    (tmp_path / "net.py").write_text(
        "import torch\n"
        "def build(num_classes, canvas):\n"
        "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * canvas * canvas, num_classes))\n"
    )
    truth = load_truth(tiny_dataset, PROTOCOL)
    canvas = read_manifest(tiny_dataset)["protocols"][PROTOCOL]["protocol"]["canvas"]
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * canvas * canvas, len(truth.class_names)))
    save_file(model.state_dict(), tmp_path / "net.safetensors")
    results = evaluate(
        tiny_dataset,
        PROTOCOL,
        f"{tmp_path / 'net.py'}:build",
        weights=tmp_path / "net.safetensors",
        device="cpu",
        progress=False,
    )
    expected = hashlib.sha256((tmp_path / "net.safetensors").read_bytes()).hexdigest()
    assert results["model"]["weights_sha256"] == expected


def _parsed(card_path):
    """The model-index as huggingface_hub reads it, by both of its parsers."""
    name, entries = model_index_to_eval_results(metadata_load(card_path)["model-index"])
    assert ModelCard.load(card_path).data.eval_results == entries
    return name, entries


def test_export_creates_a_card_the_hub_parses(tiny_dataset, results_file, tmp_path):
    card = tmp_path / "README.md"
    assert main(["export", str(results_file), "--model-card", str(card), "--dataset-repo", REPO]) == 0
    name, entries = _parsed(card)
    results = load_results(results_file)
    assert name == "half-right"
    by_metric = {(e.metric_type, e.dataset_split): e for e in entries}
    ood = by_metric[("accuracy", "test_ood")]
    assert ood.metric_value == pytest.approx(results["metrics"]["ood_accuracy"]["value"], abs=1e-6)
    assert ood.dataset_type == REPO and ood.dataset_config == PROTOCOL
    assert ood.dataset_revision == results["dataset"]["tag"]
    assert ("accuracy", "test_id") in by_metric


def test_export_again_updates_in_place_and_keeps_the_rest(results_file, tmp_path):
    card = tmp_path / "README.md"
    card.write_text(
        "---\nlicense: mit\nmodel-index:\n- name: my-net\n  results:\n  - task:\n      type: image-classification\n"
        "    dataset:\n      type: cifar10\n      name: CIFAR-10\n    metrics:\n    - type: accuracy\n"
        "      value: 0.9\n---\n\n# my-net\n\nHand-written text stays.\n"
    )
    results = load_results(results_file)
    export_to_model_card(results, card, dataset_repo=REPO)
    better = copy.deepcopy(results)
    better["metrics"]["ood_accuracy"]["value"] = 0.75
    export_to_model_card(better, card, dataset_repo=REPO)
    name, entries = _parsed(card)
    assert name == "my-net"
    ours = [e for e in entries if e.dataset_type == REPO]
    assert len(ours) == len({(e.metric_type, e.metric_name) for e in ours})  # no duplicates after two exports
    assert [e.metric_value for e in ours if e.dataset_split == "test_ood" and e.metric_type == "accuracy"] == [0.75]
    assert [e.dataset_type for e in entries if e.dataset_type != REPO] == ["cifar10"]
    text = card.read_text()
    assert "Hand-written text stays." in text and "license: mit" in text


def test_results_scored_on_a_repo_need_no_repo_option(results_file, tmp_path):
    results = load_results(results_file)
    results["dataset"] = {"repo_id": REPO, "revision": "a" * 40, "tag": results["dataset"]["tag"]}
    export_to_model_card(results, tmp_path / "README.md")
    _, entries = _parsed(tmp_path / "README.md")
    assert {e.dataset_revision for e in entries} == {"a" * 40}


@pytest.mark.parametrize("repo", [None, "not a repo", "a/b/c"])
def test_a_local_folder_needs_a_valid_repo_id(results_file, tmp_path, repo):
    with pytest.raises(ElsewhereError, match="repo id|ORG/NAME"):
        export_to_model_card(load_results(results_file), tmp_path / "README.md", dataset_repo=repo)
    assert not (tmp_path / "README.md").exists()


@pytest.mark.parametrize(
    "content",
    [
        b"---\nmodel-index: [\n---\n",  # YAML that does not parse
        b"---\nmodel-index:\n- results:\n  - metrics: 3\n---\n",  # a model-index the Hub cannot read
        b"\xff\xfe not text",
    ],
)
def test_bad_cards_are_one_line_and_left_alone(results_file, tmp_path, capsys, content):
    card = tmp_path / "README.md"
    card.write_bytes(content)
    status = main(["export", str(results_file), "--model-card", str(card), "--dataset-repo", REPO])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert card.read_bytes() == content


def test_card_path_that_is_a_folder_is_refused(results_file, tmp_path, capsys):
    assert main(["export", str(results_file), "--model-card", str(tmp_path), "--dataset-repo", REPO]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_results_file_that_is_not_results_is_refused(tmp_path, capsys):
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps({"schema_version": 1}))
    assert main(["export", str(bad), "--model-card", str(tmp_path / "README.md"), "--dataset-repo", REPO]) == 2
    assert not (tmp_path / "README.md").exists()
