"""Benchmark of the leaderboard app: its table with 10,000 stored entries, and one 50k-row submission.

Setup. A real tiny dataset is generated for two protocols (``elsewhere generate``), and one real
predictions file is scored against each so that the stored results have the harness's exact shape.
The store is then filled with ``--submissions`` entries through ``Store.add`` (one transaction
each, as submissions arrive): ~700 models, each with an entry on every suite protocol, their
results copied from the real ones with seeded accuracies, intervals and metadata.

1. Table: the app's table function end to end, as a request runs it on the server —
   ``table_view`` (store query, ranking, ties, filters, display formatting), the model links, the
   CSV of the view, and building the ``gr.Dataframe`` update (gradio's serialisation of the rows) —
   for one protocol, one protocol filtered (family, parameters, verified, search), and the
   whole-suite view; also ``/table``
   through ``gradio_client`` over HTTP for reference (adds the queue and the network stack).
2. Submission: scoring and storing a 50,000-row predictions file with ``submit`` (size check, read,
   validation, metrics with bootstrap intervals, sha256, results, store insert with rate-limit
   check) into the 10,000-entry store, as CSV and as Parquet. No protocol has 50,000 evaluated
   items (the largest, at size full, has 32,800), so the truth is synthesised: the real tiny
   truth of ``location-halves`` tiled to 50,000 rows with fresh ids and probe groups, keeping
   its factor distributions, grid and classes.

    python benchmarks/leaderboard_app.py [--submissions 10000] [--rows 50000] [--seed 0] [--repeats 20]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

PROTOCOLS = ("location-halves", "iid")
FAMILIES = ("cnn", "mlp", "resnet", "vit", "other")


def timed(call: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """Median and best wall time, and median CPU time of this thread, of ``call`` in milliseconds.

    The CPU time is what the request costs the server whatever else the machine is running.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        call()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
    return float(np.median(wall)), float(np.min(wall)), float(np.median(cpu))


def tiled_truth(truth, rows: int):
    """``truth`` repeated whole until it has at least ``rows`` items, with fresh ids and probe groups per copy."""
    from elsewhere.evaluation.truth import Truth

    copies = -(-rows // len(truth.frame))
    frame = pd.concat([truth.frame] * copies, ignore_index=True)
    copy_index = np.repeat(np.arange(copies), len(truth.frame))
    frame["id"] = frame["id"] + "-" + pd.Series(copy_index).astype(str)
    groups = frame["group"].to_numpy()
    frame["group"] = np.where(groups >= 0, groups + copy_index * (groups.max() + 1), groups)
    return Truth(
        protocol=truth.protocol,
        version=truth.version,
        fingerprint=truth.fingerprint,
        class_names=truth.class_names,
        frame=frame,
        grid=truth.grid,
        train_region=truth.train_region,
        factors=truth.factors,
        evaluated_classes=truth.evaluated_classes,
    )


def predictions_for(truth, wrong: float, rng: np.random.Generator) -> pd.DataFrame:
    labels = truth.frame["label"].to_numpy().copy()
    flip = rng.random(len(labels)) < wrong
    labels[flip] = (labels[flip] + 1) % len(truth.class_names)
    return pd.DataFrame({"id": truth.frame["id"], "prediction": labels})


def fill(
    store, templates: dict[str, dict], protocols: tuple[str, ...], submissions: int, rng: np.random.Generator
) -> None:
    """``submissions`` entries: models in turn on every protocol, results copied from ``templates``."""
    models = -(-submissions // len(protocols))
    skill = rng.uniform(0.2, 0.95, models)
    family = rng.choice(FAMILIES, models)
    parameters = np.round(10 ** rng.uniform(3, 8, models)).astype(int)
    for i in range(submissions):
        model, protocol = divmod(i, len(protocols))
        protocol = protocols[protocol]
        results = copy.deepcopy(templates[protocol if protocol in templates else PROTOCOLS[0]])
        n = 1000
        value = float(np.clip(skill[model] + rng.normal(0, 0.05), 0, 1))
        half = 1.96 * np.sqrt(max(value * (1 - value), 1e-4) / n)
        results["metrics"]["ood_accuracy"] = {"value": value, "ci": [value - half, value + half], "n": n}
        results["protocol"]["name"] = protocol
        store.add(
            submitter=f"team-{model % 300}",
            identity=f"hf:team-{model % 300}",
            model_name=f"model-{model}",
            model={"family": str(family[model]), "parameters": int(parameters[model]), "verified": model % 40 == 0},
            protocol=protocol,
            protocol_version=1,
            variant="public",
            fingerprint=results["protocol"]["fingerprint"],
            predictions_sha256=hashlib.sha256(f"benchmark {i}".encode()).hexdigest(),
            results=results,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

    import gradio as gr

    from elsewhere.api import generate
    from elsewhere.leaderboard.app import build_app
    from elsewhere.leaderboard.store import Store
    from elsewhere.leaderboard.submissions import Truths, submit
    from elsewhere.leaderboard.views import csv_bytes, table_view
    from elsewhere.splits.registry import protocol_names

    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        data = folder / "data"
        generate(data, protocols=",".join(PROTOCOLS), size="tiny", seed=args.seed, workers=2, progress=False)
        truths = Truths(data)
        scratch = Store(folder / "scratch.sqlite")
        templates = {}
        for protocol in PROTOCOLS:
            path = folder / f"{protocol}.csv"
            predictions_for(truths.get(protocol), 0.3, rng).to_csv(path, index=False)
            templates[protocol] = submit(
                scratch,
                truths,
                protocol=protocol,
                predictions_path=path,
                model_name="template",
                submitter="bench",
                identity="bench",
                rate_limit_per_day=None,
            ).results
        # The whole suite's names, so that the suite view averages over 14 protocols as in production.
        suite = tuple(protocol_names())
        store = Store(folder / "leaderboard.sqlite")
        start = time.perf_counter()
        fill(store, templates, suite, args.submissions, rng)
        seconds = time.perf_counter() - start
        print(
            f"filled {args.submissions:,} submissions in {seconds:.1f} s ({1000 * seconds / args.submissions:.2f} ms per add)"
        )

        def request(view: str, **filters) -> Callable[[], object]:
            def run() -> object:
                shown = table_view(store, suite, "public", view, **filters)
                linked, types = shown.linked()
                csv_bytes(shown.frame)
                return gr.Dataframe(value=linked, datatype=types, label=shown.label)

            return run

        filtered = {
            "families": ("cnn", "resnet"),
            "min_parameters": "10k",
            "max_parameters": "10M",
            "verified": "unverified only",
            "search": "model-1",
        }
        broad = {"families": ("cnn", "mlp", "resnet", "vit"), "verified": "unverified only"}
        cases = {
            "one protocol": request("location-halves"),
            "one protocol, filtered + search": request("location-halves", **filtered),
            "whole suite": request("suite"),
            "whole suite, broad filter (most rows kept)": request("suite", **broad),
            "whole suite, filtered + search": request("suite", **filtered),
        }
        print(
            f"table function, server side (table_view + model links + CSV + gr.Dataframe update), {args.repeats} runs:"
        )
        for name, call in cases.items():
            median, best, cpu = timed(call, args.repeats)
            rows = len(call().value["data"])
            print(f"  {name:<42} {rows:>5} rows  median {median:6.1f} ms  best {best:6.1f} ms  CPU {cpu:6.1f} ms")

        from gradio_client import Client

        port = free_port()
        demo = build_app(store, truths, data)
        demo.launch(server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
        try:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            median, best, _ = timed(lambda: client.predict(view="location-halves", api_name="/table"), args.repeats)
            print(
                f"  {'/table over HTTP (gradio_client), protocol':<42}             median {median:6.1f} ms  best {best:6.1f} ms"
            )
        finally:
            demo.close()

        class TiledTruths(Truths):
            """The dataset's truths, with location-halves tiled to ``--rows`` items."""

            def __init__(self, data: Path, truth) -> None:
                super().__init__(data)
                self.tiled = truth

            def get(self, protocol: str):
                return self.tiled if protocol == self.tiled.protocol else super().get(protocol)

        big = tiled_truth(truths.get("location-halves"), args.rows)
        big_truths = TiledTruths(data, big)
        print(
            f"submission of {len(big.frame):,} predictions into the {args.submissions:,}-entry store "
            f"(synthesised truth: location-halves tiny tiled):"
        )
        for suffix in (".csv", ".parquet"):
            times = []
            for attempt in range(3):
                path = folder / f"big-{attempt}{suffix}"
                frame = predictions_for(big, 0.2 + 0.05 * attempt, rng)
                frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path, index=False)
                start = time.perf_counter()
                entry = submit(
                    store,
                    big_truths,
                    protocol="location-halves",
                    predictions_path=path,
                    model_name=f"big{suffix}",
                    submitter="bench",
                    identity="bench",
                    rate_limit_per_day=20,
                )
                times.append(time.perf_counter() - start)
            size = path.stat().st_size / 2**20
            print(
                f"  {suffix[1:]:<8} {size:5.2f} MiB  median {np.median(times):.2f} s  best {min(times):.2f} s  "
                f"(entry #{entry.id}, OOD accuracy {entry.ood_accuracy:.3f})"
            )


if __name__ == "__main__":
    main()
