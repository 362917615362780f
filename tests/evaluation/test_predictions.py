"""Predictions files in CSV, Parquet and JSON lines: read, checked, aligned, hashed, and refused."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_metrics import million_truth

from elsewhere.evaluation.predictions import (
    PredictionsError,
    make_predictions,
    predictions_sha256,
    probability_matrix,
    read_predictions,
    write_predictions,
)
from elsewhere.evaluation.truth import Truth
from elsewhere.splits.grid import Grid

CLASSES = ("circle", "square", "triangle")
FORMATS = ("csv", "parquet", "jsonl")


@pytest.fixture(scope="module")
def truth():
    grid = Grid(2)
    splits = ["test_id"] * 4 + ["test_ood"] * 4 + ["probe"] * 4
    x = np.linspace(0.05, 0.95, 12)
    frame = pd.DataFrame(
        {
            "id": [f"demo/{s}/{i:03d}" for i, s in enumerate(splits)],
            "split": splits,
            "label": np.arange(12) % 3,
            "x": x,
            "y": 0.5,
            "rotation": 0.0,
            "scale": 0.2,
            "cell": grid.cell_of(x, 0.5),
            "group": [-1] * 8 + [0] * 4,
            "region": np.where(x < 0.5, "train", "held-out"),
        }
    )
    return Truth("demo", 1, "cd" * 32, CLASSES, frame, grid, None, ("location",))


def write(records, path):
    """Write dict records to ``path`` the way a submitter would, by the suffix."""
    if path.suffix == ".csv":
        frame = pd.DataFrame(records)
        if "probabilities" in frame:
            frame["probabilities"] = [json.dumps(p) for p in frame["probabilities"]]
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(records), path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def records_for(truth, prediction=None, probabilities=None, order=None):
    ids = truth.frame["id"].tolist()
    if prediction is None:
        prediction = truth.frame["label"]
    prediction = np.asarray(prediction, dtype=object).tolist()
    out = []
    for i in order if order is not None else range(len(ids)):
        record = {"id": ids[i], "prediction": prediction[i]}
        if probabilities is not None:
            record["probabilities"] = probabilities[i]
        out.append(record)
    return out


def one_hot_ish(labels):
    return [[0.8 if c == label else 0.1 for c in range(len(CLASSES))] for label in labels]


@pytest.mark.parametrize("kind", FORMATS)
def test_reads_each_format_and_aligns_to_the_truth(truth, tmp_path, kind):
    rng = np.random.default_rng(0)
    prediction = rng.integers(0, 3, 12)
    order = rng.permutation(12)
    path = write(records_for(truth, prediction, order=order), tmp_path / f"p.{kind}")
    frame = read_predictions(path, truth)
    assert frame["id"].tolist() == truth.frame["id"].tolist()
    assert frame["prediction"].dtype == np.int64
    assert frame["prediction"].tolist() == prediction.tolist()
    assert probability_matrix(frame) is None


@pytest.mark.parametrize(
    "options", [{}, {"use_dictionary": False}, {"use_dictionary": ["prediction"], "data_page_version": "2.0"}]
)
def test_parquet_reads_alike_whatever_the_encoding(truth, tmp_path, options):
    """PLAIN-encoded text columns are read as they are, dictionary-encoded ones as dictionaries: same result."""
    prediction = np.random.default_rng(1).integers(0, 3, 12)
    path = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist(records_for(truth, prediction, order=range(11, -1, -1))), path, **options)
    frame = read_predictions(path, truth)
    assert frame["id"].tolist() == truth.frame["id"].tolist() and frame["prediction"].tolist() == prediction.tolist()


@pytest.mark.parametrize("kind", FORMATS)
def test_repeated_unknown_ids_are_reported_as_repeated_first(truth, tmp_path, kind):
    records = records_for(truth) + [{"id": "other", "prediction": 1}, {"id": "other", "prediction": 2}]
    message = refused(write(records, tmp_path / f"p.{kind}"), truth)
    assert "1 ids appear more than once (1 extra rows), first row 14 (id 'other')" in message


@pytest.mark.parametrize("kind", FORMATS)
def test_class_names_are_read_as_indices(truth, tmp_path, kind):
    labels = truth.frame["label"].to_numpy()
    path = write(records_for(truth, [CLASSES[label] for label in labels]), tmp_path / f"p.{kind}")
    assert read_predictions(path, truth)["prediction"].tolist() == labels.tolist()


def test_jsonl_may_mix_names_and_indices(truth, tmp_path):
    labels = truth.frame["label"].tolist()
    mixed = [CLASSES[v] if i % 2 else v for i, v in enumerate(labels)]
    path = write(records_for(truth, mixed), tmp_path / "p.jsonl")
    assert read_predictions(path, truth)["prediction"].tolist() == labels


def test_csv_numerals_among_names_are_indices(truth, tmp_path):
    labels = truth.frame["label"].tolist()
    mixed = [CLASSES[v] if i % 2 else str(v) for i, v in enumerate(labels)]
    path = write(records_for(truth, mixed), tmp_path / "p.csv")
    assert read_predictions(path, truth)["prediction"].tolist() == labels


def test_probabilities_read_alike_and_hash_alike_in_every_format(truth, tmp_path):
    labels = truth.frame["label"].tolist()
    probabilities = one_hot_ish(labels)
    digests = set()
    for kind in FORMATS:
        records = records_for(truth, probabilities=probabilities, order=range(11, -1, -1))
        path = write(records, tmp_path / f"p.{kind}")
        frame = read_predictions(path, truth)
        matrix = probability_matrix(frame)
        assert matrix.dtype == np.float32 and matrix.shape == (12, 3)
        np.testing.assert_array_equal(matrix, np.array(probabilities, dtype=np.float32))
        digests.add(predictions_sha256(frame))
    assert len(digests) == 1


def test_hash_ignores_format_and_order_but_not_content(truth, tmp_path):
    labels = truth.frame["label"].tolist()
    a = read_predictions(write(records_for(truth), tmp_path / "a.csv"), truth)
    b = read_predictions(write(records_for(truth, order=range(11, -1, -1)), tmp_path / "b.parquet"), truth)
    changed = list(labels)
    changed[3] = (changed[3] + 1) % 3
    c = read_predictions(write(records_for(truth, changed), tmp_path / "c.jsonl"), truth)
    assert predictions_sha256(a) == predictions_sha256(b) != predictions_sha256(c)
    assert len(predictions_sha256(a)) == 64


@pytest.mark.parametrize("kind", FORMATS)
def test_written_predictions_read_back(truth, tmp_path, kind):
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet(np.ones(3), size=12).astype(np.float32)
    frame = make_predictions(truth.frame["id"], probabilities.argmax(axis=1), probabilities)
    write_predictions(frame, tmp_path / f"out.{kind}")
    back = read_predictions(tmp_path / f"out.{kind}", truth)
    assert back["prediction"].tolist() == frame["prediction"].tolist()
    np.testing.assert_array_equal(probability_matrix(back), probabilities)
    assert predictions_sha256(back) == predictions_sha256(frame)
    assert [p.name for p in tmp_path.iterdir()] == [f"out.{kind}"]


def refused(path, truth, **kwargs):
    with pytest.raises(PredictionsError) as caught:
        read_predictions(path, truth, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and message
    return message


@pytest.mark.parametrize("kind", FORMATS)
def test_duplicated_ids(truth, tmp_path, kind):
    records = records_for(truth)
    records += [dict(records[2]), dict(records[5])]
    message = refused(write(records, tmp_path / f"p.{kind}"), truth)
    assert "2 ids appear more than once" in message
    assert "'demo/test_id/002'" in message and "row 13" in message and "'demo/test_ood/005'" in message


@pytest.mark.parametrize("kind", FORMATS)
def test_missing_ids(truth, tmp_path, kind):
    records = [r for i, r in enumerate(records_for(truth)) if i not in (1, 6, 9)]
    message = refused(write(records, tmp_path / f"p.{kind}"), truth)
    assert "3 of 12 evaluated ids are missing" in message
    assert "'demo/test_id/001'" in message and "'demo/probe/009'" in message


@pytest.mark.parametrize("kind", FORMATS)
def test_unknown_ids(truth, tmp_path, kind):
    records = records_for(truth) + [{"id": "demo/train/000", "prediction": 0}, {"id": "other", "prediction": 1}]
    message = refused(write(records, tmp_path / f"p.{kind}"), truth)
    assert "2 ids are not evaluated items" in message
    assert "'demo/train/000'" in message and "'other'" in message and "row 13" in message


@pytest.mark.parametrize("kind", FORMATS)
def test_class_index_out_of_range(truth, tmp_path, kind):
    prediction = truth.frame["label"].tolist()
    prediction[4], prediction[7] = 3, -1
    message = refused(write(records_for(truth, prediction), tmp_path / f"p.{kind}"), truth)
    assert "2 predictions are not classes" in message
    assert "'demo/test_ood/004'" in message and "'demo/test_ood/007'" in message
    assert "0..2" in message and "'circle'" in message


@pytest.mark.parametrize("kind", FORMATS)
def test_unknown_class_name(truth, tmp_path, kind):
    prediction = [CLASSES[v] for v in truth.frame["label"]]
    prediction[10] = "hexagon"
    message = refused(write(records_for(truth, prediction), tmp_path / f"p.{kind}"), truth)
    assert "1 predictions are not classes" in message and "'hexagon'" in message
    assert "'demo/probe/010'" in message


@pytest.mark.parametrize("kind", FORMATS)
def test_non_integer_and_missing_predictions(truth, tmp_path, kind):
    prediction = [float(v) for v in truth.frame["label"]]
    prediction[0], prediction[1] = 1.5, float("nan")
    message = refused(write(records_for(truth, prediction), tmp_path / f"p.{kind}"), truth)
    assert "2 predictions are not classes" in message and "'demo/test_id/000'" in message


@pytest.mark.parametrize("kind", FORMATS)
def test_nan_probability(truth, tmp_path, kind):
    probabilities = one_hot_ish(truth.frame["label"])
    probabilities[3] = [float("nan"), 0.5, 0.5]
    message = refused(write(records_for(truth, probabilities=probabilities), tmp_path / f"p.{kind}"), truth)
    assert "1 probabilities lists hold NaN" in message and "'demo/test_id/003'" in message


@pytest.mark.parametrize("kind", FORMATS)
def test_wrong_probability_length(truth, tmp_path, kind):
    probabilities = one_hot_ish(truth.frame["label"])
    probabilities[2] = [0.5, 0.5]
    probabilities[8] = [0.25, 0.25, 0.25, 0.25]
    message = refused(write(records_for(truth, probabilities=probabilities), tmp_path / f"p.{kind}"), truth)
    assert "2 probabilities lists do not have 3 entries" in message
    assert "'demo/test_id/002'" in message and "'demo/probe/008'" in message


@pytest.mark.parametrize("kind", FORMATS)
def test_logits_are_not_probabilities(truth, tmp_path, kind):
    probabilities = one_hot_ish(truth.frame["label"])
    probabilities[5] = [2.0, -1.0, 0.5]
    message = refused(write(records_for(truth, probabilities=probabilities), tmp_path / f"p.{kind}"), truth)
    assert "outside [0, 1]" in message and "'demo/test_ood/005'" in message


def test_probabilities_must_sum_to_one(truth, tmp_path):
    probabilities = one_hot_ish(truth.frame["label"])
    probabilities[0] = [0.5, 0.4, 0.0]
    message = refused(write(records_for(truth, probabilities=probabilities), tmp_path / "p.jsonl"), truth)
    assert "do not sum to 1" in message and "'demo/test_id/000'" in message


def test_oversized_file(truth, tmp_path):
    path = write(records_for(truth), tmp_path / "p.csv")
    message = refused(path, truth, max_bytes=100)
    assert "over the limit of 100" in message


def test_bad_suffix(truth, tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("id,prediction\n")
    message = refused(path, truth)
    assert "'.txt'" in message and ".csv" in message and ".parquet" in message and ".jsonl" in message


def test_corrupt_parquet(truth, tmp_path):
    path = tmp_path / "p.parquet"
    path.write_bytes(b"PAR1" + np.random.default_rng(0).bytes(500))
    assert "cannot read Parquet" in refused(path, truth)


def test_corrupt_jsonl_line(truth, tmp_path):
    path = write(records_for(truth), tmp_path / "p.jsonl")
    lines = path.read_text().splitlines()
    lines[4] = '{"id": "demo/test_ood/004", "prediction": '
    path.write_text("\n".join(lines) + "\n")
    message = refused(path, truth)
    assert "1 lines are not JSON objects" in message and "row 5" in message


def test_csv_probabilities_not_json(truth, tmp_path):
    path = write(records_for(truth, probabilities=one_hot_ish(truth.frame["label"])), tmp_path / "p.csv")
    text = path.read_text().replace('"[0.8, 0.1, 0.1]"', '"0.8;0.1;0.1"', 1)
    path.write_text(text)
    assert "not JSON lists" in refused(path, truth)


@pytest.mark.parametrize("kind", FORMATS)
def test_missing_and_unexpected_columns(truth, tmp_path, kind):
    records = [{"id": r["id"], "pred": r["prediction"]} for r in records_for(truth)]
    message = refused(write(records, tmp_path / f"p.{kind}"), truth)
    assert "lacks columns prediction" in message
    records = [{**r, "probs": [1.0, 0.0, 0.0]} for r in records_for(truth)]
    message = refused(write(records, tmp_path / f"q.{kind}"), truth)
    assert "unexpected columns 'probs'" in message


def test_missing_file(truth, tmp_path):
    assert "cannot read predictions file" in refused(tmp_path / "absent.csv", truth)


def test_errors_are_value_errors():
    assert issubclass(PredictionsError, ValueError)


def test_empty_and_blank_probability_cells_in_csv(truth, tmp_path):
    path = write(records_for(truth, probabilities=one_hot_ish(truth.frame["label"])), tmp_path / "p.csv")
    lines = path.read_text().splitlines()
    lines[3] = (
        lines[3]
        .replace('"[0.8, 0.1, 0.1]"', '"[]"')
        .replace('"[0.1, 0.8, 0.1]"', '"[]"')
        .replace('"[0.1, 0.1, 0.8]"', '"[]"')
    )
    path.write_text("\n".join(lines) + "\n")
    assert "1 probabilities lists do not have 3 entries (first has 0)" in refused(path, truth)
    lines[3] = lines[3].replace(',"[]"', ",")
    path.write_text("\n".join(lines) + "\n")
    assert "1 rows lack a probabilities list" in refused(path, truth)


def test_jsonl_ids_are_compared_as_text(truth, tmp_path):
    records = records_for(truth)
    records[0] = {"id": 17, "prediction": 0}
    message = refused(write(records, tmp_path / "p.jsonl"), truth)
    assert "1 ids are not evaluated items" in message and "'17'" in message


@pytest.fixture(scope="module")
def big():
    return million_truth(np.random.default_rng(0))


@pytest.mark.slow
@pytest.mark.parametrize("kind", FORMATS)
def test_a_million_predictions_read_back(big, tmp_path, kind):
    label = big.frame["label"].to_numpy()
    frame = make_predictions(big.frame["id"][::-1], label[::-1])
    write_predictions(frame, tmp_path / f"p.{kind}")
    back = read_predictions(tmp_path / f"p.{kind}", big)
    assert (back["prediction"].to_numpy() == label).all()
    assert predictions_sha256(back) == predictions_sha256(frame)


def test_parquet_ids_that_are_not_utf8_are_refused_in_one_line(truth, tmp_path):
    ids = [i.encode() for i in truth.frame["id"]]
    table = pa.table({"id": pa.array([b"\xff\xfe", *ids[1:]], pa.binary()), "prediction": pa.array([0] * len(ids))})
    pq.write_table(table, tmp_path / "p.parquet")
    with pytest.raises(PredictionsError, match="column id is not UTF-8 text"):
        read_predictions(tmp_path / "p.parquet", truth)


@pytest.mark.parametrize(
    ("field", "message"),
    [("id", "an id is not valid Unicode"), ("prediction", "predictions are not classes of demo")],
)
def test_jsonl_lone_surrogates_are_refused_in_one_line(truth, tmp_path, field, message):
    """JSON may escape half a surrogate pair ("\\ud800"): Python decodes it, UTF-8 cannot hold it."""
    lines = [json.dumps({"id": i, "prediction": 0}) for i in truth.frame["id"]]
    last = {"id": json.dumps(truth.frame["id"].iloc[-1]), "prediction": "0", field: '"\\ud800"'}
    lines[-1] = f'{{"id": {last["id"]}, "prediction": {last["prediction"]}}}'
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(PredictionsError, match=message):
        read_predictions(tmp_path / "p.jsonl", truth)


@pytest.mark.slow
@pytest.mark.parametrize("use_dictionary", [True, False])
def test_a_duplicate_in_a_later_parquet_batch_is_found(big, tmp_path, use_dictionary):
    """2^20 + 1 rows are two batches: the repeated id sits in the second, its first copy in the first."""
    ids = big.frame["id"].to_numpy(dtype=object)
    extra = 2**20 + 1 - len(ids)
    assert extra > 0
    column = pa.array([*ids, *ids[:extra]], pa.string())
    table = pa.table({"id": column, "prediction": pa.array(np.zeros(len(column), dtype=np.int64))})
    pq.write_table(table, tmp_path / "p.parquet", use_dictionary=use_dictionary, row_group_size=2**19)
    with pytest.raises(PredictionsError, match=f"{extra} ids appear more than once .* first row {len(ids) + 1} "):
        read_predictions(tmp_path / "p.parquet", big)
