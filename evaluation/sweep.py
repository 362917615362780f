"""The reference sweep: architectures × protocols × seeds, each training run an independent task.

Every run is ``train_baseline`` in a scratch folder on its worker (a local process or a Ray task,
see ``splits.engines``), which sends the run's files back; the caller puts them whole in
``RUNS/<protocol>/<architecture>/`` (seed 0) or ``RUNS/seed-<N>/<protocol>/<architecture>/``, so a
run folder exists only when complete. A run whose folder holds ``results.json`` is finished and
skipped: a sweep that was killed resumes where it stopped, and only the missing runs train. A
run that fails (after its retries, on Ray) stops the sweep with its error; rerunning resumes. What
goes to a worker: the run's three names, the data folder's path (or Hub id), the epochs and the
device; the worker reads the data itself, so on a cluster the folder must be on a file system all
nodes share (or be a Hub repo).

The baseline table, ``RUNS/baselines.json``, holds the finished runs of the sweep's grid, read from
their folders: one row per run with its ID and OOD accuracy (and 95% intervals; a protocol's
further test splits such as Red-Green's ``test_moved`` too), the protocol's version and data
fingerprint, and the training config. It is rewritten after each run's folder is in place, so a
sweep stopped by a kill or a failure leaves the rows of the runs it finished (a kill between a
run's folder and its row leaves that row to the next sweep). ``load_table`` reads it back for
everything derived from the panel.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from elsewhere.errors import ElsewhereError
from elsewhere.files import atomic_folder, remove_stale
from elsewhere.splits.baseline_table import Row, write_table
from elsewhere.splits.engines import Engine, run_tasks

TABLE = "baselines.json"
# Red-Green's networks read its 32×32 two-box canvases only.
RED_GREEN_PREFIX = "redgreen-"
RED_GREEN_PROTOCOL = "red-green"
SCRATCH = "elsewhere-run"  # a run's scratch folder in the worker's temporary folder
RUN_FILES = ("model.safetensors", "predictions.parquet", "results.json", "history.json")


@dataclass(frozen=True, order=True)
class Run:
    """One training run of the grid."""

    protocol: str
    architecture: str
    seed: int

    @property
    def folder(self) -> str:
        """``<protocol>/<arch>`` for seed 0 (the runs ``elsewhere leaderboard --baselines`` stores),
        ``seed-<N>/<protocol>/<arch>`` for the others."""
        run = f"{self.protocol}/{self.architecture}"
        return run if self.seed == 0 else f"seed-{self.seed}/{run}"


@dataclass(frozen=True)
class Settings:
    """What every run of a sweep shares."""

    data: str
    epochs: int | None = None
    device: str = "auto"
    threads: int | None = None


def plan_sweep(architectures: list[str], protocols: list[str], seeds: list[int]) -> list[Run]:
    """Every (protocol, architecture, seed) of the grid, Red-Green's networks on Red-Green only.

    Raises:
        ElsewhereError: for an unknown architecture or protocol, a bad seed, or an empty grid.
    """
    from elsewhere.evaluation.architectures import get_builder
    from elsewhere.splits.registry import get_protocol

    for name in architectures:
        get_builder(name)
        if "/" in name or "\\" in name or name.startswith("."):
            raise ElsewhereError(f"architecture {name!r} cannot name a run folder; use a name without / or \\")
    for name in protocols:
        get_protocol(name)
    for seed in seeds:
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
            raise ElsewhereError(f"bad seed {seed!r}; seeds are whole numbers from 0 to {2**32 - 1}")
    for label, values in (("architectures", architectures), ("protocols", protocols), ("seeds", seeds)):
        if len(set(values)) != len(values):
            raise ElsewhereError(f"{label} listed twice in {values}; name each once")
    runs = [
        Run(p, a, s)
        for p in protocols
        for a in architectures
        for s in seeds
        if not a.startswith(RED_GREEN_PREFIX) or p == RED_GREEN_PROTOCOL
    ]
    if not runs:
        raise ElsewhereError(
            f"no run pairs these architectures with these protocols ({RED_GREEN_PREFIX}* networks train on "
            f"{RED_GREEN_PROTOCOL} only); add a protocol or an architecture"
        )
    return runs


def finished(root: Path, run: Run) -> bool:
    """Whether ``run`` has its results under ``root`` (its folder appears only when complete)."""
    return (Path(root) / run.folder / "results.json").is_file()


def train_run(task: tuple[Run, Settings]) -> tuple[Run, dict[str, bytes]]:
    """Train one run in a scratch folder and return its files: what a worker does."""
    run, settings = task
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    from elsewhere.evaluation.harness import train_baseline

    # Named after this process, so that the next run on this machine removes it if a kill leaves it.
    remove_stale(Path(tempfile.gettempdir()) / SCRATCH)
    with tempfile.TemporaryDirectory(prefix=f".{SCRATCH}.partial-{os.getpid()}-") as scratch:
        out = Path(scratch) / "run"
        try:
            train_baseline(
                settings.data,
                run.protocol,
                run.architecture,
                out,
                epochs=settings.epochs,
                seed=run.seed,
                device=settings.device,
                progress=False,
            )
        except ElsewhereError as error:  # a grid has dozens of runs: say which one failed
            raise ElsewhereError(f"run {run.architecture} on {run.protocol}, seed {run.seed}: {error}") from None
        return run, {name: (out / name).read_bytes() for name in RUN_FILES if (out / name).is_file()}


def save_run(root: Path, run: Run, files: dict[str, bytes]) -> None:
    """Put a run's files in its folder, all at once: written beside it, then renamed into place."""
    final = Path(root) / run.folder
    final.parent.mkdir(parents=True, exist_ok=True)
    # A run finished meanwhile by a concurrent sweep is kept, not replaced.
    with atomic_folder(final, replace=False) as staging:
        for name, data in files.items():
            (staging / name).write_bytes(data)


def run_sweep(
    root: str | Path,
    runs: list[Run],
    settings: Settings,
    engine: Engine = Engine(),
    *,
    gpus_per_run: float = 1,
    report=print,
) -> list[Row]:
    """Train every unfinished run of ``runs`` on ``engine``, rewriting the baseline table as each
    finishes, and return the table's rows.

    On Ray, each run holds ``gpus_per_run`` GPUs when the cluster has any, else none (CPU runs).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if Path(settings.data).exists():  # a local folder: the same absolute path on every worker
        settings = replace(settings, data=str(Path(settings.data).resolve()))
    # The kept runs' rows: a damaged results file stops the sweep before it trains anything.
    rows = {run: table_row(root, run) for run in runs if finished(root, run)}
    todo = [run for run in runs if run not in rows]
    for run in rows:
        report(f"kept    {run.folder}")
    gpus = 0.0
    if engine.kind == "ray" and todo:
        from elsewhere.splits.engines import connect_ray

        if gpus_per_run < 0:
            raise ElsewhereError(f"bad GPUs per run {gpus_per_run}; use 0 or more")
        gpus = float(gpus_per_run) if connect_ray(engine.address).cluster_resources().get("GPU", 0) > 0 else 0.0
    elif engine.kind == "local" and settings.threads is None:
        share = max(1, (os.cpu_count() or 1) // min(engine.workers or 1, max(len(todo), 1)))
        settings = replace(settings, threads=share)
    remove_stale(root / TABLE)  # what a sweep killed mid-write left

    def write() -> list[Row]:
        table = [rows[run] for run in sorted(rows)]
        write_table(root / TABLE, table)
        return table

    for run, files in run_tasks(train_run, [(run, settings) for run in todo], engine, gpus=gpus, fresh_workers=True):
        save_run(root, run, files)
        rows[run] = table_row(root, run)
        write()
        report(f"trained {run.folder}")
    # An earlier sweep's table stays until this one has finished a run (or has nothing to train).
    return write()


def table_rows(root: Path, runs: list[Run]) -> list[Row]:
    """The baseline table's rows for the finished ``runs`` under ``root``, by protocol, architecture and seed."""
    return [table_row(root, run) for run in sorted(runs) if finished(root, run)]


def table_row(root: Path, run: Run) -> Row:
    """The baseline table's row of one finished run; its config names the device it trained on."""
    from elsewhere.evaluation.metrics import further_splits
    from elsewhere.evaluation.results import load_results

    folder = Path(root) / run.folder
    try:
        results = load_results(folder / "results.json")
    except ElsewhereError as error:
        raise ElsewhereError(f"{error}; or remove that folder ({folder}) and the sweep trains the run again") from None
    metrics, protocol = results["metrics"], results["protocol"]
    return Row(
        protocol=run.protocol,
        protocol_version=int(protocol["version"]),
        fingerprint=str(protocol["fingerprint"]),
        architecture=run.architecture,
        seed=run.seed,
        id_accuracy=float(metrics["id_accuracy"]["value"]),
        id_ci=tuple(float(v) for v in metrics["id_accuracy"]["ci"]),
        ood_accuracy=float(metrics["ood_accuracy"]["value"]),
        ood_ci=tuple(float(v) for v in metrics["ood_accuracy"]["ci"]),
        # The device the run trained on belongs to its recipe: CPU and GPU kernels differ.
        config={**results["model"].get("training", {}).get("config", {}), "device": results["device"]},
        results=f"{run.folder}/results.json",
        further_tests={
            split: {
                "accuracy": float(metrics["accuracy"][split]["value"]),
                "ci": [float(v) for v in metrics["accuracy"][split]["ci"]],
            }
            for split in further_splits(metrics)
        },
    )


def parse_names(text: str) -> list[str]:
    """Names from a comma-separated list."""
    names = [n.strip() for n in str(text).split(",") if n.strip()]
    if not names:
        raise ElsewhereError(f"no names in {text!r}; give a comma-separated list")
    return names


def parse_seeds(text: str) -> list[int]:
    """Seeds from a comma-separated list of whole numbers."""
    seeds = []
    for part in parse_names(text):
        if not (part.isascii() and part.isdecimal()):
            raise ElsewhereError(f"bad seed {part!r} in {text!r}; seeds are whole numbers, e.g. 0,1,2")
        seeds.append(int(part))
    return seeds
