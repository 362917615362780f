"""Every registered protocol: builds, holds out what it claims, samples inside its regions, repeats."""

import numpy as np
import pytest

from elsewhere.generator import ASYMMETRIC_SHAPES, get_shape, render
from elsewhere.splits.protocol import Protocol
from elsewhere.splits.registry import get_protocol, parse_protocols, protocol_names, register
from elsewhere.splits.sampling import draw

NAMES = protocol_names()
DRAWS = 200


def _factors(protocol: Protocol, split: str, count: int, seed: int = 0):
    samples = [draw(protocol, split, i, seed).factors for i in range(count)]
    return tuple(np.array([getattr(f, k) for f in samples]) for k in ("label", "x", "y", "rotation", "scale"))


def test_suite_covers_the_issue():
    expected = {
        "location-halves",
        "location-quadrant",
        "location-centre-periphery",
        "location-checkerboard",
        "location-point",
        "rotation-extrapolation",
        "rotation-interpolation",
        "scale-extrapolation",
        "scale-interpolation",
        "composition",
        "novel-objects",
        "iid",
        "red-green",
        "blything-centre-side",
    }
    assert expected <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_protocol_checks_and_documents_itself(name):
    protocol = get_protocol(name)
    protocol.check()
    assert protocol.description and protocol.rationale
    assert set(protocol.split_names) >= {"train", "validation", "test_id", "test_ood", "probe"}
    for shape in protocol.class_names:
        if protocol.family != "boxes":
            get_shape(shape)


@pytest.mark.parametrize("name", NAMES)
def test_every_sample_lies_in_its_split(name):
    protocol = get_protocol(name)
    for split, distribution in protocol.splits.items():
        factors = _factors(protocol, split, DRAWS // 4)
        assert distribution.contains(*factors).all(), split


HELD_OUT = [n for n in NAMES if get_protocol(n).splits["test_ood"] != get_protocol(n).train]


def test_only_the_iid_control_holds_nothing_out():
    assert set(NAMES) - set(HELD_OUT) == {"iid"}


@pytest.mark.parametrize("name", HELD_OUT)
def test_held_out_samples_are_never_training_samples(name):
    protocol = get_protocol(name)
    held_out = _factors(protocol, "test_ood", DRAWS)
    assert not protocol.train.contains(*held_out).any()
    assert (protocol.region_of(*held_out) == "held-out").all()


@pytest.mark.parametrize("name", HELD_OUT)
def test_training_and_held_out_regions_are_disjoint_everywhere(name):
    """A dense sweep of the factor space: no point belongs to both distributions."""
    protocol = get_protocol(name)
    train, test = protocol.train, protocol.splits["test_ood"]
    grid = np.linspace(0, 1, 65)  # includes the boundaries 0.25, 0.5, 0.75 exactly
    x, y = (a[:, :, None, None] for a in np.meshgrid(grid, grid))
    rotation = np.linspace(-180, 180, 49)[None, None, :, None]
    scale = np.unique(np.r_[np.linspace(0.1, 0.42, 33), [p.scale.span[0] for p in train.parts]])
    scale = scale[None, None, None, :]
    for label in range(len(protocol.class_names)):
        both = train.contains(label, x, y, rotation, scale) & test.contains(label, x, y, rotation, scale)
        assert not both.any(), label


def test_control_is_marked_and_not_disjoint():
    iid = get_protocol("iid")
    assert iid.control
    factors = _factors(iid, "test_ood", 50)
    assert iid.train.contains(*factors).all()


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_scene_other_seed_other_scene(name):
    protocol = get_protocol(name)
    for split in ("train", "test_ood", "probe"):
        assert draw(protocol, split, 3, seed=7) == draw(protocol, split, 3, seed=7)
        assert draw(protocol, split, 3, seed=7) != draw(protocol, split, 3, seed=8)


@pytest.mark.parametrize("name", NAMES)
def test_probe_group_is_one_object_swept_over_one_factor(name):
    protocol = get_protocol(name)
    members = [draw(protocol, "probe", i, 0) for i in range(protocol.probe_size)]
    assert {m.group for m in members} == {0}
    assert len({m.factors.label for m in members}) == 1
    sweep = protocol.probe.sweep
    swept = ("x", "y") if sweep == "location" else (sweep,)
    for factor in {"x", "y", "rotation", "scale"} - set(swept):
        assert len({getattr(m.factors, factor) for m in members}) == 1, factor
    positions = {tuple(getattr(m.factors, f) for f in swept) for m in members}
    assert len(positions) == protocol.probe_size
    if sweep == "location":
        cells = protocol.grid.cell_of(
            np.array([m.factors.x for m in members]), np.array([m.factors.y for m in members])
        )
        assert sorted(cells) == list(range(protocol.grid.size))
    assert len({m.scene.object.colour for m in members}) == 1


def test_rotation_protocols_use_only_asymmetric_shapes():
    for name in NAMES:
        protocol = get_protocol(name)
        if "rotation" in protocol.held_out:
            assert set(protocol.class_names) <= set(ASYMMETRIC_SHAPES)
            assert all(get_shape(c).symmetry == 1 for c in protocol.class_names)


def test_red_green_follows_the_paper():
    protocol = get_protocol("red-green")
    assert protocol.canvas == 32 and protocol.sizes["full"]["train"] == 2000
    for split, bands in (("train", {0: "top", 1: "bottom"}), ("test_ood", {0: "bottom", 1: "top"})):
        for i in range(40):
            sample = draw(protocol, split, i, 0)
            image = render(sample.scene, 32)
            red = np.argwhere((image[..., 0] == 255) & (image[..., 1] == 0))
            green = np.argwhere((image[..., 1] == 255) & (image[..., 0] == 0))
            assert len(red) == len(green) == 16, "two crisp 4×4 boxes"
            label = sample.factors.label
            assert (red[:, 1].min() < green[:, 1].min()) == (label == 0)
            first = min(red[:, 1].min(), green[:, 1].min())
            second = max(red[:, 1].min(), green[:, 1].min())
            assert 0 <= first <= 9 and second - first >= 5
            top_row = red[:, 0].min()
            band = "top" if top_row < 16 else "bottom"
            assert band == bands[label]
            assert abs(top_row - (7 if band == "top" else 23)) <= 2


def test_registry_refuses_duplicates_and_answers_unknown_names():
    with pytest.raises(ValueError, match="already registered"):
        register(get_protocol("iid"))
    with pytest.raises(ValueError, match="did you mean 'location-halves'.*valid protocols"):
        get_protocol("location-halve")
    with pytest.raises(ValueError, match="twice"):
        parse_protocols("iid,iid")


def test_canvas_too_small_is_refused():
    import dataclasses

    protocol = dataclasses.replace(get_protocol("scale-extrapolation"), canvas=16)
    with pytest.raises(ValueError, match="canvas too small for the object.*at least 25 pixels"):
        protocol.check()
