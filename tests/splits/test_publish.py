"""Publishing plans: one commit that adds the folder and deletes what it no longer lists, tagged by version.

The plan is tested offline against a real, larger earlier generation standing in for the repo; the
network path is tested for its failure (one line, nothing committed) against a closed local port.
"""

import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from elsewhere.api import generate
from elsewhere.cli import main
from elsewhere.errors import ElsewhereError
from elsewhere.splits.dataset import read_manifest
from elsewhere.splits.publish import dataset_tag, files_at, plan_publish, publish

REPO = "someone/elsewhere"


@pytest.fixture(scope="module")
def larger_earlier(tmp_path_factory):
    """An earlier generation whose train split spans two shards (size small), as on the Hub before."""
    folder = tmp_path_factory.mktemp("earlier") / "small"
    generate(folder, protocols="location-halves", size="small", seed=3, workers=2, progress=False)
    return folder


def test_smaller_regeneration_deletes_the_stale_shards(tiny_dataset, larger_earlier):
    plan = plan_publish(tiny_dataset, REPO, files_at(larger_earlier))
    assert "data/location-halves/train-00000-of-00002.parquet" in plan.deletions
    assert "data/location-halves/train-00001-of-00002.parquet" in plan.deletions
    assert "data/location-halves/train-00000-of-00001.parquet" in plan.additions
    # Everything the new folder holds is added; nothing it holds is deleted.
    assert not set(plan.deletions) & set(plan.additions)
    assert set(plan.additions) == set(files_at(tiny_dataset))


def test_second_dry_run_prints_the_deletions_and_the_tag(tiny_dataset, larger_earlier, capsys):
    assert main(["publish", str(tiny_dataset), "--repo-id", REPO, "--dry-run", "--against", str(larger_earlier)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "delete data/location-halves/train-00001-of-00002.parquet" in lines
    assert any(line.startswith("add data/location-halves/train-00000-of-00001.parquet (") for line in lines)
    assert lines[-1] == f"tag {dataset_tag(read_manifest(tiny_dataset))}"
    # Once published, the same folder against itself deletes nothing.
    assert main(["publish", str(tiny_dataset), "--repo-id", REPO, "--dry-run", "--against", str(tiny_dataset)]) == 0
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("delete ")]


def test_against_a_listing_file_and_hub_files_kept(tiny_dataset, tmp_path):
    listing = tmp_path / "remote.txt"
    listing.write_text(".gitattributes\nREADME.md\ndata/old/train-00000-of-00001.parquet\n\n")
    plan = plan_publish(tiny_dataset, REPO, files_at(listing))
    assert plan.deletions == ("data/old/train-00000-of-00001.parquet",)


def test_tag_names_one_generation(tiny_dataset, larger_earlier):
    tiny, small = read_manifest(tiny_dataset), read_manifest(larger_earlier)
    assert dataset_tag(tiny) == dataset_tag(dict(tiny))
    assert dataset_tag(tiny) != dataset_tag(small)
    assert dataset_tag(tiny).startswith("v") and "-tiny-seed11-" in dataset_tag(tiny)


@pytest.mark.parametrize("repo_id", ["noslash", "a/b/c", "/name", "org/", "org/na me", "org/../x"])
def test_bad_repo_ids_are_refused(tiny_dataset, repo_id):
    with pytest.raises(ElsewhereError, match="ORG/NAME"):
        plan_publish(tiny_dataset, repo_id, ())


def test_against_needs_dry_run_and_an_existing_path(tiny_dataset, tmp_path, capsys):
    assert main(["publish", str(tiny_dataset), "--repo-id", REPO, "--against", str(tiny_dataset)]) == 2
    assert "--dry-run" in capsys.readouterr().err
    assert main(["publish", str(tiny_dataset), "--repo-id", REPO, "--dry-run", "--against", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err


def test_not_a_dataset_folder_is_refused(tmp_path):
    with pytest.raises(ElsewhereError, match="not an elsewhere dataset folder"):
        publish(tmp_path, REPO, dry_run=True, remote=tmp_path)


@pytest.mark.parametrize("offline", ["1", "0"])
def test_network_failure_is_one_line(tiny_dataset, offline):
    """Offline mode, or a Hub that does not answer (a closed local port): one line, exit 2."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": offline,
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_TOKEN": "hf_not_a_real_token",
        "HF_HUB_ETAG_TIMEOUT": "2",
        "HF_HUB_DOWNLOAD_TIMEOUT": "2",
    }
    done = subprocess.run(
        [sys.executable, "-m", "elsewhere.cli", "publish", str(tiny_dataset), "--repo-id", REPO],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "nothing was committed" in done.stderr


def test_a_private_variant_publishes_ids_and_images_only(tmp_path):
    """Entrants need the hidden images: the plan uploads the label-free shards, never the labels file."""
    secret = tmp_path / "secret.txt"
    secret.write_text("an operator secret of enough length")
    folder, labels = tmp_path / "hidden", tmp_path / "labels.parquet"
    generate(folder, protocols="iid", size="tiny", private=True, secret_file=secret, labels=labels, progress=False)
    plan = plan_publish(folder, REPO, ())
    shards = [path for name, path in plan.additions.items() if name.endswith(".parquet")]
    assert shards and labels not in plan.additions.values()
    assert {tuple(pq.read_schema(path).names) for path in shards} == {("id", "image")}
