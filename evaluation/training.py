"""Training the reference baselines: train on ``train``, select on ``validation``, seeded throughout.

Both splits are decoded once into uint8 tensors held in memory (on the training device): the
``small`` size is about 5000 64×64 images, 60 MB, and re-decoding PNGs every epoch would cost more
than the training itself on a CPU. Each epoch visits the training images in an order drawn from a
``torch.Generator`` seeded with ``TrainConfig.seed`` (or in the split's own order, with
``shuffle=False``, as Red-Green's authors train); the initial weights are the caller's (build
the model with ``architectures.create_model(..., seed=...)``). On CPU the result is bitwise
reproducible: same model weights, data and config give the same trained weights.

The weights kept are those of the epoch with the lowest validation loss; with ``patience`` set,
training stops once that many epochs pass without a new lowest validation loss. The learning rate
is constant, or (``schedule="cosine"``) rises linearly over the first ``warmup`` share of the steps
and then follows a half cosine to zero; ``clip_norm`` caps the gradient's norm at every step.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import datasets
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.architectures import get_builder
from elsewhere.evaluation.backbones import is_backbone
from elsewhere.evaluation.runner import decode_split, to_float

OPTIMIZERS = ("adam", "adamw", "adadelta")
SCHEDULES = ("constant", "cosine")
# Networks without convolutional priors (and library backbones) learn with the recipe they are
# published with, scaled to the suite's sizes: AdamW's decoupled weight decay, a warmup then a
# cosine decay of the learning rate, and clipped gradients.
ATTENTION_LIKE = ("vit-tiny", "mixer-tiny")
EVAL_BATCH = 512


@dataclass(frozen=True)
class TrainConfig:
    """How to train one baseline. ``patience=None`` trains every epoch (still keeping the best)."""

    epochs: int = 12
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    seed: int = 0
    patience: int | None = None
    shuffle: bool = True
    schedule: str = "constant"
    warmup: float = 0.0
    clip_norm: float | None = None

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ElsewhereError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ElsewhereError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if not 0 <= self.warmup < 1 or (self.warmup and self.schedule == "constant"):
            raise ElsewhereError(
                f"bad warmup {self.warmup} for the {self.schedule} schedule; the cosine schedule warms up over a "
                "share of the steps from 0 up to (not including) 1, the constant one not at all"
            )
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ElsewhereError(f"bad gradient clip {self.clip_norm}; clip at a positive norm, or not at all")
        if self.epochs < 1:
            raise ElsewhereError(f"bad number of epochs {self.epochs}; train for at least 1")
        if self.batch_size < 1:
            raise ElsewhereError(f"bad batch size {self.batch_size}; use at least 1")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ElsewhereError(
                f"bad lr {self.lr} or weight decay {self.weight_decay}; lr must be "
                f"positive and weight decay not negative"
            )
        if self.patience is not None and self.patience < 1:
            raise ElsewhereError(f"bad patience {self.patience}; use at least 1 epoch, or none")


def default_config(architecture: str) -> TrainConfig:
    """The published recipe for ``architecture``.

    The Red-Green networks follow Kayhan & van Gemert's code: Adadelta with lr 1.0 and weight decay
    5e-5, batch 200 in the data's own order (no shuffling), at most 50 epochs, early stopping on
    validation loss with patience 8.
    ``vit-tiny``, ``mixer-tiny`` and ``timm:``/``torchvision:`` backbones: AdamW, lr 1e-3, weight
    decay 0.05, batch 64, 40 epochs (the issue's ViT learned the cluttered halves only by then), the
    first 10% of the steps warming up and a cosine decay after, gradients clipped at norm 1 (with
    a constant rate, no clipping and no image standardisation, ``vit-tiny`` reached 0.29 on ``iid``).
    Every other baseline: Adam, lr 1e-3, batch 64, 12 epochs (enough for ``cnn-gap`` to learn the
    ``small`` size on two CPU cores in a few minutes).
    """
    if is_backbone(architecture) or architecture in ATTENTION_LIKE:
        return TrainConfig(
            epochs=40, optimizer="adamw", weight_decay=0.05, schedule="cosine", warmup=0.1, clip_norm=1.0
        )
    get_builder(architecture)
    if architecture.startswith("redgreen-"):
        return TrainConfig(
            epochs=50, batch_size=200, lr=1.0, weight_decay=5e-5, optimizer="adadelta", patience=8, shuffle=False
        )
    return TrainConfig()


def split_labels(dataset: datasets.Dataset, name: str) -> torch.Tensor:
    """The ``label`` column of a split as an int64 tensor; refuses withheld (negative) labels."""
    if "label" not in dataset.column_names:
        raise ElsewhereError(f"the {name} split has no 'label' column; training needs labelled data")
    table = dataset.select_columns(["label"]).with_format("arrow")[:]
    labels = np.array(table.column("label").to_numpy(), dtype=np.int64)
    if len(labels) and labels.min() < 0:
        raise ElsewhereError(f"the {name} split has withheld labels (-1); train on a public dataset folder")
    return torch.from_numpy(labels)


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adadelta":
        return torch.optim.Adadelta(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def lr_schedule(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning rate's factor at each of ``steps`` optimizer steps (see the module docstring)."""
    warmup = math.ceil(config.warmup * steps)

    def factor(step: int) -> float:
        if config.schedule == "constant":
            return 1.0
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _check_outputs(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> None:
    """Refuse a model whose outputs cannot hold the labels, before any training."""
    model.eval()
    with torch.inference_mode():
        logits = model(to_float(images, device, channels_last=True))
    classes = int(labels.max()) + 1
    if logits.ndim != 2 or logits.shape[1] < classes:
        raise ElsewhereError(
            f"the model returns logits of shape {tuple(logits.shape)} but the labels need "
            f"{classes} classes; build it with num_classes={classes}"
        )


def evaluate_loss(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on in-memory uint8 images."""
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with torch.inference_mode():
        for start in range(0, len(images), EVAL_BATCH):
            x = to_float(images[start : start + EVAL_BATCH], device, channels_last=True)
            y = labels[start : start + EVAL_BATCH]
            logits = model(x).float()
            total += nn.functional.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(dim=1) == y).sum()
    return total.item() / len(images), correct.item() / len(images)


def _check_finite(epoch: int, split: str, loss: float, config: TrainConfig) -> None:
    """Refuse a diverged run: its weights predict nothing, and kept as a "best epoch" they would be scored."""
    if not math.isfinite(loss):
        raise ElsewhereError(
            f"training diverged in epoch {epoch} (the {split} loss is {loss}); this recipe (lr {config.lr:g}, "
            f"{config.optimizer}) does not train this network on this data"
        )


def train(
    model: nn.Module,
    train_ds: datasets.Dataset,
    val_ds: datasets.Dataset,
    config: TrainConfig,
    *,
    device: torch.device,
    progress: bool = True,
) -> dict:
    """Train ``model`` in place and leave it holding the weights of its best validation epoch.

    Returns ``{"history": [{"epoch", "train_loss", "val_loss", "val_accuracy", "seconds"}, ...],
    "best_epoch", "best_val_loss", "best_val_accuracy", "stopped_early", "config", "seconds"}``.
    """
    if len(train_ds) == 0 or len(val_ds) == 0:
        raise ElsewhereError(
            f"cannot train on an empty split (train has {len(train_ds)} rows, validation "
            f"{len(val_ds)}); use a dataset with both"
        )
    began = time.perf_counter()
    train_labels = split_labels(train_ds, "train").to(device)
    val_labels = split_labels(val_ds, "validation").to(device)
    train_images = decode_split(train_ds, progress=progress).to(device)
    val_images = decode_split(val_ds, progress=progress).to(device)
    model.to(device).to(memory_format=torch.channels_last)
    _check_outputs(model, train_images[:2], train_labels, device)
    optimizer = _optimizer(model, config)
    schedule = lr_schedule(optimizer, config, config.epochs * math.ceil(len(train_images) / config.batch_size))
    order = torch.Generator().manual_seed(config.seed)
    history: list[dict] = []
    best: dict | None = None
    best_state: dict[str, torch.Tensor] = {}
    epochs = tqdm(range(1, config.epochs + 1), unit="epoch", desc="training", disable=not progress)
    for epoch in epochs:
        started = time.perf_counter()
        model.train()
        total = torch.zeros((), dtype=torch.float64, device=device)
        visit = (
            torch.randperm(len(train_images), generator=order) if config.shuffle else torch.arange(len(train_images))
        )
        for batch in visit.split(config.batch_size):
            batch = batch.to(device)
            logits = model(to_float(train_images[batch], device, channels_last=True))
            loss = nn.functional.cross_entropy(logits, train_labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()
            schedule.step()
            total += loss.detach() * len(batch)
        train_loss = total.item() / len(train_images)
        _check_finite(epoch, "training", train_loss, config)
        val_loss, val_accuracy = evaluate_loss(model, val_images, val_labels, device)
        # The training loss is taken before each step: a last step that broke the weights shows here only.
        _check_finite(epoch, "validation", val_loss, config)
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "seconds": time.perf_counter() - started,
        }
        history.append(record)
        epochs.set_postfix(loss=f"{record['train_loss']:.3f}", val_acc=f"{val_accuracy:.3f}")
        if best is None or val_loss < best["val_loss"]:
            best = record
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif config.patience is not None and epoch - best["epoch"] >= config.patience:
            break
    model.load_state_dict(best_state)
    return {
        "history": history,
        "best_epoch": best["epoch"],
        "best_val_loss": best["val_loss"],
        "best_val_accuracy": best["val_accuracy"],
        "stopped_early": len(history) < config.epochs,
        "config": asdict(config),
        "seconds": time.perf_counter() - began,
    }
