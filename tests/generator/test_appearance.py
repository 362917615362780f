"""Appearance: styles, and scenes composed from a generator with visible objects and clear distractors."""

import numpy as np
import pytest

from elsewhere import generator
from elsewhere.generator import Background, Scene, Sprite, Style, compose_scene, render

RANDOM = Style(colour="random", background="uniform", distractors=3)


def _luminance(rgb):
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b


def _compose(seed, style=RANDOM, shape="arrow", x=0.3, y=0.6, rotation=12.5, scale=0.25):
    return compose_scene(shape, x, y, rotation, scale, style, np.random.default_rng(seed))


def test_package_exports_the_public_api():
    for name in (
        "Scene",
        "Sprite",
        "Background",
        "Shape",
        "get_shape",
        "GEOMETRIC_SHAPES",
        "ASYMMETRIC_SHAPES",
        "glyph_names",
        "novel_names",
        "render",
        "Style",
        "compose_scene",
    ):
        assert hasattr(generator, name), name


def test_default_style_is_a_white_object_on_black_alone():
    scene = _compose(0, Style())
    assert scene == Scene(Sprite("arrow", 0.3, 0.6, 12.5, 0.25, (255, 255, 255)), Background("plain", (0, 0, 0)), ())


def test_factors_pass_through_unchanged():
    for seed in range(20):
        target = _compose(seed, shape="glyph:G", x=0.123, y=0.987, rotation=-33.0, scale=0.4).object
        assert (target.shape, target.x, target.y, target.rotation, target.scale) == (
            "glyph:G",
            0.123,
            0.987,
            -33.0,
            0.4,
        )


def test_same_generator_state_gives_the_same_scene():
    style = Style(colour="random", background="noise", noise=12.0, distractors=4)
    assert _compose(5, style) == _compose(5, style)
    assert len({_compose(seed, style) for seed in range(10)}) == 10


def test_compose_uses_no_global_random_state():
    state = np.random.get_state()
    _compose(1, Style(colour="random", background="noise", noise=5.0, distractors=4))
    after = np.random.get_state()
    assert np.array_equal(state[1], after[1]) and state[2:] == after[2:]


def test_random_colours_stand_out_from_the_background():
    levels, colours = [], set()
    for seed in range(300):
        scene = _compose(seed)
        level = scene.background.colour
        assert scene.background.kind == "uniform" and level[0] == level[1] == level[2]
        levels.append(level[0])
        colour = scene.object.colour
        colours.add(colour)
        assert all(isinstance(c, int) and 0 <= c <= 255 for c in colour)
        assert abs(_luminance(colour) - level[0]) >= 80
        for distractor in scene.distractors:
            assert abs(_luminance(distractor.colour) - level[0]) >= 80
    assert min(levels) < 20 and max(levels) > 235
    assert len(colours) > 250


def test_white_objects_get_a_background_they_stand_out_from():
    levels = [_compose(seed, Style(background="uniform")).background.colour[0] for seed in range(300)]
    assert max(levels) <= 255 - 80 and max(levels) > 160 and min(levels) < 15


def test_noise_background_takes_the_style_noise_and_a_drawn_seed():
    style = Style(background="noise", noise=17.5)
    scenes = [_compose(seed, style) for seed in range(20)]
    assert all(s.background.kind == "noise" and s.background.noise == 17.5 for s in scenes)
    assert all(isinstance(s.background.seed, int) and s.background.seed >= 0 for s in scenes)
    assert len({s.background.seed for s in scenes}) == 20


def test_distractor_count_is_uniform_up_to_the_maximum():
    style = Style(distractors=3, distractor_shapes=("circle", "hexagon"))
    counts = np.array([len(_compose(seed, style, scale=0.1).distractors) for seed in range(400)])
    assert counts.max() <= 3
    assert np.all(np.bincount(counts, minlength=4) > 60)


def _coverage(sprite, canvas=128):
    alone = Sprite(sprite.shape, sprite.x, sprite.y, sprite.rotation, sprite.scale)
    return render(Scene(alone), canvas=canvas)[:, :, 0] / 255.0


@pytest.mark.parametrize("seed", range(25))
def test_distractors_are_on_canvas_and_clear_of_the_object_and_each_other(seed):
    style = Style(colour="random", distractors=5, distractor_shapes=("circle", "square", "cross", "L"))
    scene = _compose(seed, style, shape="key", x=0.45, y=0.55, rotation=seed * 17.0, scale=0.35)
    masks = [_coverage(scene.object) > 0]
    for distractor in scene.distractors:
        assert distractor.shape in style.distractor_shapes
        assert 0.08 <= distractor.scale <= 0.14
        coverage = _coverage(distractor)
        # Wholly on the canvas: as much ink as the same sprite drawn in the middle (up to the
        # sampling of edges, which varies a little with the sub-pixel position).
        middle = Sprite(distractor.shape, 0.5, 0.5, distractor.rotation, distractor.scale)
        assert coverage.sum() == pytest.approx(_coverage(middle).sum(), rel=0.05)
        mask = coverage > 0
        for other in masks:
            assert not (mask & other).any()
        masks.append(mask)


def test_first_clear_centre_is_the_first_of_the_batch_clear_of_every_disc():
    # _first_clear tests the first centre alone as scalars before the batch as arrays; both must
    # agree, including centres that just touch a disc (gap equal to the radii).
    from elsewhere.generator.appearance import _first_clear

    rng = np.random.default_rng(0)
    for trial in range(300):
        taken = [tuple(float(v) for v in rng.uniform((0, 0, 0.05), (1, 1, 0.3))) for _ in range(1 + trial % 4)]
        reach = float(rng.uniform(0.02, 0.1))
        centres = rng.uniform(reach, 1 - reach, (50, 2))
        if trial % 3 == 0:  # first centre exactly touching the first disc
            tx, ty, tr = taken[0]
            centres[0] = (tx + tr + reach, ty)
        discs = np.array(taken)
        gap = np.hypot(centres[:, None, 0] - discs[:, 0], centres[:, None, 1] - discs[:, 1])
        free = np.flatnonzero((gap >= discs[:, 2] + reach).all(axis=1))
        expected = (float(centres[free[0], 0]), float(centres[free[0], 1])) if free.size else None
        assert _first_clear(centres, reach, taken) == expected


def test_distractors_that_find_no_room_are_left_out():
    style = Style(distractors=6)
    # A full-canvas square: its bounding disc reaches the corners, so no distractor fits.
    for seed in range(10):
        scene = _compose(seed, style, shape="square", x=0.5, y=0.5, scale=1.0)
        assert scene.distractors == ()
        assert _compose(seed, style, shape="square", x=0.5, y=0.5, scale=1.0) == scene
    assert any(_compose(seed, style, shape="square", x=0.5, y=0.5, scale=0.2).distractors for seed in range(10))


def test_composed_scenes_render_with_a_visible_object():
    style = Style(colour="random", background="noise", noise=10.0, distractors=2)
    for seed in range(10):
        scene = _compose(seed, style, x=0.5, y=0.5, rotation=0.0, scale=0.5)
        image = render(scene, canvas=64).astype(float)
        centre = image[28:36, 28:36].mean(axis=(0, 1))
        assert abs(_luminance(centre) - scene.background.colour[0]) > 60


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(colour="blue"), "colour must be 'white' or 'random'"),
        (dict(background="stripes"), "background must be"),
        (dict(noise=-1.0), "noise must be"),
        (dict(distractors=-1), "distractors must be an integer"),
        (dict(distractors=1.5), "distractors must be an integer"),
        (dict(distractor_shapes=()), "distractor_shapes must be"),
        (dict(distractor_shapes=["circle"]), "distractor_shapes must be"),
        (dict(distractor_shapes=("circle", "blob")), "unknown shape 'blob'"),
        (dict(distractor_scale=(0.2, 0.1)), "distractor_scale must be"),
        (dict(distractor_scale=(0.0, 0.1)), "distractor_scale must be"),
    ],
)
def test_bad_styles_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        Style(**kwargs)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(shape="blob"), "unknown shape"),
        (dict(x=1.5), "x must be in"),
        (dict(scale=0.0), "scale must be in"),
    ],
)
def test_bad_factors_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=words):
        _compose(0, **kwargs)
