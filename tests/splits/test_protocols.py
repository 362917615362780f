"""Every registered protocol: builds, holds out what it claims, samples inside its regions, repeats."""

import numpy as np
import pytest

from elsewhere.generator import ASYMMETRIC_SHAPES, get_shape, render
from elsewhere.splits import redgreen
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
        "location-point-jitter",
        "location-own-point",
        "location-halves-clutter",
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


def _boxes(sample, canvas: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(top row, left column) of the red and of the green box, read off the rendered image."""
    image = render(sample.scene, canvas)
    red = np.argwhere((image[..., 0] == 255) & (image[..., 1] == 0))
    green = np.argwhere((image[..., 1] == 255) & (image[..., 0] == 0))
    assert len(red) == len(green) == 16, "two crisp 4×4 boxes"
    return red.min(axis=0), green.min(axis=0)


def test_red_green_is_drawn_as_the_authors_draw_it():
    protocol = get_protocol("red-green")
    assert protocol.canvas == 32 and protocol.sizes["full"]["train"] == 2000
    rows_differ = 0
    for split, bands in (("train", {0: 7, 1: 23}), ("test_ood", {0: 23, 1: 7}), ("test_moved", {0: 23, 1: 7})):
        for i in range(60):
            sample = draw(protocol, split, i, 0)
            (red_row, red_col), (green_row, green_col) = _boxes(sample)
            label = sample.factors.label
            assert (red_col < green_col) == (label == 0)
            first, second = sorted((red_col, green_col))
            assert second - first >= 5 and second <= 27
            if split != "test_moved":
                assert first <= 9
            # Each box's row is the class's band plus its own offset in -4..+3.
            for row in (red_row, green_row):
                assert -4 <= row - bands[label] <= 3
            rows_differ += red_row != green_row
    assert rows_differ > 100, "the two boxes' rows are drawn independently"


def test_red_green_validation_and_test_never_repeat_a_training_image():
    """At the published sizes: scenes are compared (a scene renders to one image), then pixels of a few."""
    protocol = get_protocol("red-green")
    sizes = protocol.sizes["full"]
    train = {draw(protocol, "train", i, 0).scene for i in range(sizes["train"])}
    for split in ("validation", "test_id", "test_ood", "test_moved"):
        scenes = [draw(protocol, split, i, 0).scene for i in range(sizes[split])]
        assert not train & set(scenes), split
    train_pixels = {render(draw(protocol, "train", i, 0).scene, 32).tobytes() for i in range(300)}
    test_pixels = {render(draw(protocol, "test_id", i, 0).scene, 32).tobytes() for i in range(300)}
    assert not train_pixels & test_pixels


def test_red_green_pools_hold_a_layout_for_every_left_box():
    """Every left box that training, the similar tests or the probe (any row) can draw has layouts
    in both pools, so drawing within a pool never runs dry."""
    for label in (0, 1):
        for column in range(redgreen.MAX_FIRST_COLUMN + 1):
            for row in range(redgreen.CANVAS - redgreen.BOX + 1):
                band = redgreen.TOP_ROW if row < redgreen.CANVAS // 2 else redgreen.BOTTOM_ROW
                layouts = [
                    (column, row, c, band + o) for c in range(column + 5, redgreen.MAX_COLUMN + 1) for o in range(-4, 4)
                ]
                pooled = {redgreen.held_back(label, layout) for layout in layouts}
                assert pooled == {True, False}, (label, column, row)


def test_red_green_moved_test_takes_the_column_cue_away():
    """A threshold on the red box's column, fitted on training, tells the class in the published
    tests but far less once the pair moves."""
    protocol = get_protocol("red-green")

    def red_columns(split: str, count: int) -> tuple[np.ndarray, np.ndarray]:
        samples = [draw(protocol, split, i, 0) for i in range(count)]
        columns = [
            next(b.x for b in (s.scene.object, *s.scene.distractors) if b.colour == redgreen.RED) for s in samples
        ]
        return np.array(columns), np.array([s.factors.label for s in samples])

    x, y = red_columns("train", 600)
    thresholds = np.unique(x)
    best = thresholds[np.argmax([((x > t) == (y == 1)).mean() for t in thresholds])]
    scores = {}
    for split in ("test_ood", "test_moved"):
        tx, ty = red_columns(split, 600)
        scores[split] = ((tx > best) == (ty == 1)).mean()
    assert scores["test_ood"] > 0.9 and scores["test_moved"] < 0.78, scores


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


def test_cluttered_halves_hold_out_only_centres_clear_of_the_trained_half():
    protocol = get_protocol("location-halves-clutter")
    _, x, _, _, _ = _factors(protocol, "test_ood", DRAWS)
    assert x.min() >= 0.6
    _, x, _, _, _ = _factors(protocol, "train", DRAWS)
    assert x.max() < 0.5


def test_cluttered_held_out_is_drawn_like_training():
    """Distractors: as many, as far from the object and from the border in train as in test_ood."""
    protocol = get_protocol("location-halves-clutter")

    def clutter(split: str) -> np.ndarray:
        rows = []
        for i in range(400):
            scene = draw(protocol, split, i, 0).scene
            o = scene.object
            for d in scene.distractors:
                rows.append((np.hypot(d.x - o.x, d.y - o.y), min(d.x, 1 - d.x, d.y, 1 - d.y)))
        return np.array(rows)

    train, held_out = clutter("train"), clutter("test_ood")
    assert len(held_out) == pytest.approx(len(train), rel=0.15)
    assert np.abs(train.mean(axis=0) - held_out.mean(axis=0)).max() < 0.03


def test_distractors_are_whole_and_resemble_no_class():
    protocol = get_protocol("location-halves-clutter")
    assert not set(protocol.style.distractor_shapes) & set(ASYMMETRIC_SHAPES)
    assert all(get_shape(name).symmetry != 1 for name in protocol.style.distractor_shapes)
    for i in range(100):
        for d in draw(protocol, "train", i, 0).scene.distractors:
            reach = d.scale / 2 * get_shape(d.shape).radius
            assert reach <= d.x <= 1 - reach and reach <= d.y <= 1 - reach


@pytest.mark.parametrize(("name", "jitter"), [("location-point", 1), ("location-point-jitter", 4)])
def test_location_point_twins_differ_only_in_jitter_and_probe_by_shifts(name, jitter):
    protocol = get_protocol(name)
    _, x, y, _, _ = _factors(protocol, "train", DRAWS)
    assert np.abs(x - 0.3).max() <= jitter / 64 + 1e-12 and np.abs(y - 0.3).max() <= jitter / 64 + 1e-12
    assert np.abs(x - 0.3).max() > (jitter - 1) / 64
    assert protocol.probe.sweep == "y" and protocol.probe.base == "test_id"
    shifts = [round((v - 0.3) * 64, 9) for v in protocol.probe.values]
    assert shifts == [0, 1, 2, 4, 8, 16]
    assert protocol.splits["test_ood"] == get_protocol("location-point").splits["test_ood"]


def test_each_class_owns_one_point_and_is_tested_at_the_others():
    from elsewhere.splits.suite import own_points

    protocol = get_protocol("location-own-point")
    points = np.array(own_points())
    assert len(points) == len(protocol.class_names)
    gaps = np.hypot(*(points[:, None] - points[None, :]).transpose(2, 0, 1))
    assert gaps[~np.eye(len(points), dtype=bool)].min() > 0.18
    for split, own in (("train", True), ("test_ood", False)):
        label, x, y, _, _ = _factors(protocol, split, DRAWS)
        nearest = np.argmin(np.hypot(x[:, None] - points[:, 0], y[:, None] - points[:, 1]), axis=1)
        assert np.hypot(x - points[nearest, 0], y - points[nearest, 1]).max() <= np.sqrt(2) / 64 + 1e-12
        assert ((nearest == label) == own).all(), split
