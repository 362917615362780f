"""The baseline networks, in an explicit registry: the models that show the benchmark's known effects.

Every model takes float images N×3×H×W in [0, 1] and returns logits N×C. The families isolate one
cause each of (non-)transfer across locations:

- ``mlp``: no weight sharing at all; every pixel has its own weights.
- ``cnn-flatten`` / ``cnn-gap``: the *same* convolution stack (``ConvStack``), read out by a linear
  layer over the flattened feature map (position-specific weights) or after global average pooling
  (one weight per channel, wherever the feature fired). Blything et al. 2021 compare exactly these.
- ``cnn-blurpool``: the stack with anti-aliased downsampling (Zhang 2019: max-pool with stride 1,
  then a fixed binomial blur with stride 2), GAP head.
- ``coordconv``: the stack reading two extra coordinate channels (Liu et al. 2018), GAP head: it is
  *given* absolute position, the opposite of what transfer needs.
- ``resnet-small``: a few residual BasicBlocks with batch norm, GAP head.
- ``vit-tiny`` / ``mixer-tiny``: a small ViT with learned absolute position embeddings and an
  MLP-Mixer of the same size (8-pixel patches, 4 layers): no built-in translation equivariance.
- ``gcnn-c4``: a group-equivariant CNN over the four quarter turns, rotation-invariant pooling:
  its logits do not change when the image turns by 90°.
- ``shape-descriptors``: bounding-box aspect ratio and fill fraction into a small MLP, the
  two-number baseline that rotation and scale protocols must beat.
- ``timm:NAME`` / ``torchvision:NAME``: published backbones by name (:mod:`evaluation.backbones`),
  randomly initialised; ``timm:NAME+pretrained`` starts from the library's published weights.
- ``redgreen-{valid,same,full,circular}``: Kayhan & van Gemert's Red-Green network (CVPR 2020),
  four bias-free 3×3 convolutions and global max pooling, in four paddings. Zero padding lets
  filters read absolute position from the border; circular padding removes the border.
  ``redgreen-periodic`` pads circularly by 1, so every feature map keeps whole periods (32, 16, 8,
  4) and the network is exactly invariant to wrapped shifts by multiples of its stride of 8. It is
  the paper's circular network as it ran: the authors' code asks for padding 2, which PyTorch
  before 1.5 split between the two sides. ``redgreen-circular`` is that padding of 2 as PyTorch
  runs it now: it grows the maps (34, 18, 10, 6) and breaks the period.

The networks without batch norm (``mlp``, ``vit-tiny``, ``mixer-tiny``) first standardise each image
(``ImageStandardization``): the suite draws every background in a random grey, and left raw that
offset drowns the object for them (on ``iid`` at size ``small``, with it the MLP fit its training
split and the Mixer reached 0.97 validation accuracy in 15 epochs; without it the MLP stayed at
chance and the Mixer reached 0.22).

``create_model(name, num_classes, canvas, seed=...)`` builds one with seeded initial weights and
sets its ``architecture`` attribute to the registry name and ``architecture_revision`` to its
revision (``REVISIONS``), which saved weights record.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import nn

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.backbones import build_backbone, check_backbone, is_backbone
from elsewhere.registry import Registry

Builder = Callable[[int, int], nn.Module]

ARCHITECTURES: Registry[Builder] = Registry("architecture")

STACK_WIDTHS = (16, 32, 64)
MLP_WIDTHS = (256, 128)
RESNET_WIDTHS = (32, 64, 128)
REDGREEN_PADDING = {
    "valid": (0, "zeros"),
    "same": (1, "zeros"),
    "full": (2, "zeros"),
    "circular": (2, "circular"),
    "periodic": (1, "circular"),
}
REDGREEN_LAYERS = ((3, 32, 1), (32, 32, 2), (32, 64, 2), (64, 64, 2))
# An architecture's revision goes up when what it computes changes but its weight keys do not, so
# that weights saved before are refused rather than loaded silently (``loading.load_weights``).
# Revision 2 of these three standardises each image first. Every other architecture is at 1.
REVISIONS = {"mlp": 2, "vit-tiny": 2, "mixer-tiny": 2}


def register(name: str) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder(num_classes, canvas) -> nn.Module`` under ``name``."""
    return functools.partial(ARCHITECTURES.register, name)


def list_architectures() -> tuple[str, ...]:
    """The registered architecture names, sorted."""
    return tuple(sorted(ARCHITECTURES))


def get_builder(name: str) -> Builder:
    """The builder registered as ``name``, or of a library backbone (its name checked, the library not
    imported); an unknown name gets the valid ones and a "did you mean"."""
    if is_backbone(name):
        check_backbone(name)
        return functools.partial(build_backbone, name)
    try:
        return ARCHITECTURES.get(name)
    except ElsewhereError as error:
        raise ElsewhereError(f"{error}; or a library backbone, 'timm:NAME' or 'torchvision:NAME'") from None


def create_model(name: str, num_classes: int, canvas: int, *, seed: int) -> nn.Module:
    """Build architecture ``name`` for ``num_classes`` classes on ``canvas``×``canvas`` images.

    The initial weights are a pure function of ``seed``: PyTorch's layer constructors draw from the
    global generator, so the construction runs under ``fork_rng`` with that generator seeded, and
    the caller's random state is left as it was.
    """
    builder = get_builder(name)
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ElsewhereError(f"bad number of classes {num_classes!r}; a classifier needs at least 2")
    if not isinstance(canvas, int) or canvas < 1:
        raise ElsewhereError(f"bad canvas {canvas!r}; the canvas side is a positive number of pixels")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = builder(num_classes, canvas)
    model.architecture = name
    model.architecture_revision = REVISIONS.get(name, 1)
    return model


def _require_canvas(name: str, canvas: int, smallest: int) -> None:
    if canvas < smallest:
        raise ElsewhereError(
            f"{name} needs a canvas of at least {smallest} pixels, got {canvas}; "
            f"use a larger canvas or another architecture"
        )


class BlurPool(nn.Module):
    """Anti-aliased downsampling by 2 (Zhang 2019): a fixed depthwise [1,2,1]⊗[1,2,1]/16 blur, stride 2."""

    def __init__(self, channels: int):
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(taps, taps) / 16
        # A constant, not a weight: not trained and not stored in weight files.
        self.register_buffer("kernel", kernel.expand(channels, 1, 3, 3).clone(), persistent=False)
        self.pad = nn.ReflectionPad2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(self.pad(x), self.kernel.to(x.dtype), stride=2, groups=x.shape[1])


def _downsample(channels: int, anti_aliased: bool) -> nn.Module:
    if anti_aliased:
        return nn.Sequential(nn.MaxPool2d(2, stride=1), BlurPool(channels))
    return nn.MaxPool2d(2)


class ConvStack(nn.Module):
    """Three 3×3 convolutions (16-32-64) with batch norm and ReLU, each downsampling by 2.

    Batch norm makes these small networks learn the suite in a few CPU-minutes; the widths keep
    a training epoch of the ``small`` size to seconds.

    Shared by ``cnn-flatten``, ``cnn-gap``, ``cnn-blurpool`` and ``coordconv`` so that they differ
    only in what the comparison is about.
    """

    def __init__(self, in_channels: int = 3, *, anti_aliased: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        for width in STACK_WIDTHS:
            layers += [
                nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                _downsample(width, anti_aliased),
            ]
            in_channels = width
        self.layers = nn.Sequential(*layers)
        self.out_channels = in_channels

    @staticmethod
    def out_side(canvas: int) -> int:
        """Side of the output feature map for a ``canvas``-pixel input."""
        for _ in STACK_WIDTHS:
            canvas //= 2
        return canvas

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _gap_head(channels: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


class AddCoords(nn.Module):
    """Append two channels holding each pixel's column and row, scaled to [-1, 1] (CoordConv)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        rows = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(n, 1, h, w)
        cols = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(n, 1, h, w)
        return torch.cat([x, cols, rows], dim=1)


class ImageStandardization(nn.Module):
    """Each image to zero mean and unit deviation over its pixels and channels: N×3×H×W -> the same.

    A constant image (no object) maps to zeros rather than dividing by zero. The statistics are the
    whole image's, so they do not depend on where the object lies.
    """

    EPSILON = 1e-3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        deviation = x.std(dim=(1, 2, 3), keepdim=True)
        return (x - mean) / (deviation + self.EPSILON)


@register("mlp")
def mlp(num_classes: int, canvas: int) -> nn.Module:
    """Two hidden layers over the flattened pixels of the standardised image."""
    layers: list[nn.Module] = [ImageStandardization(), nn.Flatten()]
    width = 3 * canvas * canvas
    for hidden in MLP_WIDTHS:
        layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, num_classes))


@register("cnn-flatten")
def cnn_flatten(num_classes: int, canvas: int) -> nn.Module:
    """``ConvStack`` read out by a linear layer over the whole flattened feature map."""
    _require_canvas("cnn-flatten", canvas, 2 ** len(STACK_WIDTHS))
    stack = ConvStack()
    features = stack.out_channels * ConvStack.out_side(canvas) ** 2
    return nn.Sequential(stack, nn.Flatten(), nn.Linear(features, num_classes))


@register("cnn-gap")
def cnn_gap(num_classes: int, canvas: int) -> nn.Module:
    """``ConvStack`` read out after global average pooling."""
    _require_canvas("cnn-gap", canvas, 2 ** len(STACK_WIDTHS))
    stack = ConvStack()
    return nn.Sequential(stack, _gap_head(stack.out_channels, num_classes))


@register("cnn-blurpool")
def cnn_blurpool(num_classes: int, canvas: int) -> nn.Module:
    """``ConvStack`` with anti-aliased downsampling, GAP head."""
    # Reflection padding before each blur needs a feature map of at least 2 pixels.
    _require_canvas("cnn-blurpool", canvas, 2 ** (len(STACK_WIDTHS) + 1))
    stack = ConvStack(anti_aliased=True)
    return nn.Sequential(stack, _gap_head(stack.out_channels, num_classes))


@register("coordconv")
def coordconv(num_classes: int, canvas: int) -> nn.Module:
    """``ConvStack`` over the image plus two coordinate channels, GAP head."""
    _require_canvas("coordconv", canvas, 2 ** len(STACK_WIDTHS))
    stack = ConvStack(in_channels=5)
    return nn.Sequential(AddCoords(), stack, _gap_head(stack.out_channels, num_classes))


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with an identity (or 1×1 projection) shortcut (He et al. 2016)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


@register("resnet-small")
def resnet_small(num_classes: int, canvas: int) -> nn.Module:
    """A stride-2 stem and three BasicBlocks (32, 64, 128 channels; the last two stride 2), GAP head."""
    _require_canvas("resnet-small", canvas, 8)
    stem = nn.Sequential(
        nn.Conv2d(3, RESNET_WIDTHS[0], 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(RESNET_WIDTHS[0]),
        nn.ReLU(inplace=True),
    )
    blocks = [BasicBlock(RESNET_WIDTHS[0], RESNET_WIDTHS[0], 1)]
    blocks += [BasicBlock(a, b, 2) for a, b in zip(RESNET_WIDTHS, RESNET_WIDTHS[1:])]
    return nn.Sequential(stem, *blocks, _gap_head(RESNET_WIDTHS[-1], num_classes))


class GlobalMaxPool(nn.Module):
    """The maximum of each channel over all positions: N×C×H×W -> N×C."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(x, dim=(2, 3))


def redgreen_side(canvas: int, padding: str) -> int:
    """Side of the Red-Green network's last feature map for a ``canvas``-pixel input."""
    pad, _ = REDGREEN_PADDING[padding]
    side = canvas
    for _, _, stride in REDGREEN_LAYERS:
        side = math.floor((side + 2 * pad - 3) / stride) + 1
    return side


def _redgreen(padding: str) -> Builder:
    pad, mode = REDGREEN_PADDING[padding]
    name = f"redgreen-{padding}"

    def build(num_classes: int, canvas: int) -> nn.Module:
        smallest = next(c for c in range(1, 64) if redgreen_side(c, padding) >= 1)
        _require_canvas(name, canvas, smallest)
        layers: list[nn.Module] = []
        for in_channels, out_channels, stride in REDGREEN_LAYERS:
            # Bias-free, as in the paper: a black input stays exactly zero through every layer.
            layers += [
                nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=pad, padding_mode=mode, bias=False),
                nn.ReLU(inplace=True),
            ]
        return nn.Sequential(*layers, GlobalMaxPool(), nn.Linear(REDGREEN_LAYERS[-1][1], num_classes))

    build.__doc__ = f"Kayhan & van Gemert's Red-Green network with {padding} padding ({pad}, {mode})."
    return build


register("redgreen-valid")(_redgreen("valid"))
register("redgreen-same")(_redgreen("same"))
register("redgreen-full")(_redgreen("full"))
register("redgreen-circular")(_redgreen("circular"))
register("redgreen-periodic")(_redgreen("periodic"))


# The panel beside the baselines: the architectures researchers bring (issue 11).
PATCH = 8
VIT_DIM = 192
VIT_HEADS = 3
MLP_RATIO = 2
PANEL_DEPTH = 4
MIXER_TOKEN_HIDDEN = 96
C4 = 4
# Fields of the C4 network: about ConvStack's parameter count (each filter is shared by 4 turns).
GCNN_FIELDS = (8, 16, 32)
FOREGROUND_THRESHOLD = 0.1
DESCRIPTOR_HIDDEN = 32


class PatchEmbedding(nn.Module):
    """Cut the image into ``patch``×``patch`` squares and project each to ``dim``: N×3×H×W -> N×T×dim."""

    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.project = nn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(x).flatten(2).transpose(1, 2)


def _patch_count(name: str, canvas: int) -> int:
    if canvas % PATCH or canvas < PATCH:
        raise ElsewhereError(
            f"{name} cuts the image into {PATCH}-pixel patches, so the canvas must be a multiple of "
            f"{PATCH}; got {canvas}. Use a canvas such as 32, 64 or 224"
        )
    return (canvas // PATCH) ** 2


class VisionTransformer(nn.Module):
    """A small ViT (Dosovitskiy et al. 2021): patch tokens plus a class token, *learned absolute*
    position embeddings, pre-norm transformer layers, read out at the class token.

    The position embeddings are one learned vector per patch position: nothing ties the weights of
    one location to another's, so whether the network transfers is up to what training showed it.
    """

    def __init__(self, num_classes: int, tokens: int):
        super().__init__()
        self.standardize = ImageStandardization()
        self.embed = PatchEmbedding(PATCH, VIT_DIM)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, VIT_DIM))
        self.position = nn.Parameter(torch.randn(1, tokens + 1, VIT_DIM) * 0.02)
        layer = nn.TransformerEncoderLayer(
            VIT_DIM, VIT_HEADS, VIT_DIM * MLP_RATIO, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.layers = nn.TransformerEncoder(layer, PANEL_DEPTH, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(VIT_DIM)
        self.head = nn.Linear(VIT_DIM, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(self.standardize(x))
        tokens = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1) + self.position
        return self.head(self.norm(self.layers(tokens))[:, 0])


@register("vit-tiny")
def vit_tiny(num_classes: int, canvas: int) -> nn.Module:
    """ViT with 8-pixel patches, 4 layers of width 192 (3 heads), learned absolute position embeddings."""
    return VisionTransformer(num_classes, _patch_count("vit-tiny", canvas))


class MixerBlock(nn.Module):
    """One MLP-Mixer layer (Tolstikhin et al. 2021): an MLP across tokens, then one across channels.

    The token-mixing MLP has a separate weight for every patch position, like a flatten head.
    """

    def __init__(self, tokens: int, dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.tokens = nn.Sequential(
            nn.Linear(tokens, MIXER_TOKEN_HIDDEN), nn.GELU(), nn.Linear(MIXER_TOKEN_HIDDEN, tokens)
        )
        self.norm2 = nn.LayerNorm(dim)
        self.channels = nn.Sequential(nn.Linear(dim, dim * MLP_RATIO), nn.GELU(), nn.Linear(dim * MLP_RATIO, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channels(self.norm2(x))


@register("mixer-tiny")
def mixer_tiny(num_classes: int, canvas: int) -> nn.Module:
    """MLP-Mixer with 8-pixel patches and 4 layers of width 192, the ViT's size; mean over tokens."""
    tokens = _patch_count("mixer-tiny", canvas)
    return nn.Sequential(
        ImageStandardization(),
        PatchEmbedding(PATCH, VIT_DIM),
        *[MixerBlock(tokens, VIT_DIM) for _ in range(PANEL_DEPTH)],
        nn.LayerNorm(VIT_DIM),
        TokenMean(),
        nn.Linear(VIT_DIM, num_classes),
    )


class TokenMean(nn.Module):
    """The mean over tokens: N×T×D -> N×D."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


def _rotations(kernel: torch.Tensor) -> list[torch.Tensor]:
    """``kernel`` turned by 0, 90, 180, 270 degrees in its last two (spatial) axes."""
    return [torch.rot90(kernel, r, dims=(-2, -1)) for r in range(C4)]


class LiftingConv(nn.Module):
    """Convolution of an image with every quarter turn of each filter: N×C×H×W -> N×(F·4)×H×W,
    channel ``4f + r`` holding filter ``f`` turned ``r`` quarter turns.

    Turning the input by 90° turns every output map by 90° and moves it one step along the group
    axis, exactly (Cohen & Welling 2016).
    """

    def __init__(self, in_channels: int, fields: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(fields, in_channels, 3, 3))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = torch.stack(_rotations(self.weight), dim=1).flatten(0, 1)
        return nn.functional.conv2d(x, kernel, padding=1)


class GroupConv(nn.Module):
    """C4 group convolution: N×(F·4)×H×W -> N×(F'·4)×H×W, one filter per (output, input) field
    pair, turned and cyclically shifted along the group axis for each output rotation.

    Weights are stored 4-D (F', F·4, 3, 3) so the network takes the channels-last layout.
    """

    def __init__(self, in_fields: int, out_fields: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_fields, in_fields * C4, 3, 3))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Output rotation r reads input rotation s through the filter of relative turn s - r,
        # itself turned by r: kernel[o, r, i, s] = rot^r(weight[o, i, (s - r) mod 4]).
        weight = self.weight.unflatten(1, (-1, C4))
        turned = [torch.rot90(torch.roll(weight, r, dims=2), r, dims=(-2, -1)) for r in range(C4)]
        kernel = torch.stack(turned, dim=1).flatten(0, 1).flatten(1, 2)
        return nn.functional.conv2d(x, kernel, padding=1)


class GroupBlock(nn.Module):
    """Group convolution (lifting for the first), batch norm shared over the group axis, ReLU, 2×2 max pool.

    Sharing batch-norm statistics and affine parameters across the four rotations keeps the block
    exactly equivariant (the four maps of a field are normalised as one taller map); a 2×2 pool
    maps an even-sided map's blocks onto the turned map's blocks.
    """

    def __init__(self, conv: nn.Module, fields: int):
        super().__init__()
        self.conv = conv
        self.norm = nn.BatchNorm2d(fields)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        n, channels, h, w = x.shape
        x = self.norm(x.reshape(n, channels // C4, C4 * h, w)).reshape(n, channels, h, w)
        return self.pool(torch.relu(x))


class RotationInvariantPool(nn.Module):
    """Max over the four rotations and mean over positions: N×(F·4)×H×W -> N×F, unchanged by quarter turns."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(1, (-1, C4)).amax(dim=2).mean(dim=(2, 3))


@register("gcnn-c4")
def gcnn_c4(num_classes: int, canvas: int) -> nn.Module:
    """A C4 group-equivariant CNN: lifting conv + two group convs (8-16-32 fields × 4 rotations,
    about ``ConvStack``'s parameter count), rotation-invariant pooling, linear head.

    Its logits are exactly invariant to turning the image by a multiple of 90° (on a canvas
    divisible by 8): rotation is built in, not learned.
    """
    if canvas % 8:
        raise ElsewhereError(
            f"gcnn-c4 needs a canvas divisible by 8 for exact rotation equivariance through its three "
            f"2× pools; got {canvas}. Use 32, 64 or 224"
        )
    fields = GCNN_FIELDS
    blocks = [GroupBlock(LiftingConv(3, fields[0]), fields[0])]
    blocks += [GroupBlock(GroupConv(a, b), b) for a, b in zip(fields, fields[1:])]
    return nn.Sequential(*blocks, RotationInvariantPool(), nn.Linear(fields[-1], num_classes))


class ShapeDescriptors(nn.Module):
    """Two scale-invariant numbers per image: bounding-box aspect ratio and fill fraction.

    The foreground is every pixel whose colour differs from the border's median colour by more than
    ``FOREGROUND_THRESHOLD`` (the suite's plain backgrounds are uniform); aspect is the box's
    width over its height (upright shapes differ in which side is longer), fill the foreground's
    share of the box. Not trainable, and
    meaningless in clutter: the baseline says how far these two numbers alone go.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], dim=-1)
        background = border.median(dim=-1).values[..., None, None]
        mask = (x - background).abs().amax(dim=1) > FOREGROUND_THRESHOLD
        rows, cols = mask.any(dim=2), mask.any(dim=1)
        height = _extent(rows).clamp(min=1)
        width = _extent(cols).clamp(min=1)
        fill = mask.flatten(1).sum(dim=1) / (height * width)
        aspect = width / height
        return torch.stack([aspect, fill], dim=1).to(x.dtype)


def _extent(occupied: torch.Tensor) -> torch.Tensor:
    """Span (in pixels) from the first to the last True along the last axis; 0 if none."""
    index = torch.arange(occupied.shape[-1], device=occupied.device, dtype=torch.float32)
    last = torch.where(occupied, index, -1.0).amax(dim=-1)
    first = torch.where(occupied, index, float(occupied.shape[-1])).amin(dim=-1)
    return (last - first + 1).clamp(min=0)


@register("shape-descriptors")
def shape_descriptors(num_classes: int, canvas: int) -> nn.Module:
    """Aspect ratio and fill fraction of the object's bounding box, standardised (batch norm), into
    a small MLP (32 hidden)."""
    return nn.Sequential(
        ShapeDescriptors(),
        nn.BatchNorm1d(2),
        nn.Linear(2, DESCRIPTOR_HIDDEN),
        nn.ReLU(inplace=True),
        nn.Linear(DESCRIPTOR_HIDDEN, DESCRIPTOR_HIDDEN),
        nn.ReLU(inplace=True),
        nn.Linear(DESCRIPTOR_HIDDEN, num_classes),
    )
