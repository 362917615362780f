"""The public board as a Hugging Face Space: :func:`write_space` writes the folder, :func:`serve` runs it.

The folder is a Gradio Space repo that needs nothing but its own files:

- ``app.py``, three lines that call :func:`serve`;
- ``README.md`` with the Space metadata (``sdk: gradio`` at our gradio version, ``app_file``,
  ``hf_oauth: true`` so that submissions bind to a Hugging Face login), written by
  ``huggingface_hub``'s ``SpaceCardData``;
- ``requirements.txt``: every package the board imports, and everything those import, pinned to
  the versions installed here (the closure of ``elsewhere[leaderboard]``'s requirements);
- ``elsewhere/`` and its ``.dist-info``: this package itself, unpacked from a wheel built from the
  source checkout. Vendored rather than a requirement, because a Space installs
  ``requirements.txt`` before the rest of its files are in place (a wheel beside it could not be
  found) and the project has no public git URL to install from. The dist-info keeps
  ``elsewhere --version`` and the results' harness version right, and records the source commit
  (PEP 610 ``direct_url.json``) when the checkout is clean;
- ``dataset/`` (a copy of the dataset folder) or, for data on the Hub, its repo id in ``space.json``;
- ``runs/``: the reference baselines' results and predictions, scored into the board at start.

At start :func:`serve` opens the store (``$ELSEWHERE_DB``, else ``/data/leaderboard.sqlite`` on a
Space's persistent disk when present, else ``leaderboard.sqlite`` in the folder), restores an
empty store from the results dataset when one is configured (:mod:`leaderboard.hub_sync`),
seeds the baselines, exports what the results dataset lacks, and serves on
``$GRADIO_SERVER_NAME`` (default 127.0.0.1; a Space sets 0.0.0.0) and ``$GRADIO_SERVER_PORT``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from elsewhere.errors import ElsewhereError

CONFIG = "space.json"
DATA_FOLDER = "dataset"
RUNS_FOLDER = "runs"
PERSISTENT_DISK = Path("/data")
LOCAL_STORE = "leaderboard.sqlite"
EXTRAS = ("leaderboard",)
RUN_FILES = ("results.json", "predictions.parquet")
APP = '''\
"""The elsewhere leaderboard Space (written by `elsewhere space`; settings in README.md)."""

from pathlib import Path

from elsewhere.leaderboard.space import serve

if __name__ == "__main__":
    serve(Path(__file__).resolve().parent)
'''
_log = logging.getLogger(__name__)


def write_space(
    out: str | Path,
    *,
    data: str | Path,
    baselines: str | Path | None = None,
    results_repo: str | None = None,
    title: str = "elsewhere leaderboard",
    source: str | Path | None = None,
) -> list[str]:
    """Write the Space folder ``out`` (empty or new); returns its top-level entries.

    Args:
        data: the dataset folder (copied in) or the Hub repo id of the published dataset.
        baselines: a runs folder of ``elsewhere train`` (``RUNS/<protocol>/<arch>/``) to seed the board.
        results_repo: ``ORG/NAME`` of the results dataset the board exports to and restores from.
        source: the source checkout to build the vendored package from (default: this one).
    """
    from elsewhere.evaluation.data import manifest_of
    from elsewhere.splits.publish import check_repo_id

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ElsewhereError(f"{out} exists and is not an empty folder; give a new or empty folder for the Space")
    if results_repo is not None:
        check_repo_id(results_repo)
    manifest = manifest_of(data)  # refuses anything that is not a dataset, before writing
    if manifest.get("labels") == "withheld":
        raise ElsewhereError(
            f"{data} is a private variant; a Space serves the public data (its labels file must stay with the operator)"
        )
    runs = _finished_runs(Path(baselines), manifest) if baselines is not None else []
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.resolve().parent))
    try:
        local = Path(data).is_dir()
        if local:
            shutil.copytree(data, staging / DATA_FOLDER)
        for run in runs:
            target = staging / RUNS_FOLDER / run.parent.name / run.name
            target.mkdir(parents=True)
            for name in RUN_FILES:
                shutil.copy2(run / name, target / name)
        dist_info = _vendor(staging, Path(source) if source is not None else _source_checkout())
        config = {
            "data": DATA_FOLDER if local else str(data),
            "baselines": RUNS_FOLDER if runs else None,
            "results_repo": results_repo,
        }
        (staging / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
        (staging / "app.py").write_text(APP)
        requires = metadata.PathDistribution(dist_info).requires or []
        (staging / "requirements.txt").write_text("\n".join(pinned_requirements(requires)) + "\n")
        (staging / "README.md").write_text(_card(title, None if local else str(data), results_repo, len(runs)))
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(p.name for p in out.iterdir())


def _finished_runs(runs: Path, manifest: dict) -> list[Path]:
    if not runs.is_dir():
        raise ElsewhereError(f"baselines folder {runs} does not exist; give the runs folder of elsewhere train")
    found = sorted(p.parent for p in runs.glob("*/*/results.json") if (p.parent / "predictions.parquet").is_file())
    unknown = sorted({p.parent.name for p in found} - set(manifest["protocols"]))
    if unknown:
        raise ElsewhereError(f"baselines in {runs} are for protocols the data lacks: {', '.join(unknown)}")
    return found


def pinned_requirements(requires: list[str], extras: tuple[str, ...] = EXTRAS) -> list[str]:
    """``name==version`` for every package ``requires`` (with ``extras``) needs, transitively, as installed here.

    A local version label (``torch 2.13.0+cpu``) is dropped: indexes serve public versions only.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pinned: dict[str, str] = {}
    pending = [(req, set(extras)) for req in requires]
    while pending:
        text, wanted = pending.pop()
        requirement = Requirement(text)
        if requirement.marker is not None and not any(
            requirement.marker.evaluate({"extra": extra}) for extra in (wanted or {""})
        ):
            continue
        name = canonicalize_name(requirement.name)
        if name == "elsewhere" or name in pinned:
            continue
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise ElsewhereError(
                f"{requirement.name}, which the board needs, is not installed here; install elsewhere[leaderboard]"
            ) from None
        pinned[name] = version.split("+")[0]
        pending += [(req, set(requirement.extras)) for req in metadata.requires(name) or []]
    return [f"{name}=={version}" for name, version in sorted(pinned.items())]


def _source_checkout() -> Path:
    # From a checkout this module is <root>/leaderboard/space.py; installed from a wheel, <root> holds no project.
    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise ElsewhereError("this elsewhere is not a source checkout; run elsewhere space from a clone of the project")
    return root


def _vendor(folder: Path, source: Path) -> Path:
    """Unpack a wheel of ``source`` into ``folder``: the package and its dist-info (returned), with the commit."""
    from elsewhere.evaluation.results import harness_commit

    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "src"
        shutil.copytree(
            source,
            tree,
            ignore=shutil.ignore_patterns(".*", "__pycache__", "*.egg-info", "build", "out", "runs", "tests"),
        )
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", scratch, str(tree)],
            capture_output=True,
            text=True,
        )
        wheels = list(Path(scratch).glob("elsewhere-*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            tail = " ".join(done.stderr.split())[-300:]
            raise ElsewhereError(f"building the elsewhere wheel from {source} failed: {tail}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extractall(folder)
    (dist_info,) = folder.glob("elsewhere-*.dist-info")
    commit = harness_commit() if source.resolve() == Path(__file__).resolve().parents[1] else None
    if commit and not commit.endswith("+dirty"):
        direct = {"url": source.resolve().as_uri(), "vcs_info": {"vcs": "git", "commit_id": commit}}
        (dist_info / "direct_url.json").write_text(json.dumps(direct) + "\n")
    return dist_info


def _card(title: str, data_repo: str | None, results_repo: str | None, runs: int) -> str:
    from huggingface_hub import SpaceCard, SpaceCardData

    data = SpaceCardData(
        title=title,
        sdk="gradio",
        sdk_version=metadata.version("gradio"),
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
        app_file="app.py",
        license="mit",
        datasets=[r for r in (data_repo, results_repo) if r] or None,
        tags=["leaderboard", "out-of-distribution", "translation-invariance"],
        hf_oauth=True,
        emoji="📍",
        colorFrom="blue",
        colorTo="green",
        pinned=False,
    )
    body = f"""
# {title}

*Can your network recognise it elsewhere?* The public board of the elsewhere benchmark: submit
predictions for a protocol's `test_id`, `test_ood` and `probe` splits and see them ranked by
out-of-location accuracy. Data: {f"`{data_repo}` on the Hub" if data_repo else "the `dataset/` folder of this Space"}.
{f"The board starts with {runs} reference baseline runs (`runs/`)." if runs else ""}

## Settings (Space variables and secrets)

| name | kind | meaning |
| --- | --- | --- |
| `HF_TOKEN` | secret | the operator's token, to export accepted submissions to the results dataset |
| `ELSEWHERE_RESULTS_REPO` | variable | results dataset (`ORG/NAME`, created private){f"; default `{results_repo}`" if results_repo else ""} |
| `ELSEWHERE_OPERATOR_KEY` | secret | operator actions on the store (verified entries, rounds) |
| `ELSEWHERE_RATE_LIMIT` | variable | submissions per login in any 24 hours (default 20) |
| `ELSEWHERE_MAX_UPLOAD_MB` | variable | largest predictions upload (default 50) |
| `ELSEWHERE_DB` | variable | the SQLite store (default `/data/leaderboard.sqlite` with persistent storage) |

Turn on persistent storage so the store survives restarts; with a results dataset configured, a
new Space restores the board from it and every accepted submission is added to it, append-only.
Run locally with `pip install -r requirements.txt && python app.py`.
"""
    return SpaceCard(f"---\n{data.to_yaml()}\n---\n{body}").content


def store_path(folder: Path) -> Path:
    """``$ELSEWHERE_DB``, else the Space's persistent disk when mounted and writable, else the folder."""
    from elsewhere.leaderboard import settings

    if os.environ.get("ELSEWHERE_DB") is not None:
        return settings.database_path()
    if PERSISTENT_DISK.is_dir() and os.access(PERSISTENT_DISK, os.W_OK):
        return PERSISTENT_DISK / LOCAL_STORE
    return folder / LOCAL_STORE


def prepare(folder: str | Path) -> tuple[Path, str | Path]:
    """Everything :func:`serve` does before serving: returns the store path and the data it scores against."""
    from elsewhere.leaderboard import hub_sync
    from elsewhere.leaderboard.baselines import seed_baselines
    from elsewhere.leaderboard.store import Store
    from elsewhere.leaderboard.submissions import Truths

    folder = Path(folder)
    config = json.loads((folder / CONFIG).read_text())
    if config.get("results_repo"):
        os.environ.setdefault("ELSEWHERE_RESULTS_REPO", config["results_repo"])
    data = os.environ.get("ELSEWHERE_DATA") or config["data"]
    if (folder / data).is_dir():
        data = folder / data
    db = store_path(folder)
    store = Store(db)
    target = hub_sync.target_from_environment()
    if target is not None and not store.list(variant=None, include_hidden=True):
        _log.warning("restored %d entries from %r", hub_sync.restore(store, target), target)
    if config.get("baselines"):
        for line in seed_baselines(store, Truths(data), folder / config["baselines"]):
            _log.info(line)
    if target is not None:
        hub_sync.export_quietly(store, target)
    return db, data


def serve(folder: str | Path, *, prevent_thread_lock: bool = False):
    """Run the Space in ``folder``: prepare the store, then serve the board (blocks unless told not to)."""
    from elsewhere.leaderboard.app import launch

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    db, data = prepare(folder)
    host = os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    return launch(db, data, host=host, port=port, prevent_thread_lock=prevent_thread_lock)
