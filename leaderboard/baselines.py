"""Seeding the leaderboard with the reference baselines trained by ``elsewhere train``.

Each run folder ``RUNS/<protocol>/<arch>/`` holds the predictions the harness made; they are
scored here like any submission (the leaderboard trusts no stored score) and stored as verified
entries of the operator. Runs already on the board are left as they are.
"""

from __future__ import annotations

import json
from pathlib import Path

from elsewhere.errors import ElsewhereError
from elsewhere.leaderboard.store import DuplicateSubmission, Store
from elsewhere.leaderboard.submissions import Truths, submit

OPERATOR = "elsewhere baselines"


def seed_baselines(store: Store, truths: Truths, runs: str | Path) -> list[str]:
    """Submit every finished run under ``runs``; returns one line per run: stored, kept or refused (why)."""
    lines = []
    for results_path in sorted(Path(runs).glob("*/*/results.json")):
        run = results_path.parent
        model = json.loads(results_path.read_text())["model"]
        try:
            entry = submit(
                store,
                truths,
                protocol=run.parent.name,
                predictions_path=run / "predictions.parquet",
                model_name=run.name,
                submitter=OPERATOR,
                identity=f"operator:{OPERATOR}",
                parameters=model.get("parameters"),
                family=model.get("family", "other"),
                variant=truths.variant,
                notes="reference baseline: elsewhere train, seed 0",
                verified=True,
                rate_limit_per_day=None,
            )
            lines.append(f"stored #{entry.id} {run.parent.name}/{run.name}")
        except DuplicateSubmission:
            lines.append(f"kept {run.parent.name}/{run.name}")
        except ElsewhereError as error:
            # A run the board refuses (say, trained before a split was scored) is reported, not fatal:
            # the other baselines still seed the board.
            lines.append(f"refused {run.parent.name}/{run.name}: {error}")
    return lines
