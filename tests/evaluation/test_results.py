"""Results JSON: built, validated against the shipped schema, written atomically, loaded back."""

import copy
import hashlib
import json
import platform
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from jsonschema import Draft202012Validator
from test_metrics import id_ood_splits, location_probe, make_truth

from elsewhere.evaluation.metrics import compute_metrics
from elsewhere.evaluation.predictions import make_predictions, predictions_sha256
from elsewhere.evaluation.results import (
    SCHEMA_VERSION,
    build_results,
    correct_items,
    load_results,
    schema,
    validate_results,
    write_results,
)
from elsewhere.evaluation.truth import Truth
from elsewhere.splits.grid import Grid
from elsewhere.splits.regions import Rect


def scored(seed, accuracy=0.7, truth=None):
    """(truth, predictions, results) for random predictions right about ``accuracy`` of the time."""
    rng = np.random.default_rng(seed)
    if truth is None:
        grid = Grid(4)
        truth = make_truth(
            [
                *id_ood_splits(np.random.default_rng(0), grid, 40, 37),
                location_probe(grid, np.random.default_rng(1).integers(0, 3, 6)),
            ],
            grid,
            train_region=Rect(0, 0.5, 0, 1),
        )
    label = truth.frame["label"].to_numpy()
    prediction = np.where(rng.random(label.size) < accuracy, label, (label + 1) % 3)
    predictions = make_predictions(truth.frame["id"], prediction)
    results = build_results(
        truth=truth,
        predictions=predictions,
        metrics=compute_metrics(truth, predictions),
        model={"name": f"model-{seed}", "architecture": "cnn", "epochs": 3},
        source="predictions:preds.csv",
        device="cpu",
    )
    return truth, predictions, results


@pytest.fixture(scope="module")
def example():
    return scored(0)


def test_schema_is_valid_json_schema_2020_12():
    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_built_results_describe_themselves(example):
    truth, predictions, results = example
    validate_results(results)
    assert results["schema_version"] == SCHEMA_VERSION
    assert results["protocol"] == {
        "name": "demo",
        "version": 1,
        "fingerprint": truth.fingerprint,
        "class_names": list(truth.class_names),
    }
    assert results["model"] == {
        "name": "model-0",
        "parameters": None,
        "architecture": "cnn",
        "epochs": 3,
        "source": "predictions:preds.csv",
    }
    assert results["device"] == "cpu"
    assert results["predictions_sha256"] == predictions_sha256(predictions)
    harness = results["harness"]
    assert harness["name"] == "elsewhere" and harness["python"] == platform.python_version()
    assert harness["packages"]["numpy"] == np.__version__
    assert datetime.fromisoformat(results["created"]).utcoffset().total_seconds() == 0


def test_items_record_which_ids_were_right(example):
    truth, predictions, results = example
    frame = truth.frame.assign(right=predictions["prediction"].to_numpy() == truth.frame["label"].to_numpy())
    assert set(results["items"]) == {"test_id", "test_ood", "probe"}
    for split, items in frame.groupby("split"):
        ordered = sorted(zip(items["id"], items["right"]))
        digest, correct = correct_items(results, split)
        assert results["items"][split]["count"] == len(items)
        assert digest == hashlib.sha256("".join(f"{i}\n" for i, _ in ordered).encode()).hexdigest()
        assert correct.tolist() == [bool(r) for _, r in ordered]


def test_write_then_load_round_trips(example, tmp_path):
    _, _, results = example
    path = tmp_path / "results.json"
    write_results(results, path)
    assert load_results(path) == json.loads(json.dumps(results))
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_write_replaces_an_existing_file(example, tmp_path):
    _, _, results = example
    path = tmp_path / "results.json"
    path.write_text("old")
    write_results(results, path)
    assert load_results(path)["model"]["name"] == "model-0"


def invalid(results, *fragments):
    with pytest.raises(ValueError) as caught:
        validate_results(results)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_a_string_where_a_number_belongs_fails(example):
    broken = copy.deepcopy(example[2])
    broken["metrics"]["ood_accuracy"]["value"] = "0.5"
    invalid(broken, "metrics/ood_accuracy/value", "'0.5'")


def test_missing_keys_fail(example):
    for path in (("metrics", "flip_rate"), ("protocol", "fingerprint"), ("harness",), ("model", "name")):
        broken = copy.deepcopy(example[2])
        parent = broken
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
        invalid(broken, repr(path[-1]))


def test_wrong_types_and_values_fail(example):
    cases = [
        (("metrics", "accuracy", "test_id", "n"), 3.5),
        (("metrics", "location_map", "accuracy"), "all"),
        (("metrics", "gap", "ci"), [0.1]),
        (("protocol", "version"), "1"),
        (("model", "parameters"), -4),
        (("items", "probe", "ids_sha256"), "abc"),
        (("created",), "yesterday"),
        (("schema_version",), 2),
    ]
    for path, value in cases:
        broken = copy.deepcopy(example[2])
        parent = broken
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
        invalid(broken)


def test_non_json_values_fail(example):
    broken = copy.deepcopy(example[2])
    broken["metrics"]["gap"]["value"] = float("nan")
    invalid(broken, "not plain JSON")
    broken = copy.deepcopy(example[2])
    broken["metrics"]["gap"]["n"] = np.int64(3)
    invalid(broken, "not plain JSON")


def test_unknown_keys_fail_except_in_model_metadata(example):
    broken = copy.deepcopy(example[2])
    broken["extra"] = 1
    invalid(broken, "extra")
    broken = copy.deepcopy(example[2])
    broken["metrics"]["ood_acuracy"] = broken["metrics"]["ood_accuracy"]
    invalid(broken, "ood_acuracy")
    fine = copy.deepcopy(example[2])
    fine["model"]["notes"] = {"anything": [1, "two"]}
    validate_results(fine)


def test_correct_bits_must_cover_every_item(example):
    broken = copy.deepcopy(example[2])
    broken["items"]["probe"]["count"] += 8
    invalid(broken, "one bit per item")


def test_load_errors_are_clear(tmp_path, example):
    with pytest.raises(ValueError, match="does not exist"):
        load_results(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1,')
    with pytest.raises(ValueError, match="not valid JSON"):
        load_results(bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**example[2], "schema_version": 99}))
    with pytest.raises(ValueError, match="schema_version 99"):
        load_results(other)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**example[2], "device": 3}))
    with pytest.raises(ValueError, match="device"):
        load_results(broken)


def test_model_needs_a_name(example):
    truth, predictions, results = example
    with pytest.raises(ValueError, match="name"):
        build_results(truth=truth, predictions=predictions, metrics=results["metrics"], model={}, source="x")


def test_correct_items_of_an_unknown_split(example):
    with pytest.raises(ValueError, match="test_id, test_ood, probe"):
        correct_items(example[2], "validation")


def test_ids_held_in_several_arrow_chunks():
    # Frames concatenated from datasets' Arrow tables hold their ids in several chunks.
    truth, _, _ = scored(0)
    frame = truth.frame.copy()
    ids = frame["id"].tolist()
    half = len(ids) // 2
    frame["id"] = pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array([ids[:half], ids[half:]])))
    chunked = Truth(
        truth.protocol,
        truth.version,
        truth.fingerprint,
        truth.class_names,
        frame,
        truth.grid,
        truth.train_region,
        truth.factors,
    )
    _, predictions, results = scored(0, truth=chunked)
    validate_results(results)
    assert results["items"] == scored(0)[2]["items"]
