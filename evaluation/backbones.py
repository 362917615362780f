"""Standard backbones by name: ``timm:NAME`` and ``torchvision:NAME``, beside the built-in panel.

Researchers bring published networks, so the panel names them the way their libraries do. Both
libraries are optional (the ``panel`` extra) and imported only when such a name is built. A
backbone is randomly initialised (offline, seeded like every other model) unless ``pretrained``
asks for the published weights; then the images are resized to the network's own input size and
normalised with its own mean and std, as it was trained, and its classifier is replaced by a fresh
one for the protocol's classes. Fine-tuning a pretrained backbone is its own row in the panel:
pretraining on natural images is the documented way networks *learn* invariance. Its architecture
label is the backbone's name with ``+pretrained`` (``timm:resnet18+pretrained``): a run, a table row
and a leaderboard entry are keyed by the label, so the two rows never mix.
"""

from __future__ import annotations

import importlib
import re

import torch
from torch import nn

from elsewhere.errors import ElsewhereError

LIBRARIES = ("timm", "torchvision")
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
# ImageNet statistics: torchvision's weights are all trained with them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_INPUT = 224
PRETRAINED = "+pretrained"


def is_backbone(name: str) -> bool:
    """Whether ``name`` names a library backbone (``timm:...`` or ``torchvision:...``)."""
    return isinstance(name, str) and name.partition(":")[0] in LIBRARIES and ":" in name


def pretrained_label(name: str) -> str:
    """The architecture label of backbone ``name`` fine-tuned from its published weights.

    Raises:
        ElsewhereError: for a name that is not a library backbone (the panel's own networks have no
            published weights).
    """
    if not is_backbone(name):
        raise ElsewhereError(
            f"{name!r} has no published weights: only library backbones ('timm:NAME', 'torchvision:NAME') "
            "can start pretrained; train it from scratch or name a backbone"
        )
    check_backbone(name)
    return name if name.endswith(PRETRAINED) else name + PRETRAINED


class Backbone(nn.Module):
    """A library network behind the harness's input contract (float RGB in [0, 1], any canvas).

    ``size`` resizes the images (bilinear, anti-aliased) to the network's own input side; ``None``
    keeps the canvas. ``mean``/``std`` normalise as the network's weights expect.
    """

    def __init__(self, network: nn.Module, size: int | None, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.network = network
        self.size = size
        # Constants of the recipe, not weights: kept out of weight files.
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.size is not None and x.shape[-2:] != (self.size, self.size):
            x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        return self.network((x - self.mean.to(x.dtype)) / self.std.to(x.dtype))


def _library(library: str):
    try:
        return importlib.import_module(library)
    except Exception as error:  # ImportError, or a torchvision built for another torch failing to load
        raise ElsewhereError(
            f"backbone library {library!r} is not usable here ({type(error).__name__}: {' '.join(str(error).split())}); "
            f"install the backbones extra (pip install 'elsewhere[backbones]') with a torch/torchvision pair built together"
        ) from None


def check_backbone(name: str) -> tuple[str, str, bool]:
    """``(library, model, pretrained)`` of a backbone label, checked without importing the library.

    Raises:
        ElsewhereError: for a name that is not ``timm:NAME`` or ``torchvision:NAME`` (optionally
            with ``+pretrained``).
    """
    text = name if isinstance(name, str) else ""
    pretrained = text.endswith(PRETRAINED)
    library, _, model = text.removesuffix(PRETRAINED).partition(":")
    if library not in LIBRARIES or not _NAME.fullmatch(model):
        raise ElsewhereError(
            f"bad backbone name {name!r}; write 'timm:NAME' or 'torchvision:NAME' with the library's "
            f"model name (letters, digits, '_', '-', '.'), e.g. 'timm:resnet18', or 'timm:resnet18{PRETRAINED}' "
            "to start from its published weights"
        )
    return library, model, pretrained


def _timm(model: str, num_classes: int, canvas: int, pretrained: bool) -> Backbone:
    timm = _library("timm")
    if not timm.is_model(model):
        raise ElsewhereError(
            f"timm has no model {model!r}; list them with timm.list_models(), e.g. 'resnet18', 'vit_tiny_patch16_224'"
        )

    def create(**size) -> nn.Module:
        return timm.create_model(model, pretrained=pretrained, num_classes=num_classes, **size)

    network = _build(f"timm could not build {model!r}", create, None if pretrained else {"img_size": canvas})
    config = network.pretrained_cfg
    native = int(config["input_size"][-1])
    size = native if pretrained else _input_side(network, canvas, native)
    return Backbone(network, size, tuple(config.get("mean", IMAGENET_MEAN)), tuple(config.get("std", IMAGENET_STD)))


def _torchvision(model: str, num_classes: int, canvas: int, pretrained: bool) -> Backbone:
    _library("torchvision")
    from torchvision import models

    if model not in models.list_models():
        raise ElsewhereError(
            f"torchvision has no model {model!r}; list them with torchvision.models.list_models(), e.g. 'resnet18'"
        )
    if not pretrained:

        def create(**size) -> nn.Module:
            return models.get_model(model, weights=None, num_classes=num_classes, **size)

        network = _build(f"torchvision could not build {model!r}", create, {"image_size": canvas})
        return Backbone(network, _input_side(network, canvas, TORCHVISION_INPUT), IMAGENET_MEAN, IMAGENET_STD)
    weights = models.get_model_weights(model).DEFAULT
    network = _build(f"torchvision could not build {model!r}", lambda: models.get_model(model, weights=weights), None)
    _replace_classifier(network, num_classes)
    transform = weights.transforms()
    return Backbone(network, int(transform.crop_size[0]), tuple(transform.mean), tuple(transform.std))


def _build(failure: str, create, size: dict | None) -> nn.Module:
    """``create(**size)``, or ``create()`` for a network that takes no input size (a CNN)."""
    try:
        if size is not None:
            try:
                return create(**size)
            except (TypeError, AssertionError, ValueError):
                pass
        return create()
    except Exception as error:  # a download refused offline, a model that cannot take these settings
        raise ElsewhereError(f"{failure} ({type(error).__name__}: {' '.join(str(error).split())})") from None


def _input_side(network: nn.Module, canvas: int, native: int) -> int | None:
    """``None`` (the canvas itself) if the network runs at the canvas, else its own input side."""
    training = network.training
    network.eval()
    try:
        with torch.no_grad():
            network(torch.zeros(1, 3, canvas, canvas))
        return None
    except Exception:  # a fixed token grid, or a canvas too small for the network's downsampling
        return native
    finally:
        network.train(training)


def _replace_classifier(network: nn.Module, num_classes: int) -> None:
    """A fresh linear layer for the protocol's classes in place of the last ImageNet one."""
    last = None
    for owner in network.modules():
        for child_name, child in owner.named_children():
            if isinstance(child, nn.Linear):
                last = (owner, child_name, child)
    if last is None:
        raise ElsewhereError("this torchvision model has no linear classifier to replace; pick another backbone")
    owner, child_name, child = last
    setattr(owner, child_name, nn.Linear(child.in_features, num_classes))


def build_backbone(name: str, num_classes: int, canvas: int, *, pretrained: bool = False) -> nn.Module:
    """The backbone called ``name`` (``timm:NAME`` or ``torchvision:NAME``) for ``num_classes`` classes.

    ``pretrained`` (or a name ending in ``+pretrained``) loads the library's published weights.
    """
    library, model, labelled = check_backbone(name)
    build = _timm if library == "timm" else _torchvision
    return build(model, num_classes, canvas, pretrained or labelled)
