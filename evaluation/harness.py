"""The harness: run a torch model over a protocol's evaluated splits and score what it predicts.

``evaluate_model`` serves ``elsewhere evaluate`` (a user's factory and safetensors weights) and
``train_baseline`` serves ``elsewhere train`` (a reference architecture trained here). Both end in
the same results JSON as a scored predictions file. The model contract (input, normalisation,
logits) is the runner's: see :mod:`elsewhere.evaluation.runner`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.architectures import create_model
from elsewhere.evaluation.backbones import check_backbone, is_backbone, pretrained_label
from elsewhere.evaluation.data import evaluated_splits, load_split, load_truth, manifest_of, protocol_entry
from elsewhere.evaluation.loading import build_model, count_parameters, load_weights, save_weights
from elsewhere.evaluation.pixel_cache import cached_pixels, pixel_key
from elsewhere.evaluation.predictions import make_predictions, write_predictions
from elsewhere.evaluation.results import file_sha256, write_results
from elsewhere.evaluation.runner import Statistics, channel_statistics, predict, resolve_device
from elsewhere.evaluation.scoring import score_predictions
from elsewhere.evaluation.training import default_config, train
from elsewhere.files import write_text_atomic

PRETRAIN_HELD_OUT = 10


def _canvas(data: str | Path, protocol: str) -> int:
    _, entry = protocol_entry(manifest_of(data), data, protocol)
    return int(entry["protocol"]["canvas"])


def predict_splits(
    model: nn.Module,
    data: str | Path,
    protocol: str,
    *,
    device: torch.device,
    batch_size: int,
    progress: bool,
    num_classes: int | None = None,
    statistics: Statistics | None = None,
    pixel_cache: str | Path | None = None,
) -> pd.DataFrame:
    """Predictions (with probabilities) for every evaluated item of ``protocol``; with ``pixel_cache``
    (a folder), each split's images are decoded once into it and read from there after
    (:mod:`~elsewhere.evaluation.pixel_cache`)."""
    from elsewhere.splits.registry import get_protocol

    manifest = manifest_of(data) if pixel_cache is not None else None
    frames = []
    for split in evaluated_splits(get_protocol(protocol)):
        dataset = load_split(data, protocol, split)
        pixels = None
        if pixel_cache is not None:
            pixels = cached_pixels(dataset, pixel_key(manifest, protocol, split), pixel_cache, progress=progress)
        labels, probabilities = predict(
            model,
            dataset,
            device=device,
            batch_size=batch_size,
            num_classes=num_classes,
            statistics=statistics,
            pixels=pixels,
            progress=progress,
        )
        frames.append(make_predictions(dataset["id"], labels, probabilities))
    return pd.concat(frames, ignore_index=True)


def evaluate_model(
    data: str | Path,
    protocol: str,
    factory: str,
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
    """Results of the model built by ``factory`` (``file.py:function``) on ``protocol``.

    The input is normalised by ``mean``/``std`` when given, else by the model's ``input_mean``/
    ``input_std`` attributes when it has them (:func:`~elsewhere.evaluation.runner.channel_statistics`).
    ``pixel_cache``: a folder where decoded images are kept between evaluations (see :func:`predict_splits`).
    """
    if batch_size < 1:
        raise ElsewhereError(f"bad batch size {batch_size}; use a whole number of at least 1")
    target = resolve_device(device)
    truth = load_truth(data, protocol)
    num_classes = len(truth.class_names)
    model = build_model(factory, num_classes=num_classes, canvas=_canvas(data, protocol))
    if weights is not None:
        load_weights(model, weights)
    statistics = channel_statistics(model, mean, std)
    predictions = predict_splits(
        model.to(target),
        data,
        protocol,
        device=target,
        batch_size=batch_size,
        progress=progress,
        num_classes=num_classes,
        statistics=statistics,
        pixel_cache=pixel_cache,
    )
    if save_predictions is not None:
        write_predictions(predictions, save_predictions)
    meta = {
        "name": model_name or factory,
        "parameters": count_parameters(model),
        "weights": Path(weights).name if weights else None,
        "weights_sha256": file_sha256(weights) if weights else None,
        "architecture": getattr(model, "architecture", None),
    }
    if statistics is not None:
        meta["input"] = {"mean": statistics[0].flatten().tolist(), "std": statistics[1].flatten().tolist()}
    return score_predictions(truth, predictions, model=meta, source=f"model:{factory}", device=str(target))


def train_baseline(
    data: str | Path,
    protocol: str,
    architecture: str,
    out: str | Path,
    *,
    epochs: int | None = None,
    seed: int = 0,
    device: str = "auto",
    pretrained: bool = False,
    progress: bool = True,
) -> dict:
    """Train ``architecture`` on ``protocol`` and write model, predictions and results to ``out``.

    A protocol with a ``pretrain`` split (novel objects) trains on it first, then on ``train``,
    as in Blything et al.; the pretrain stage selects its best epoch on its own last tenth, the
    train stage on ``validation``. ``pretrained`` fine-tunes a library backbone from its published
    weights; the run is then labelled ``<backbone>+pretrained`` (as is a name given with that suffix).
    """
    from elsewhere.splits.registry import get_protocol

    if pretrained:
        architecture = pretrained_label(architecture)
    backbone = is_backbone(architecture)
    starts_pretrained = backbone and check_backbone(architecture)[2]
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ElsewhereError(f"run folder {out} is a file; give a folder for the run")
    config = default_config(architecture)
    if epochs is not None:
        if epochs < 1:
            raise ElsewhereError(f"bad number of epochs {epochs}; train for at least 1 epoch")
        config = replace(config, epochs=epochs)
    config = replace(config, seed=seed)
    target = resolve_device(device)
    truth = load_truth(data, protocol)
    model = create_model(architecture, len(truth.class_names), _canvas(data, protocol), seed=seed)
    model.to(target)
    validation = load_split(data, protocol, "validation")
    stages = [s for s in ("pretrain", "train") if s in get_protocol(protocol).split_names]
    histories = {}
    for stage in stages:
        training = load_split(data, protocol, stage)
        checking = validation
        if stage == "pretrain":  # validation holds the new classes only: hold out pretrain rows
            cut = len(training) - max(1, len(training) // PRETRAIN_HELD_OUT)
            training, checking = training.select(range(cut)), training.select(range(cut, len(training)))
        histories[stage] = train(model, training, checking, config, device=target, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    save_weights(model, out / "model.safetensors")
    predictions = predict_splits(model, data, protocol, device=target, batch_size=256, progress=progress)
    write_predictions(predictions, out / "predictions.parquet")
    meta = {
        "name": architecture,
        "architecture": architecture,
        "parameters": count_parameters(model),
        "weights": "model.safetensors",
        "weights_sha256": file_sha256(out / "model.safetensors"),
        "family": architecture.partition(":")[0] if backbone else architecture.split("-")[0],
        "pretrained": starts_pretrained,
        "training": {
            "config": {**asdict(config), "pretrained": starts_pretrained},
            "stages": stages,
            "seed": seed,
            "data": "elsewhere " + protocol + " (train" + (", after pretrain" if "pretrain" in stages else "") + ")",
        },
    }
    results = score_predictions(truth, predictions, model=meta, source=f"baseline:{architecture}", device=str(target))
    write_results(results, out / "results.json")
    write_text_atomic(out / "history.json", json.dumps(histories, indent=2, default=str) + "\n")
    return results
