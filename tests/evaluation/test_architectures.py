"""The baseline registry: every architecture builds, runs and trains; each family has its defining trait."""

import pytest
import torch
from torch import nn

from elsewhere.evaluation import architectures
from elsewhere.evaluation.architectures import (
    AddCoords,
    BlurPool,
    ConvStack,
    GroupConv,
    ImageStandardization,
    LiftingConv,
    ShapeDescriptors,
    VisionTransformer,
    create_model,
    list_architectures,
    register,
)
from elsewhere.evaluation.backbones import Backbone, build_backbone, check_backbone, is_backbone, pretrained_label

NAMES = list_architectures()
CLASSES = 3


def _conv_layers(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_registry_holds_exactly_the_issue_names():
    assert set(NAMES) == {
        "mlp",
        "cnn-flatten",
        "cnn-gap",
        "cnn-blurpool",
        "coordconv",
        "resnet-small",
        "redgreen-valid",
        "redgreen-same",
        "redgreen-full",
        "redgreen-circular",
        "redgreen-periodic",
        "vit-tiny",
        "mixer-tiny",
        "gcnn-c4",
        "shape-descriptors",
    }


@pytest.mark.parametrize("canvas", [32, 64])
@pytest.mark.parametrize("name", NAMES)
def test_every_architecture_builds_runs_and_passes_gradients(name, canvas):
    model = create_model(name, CLASSES, canvas, seed=0)
    assert model.architecture == name
    assert sum(p.numel() for p in model.parameters()) > 0
    images = torch.rand(4, 3, canvas, canvas, generator=torch.Generator().manual_seed(1))
    logits = model(images)
    assert logits.shape == (4, CLASSES)
    assert torch.isfinite(logits).all()
    nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0])).backward()
    for key, parameter in model.named_parameters():
        assert parameter.grad is not None, key
        assert torch.isfinite(parameter.grad).all(), key
    first = next(p for p in model.parameters() if p.ndim > 1)
    assert first.grad.abs().sum() > 0, "no gradient reaches the first layer"


@pytest.mark.parametrize(
    "name", ["cnn-gap", "resnet-small", "redgreen-circular", "cnn-blurpool", "vit-tiny", "gcnn-c4"]
)
def test_large_canvas(name):
    model = create_model(name, CLASSES, 224, seed=0).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 224, 224)).shape == (2, CLASSES)


def test_initial_weights_are_a_function_of_the_seed_and_leave_global_state_alone():
    before = torch.random.get_rng_state()
    a = create_model("cnn-gap", CLASSES, 64, seed=7).state_dict()
    b = create_model("cnn-gap", CLASSES, 64, seed=7).state_dict()
    c = create_model("cnn-gap", CLASSES, 64, seed=8).state_dict()
    assert torch.equal(torch.random.get_rng_state(), before)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_unknown_name_suggests_the_closest_and_lists_all():
    with pytest.raises(ValueError, match=r"did you mean 'cnn-gap'.*cnn-blurpool.*redgreen-valid") as error:
        create_model("cnn_gap", CLASSES, 64, seed=0)
    assert "\n" not in str(error.value)


def test_duplicate_registration_refused(monkeypatch):
    monkeypatch.setattr(architectures, "ARCHITECTURES", architectures.ARCHITECTURES.copy())
    with pytest.raises(ValueError, match="already registered"):
        register("mlp")(lambda num_classes, canvas: nn.Linear(1, 1))
    register("tiny-linear")(
        lambda num_classes, canvas: nn.Sequential(nn.Flatten(), nn.Linear(3 * canvas**2, num_classes))
    )
    assert "tiny-linear" in list_architectures()
    assert create_model("tiny-linear", 2, 8, seed=0).architecture == "tiny-linear"


@pytest.mark.parametrize(
    ("name", "canvas", "classes"),
    [
        ("cnn-gap", 4, 2),
        ("redgreen-valid", 16, 2),
        ("cnn-blurpool", 8, 2),
        ("mlp", 32, 1),
        ("vit-tiny", 36, 2),
        ("mixer-tiny", 4, 2),
        ("gcnn-c4", 36, 2),
    ],
)
def test_impossible_settings_refused(name, canvas, classes):
    with pytest.raises(ValueError):
        create_model(name, classes, canvas, seed=0)


def test_flatten_and_gap_share_the_conv_stack_and_differ_in_the_head():
    flatten = create_model("cnn-flatten", CLASSES, 64, seed=0)
    gap = create_model("cnn-gap", CLASSES, 64, seed=0)
    assert isinstance(flatten[0], ConvStack) and isinstance(gap[0], ConvStack)
    assert [c.weight.shape for c in _conv_layers(flatten)] == [c.weight.shape for c in _conv_layers(gap)]
    # Same seed, same stack built first: identical convolution weights.
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(_conv_layers(flatten), _conv_layers(gap)))
    flatten_head = [m for m in flatten.modules() if isinstance(m, nn.Linear)]
    gap_head = [m for m in gap.modules() if isinstance(m, nn.Linear)]
    # Three 2× downsamplings of 64 leave 8×8 positions of 64 channels.
    assert flatten_head[0].in_features == 64 * 8 * 8
    assert gap_head[0].in_features == 64


def test_gap_ignores_where_a_feature_fires_but_flatten_does_not():
    gap = create_model("cnn-gap", CLASSES, 64, seed=0).eval()
    flatten = create_model("cnn-flatten", CLASSES, 64, seed=0).eval()
    features = torch.zeros(1, 64, 8, 8)
    moved = features.clone()
    features[0, :, 1, 1] = 1.0
    moved[0, :, 5, 6] = 1.0
    with torch.no_grad():
        assert torch.allclose(gap[1](features), gap[1](moved))
        assert not torch.allclose(flatten[2](flatten[1](features)), flatten[2](flatten[1](moved)))


def test_blurpool_is_a_fixed_binomial_filter():
    blur = BlurPool(4)
    expected = torch.tensor([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=torch.float32) / 16
    assert blur.kernel.shape == (4, 1, 3, 3)
    assert all(torch.equal(blur.kernel[c, 0], expected) for c in range(4))
    assert list(blur.parameters()) == [] and "kernel" not in blur.state_dict()
    constant = torch.full((1, 4, 10, 10), 0.3)
    out = blur(constant)
    assert out.shape == (1, 4, 5, 5)
    assert torch.allclose(out, torch.full_like(out, 0.3))
    # A one-pixel impulse spreads over its neighbours instead of surviving or vanishing by parity.
    impulse = torch.zeros(1, 4, 10, 10)
    impulse[..., 4, 4] = 1.0
    assert blur(impulse)[0, 0, 2, 2] == pytest.approx(4 / 16)


def test_blurpool_model_uses_stride_one_max_pool_then_blur():
    model = create_model("cnn-blurpool", CLASSES, 64, seed=0)
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 3 and all(p.stride == 1 for p in pools)
    assert len([m for m in model.modules() if isinstance(m, BlurPool)]) == 3


def test_coordconv_appends_coordinate_channels():
    model = create_model("coordconv", CLASSES, 32, seed=0)
    assert _conv_layers(model)[0].in_channels == 5
    out = AddCoords()(torch.zeros(2, 3, 4, 5))
    assert out.shape == (2, 5, 4, 5)
    assert torch.allclose(out[0, 3, 0], torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]))
    assert torch.allclose(out[0, 4, :, 0], torch.tensor([-1.0, -1 / 3, 1 / 3, 1.0]))


REDGREEN = ["redgreen-valid", "redgreen-same", "redgreen-full", "redgreen-circular", "redgreen-periodic"]


@pytest.mark.parametrize("name", REDGREEN)
def test_redgreen_is_the_paper_network(name):
    model = create_model(name, 2, 32, seed=0)
    convs = _conv_layers(model)
    assert [(c.in_channels, c.out_channels, c.stride[0], c.kernel_size) for c in convs] == [
        (3, 32, 1, (3, 3)),
        (32, 32, 2, (3, 3)),
        (32, 64, 2, (3, 3)),
        (64, 64, 2, (3, 3)),
    ]
    assert all(c.bias is None for c in convs)
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(64, 2)]
    # Bias-free convolutions map a black image to all-zero features, so only the head's bias is left.
    with torch.no_grad():
        assert torch.equal(model(torch.zeros(1, 3, 32, 32))[0], linear[0].bias)


def test_redgreen_global_max_pooling():
    model = create_model("redgreen-same", 2, 32, seed=0).eval()
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        features = model[:-2](images)
        assert torch.equal(model[-2](features), features.flatten(2).max(dim=2).values)


@pytest.mark.parametrize(
    ("name", "padding", "mode", "side"),
    [
        # Output sides by hand, floor((n + 2p - 3) / s) + 1 over strides 1, 2, 2, 2 from 32:
        ("redgreen-valid", 0, "zeros", 2),  # 30, 14, 6, 2
        ("redgreen-same", 1, "zeros", 4),  # 32, 16, 8, 4
        ("redgreen-full", 2, "zeros", 6),  # 34, 18, 10, 6
        ("redgreen-circular", 2, "circular", 6),
        ("redgreen-periodic", 1, "circular", 4),
    ],
)
def test_redgreen_paddings(name, padding, mode, side):
    model = create_model(name, 2, 32, seed=0)
    assert all(c.padding == (padding, padding) and c.padding_mode == mode for c in _conv_layers(model))
    with torch.no_grad():
        assert model[:-2](torch.rand(1, 3, 32, 32)).shape == (1, 64, side, side)


def test_circular_padding_sees_no_border():
    """A box next to the border is seen the same as one wrapped around it, with zero padding not."""
    circular = create_model("redgreen-circular", 2, 32, seed=0).eval()
    full = create_model("redgreen-full", 2, 32, seed=0).eval()
    image = torch.zeros(1, 3, 32, 32)
    image[0, 0, 10:14, 0:4] = 1.0
    wrapped = torch.roll(image, shifts=-2, dims=3)
    with torch.no_grad():
        first_circular = circular[0](image), circular[0](wrapped)
        first_full = full[0](image), full[0](wrapped)
    # One stride-1 layer: circular padding is exactly equivariant to circular shifts.
    assert torch.allclose(torch.roll(first_circular[0][..., 1:-1], -2, dims=3), first_circular[1][..., 1:-1])
    assert not torch.allclose(torch.roll(first_full[0][..., 1:-1], -2, dims=3), first_full[1][..., 1:-1])


@pytest.mark.parametrize("shift", [8, 16, 24])
def test_periodic_padding_is_exactly_invariant_to_shifts_by_its_stride(shift):
    """The Red-Green dissimilar test is the similar layouts moved 16 px down, wrapped: a periodic
    network scores both alike; padding 2 grows the maps (34, 18, 10, 6) and breaks the period."""
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    moved = torch.roll(images, shifts=(shift, 32 - shift), dims=(2, 3))
    with torch.no_grad():
        periodic = create_model("redgreen-periodic", 2, 32, seed=0).eval()
        circular = create_model("redgreen-circular", 2, 32, seed=0).eval()
        assert torch.allclose(periodic(images), periodic(moved), atol=1e-6, rtol=0)
        assert not torch.allclose(circular(images), circular(moved), atol=1e-4, rtol=0)
        # Only multiples of the network's stride of 8: one pixel is another input.
        assert not torch.allclose(periodic(images), periodic(torch.roll(images, 1, dims=2)), atol=1e-4, rtol=0)


def _trained_batch_norm(model: nn.Module, canvas: int) -> nn.Module:
    """The model in eval mode with running statistics that are not the initial ones."""
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 3, canvas, canvas, generator=torch.Generator().manual_seed(5)))
    return model.eval()


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_c4_network_is_exactly_invariant_to_quarter_turns(turns):
    model = _trained_batch_norm(create_model("gcnn-c4", 5, 64, seed=0), 64)
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = model(images)
        turned = model(torch.rot90(images, turns, dims=(2, 3)))
        mirrored = model(torch.flip(images, dims=(3,)))
    assert torch.allclose(logits, turned, atol=1e-5, rtol=0)
    # It is built for turns only: a mirror image is another input (the test can fail).
    assert not torch.allclose(logits, mirrored, atol=1e-5, rtol=0)


def test_group_layers_are_equivariant_turn_and_shift():
    """Turning the input turns each output map and moves it one step along the group axis."""
    torch.manual_seed(0)
    lift, group = LiftingConv(3, 4), GroupConv(4, 6)
    image = torch.rand(2, 3, 12, 12)

    def turned_and_shifted(features: torch.Tensor) -> torch.Tensor:
        fields = features.unflatten(1, (-1, 4))
        return torch.roll(torch.rot90(fields, 1, dims=(3, 4)), 1, dims=2).flatten(1, 2)

    with torch.no_grad():
        lifted, lifted_turned = lift(image), lift(torch.rot90(image, 1, dims=(2, 3)))
        assert lifted.shape == (2, 16, 12, 12)
        assert torch.allclose(lifted_turned, turned_and_shifted(lifted), atol=1e-6)
        grouped, grouped_turned = group(lifted), group(lifted_turned)
        assert grouped.shape == (2, 24, 12, 12)
        assert torch.allclose(grouped_turned, turned_and_shifted(grouped), atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_every_architecture_takes_the_channels_last_layout_training_uses(name):
    model = create_model(name, CLASSES, 32, seed=0).to(memory_format=torch.channels_last)
    images = torch.rand(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    assert model(images).shape == (2, CLASSES)


def test_vit_has_one_learned_position_embedding_per_patch():
    model = create_model("vit-tiny", CLASSES, 64, seed=0)
    assert isinstance(model, VisionTransformer)
    # 8-pixel patches of a 64-pixel canvas: 64 tokens and the class token.
    assert model.position.shape == (1, 65, 192) and model.position.requires_grad
    assert len(model.layers.layers) == 4
    image = torch.zeros(1, 3, 64, 64)
    image[..., 8:16, 8:16] = 1.0
    moved = torch.roll(image, shifts=(16, 16), dims=(2, 3))
    model.eval()
    with torch.no_grad():
        # The same patch content at another position reads another embedding.
        assert not torch.allclose(model(image), model(moved))


def test_image_standardization_removes_the_background_grey_wherever_the_object_lies():
    standardize = ImageStandardization()
    dark, light = torch.full((1, 3, 32, 32), 0.2), torch.full((1, 3, 32, 32), 0.7)
    for image in (dark, light):
        image[..., 4:12, 4:12] = torch.tensor([0.9, 0.1, 0.5]).view(3, 1, 1)
    out = standardize(torch.cat([dark, light]))
    assert out.mean(dim=(1, 2, 3)).abs().max() < 1e-6
    assert torch.allclose(out.std(dim=(1, 2, 3)), torch.ones(2), atol=0.02)  # epsilon 1e-3 against std ~0.1
    moved = torch.roll(dark, shifts=(9, 13), dims=(2, 3))
    assert torch.allclose(standardize(moved), torch.roll(out[:1], shifts=(9, 13), dims=(2, 3)), atol=1e-6)
    # An empty canvas is all zeros, not a division by zero.
    assert torch.equal(standardize(torch.full((1, 3, 8, 8), 0.5)), torch.zeros(1, 3, 8, 8))


@pytest.mark.parametrize("name", ["mlp", "vit-tiny", "mixer-tiny"])
def test_networks_without_batch_norm_see_the_standardised_image(name):
    """A background grey (the same shift of every pixel) changes nothing for them."""
    model = create_model(name, CLASSES, 32, seed=0).eval()
    image = torch.full((1, 3, 32, 32), 0.3)
    image[..., 8:20, 10:14] = 0.8
    with torch.no_grad():
        assert torch.allclose(model(image), model(image + 0.4), atol=1e-4)


def test_mixer_mixes_tokens_with_position_specific_weights():
    model = create_model("mixer-tiny", CLASSES, 32, seed=0)
    token_mixers = [m.tokens[0] for m in model if hasattr(m, "tokens")]
    assert len(token_mixers) == 4 and all(t.in_features == 16 for t in token_mixers)


def test_shape_descriptors_read_aspect_and_fill_from_a_plain_background():
    image = torch.full((1, 3, 32, 32), 0.4)
    image[0, :, 4:8, 10:22] = 0.9  # a box 12 wide and 4 tall: aspect (width / height) 3, fill 1
    features = ShapeDescriptors()(image)
    assert torch.allclose(features, torch.tensor([[3.0, 1.0]]))
    # The same box upright: the aspect tells a tall shape from a wide one.
    assert torch.allclose(ShapeDescriptors()(image.transpose(2, 3)), torch.tensor([[1 / 3, 1.0]]))
    triangle = torch.full((1, 3, 32, 32), 0.2)
    for row in range(10):
        triangle[0, :, 5 + row, 5 : 6 + row] = 1.0  # a 10×10 right triangle: fill 55/100
    assert torch.allclose(ShapeDescriptors()(triangle), torch.tensor([[1.0, 0.55]]))
    # Scale-invariant: the same triangle twice as large keeps its aspect and nearly its fill.
    big = torch.nn.functional.interpolate(triangle, scale_factor=2, mode="nearest")
    assert torch.allclose(ShapeDescriptors()(big), torch.tensor([[1.0, 0.55]]))


@pytest.mark.parametrize(
    "name", ["timm:", "timm:../../etc", "torchvision:a b", "keras:resnet", "timm:" + "x" * 101, "timm:resnet18;rm"]
)
def test_bad_backbone_names_are_refused_in_one_line(name):
    with pytest.raises(ValueError, match="backbone|unknown architecture") as error:
        create_model(name, CLASSES, 64, seed=0)
    assert "\n" not in str(error.value)


def test_backbone_names_are_recognised_by_their_library_prefix():
    assert is_backbone("timm:resnet18") and is_backbone("torchvision:resnet18")
    assert not is_backbone("resnet-small") and not is_backbone("keras:resnet")


def test_a_pretrained_backbone_has_its_own_label():
    assert pretrained_label("timm:resnet18") == "timm:resnet18+pretrained"
    assert pretrained_label("torchvision:resnet18+pretrained") == "torchvision:resnet18+pretrained"
    assert check_backbone("timm:resnet18+pretrained") == ("timm", "resnet18", True)
    assert check_backbone("timm:resnet18") == ("timm", "resnet18", False)


@pytest.mark.parametrize("name", ["cnn-gap", "redgreen-same", "keras:resnet", "timm:resnet18+pretrained+pretrained"])
def test_only_library_backbones_start_pretrained(name):
    with pytest.raises(ValueError, match="no published weights|bad backbone name") as error:
        pretrained_label(name)
    assert "\n" not in str(error.value)


def test_an_unknown_name_is_told_the_backbone_forms_too():
    with pytest.raises(ValueError, match=r"did you mean 'cnn-gap'\?.*or a library backbone, 'timm:NAME'") as error:
        create_model("cnn-gapp", CLASSES, 64, seed=0)
    assert "\n" not in str(error.value)


def _usable(library: str) -> bool:
    try:
        __import__(library)
    except Exception:  # a missing library, or torchvision built for another torch
        return False
    return True


@pytest.mark.parametrize("library", ["timm", "torchvision"])
def test_a_missing_backbone_library_is_one_line_naming_the_extra(library):
    if _usable(library):
        pytest.skip(f"{library} is installed here")
    with pytest.raises(ValueError, match=f"{library}.*not usable here.*backbones extra") as error:
        build_backbone(f"{library}:resnet18", CLASSES, 64)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("library", ["timm", "torchvision"])
def test_a_pretrained_backbone_without_its_library_is_one_line_naming_the_extra(library):
    if _usable(library):
        pytest.skip(f"{library} is installed here")
    with pytest.raises(ValueError, match=r"not usable here.*pip install 'elsewhere\[backbones\]'") as error:
        create_model(f"{library}:resnet18+pretrained", CLASSES, 64, seed=0)
    assert "\n" not in str(error.value)


def test_a_pretrained_backbone_refuses_to_download_offline_in_one_line(monkeypatch):
    # timm only: its weights come from the Hub, which HF_HUB_OFFLINE closes; torchvision's do not.
    if not _usable("timm"):
        pytest.skip("timm is not usable beside this torch (see the backbones extra)")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        model = create_model("timm:resnet18+pretrained", CLASSES, 64, seed=0)
    except ValueError as error:  # no cached weights: the download is refused, in one line
        assert "could not build" in str(error) and "\n" not in str(error)
        return
    # Weights cached on this machine: the published input size and a fresh classifier.
    assert isinstance(model, Backbone) and model.size is not None
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 3, 64, 64)).shape == (1, CLASSES)


@pytest.mark.parametrize("name", ["timm:resnet18", "torchvision:resnet18", "timm:vit_tiny_patch16_224"])
def test_library_backbones_build_offline_at_the_canvas(name):
    library = name.partition(":")[0]
    if not _usable(library):
        pytest.skip(f"{library} is not usable beside this torch (see the backbones extra)")
    model = create_model(name, CLASSES, 64, seed=0).eval()
    assert isinstance(model, Backbone) and model.size is None
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 64)).shape == (2, CLASSES)
    again = create_model(name, CLASSES, 64, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
