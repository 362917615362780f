"""Attack: score a hidden dataset with a labels file that belongs to another one.

A labels file records the SHA-256 of its secret and the fingerprints of its dataset, so one from
another secret, another seed, or a doctored copy is refused in one line instead of scoring wrongly.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from elsewhere.api import generate
from elsewhere.evaluation.data import load_truth
from elsewhere.leaderboard.submissions import Truths
from elsewhere.splits.dataset import LABELS_KEY

PROTOCOL = "iid"


def hidden(folder, secret: str, seed: int, monkeypatch):
    monkeypatch.setenv("ELSEWHERE_SECRET", secret)
    name = f"{seed}-{abs(hash(secret))}"
    data, labels = folder / f"data-{name}", folder / f"labels-{name}.parquet"
    generate(data, protocols=PROTOCOL, size="tiny", seed=seed, workers=1, private=True, labels=labels, progress=False)
    return data, labels


def test_labels_of_another_secret_or_dataset_are_refused(tmp_path, monkeypatch):
    data, labels = hidden(tmp_path, "the first operator secret", 1, monkeypatch)
    _, other_secret = hidden(tmp_path, "a second operator secret!", 1, monkeypatch)
    _, other_seed = hidden(tmp_path, "the first operator secret", 2, monkeypatch)
    assert len(load_truth(data, PROTOCOL, labels).frame) > 0
    for wrong, message in ((other_secret, "another secret"), (other_seed, "another dataset")):
        with pytest.raises(ValueError, match=message) as error:
            Truths(data, wrong)
        assert "\n" not in str(error.value)

    # A doctored copy: the right metadata on another secret's labels, or no metadata at all.
    table = pq.read_table(other_secret)
    doctored = tmp_path / "doctored.parquet"
    pq.write_table(table.replace_schema_metadata(pq.read_schema(labels).metadata), doctored)
    with pytest.raises(ValueError, match="exactly the ids"):
        load_truth(data, PROTOCOL, doctored)
    bare = tmp_path / "bare.parquet"
    pq.write_table(table.replace_schema_metadata({}), bare)
    with pytest.raises(ValueError, match="not a labels file"):
        load_truth(data, PROTOCOL, bare)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match="not readable as Parquet"):
        load_truth(data, PROTOCOL, junk)
    metadata = json.loads(pq.read_schema(labels).metadata[LABELS_KEY])
    assert "the first operator secret" not in json.dumps(metadata) and len(metadata["secret_sha256"]) == 64
