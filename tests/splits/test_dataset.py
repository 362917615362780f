"""The dataset folder: loads with the real `datasets` library, keeps the column contract, repeats."""

import hashlib
import json
import os
import re
import subprocess
import sys

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from elsewhere.api import generate
from elsewhere.cli import main
from elsewhere.generator import render
from elsewhere.splits.dataset import LABELS_KEY
from elsewhere.splits.registry import get_protocol, protocol_names
from elsewhere.splits.sampling import draw
from elsewhere.splits.shards import LABELS_SCHEMA

COLUMNS = {
    "id": "string",
    "label": "int64",
    "x": "float",
    "y": "float",
    "rotation": "float",
    "scale": "float",
    "cell": "int32",
    "group": "int32",
    "region": "string",
}


@pytest.mark.parametrize("name", protocol_names())
def test_every_config_loads_with_load_dataset(tiny_dataset, name):
    protocol = get_protocol(name)
    loaded = datasets.load_dataset(str(tiny_dataset), name)
    assert set(loaded) == set(protocol.split_names)
    for split, table in loaded.items():
        assert table.num_rows == protocol.split_size(split, "tiny")
        features = table.features
        assert isinstance(features["image"], datasets.Image)
        assert features["label"].names == list(protocol.class_names)
        assert features["x"].dtype == "float32" and features["cell"].dtype == "int32"
        assert set(table.column_names) == set(COLUMNS) | {"image"}
        ids = table["id"]
        assert len(set(ids)) == len(ids) and all(i.startswith(f"{name}/{split}/") for i in ids)
        first = table[0]
        assert first["image"].size == (protocol.canvas, protocol.canvas)
        # The stored image is exactly the pure render of that sample.
        index = int(first["id"].rsplit("/", 1)[1])
        sample = draw(protocol, split, index, seed=11)
        np.testing.assert_array_equal(np.asarray(first["image"].convert("RGB")), render(sample.scene, protocol.canvas))
        assert first["label"] == sample.factors.label
        groups = np.asarray(table["group"])
        assert (groups >= 0).all() if split == "probe" else (groups == -1).all()
        cells = np.asarray(table["cell"])
        assert ((cells >= 0) & (cells < protocol.grid.size)).all()


def test_held_out_rows_are_marked_held_out(tiny_dataset):
    table = datasets.load_dataset(str(tiny_dataset), "location-halves", split="test_ood")
    assert set(table["region"]) == {"held-out"}
    assert min(table["x"]) >= 0.5
    train = datasets.load_dataset(str(tiny_dataset), "location-halves", split="train")
    assert set(train["region"]) == {"train"} and max(train["x"]) < 0.5


def test_card_declares_configs_and_checksums(tiny_dataset):
    card = (tiny_dataset / "README.md").read_text()
    header = card.split("---")[1]
    import yaml

    meta = yaml.safe_load(header)
    assert [c["config_name"] for c in meta["configs"]] == list(protocol_names())
    assert sum(1 for c in meta["configs"] if c.get("default")) == 1
    assert meta["license"] and meta["task_categories"] == ["image-classification"]
    manifest = json.loads((tiny_dataset / "elsewhere.json").read_text())
    for entry in manifest["protocols"].values():
        for split in entry["splits"].values():
            for shard in split["shards"]:
                digest = hashlib.sha256((tiny_dataset / shard["path"]).read_bytes()).hexdigest()
                assert digest == shard["sha256"] and digest in card
    for name in protocol_names():
        for split in get_protocol(name).split_names:
            image = tiny_dataset / "images" / name / f"{split}.png"
            assert Image.open(image).size[0] > 0 and f"images/{name}/{split}.png" in card


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    one = generate(
        tmp_path / "one", protocols="location-halves,red-green", size="tiny", seed=5, workers=1, progress=False
    )
    two = generate(
        tmp_path / "two", protocols="location-halves,red-green", size="tiny", seed=5, workers=2, progress=False
    )
    other = generate(
        tmp_path / "other", protocols="location-halves,red-green", size="tiny", seed=6, workers=2, progress=False
    )
    for name in ("location-halves", "red-green"):
        assert one["protocols"][name]["fingerprint"] == two["protocols"][name]["fingerprint"]
        assert one["protocols"][name]["fingerprint"] != other["protocols"][name]["fingerprint"]
    for path in (tmp_path / "one").rglob("*.parquet"):
        assert path.read_bytes() == (tmp_path / "two" / path.relative_to(tmp_path / "one")).read_bytes()
    assert (tmp_path / "one" / "README.md").read_text() == (tmp_path / "two" / "README.md").read_text()


def test_streaming_reads_the_folder(tiny_dataset):
    stream = datasets.load_dataset(str(tiny_dataset), "iid", split="test_ood", streaming=True)
    assert next(iter(stream))["id"].startswith("iid/test_ood/")


def test_unknown_config_is_refused_by_datasets(tiny_dataset):
    with pytest.raises(ValueError, match="location-halves"):
        datasets.load_dataset(str(tiny_dataset), "no-such-protocol")


def _cli(capsys, *argv):
    try:
        status = main(list(argv))
    except SystemExit as stop:  # argparse refuses values outside a known set itself
        status = stop.code
    captured = capsys.readouterr()
    return status, captured.err.strip()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--protocols", "nope"], "unknown protocol 'nope'"),
        (["--size", "huge"], "invalid choice: 'huge' (choose from 'tiny', 'small', 'full')"),
        (["--seed", "-3"], "bad seed -3"),
        (["--canvas", "12", "--protocols", "scale-extrapolation"], "canvas too small for the object"),
        (["--workers", "0"], "bad number of workers 0"),
        (["--private", "--labels", "x.parquet"], "ELSEWHERE_SECRET"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.delenv("ELSEWHERE_SECRET", raising=False)
    out = tmp_path / "out"
    status, err = _cli(capsys, "generate", "--out", str(out), "--size", "tiny", "--quiet", *argv)
    assert status == 2
    assert message in err and "\n" not in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_non_empty_and_unwritable_outputs_are_refused(tmp_path, capsys):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    status, err = _cli(capsys, "generate", "--out", str(busy), "--size", "tiny", "--quiet")
    assert status == 2 and "is not empty" in err
    status, err = _cli(capsys, "generate", "--out", str(busy), "--overwrite", "--quiet")
    assert status == 2 and "not an elsewhere dataset" in err
    assert (busy / "keep.txt").read_text() == "mine"
    status, err = _cli(capsys, "generate", "--out", "/proc/elsewhere-out", "--quiet")
    assert status == 2 and "cannot write" in err


def test_interrupted_generation_leaves_nothing(tmp_path):
    """Kill a real generation half-way: no output folder, no partial files."""
    out = tmp_path / "killed"
    code = (
        "import os, elsewhere.splits.shards as s\n"
        "real = s.write_shard\n"
        "def dying(shard, root, job):\n"
        "    written = real(shard, root, job)\n"
        "    raise KeyboardInterrupt\n"
        "s.write_shard = dying\n"
        "import elsewhere.splits.dataset as d; d.write_shard = dying\n"
        "from elsewhere.cli import main\n"
        f"raise SystemExit(main(['generate', '--out', {str(out)!r}, '--size', 'tiny', "
        "'--protocols', 'iid', '--workers', '1', '--quiet']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 130, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_an_elsewhere_dataset(tmp_path):
    out = tmp_path / "data"
    generate(out, protocols="iid", size="tiny", seed=1, workers=1, progress=False)
    manifest = generate(out, protocols="red-green", size="tiny", seed=1, workers=1, overwrite=True, progress=False)
    assert list(manifest["protocols"]) == ["red-green"]
    assert not (out / "data" / "iid").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_overwrite_never_deletes_files_it_did_not_write(tmp_path):
    """The attack: a user's notes inside a dataset folder, then --overwrite."""
    out = tmp_path / "data"
    generate(out, protocols="iid", size="tiny", seed=1, workers=1, progress=False)
    (out / "notes.txt").write_text("mine")
    (out / "data" / "iid" / "extra.parquet").write_text("mine too")
    with pytest.raises(ValueError, match="2 files that are not part of the elsewhere dataset") as error:
        generate(out, protocols="iid", size="tiny", seed=2, workers=1, overwrite=True, progress=False)
    assert "\n" not in str(error.value)
    assert (out / "notes.txt").read_text() == "mine" and (out / "data" / "iid" / "extra.parquet").is_file()
    assert json.loads((out / "elsewhere.json").read_text())["seed"] == 1


def test_labels_file_is_never_clobbered_nor_published(tmp_path, monkeypatch):
    monkeypatch.setenv("ELSEWHERE_SECRET", "a long enough operator secret")
    existing = tmp_path / "precious.parquet"
    existing.write_bytes(b"do not touch")
    out = tmp_path / "private"
    arguments = {"protocols": "iid", "size": "tiny", "seed": 0, "workers": 1, "private": True, "progress": False}
    with pytest.raises(ValueError, match="already exists"):
        generate(out, labels=existing, **arguments)
    assert existing.read_bytes() == b"do not touch"
    for inside in (out / "labels.parquet", out / "data" / "labels.parquet", out):
        with pytest.raises(ValueError, match="inside the output folder"):
            generate(out, labels=inside, **arguments)
    assert not out.exists()
    # A path that reaches inside the output folder through ".." is the same path.
    with pytest.raises(ValueError, match="inside the output folder"):
        generate(out, labels=tmp_path / "elsewhere" / ".." / "private" / "l.parquet", **arguments)


def test_stale_staging_of_a_killed_run_is_cleaned(tmp_path, dead_pid):
    out = tmp_path / "data"
    stale = tmp_path / f".data.partial-{dead_pid}"
    (stale / "data").mkdir(parents=True)
    (stale / "data" / "half.parquet").write_bytes(b"half")
    alive = tmp_path / f".data.partial-{os.getppid()}"
    alive.mkdir()
    generate(out, protocols="iid", size="tiny", seed=1, workers=1, progress=False)
    assert not stale.exists() and alive.is_dir()


def test_workers_are_capped_at_the_cpu_count(tmp_path, monkeypatch):
    import elsewhere.splits.dataset as dataset

    seen = []
    real = dataset.Engine

    def engine(kind, workers, address):
        seen.append(workers)
        return real(kind, 1, address)

    monkeypatch.setattr(dataset, "Engine", engine)
    generate(tmp_path / "data", protocols="iid", size="tiny", seed=1, workers=1000, progress=False)
    assert seen == [os.cpu_count()]


def test_private_variant_publishes_id_and_image_only(tmp_path, monkeypatch):
    secret = "a long enough operator secret"
    monkeypatch.setenv("ELSEWHERE_SECRET", secret)
    out, labels = tmp_path / "private", tmp_path / "labels.parquet"
    manifest = generate(
        out, protocols="location-halves", size="tiny", seed=0, workers=1, private=True, labels=labels, progress=False
    )
    assert manifest["variant"] == "private" and manifest["labels"] == "withheld"
    assert manifest["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    for split in ("test_ood", "probe"):
        table = datasets.load_dataset(str(out), "location-halves", split=split)
        assert table.column_names == ["id", "image"]
        # Opaque ids: neither the sample index nor the probe group can be read from them.
        assert all(not re.search(r"/\d{7}$", i) for i in table["id"])
    for shard in (out / "data").rglob("*.parquet"):
        assert pq.read_schema(shard).names == ["id", "image"]
    held = pq.read_table(labels)
    truth = held.to_pandas()
    assert held.column_names == LABELS_SCHEMA.names
    assert set(table["id"]) <= set(truth["id"]) and truth["label"].between(0, 9).all()
    assert set(truth["part"]) == {"shown", "final"}
    metadata = json.loads(held.schema.metadata[LABELS_KEY])
    assert metadata["secret_sha256"] == manifest["secret_sha256"] and metadata["seed"] == 0
    assert metadata["fingerprints"] == {"location-halves": manifest["protocols"]["location-halves"]["fingerprint"]}
    for path in [labels, *out.rglob("*")]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes()
    # Probe rows are shuffled: the rows of one probe group are not contiguous in the published order.
    probe = truth[truth["split"] == "probe"].set_index("id").loc[list(table["id"])]
    assert (np.diff(probe["group"].to_numpy()) != 0).mean() > 0.5
    public = generate(tmp_path / "public", protocols="location-halves", size="tiny", seed=0, workers=1, progress=False)
    assert (
        public["protocols"]["location-halves"]["fingerprint"] != manifest["protocols"]["location-halves"]["fingerprint"]
    )


def test_protocols_command_lists_json(capsys):
    assert main(["protocols", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    entry = next(p for p in listing if p["name"] == "red-green")
    assert entry["splits"]["train"]["full"] == 2000 and entry["version"] == 2


def test_publish_without_token_is_one_clear_line(tiny_dataset, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    status, err = _cli(capsys, "publish", str(tiny_dataset), "--repo-id", "org/elsewhere")
    assert status == 2 and "no Hugging Face token" in err
    status, err = _cli(capsys, "publish", str(tmp_path), "--repo-id", "org/elsewhere")
    assert status == 2 and "not an elsewhere dataset folder" in err
