"""Scoring: predictions checked against the truth, measured, and written up as results.

Every path ends here: ``elsewhere score`` (a predictions file), ``elsewhere evaluate`` and
``elsewhere train`` (predictions made by the harness), and the leaderboard's submissions.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from elsewhere.evaluation.metrics import compute_metrics
from elsewhere.evaluation.predictions import MAX_PREDICTION_BYTES, read_predictions
from elsewhere.evaluation.results import build_results
from elsewhere.evaluation.truth import Truth


def score_predictions(
    truth: Truth, predictions: pd.DataFrame, *, model: dict, source: str, device: str | None = None
) -> dict:
    """Results for validated ``predictions`` (aligned to ``truth``)."""
    metrics = compute_metrics(truth, predictions)
    return build_results(
        truth=truth, predictions=predictions, metrics=metrics, model=model, source=source, device=device
    )


def score_file(truth: Truth, path: str | Path, *, model: dict, max_bytes: int = MAX_PREDICTION_BYTES) -> dict:
    """Results for a predictions file; a bad file raises one PredictionsError line."""
    predictions = read_predictions(path, truth, max_bytes=max_bytes)
    return score_predictions(truth, predictions, model=model, source=f"predictions:{Path(path).name}")
