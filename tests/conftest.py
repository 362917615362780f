"""Fixtures and rules shared by every stage's tests: one real tiny dataset folder, generated once per
session, and the browser tests' requirement of a real Chromium."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

TINY_SEED = 11
# Debian's Chromium, which the browser tests drive through Playwright (see REFERENCE.md).
CHROMIUM = Path("/usr/bin/chromium")


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None if they can."""
    if not CHROMIUM.exists():
        return (
            f"Chromium is not installed ({CHROMIUM}); install Debian's: apt-get update && apt-get install -y chromium"
        )
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed; install the dev extra: pip install -e '.[all,dev]'"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Browser tests skip, with the reason, where Chromium is absent; under CI=true they fail instead,
    so that a CI run that lost its browser does not pass by testing less."""
    if item.get_closest_marker("browser") is None:
        return
    reason = browser_missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """The whole suite at size tiny, written by the real generator (two worker processes)."""
    from elsewhere.api import generate

    folder = tmp_path_factory.mktemp("data") / "tiny"
    generate(folder, size="tiny", seed=TINY_SEED, workers=2, progress=False)
    return folder


@pytest.fixture
def dead_pid() -> int:
    """The process id of a process that has exited: whose leftovers the code must treat as stale."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return int(child.stdout)


@pytest.fixture(autouse=True)
def _isolated_hf_cache(tmp_path_factory, monkeypatch):
    """datasets caches what it reads; keep that cache out of the user's home."""
    cache = tmp_path_factory.getbasetemp() / "hf-cache"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.getbasetemp() / "hf-home"))
