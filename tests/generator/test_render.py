"""Rendering: pure, anti-aliased, sub-pixel accurate, rotating counter-clockwise as seen."""

import math

import numpy as np
import pytest

from elsewhere.generator import GEOMETRIC_SHAPES, Background, Scene, Sprite, get_shape, glyph_names, novel_names, render

BLACK = Background()


def _scene(shape, x=0.5, y=0.5, rotation=0.0, scale=0.25, colour=(255, 255, 255), background=BLACK, distractors=()):
    return Scene(Sprite(shape, x, y, rotation, scale, colour), background, tuple(distractors))


def _grey(image):
    return image.astype(np.float64).mean(axis=2)


def _mismatch(a, b):
    """Pixels on which two white-on-black renderings disagree by more than half, per object pixel."""
    ga, gb = _grey(a), _grey(b)
    return np.count_nonzero(np.abs(ga - gb) > 127) / max(np.count_nonzero(ga > 127), 1)


@pytest.mark.parametrize("canvas", [8, 64, 224])
def test_output_is_uint8_rgb_of_the_canvas_size(canvas):
    image = render(_scene("square", scale=0.5), canvas=canvas)
    assert image.dtype == np.uint8 and image.shape == (canvas, canvas, 3)
    assert (image[canvas // 2, canvas // 2] == 255).all()
    assert (image[0, 0] == 0).all()


@pytest.mark.parametrize("canvas", [64, 224])
def test_pixel_aligned_square_covers_exactly_its_pixels(canvas):
    # Side scale * canvas, centred on the canvas centre: edges fall on pixel boundaries.
    side = canvas // 4
    image = render(_scene("square", scale=0.25), canvas=canvas)
    lo, hi = canvas // 2 - side // 2, canvas // 2 + side // 2
    expected = np.zeros((canvas, canvas, 3), np.uint8)
    expected[lo:hi, lo:hi] = 255
    assert np.array_equal(image, expected)


def test_partly_covered_pixels_blend_by_their_coverage():
    # Left edge at 32.3 - 8 = 24.3 px: of pixel 24's sample columns (.125 .375 .625 .875), three
    # are inside, so it is 3/4 covered; top edge at 24.0 exactly, so rows are crisp.
    bg, colour = (10, 20, 30), (200, 100, 50)
    image = render(
        _scene("square", x=32.3 / 64, y=32 / 64, colour=colour, background=Background("uniform", bg)), canvas=64
    )
    blend = np.rint(np.array(bg) + 0.75 * (np.array(colour) - np.array(bg)))
    assert np.array_equal(image[30, 24], blend)
    assert np.array_equal(image[30, 25], colour)
    assert np.array_equal(image[30, 23], bg)
    # Right edge at 40.3: pixel 40 has one sample column (40.125) inside.
    assert np.array_equal(image[30, 40], np.rint(np.array(bg) + 0.25 * (np.array(colour) - np.array(bg))))


def test_circle_area_matches_the_disc():
    canvas, scale = 128, 0.4
    image = render(_scene("circle", x=0.4711, y=0.5237, scale=scale), canvas=canvas)
    radius = scale * canvas / 2
    assert _grey(image).sum() / 255 == pytest.approx(math.pi * radius**2, rel=0.005)


def _shifted_pair(shape, canvas, rotation, axis):
    x, y = 0.4137, 0.5521
    step = 1.0 / canvas
    style = dict(rotation=rotation, scale=0.3, colour=(250, 200, 10), background=Background("uniform", (30, 60, 90)))
    before = render(_scene(shape, x, y, **style), canvas=canvas)
    after = render(_scene(shape, x + step * (axis == 1), y + step * (axis == 0), **style), canvas=canvas)
    return before, after


@pytest.mark.parametrize("canvas", [64, 224])
@pytest.mark.parametrize(
    "shape", ["arrow", "lightning", "P", "star", "circle", "glyph:R", "glyph:8", "novel:4:2", "novel:77:0"]
)
@pytest.mark.parametrize("rotation", [0.0, 37.5, 270.0])
@pytest.mark.parametrize("axis", [0, 1])
def test_one_pixel_move_shifts_the_image_by_exactly_one_pixel(canvas, shape, rotation, axis):
    before, after = _shifted_pair(shape, canvas, rotation, axis)
    assert not np.array_equal(before, after)
    # Exact equality: the sample grid is fixed to the canvas and the shape's placement moves by
    # one pixel, so every sample point sees the same point of the shape. (A sample lying exactly
    # on an edge could round either way; these generic positions have none.)
    if axis == 1:
        assert np.array_equal(after[:, 1:], before[:, :-1])
    else:
        assert np.array_equal(after[1:], before[:-1])


def _centroid(image):
    grey = _grey(image)
    rows, cols = np.indices(grey.shape)
    return (grey * cols).sum() / grey.sum(), (grey * rows).sum() / grey.sum()


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.75])
def test_sub_pixel_moves_move_the_image_smoothly(fraction):
    canvas = 64
    base = render(_scene("circle", x=0.4, y=0.45, scale=0.3), canvas=canvas)
    moved = render(_scene("circle", x=0.4 + fraction / canvas, y=0.45, scale=0.3), canvas=canvas)
    (x0, y0), (x1, y1) = _centroid(base), _centroid(moved)
    assert x1 - x0 == pytest.approx(fraction, abs=0.02)
    assert y1 == pytest.approx(y0, abs=0.02)


def _widest(image, axis):
    """Index of the widest cross-section of the object, along ``axis`` (0: rows, 1: columns)."""
    return int(np.argmax((_grey(image) > 127).sum(axis=1 - axis)))


def test_rotation_is_counter_clockwise_as_seen():
    # The arrow points right; its widest cross-section is the base of its head, on the tip side.
    canvas, centre = 64, 32
    images = {r: render(_scene("arrow", scale=0.5, rotation=r), canvas=canvas) for r in (0, 90, 180, 270)}
    assert _widest(images[0], axis=1) > centre + 2
    assert _widest(images[90], axis=0) < centre - 2  # points up
    assert _widest(images[180], axis=1) < centre - 2  # points left
    assert _widest(images[270], axis=0) > centre + 2  # points down


@pytest.mark.parametrize("shape", ["arrow", "key", "F", "glyph:R", "novel:1:1"])
@pytest.mark.parametrize("turns", [1, 2, 3])
def test_quarter_turn_of_a_centred_object_is_a_quarter_turn_of_the_image(shape, turns):
    upright = render(_scene(shape, scale=0.6), canvas=64)
    turned = render(_scene(shape, scale=0.6, rotation=90.0 * turns), canvas=64)
    # On an even canvas the sample grid maps onto itself under quarter turns about the centre,
    # and quarter turns use exact cosines, so the images agree exactly.
    assert np.array_equal(turned, np.rot90(upright, turns))


def test_whole_turns_and_negative_angles_are_the_same_rotation():
    for a, b in ((450.0, 90.0), (-90.0, 270.0), (370.0, 10.0), (-350.0, 10.0)):
        assert np.array_equal(render(_scene("kite", rotation=a)), render(_scene("kite", rotation=b)))


SWEEP = GEOMETRIC_SHAPES + glyph_names() + novel_names(0, 6) + novel_names(99, 4, start=50)


@pytest.mark.parametrize("name", SWEEP)
def test_rotation_symmetry_metadata_matches_renderings(name):
    canvas = 160

    def at(rotation):
        return render(_scene(name, scale=0.9, rotation=rotation), canvas=canvas)

    symmetry = get_shape(name).symmetry
    upright = at(0.0)
    if symmetry == 0:
        for angle in (17.0, 90.0, 211.0):
            assert _mismatch(at(angle), upright) < 0.02
    elif symmetry > 1:
        assert _mismatch(at(360.0 / symmetry), upright) < 0.02
    else:
        for angle in (90.0, 180.0, 270.0):
            assert _mismatch(at(angle), upright) > 0.05, angle


def test_noise_background_is_a_pure_function_of_its_seed():
    def noisy(seed, noise=20.0):
        return render(_scene("L", background=Background("noise", (128, 128, 128), noise, seed)))

    assert np.array_equal(noisy(5), noisy(5))
    assert not np.array_equal(noisy(5), noisy(6))
    corner = noisy(5)[:12, :12].astype(float)
    assert (corner[..., 0] == corner[..., 1]).all() and (corner[..., 1] == corner[..., 2]).all()
    background = noisy(7, noise=20.0).astype(float)[:, :16, 0]
    assert background.mean() == pytest.approx(128, abs=3)
    assert background.std() == pytest.approx(20, rel=0.1)
    flat = render(_scene("L", background=Background("uniform", (128, 128, 128))))
    assert np.array_equal(noisy(5, noise=0.0), flat)


def test_noise_is_clipped_to_the_grey_range():
    image = render(_scene("L", background=Background("noise", (250, 250, 250), 40.0, 3)))
    background = image[:, :16, 0]
    assert 0.3 < np.mean(background == 255) < 0.6
    assert background.min() < 200


def test_render_uses_no_global_random_state():
    state = np.random.get_state()
    render(_scene("L", background=Background("noise", (9, 9, 9), 10.0, 1)))
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]


def test_same_scene_gives_the_same_bytes():
    def make():
        distractors = (
            Sprite("cross", 0.2, 0.2, 12.0, 0.1, (0, 255, 0)),
            Sprite("circle", 0.8, 0.75, 0.0, 0.12, (0, 0, 255)),
        )
        return _scene(
            "glyph:K", 0.55, 0.45, 33.3, 0.3, (200, 30, 30), Background("noise", (90, 90, 90), 15.0, 42), distractors
        )

    first = render(make(), canvas=96).tobytes()
    assert render(make(), canvas=96).tobytes() == first
    assert render(make(), canvas=96).tobytes() == first


def test_distractors_lie_beneath_the_object():
    red = Sprite("square", 0.5, 0.5, 0.0, 0.5, (255, 0, 0))
    image = render(_scene("square", scale=0.25, distractors=[red]), canvas=64)
    assert (image[32, 32] == 255).all()
    assert np.array_equal(image[18, 18], [255, 0, 0])
    assert np.array_equal(image[2, 2], [0, 0, 0])


def test_sprites_off_the_edge_are_clipped():
    image = render(_scene("square", x=0.0, y=0.5, scale=0.25), canvas=64)
    expected = np.zeros((64, 64, 3), np.uint8)
    expected[24:40, :8] = 255
    assert np.array_equal(image, expected)
    corner = render(_scene("glyph:W", x=1.0, y=1.0, rotation=30.0, scale=0.5), canvas=64)
    assert corner[40:, 40:].any()
    far = Sprite("circle", 0.0, 0.0, 0.0, 0.05, (255, 0, 0))
    assert render(_scene("kite", distractors=[far])).any()


@pytest.mark.parametrize(
    "scene, canvas, words",
    [
        (_scene("square"), 7, "canvas must be an integer >= 8"),
        (_scene("square"), 64.0, "canvas must be an integer >= 8"),
        (_scene("square"), True, "canvas must be an integer >= 8"),
        (_scene("square", scale=0.04), 64, "canvas too small for the object"),
        (_scene("square", scale=0.25), 8, "canvas too small for the object"),
        (_scene("square", scale=0.0), 64, "scale must be in (0, 1]"),
        (_scene("square", scale=1.5), 64, "scale must be in (0, 1]"),
        (_scene("square", x=-0.01), 64, "x must be in [0, 1]"),
        (_scene("square", x=1.01), 64, "x must be in [0, 1]"),
        (_scene("square", y=float("nan")), 64, "y must be in [0, 1]"),
        (_scene("square", rotation=float("inf")), 64, "rotation must be a finite"),
        (_scene("blob"), 64, "unknown shape 'blob'"),
        (_scene("square", colour=(256, 0, 0)), 64, "colour must be three integers"),
        (_scene("square", colour=(1, 2)), 64, "colour must be three integers"),
        (_scene("square", background=Background("stripes")), 64, "background kind must be"),
        (_scene("square", background=Background("noise", noise=-1.0)), 64, "noise must be"),
        (_scene("square", background=Background("noise", seed=-1)), 64, "seed must be"),
        (_scene("square", distractors=[Sprite("blob", 0.1, 0.1)]), 64, "unknown shape 'blob'"),
        (_scene("square", distractors=[Sprite("circle", 1.2, 0.1)]), 64, "x must be in [0, 1]"),
    ],
)
def test_bad_scenes_are_refused_in_one_line(scene, canvas, words):
    with pytest.raises(ValueError) as error:
        render(scene, canvas=canvas)
    assert words in str(error.value)
    assert "\n" not in str(error.value)


def test_too_small_message_says_how_to_fix_it():
    with pytest.raises(ValueError, match="use a larger canvas or scale"):
        render(_scene("arrow", scale=0.04), canvas=64)
    render(_scene("arrow", scale=0.04), canvas=80)


def test_bad_supersample_is_refused():
    with pytest.raises(ValueError, match="supersample"):
        render(_scene("square"), supersample=0)


def test_a_batch_renders_each_scene_exactly_as_alone():
    # Mixed sizes, families, backgrounds and distractor counts, more than one pass of images: the
    # padding, layering and grouping of render_batch must not change a single byte.
    from elsewhere.generator.render import IMAGES_PER_PASS, render_batch

    rng = np.random.default_rng(7)
    names = ("arrow", "circle", "star", "glyph:R", "novel:4:2", "key")
    scenes = []
    for i in range(IMAGES_PER_PASS + 9):
        sprites = [
            Sprite(
                names[(i + k) % len(names)],
                float(rng.uniform()),
                float(rng.uniform()),
                float(rng.uniform(-180, 180)),
                float(rng.uniform(0.1, 0.9)),
                tuple(int(c) for c in rng.integers(0, 256, 3)),
            )
            for k in range(i % 4)
        ]
        background = (BLACK, Background("uniform", (90, 90, 90)), Background("noise", (120, 120, 120), 20.0, i))[i % 3]
        scenes.append(
            _scene(
                names[i % len(names)],
                0.3 + 0.4 * (i % 5) / 4,
                0.5,
                17.0 * i,
                0.3,
                background=background,
                distractors=sprites,
            )
        )
    batch = render_batch(scenes, canvas=48)
    assert batch.shape == (len(scenes), 48, 48, 3) and batch.dtype == np.uint8
    for image, scene in zip(batch, scenes):
        assert np.array_equal(image, render(scene, canvas=48))
    assert render_batch([], canvas=48).shape == (0, 48, 48, 3)
