"""The short public API: ``generate``, ``score`` and ``evaluate``, each mirroring its command."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from elsewhere.errors import ElsewhereError
from elsewhere.extras import optional_dependencies

SECRET_VARIABLE = "ELSEWHERE_SECRET"


def read_secret(secret_file: str | Path | None = None) -> str:
    """The operator secret of the private test set, from a file or the environment; never logged."""
    if secret_file is not None:
        secret = Path(secret_file).read_text().strip()
        source = f"secret file {secret_file}"
    else:
        secret = os.environ.get(SECRET_VARIABLE, "").strip()
        source = f"${SECRET_VARIABLE}"
    if len(secret) < 16:
        raise ElsewhereError(
            f"{source} is missing or shorter than 16 characters; the private test set "
            f"needs a secret of at least 16 characters"
        )
    return secret


def generate(
    out: str | Path,
    *,
    protocols: str | None = None,
    size: str = "small",
    seed: int = 0,
    workers: int | None = None,
    canvas: int | None = None,
    private: bool = False,
    secret_file: str | Path | None = None,
    labels: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    engine: str = "local",
    address: str | None = None,
) -> dict:
    """Write the benchmark dataset folder ``out``; returns its manifest (see ``elsewhere generate``)."""
    from elsewhere.splits.dataset import generate as generate_folder
    from elsewhere.splits.registry import parse_protocols
    from elsewhere.splits.sampling import commitment, secret_words
    from elsewhere.splits.shards import Job

    if private and labels is None:
        raise ElsewhereError("a private dataset withholds its labels; name a labels file for the leaderboard's copy")
    if labels is not None and not private:
        raise ElsewhereError("a labels file is written only for a private dataset (public datasets keep their labels)")
    secret = read_secret(secret_file) if private else None
    job = Job(
        seed=seed,
        size=size,
        canvas=canvas,
        secret=secret_words(secret),
        withhold_labels=private,
        commitment=commitment(secret) if secret is not None else "",
    )
    return generate_folder(
        out,
        parse_protocols(protocols),
        job,
        workers=workers,
        labels_out=labels,
        overwrite=overwrite,
        progress=progress,
        engine=engine,
        address=address,
    )


def score(data: str | Path, protocol: str, predictions: str | Path, *, model_name: str | None = None) -> dict:
    """Results of a predictions file on ``protocol`` (see ``elsewhere score``)."""
    from elsewhere.evaluation.data import load_truth
    from elsewhere.evaluation.scoring import score_file

    truth = load_truth(data, protocol)
    return score_file(truth, predictions, model={"name": model_name or Path(predictions).stem})


def evaluate(
    data: str | Path,
    protocol: str,
    model: str,
    *,
    weights: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 256,
    model_name: str | None = None,
    save_predictions: str | Path | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    pixel_cache: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Results of a torch model built by ``model`` (``file.py:factory``); see ``elsewhere evaluate``.

    The model takes float32 N×3×H×W RGB in [0, 1], normalised per channel as ``(x − mean) / std``
    when ``mean``/``std`` are given or the model has ``input_mean``/``input_std``, and returns
    logits N×classes; anything else is refused before scoring. ``pixel_cache`` is a folder where
    each split's decoded images are kept, so that later evaluations of the same data skip decoding.
    """
    with optional_dependencies():
        from elsewhere.evaluation.harness import evaluate_model

    return evaluate_model(
        data,
        protocol,
        model,
        weights=weights,
        device=device,
        batch_size=batch_size,
        model_name=model_name,
        save_predictions=save_predictions,
        mean=mean,
        std=std,
        pixel_cache=pixel_cache,
        progress=progress,
    )
