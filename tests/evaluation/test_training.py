"""Training the baselines: it learns, it selects on validation, it stops early, it is reproducible."""

import datasets
import numpy as np
import pytest
import torch

from elsewhere.evaluation.architectures import create_model
from elsewhere.evaluation.runner import predict
from elsewhere.evaluation.training import TrainConfig, default_config, lr_schedule, train

CPU = torch.device("cpu")


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    first, second = a.state_dict(), b.state_dict()
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_same_seed_gives_bitwise_identical_weights(image_splits):
    small = image_splits["train"].select(range(96))
    validation = image_splits["validation"].select(range(32))
    runs = []
    for seed in (4, 4, 5):
        model = create_model("cnn-gap", 2, 32, seed=0)
        train(model, small, validation, TrainConfig(epochs=1, batch_size=16, seed=seed), device=CPU, progress=False)
        runs.append(model)
    assert _same_weights(runs[0], runs[1])
    # Another shuffling seed visits the images in another order: other weights.
    assert not _same_weights(runs[0], runs[2])


def test_without_shuffling_the_order_seed_changes_nothing(image_splits):
    small = image_splits["train"].select(range(64))
    validation = image_splits["validation"].select(range(16))
    runs = []
    for seed in (4, 5):
        model = create_model("cnn-gap", 2, 32, seed=0)
        config = TrainConfig(epochs=1, batch_size=16, seed=seed, shuffle=False)
        train(model, small, validation, config, device=CPU, progress=False)
        runs.append(model)
    assert _same_weights(runs[0], runs[1])


def test_learns_an_easy_task_and_keeps_the_best_validation_epoch(image_splits):
    model = create_model("cnn-flatten", 2, 32, seed=0)
    result = train(
        model,
        image_splits["train"],
        image_splits["validation"],
        TrainConfig(epochs=4, batch_size=32),
        device=CPU,
        progress=False,
    )
    history = result["history"]
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert result["best_val_accuracy"] > 0.9
    best = min(history, key=lambda r: r["val_loss"])
    assert result["best_epoch"] == best["epoch"]
    # The kept weights are that epoch's: recompute its validation loss and accuracy independently.
    validation = image_splits["validation"]
    labels = np.array(validation["label"])
    predictions, probabilities = predict(model, validation, device=CPU, num_workers=0, progress=False)
    assert -np.log(probabilities[np.arange(len(labels)), labels]).mean() == pytest.approx(best["val_loss"], rel=1e-4)
    assert (predictions == labels).mean() == pytest.approx(best["val_accuracy"])
    test = image_splits["test_id"]
    test_predictions, _ = predict(model, test, device=CPU, num_workers=0, progress=False)
    assert (test_predictions == np.array(test["label"])).mean() > 0.9


def _validation_loss(model, split) -> float:
    labels = np.array(split["label"])
    _, probabilities = predict(model, split, device=CPU, num_workers=0, progress=False)
    return float(-np.log(probabilities[np.arange(len(labels)), labels]).mean())


def test_restores_the_best_epoch_not_the_last(image_splits):
    # Validation labels opposite to training's: the more the model learns, the worse validation gets.
    inverted = image_splits["validation"].map(lambda row: {"label": 1 - row["label"]})
    model = create_model("cnn-flatten", 2, 32, seed=0)
    result = train(
        model, image_splits["train"], inverted, TrainConfig(epochs=3, batch_size=32), device=CPU, progress=False
    )
    history = result["history"]
    assert result["best_epoch"] == 1 and history[-1]["val_loss"] > history[0]["val_loss"]
    assert _validation_loss(model, inverted) == pytest.approx(history[0]["val_loss"], rel=1e-4)


def test_stops_when_validation_loss_stops_improving(image_splits):
    model = create_model("mlp", 2, 32, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # A step too small to change any float32 weight: the validation loss never improves after epoch 1.
    config = TrainConfig(epochs=10, batch_size=64, lr=1e-30, patience=2)
    result = train(
        model, image_splits["train"].select(range(128)), image_splits["validation"], config, device=CPU, progress=False
    )
    assert [r["epoch"] for r in result["history"]] == [1, 2, 3]
    assert result["stopped_early"] and result["best_epoch"] == 1
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert result["config"]["patience"] == 2


def test_default_configs():
    redgreen = default_config("redgreen-full")
    assert (redgreen.optimizer, redgreen.lr, redgreen.batch_size, redgreen.epochs) == ("adadelta", 1.0, 200, 50)
    assert redgreen.patience is not None
    # As the authors' code trains: weight decay 5e-5, the data in its own order.
    assert redgreen.weight_decay == 5e-5 and not redgreen.shuffle
    for name in ("vit-tiny", "mixer-tiny", "timm:resnet18"):
        config = default_config(name)
        assert config.optimizer == "adamw" and config.weight_decay > 0
        assert (config.schedule, config.warmup, config.clip_norm) == ("cosine", 0.1, 1.0)
    gap = default_config("cnn-gap")
    assert (gap.optimizer, gap.lr) == ("adam", 1e-3)
    with pytest.raises(ValueError, match="did you mean 'resnet-small'"):
        default_config("resnet_small")


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "sgd"},
        {"epochs": 0},
        {"batch_size": 0},
        {"lr": 0.0},
        {"patience": 0},
        {"weight_decay": -1.0},
        {"schedule": "step"},
        {"schedule": "cosine", "warmup": 1.0},
        {"schedule": "cosine", "warmup": -0.1},
        {"warmup": 0.1},
        {"clip_norm": 0.0},
        {"clip_norm": float("nan")},
    ],
)
def test_bad_configs_refused(options):
    with pytest.raises(ValueError):
        TrainConfig(**options)


def test_cosine_schedule_warms_up_then_decays_to_nearly_zero():
    config = TrainConfig(epochs=10, schedule="cosine", warmup=0.1)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    schedule = lr_schedule(optimizer, config, steps=100)
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[:10] == pytest.approx([2.0 * (i + 1) / 10 for i in range(10)])
    assert rates[10] == pytest.approx(2.0) and max(rates) == pytest.approx(2.0)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))
    assert rates[55] == pytest.approx(1.0)
    assert 0 < rates[-1] < 0.01
    constant = lr_schedule(optimizer, TrainConfig(), steps=100)
    assert constant.get_last_lr() == [2.0]


def test_gradient_clipping_bounds_each_step(image_splits):
    """AdamW's steps do not depend on the gradient's scale, except through its epsilon: a gradient
    clipped far below epsilon barely moves the weights, one left alone moves them."""
    small = image_splits["train"].select(range(32))
    validation = image_splits["validation"].select(range(16))
    moved = {}
    for clip in (None, 1e-12):
        model = create_model("mlp", 2, 32, seed=0)
        before = torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()
        config = TrainConfig(epochs=1, batch_size=16, optimizer="adamw", clip_norm=clip)
        train(model, small, validation, config, device=CPU, progress=False)
        moved[clip] = (torch.nn.utils.parameters_to_vector(model.parameters()) - before).abs().max().item()
    assert moved[None] > 1e-4 and moved[1e-12] < 1e-5


@pytest.mark.parametrize("clip", [None, 1.0])
def test_a_diverged_run_is_refused_instead_of_kept(image_splits, clip):
    """A loss that is no longer finite leaves weights that predict nothing: the run must fail in one
    line, not be kept as its best epoch and scored. An lr of 1e30 drives Adadelta there at once."""
    small = image_splits["train"].select(range(32))
    validation = image_splits["validation"].select(range(16))
    model = create_model("cnn-flatten", 2, 32, seed=0)
    config = TrainConfig(epochs=3, batch_size=16, lr=1e30, optimizer="adadelta", clip_norm=clip)
    with pytest.raises(ValueError, match=r"diverged in epoch 1 .*does not train this network"):
        train(model, small, validation, config, device=CPU, progress=False)


def test_a_run_broken_by_its_last_step_is_refused(image_splits):
    """One step per epoch and one epoch: the training loss is taken before the step that breaks
    the weights, so only the validation loss shows it."""
    small = image_splits["train"].select(range(16))
    validation = image_splits["validation"].select(range(16))
    model = create_model("cnn-flatten", 2, 32, seed=0)
    config = TrainConfig(epochs=1, batch_size=16, lr=1e30, optimizer="adadelta")
    with pytest.raises(ValueError, match=r"diverged in epoch 1 \(the validation loss is nan\)"):
        train(model, small, validation, config, device=CPU, progress=False)


def test_withheld_labels_refused(image_splits):
    train_split = image_splits["train"].select(range(8))
    withheld = train_split.cast_column("label", datasets.Value("int64")).map(lambda row: {"label": -1})
    model = create_model("mlp", 2, 32, seed=0)
    with pytest.raises(ValueError, match="withheld"):
        train(model, withheld, image_splits["validation"], TrainConfig(epochs=1), device=CPU, progress=False)


def test_model_with_too_few_outputs_refused(image_splits):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 1))
    with pytest.raises(ValueError, match="num_classes=2"):
        train(
            model,
            image_splits["train"].select(range(8)),
            image_splits["validation"].select(range(8)),
            TrainConfig(epochs=1),
            device=CPU,
            progress=False,
        )
