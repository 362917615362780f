"""The cue audit: classes differ by shape only, so no size cue predicts a class out of distribution.

For every protocol, a rule is fitted on the training split and scored on ``test_ood``: a
per-class Gaussian over the object's foreground area (its anti-aliased pixel count, drawn alone so
that background and distractors do not blur the cue, in whole pixels: the classes are equal in
true area, and what differs below a pixel is the rasteriser's sampling of the outline — at the
exact, fixed pose of ``blything-centre-side`` that residue alone reached 15% for ten classes). If the classes differed in size, as they once
did (``key`` ~52 px against ``house`` ~173 px at one scale), the rule would beat chance out of
distribution and a network could score there without recognising any turned, moved or rescaled
shape. The rule must stay within a binomial tolerance of chance.

Aspect ratio and fill fraction are not audited: they are shape itself (the ``shape-descriptors``
baseline uses them on purpose).
"""

import math

import numpy as np
import pytest

from elsewhere.generator import Background, Scene, render
from elsewhere.splits.registry import get_protocol, protocol_names
from elsewhere.splits.sampling import draw

AUDIT_SAMPLES = 300
# One-sided bound: chance plus three binomial standard deviations of the test accuracy.
SIGMAS = 3.0


def foreground_area(protocol, split: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(area in whole pixels, label) of the first ``count`` samples, each object drawn alone in white on black."""
    areas, labels = [], []
    for index in range(count):
        sample = draw(protocol, split, index, seed=0)
        sprite = sample.scene.object
        alone = Scene(type(sprite)(sprite.shape, sprite.x, sprite.y, sprite.rotation, sprite.scale), Background())
        areas.append(round(render(alone, protocol.canvas)[..., 0].sum() / 255.0))
        labels.append(sample.factors.label)
    return np.array(areas), np.array(labels)


def gaussian_rule(train_x: np.ndarray, train_y: np.ndarray):
    """Per-class normal densities over one feature (Gaussian naive Bayes); predicts the likeliest class."""
    classes = np.unique(train_y)
    mean = np.array([train_x[train_y == c].mean() for c in classes])
    std = np.array([train_x[train_y == c].std() for c in classes]) + 1e-3 * (train_x.std() + 1e-9)

    def predict(x: np.ndarray) -> np.ndarray:
        log_density = -0.5 * ((x[:, None] - mean) / std) ** 2 - np.log(std)
        return classes[np.argmax(log_density, axis=1)]

    return predict


def tolerance(chance: float, n: int) -> float:
    return chance + SIGMAS * math.sqrt(chance * (1 - chance) / n)


def test_the_audit_catches_a_size_cue():
    """The rule is strong enough to fail: classes of different areas are told apart far above chance."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 400)
    areas = 50.0 + 12.0 * labels + rng.normal(0, 4, 400)
    predict = gaussian_rule(areas[:200], labels[:200])
    accuracy = (predict(areas[200:]) == labels[200:]).mean()
    assert accuracy > tolerance(0.1, 200)


@pytest.mark.parametrize("name", protocol_names())
def test_foreground_area_is_at_chance_out_of_distribution(name):
    protocol = get_protocol(name)
    train_x, train_y = foreground_area(protocol, "train", AUDIT_SAMPLES)
    test_x, test_y = foreground_area(protocol, "test_ood", AUDIT_SAMPLES)
    accuracy = (gaussian_rule(train_x, train_y)(test_x) == test_y).mean()
    chance = 1 / len(protocol.evaluated_classes)
    assert accuracy <= tolerance(chance, AUDIT_SAMPLES), (
        f"{name}: foreground area alone scores {accuracy:.3f} out of distribution (chance {chance:.3f})"
    )
