"""Fixtures shared by every stage's tests: one real tiny dataset folder, generated once per session."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

TINY_SEED = 11


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """The whole suite at size tiny, written by the real generator (two worker processes)."""
    from elsewhere.api import generate

    folder = tmp_path_factory.mktemp("data") / "tiny"
    generate(folder, size="tiny", seed=TINY_SEED, workers=2, progress=False)
    return folder


@pytest.fixture(autouse=True)
def _isolated_hf_cache(tmp_path_factory, monkeypatch):
    """datasets caches what it reads; keep that cache out of the user's home."""
    cache = tmp_path_factory.getbasetemp() / "hf-cache"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.getbasetemp() / "hf-home"))
