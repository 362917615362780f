"""The dataset card as the Hub and ``datasets`` read it: metadata, tables, captions, no label leaks."""

import re
import shutil

import datasets
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard

from elsewhere.api import generate
from elsewhere.splits.card import table_cell
from elsewhere.splits.controls import CONTROL, RANKED, panel_rows, verdict
from elsewhere.splits.dataset import read_manifest
from elsewhere.splits.registry import get_protocol, protocol_names


def _infos(card: DatasetCard) -> dict:
    infos = card.data.to_dict()["dataset_info"]
    return {info["config_name"]: info for info in (infos if isinstance(infos, list) else [infos])}


def test_card_yaml_parses_with_dataset_info_for_every_config(tiny_dataset):
    card = DatasetCard.load(tiny_dataset / "README.md")
    manifest = read_manifest(tiny_dataset)
    infos = _infos(card)
    assert set(infos) == set(manifest["protocols"])
    for name, entry in manifest["protocols"].items():
        features = {f["name"]: f for f in infos[name]["features"]}
        names = features["label"]["dtype"]["class_label"]["names"]
        assert [names[str(i)] for i in range(len(names))] == entry["protocol"]["classes"]
        assert features["image"]["dtype"] == "image"
        # The parser datasets applies to a card's splits (it drops, with a log line, what it cannot read).
        datasets.SplitDict._from_yaml_list(infos[name]["splits"])
        sizes = {s["name"]: s["num_examples"] for s in infos[name]["splits"]}
        assert sizes == {split: v["rows"] for split, v in entry["splits"].items()}
    # datasets' own parser of the card reads every config's features and split sizes.
    parsed = datasets.info.DatasetInfosDict.from_dataset_card_data(card.data)
    assert set(parsed) == set(manifest["protocols"])
    for name, info in parsed.items():
        assert (
            info.splits is not None
            and info.splits["test_ood"].num_examples == (manifest["protocols"][name]["splits"]["test_ood"]["rows"])
        )
        assert info.features["label"].names == manifest["protocols"][name]["protocol"]["classes"]
    configs = card.data.to_dict()["configs"]
    assert [c["config_name"] for c in configs if c.get("default")] == [next(iter(manifest["protocols"]))]


def test_loads_with_features_from_the_card_when_parquet_metadata_is_stripped(tiny_dataset, tmp_path):
    folder = tmp_path / "stripped"
    shutil.copytree(tiny_dataset, folder)
    for shard in (folder / "data" / "red-green").glob("*.parquet"):
        table = pq.read_table(shard)
        pq.write_table(table.replace_schema_metadata(None), shard)
        assert pq.read_schema(shard).metadata is None
    ds = datasets.load_dataset(str(folder), "red-green", split="test_ood")
    assert isinstance(ds.features["label"], datasets.ClassLabel)
    assert ds.features["label"].names == read_manifest(folder)["protocols"]["red-green"]["protocol"]["classes"]
    assert isinstance(ds.features["image"], datasets.Image)


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ")]


def test_every_table_row_has_its_columns(tiny_dataset):
    """A ``|`` inside a cell (composition's distributions) must not split the cell."""
    body = (tiny_dataset / "README.md").read_text().split("\n---\n", 1)[1]
    tables, current = [], []
    for line in body.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert tables
    for table in tables:
        widths = {len(re.findall(r"(?<!\\)\|", row)) for row in table}
        assert len(widths) == 1, table[:3]
    assert "\\|" in body  # composition's distribution really holds a pipe


@pytest.mark.parametrize("text", ["a | b", "a\nb|", "||", "plain"])
def test_table_cell_escapes_pipes_and_newlines(text):
    cell = table_cell(text)
    assert "\n" not in cell
    assert not re.search(r"(?<!\\)\|", cell)


def test_examples_have_class_captions_and_the_card_its_sections(tiny_dataset):
    text = (tiny_dataset / "README.md").read_text()
    assert "![train examples](images/location-halves-clutter/train.png)" in text
    assert re.search(r"\*`test_ood`, classes row by row: \(", text)
    for heading in ("## Caveats", "## Evaluate and submit", "## Citation", "```bibtex"):
        assert heading in text
    assert "held-out *centre*" in text
    assert "revision=" in text


def test_the_card_gives_the_panels_verdict_with_its_seed_count(tiny_dataset):
    text = (tiny_dataset / "README.md").read_text()
    sections = {part.split(" ", 1)[0].strip("`"): part for part in text.split("\n### ")[1:]}
    for name in protocol_names():
        protocol, found = get_protocol(name), verdict(get_protocol(name), panel_rows())
        if found.status == RANKED and not protocol.control:
            assert f"*Headroom (reference panel):* {found.note()}" in sections[name]
            assert re.search(r"\((one seed|mean of \d+ seeds), panel table\)", found.note())
        else:  # a control, or not measured: the note is in the rationale, once
            assert "Headroom (reference panel)" not in sections[name]
            assert sections[name].count(found.note()) == (0 if protocol.control and found.status != CONTROL else 1)


def test_private_variant_card_does_not_caption_hidden_labels(tmp_path):
    out = tmp_path / "private"
    secret = tmp_path / "secret"
    secret.write_text("operator secret for the card test\n")
    generate(
        out,
        protocols="red-green",
        size="tiny",
        workers=1,
        private=True,
        secret_file=secret,
        labels=tmp_path / "labels.parquet",
        progress=False,
    )
    text = (out / "README.md").read_text()
    for split in ("test_id", "test_ood", "test_moved", "probe"):  # every scored split
        assert f"*`{split}`: classes withheld in this private variant.*" in text
    assert "`test_ood`, classes row by row" not in text and "`test_moved`, classes row by row" not in text
