"""Report figures: three PNGs written atomically, a map whose colours follow the accuracies."""

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from elsewhere.evaluation.report import (
    CURVES_FILE,
    MAP_FILE,
    SUMMARY_FILE,
    curves_figure,
    figure_image,
    format_estimate,
    interval_errors,
    map_figure,
    summary_figure,
    write_report,
)

GRID = {"n": 4, "lo": 0.1, "hi": 0.9}
MISSING_CELL = (3, 3)  # (row, col): bottom-right of the canvas


def estimate(value, ci=None, n=40, **extra):
    return {"value": value, "ci": ci, "n": n, **extra}


def curve(factor, edges, accuracy):
    accuracy = list(accuracy)
    return {
        "factor": factor,
        "lo": list(edges[:-1]),
        "hi": list(edges[1:]),
        "accuracy": accuracy,
        "ci": [None if a is None else [max(a - 0.1, 0), min(a + 0.1, 1)] for a in accuracy],
        "n": [10] * len(accuracy),
    }


def halves_map():
    """Accuracy 1 in the left two columns, 0 in the right two, one cell without items."""
    accuracy = np.where(np.arange(GRID["n"]) < GRID["n"] // 2, 1.0, 0.0)[None, :].repeat(GRID["n"], 0)
    cells = accuracy.astype(object)
    cells[MISSING_CELL] = None
    return {
        "grid": GRID,
        "accuracy": cells.ravel().tolist(),
        "ci": [None if a is None else [a, a] for a in cells.ravel()],
        "n": [3] * GRID["n"] ** 2,
    }


def make_results(**metrics):
    base = {
        "chance": 0.25,
        "ood_accuracy": estimate(0.5, [0.35, 0.65]),
        "id_accuracy": estimate(0.9, [0.78, 0.96]),
        "gap": estimate(0.4, [0.2, 0.55], n=80),
        "normalised_gap": estimate(0.62, [0.3, 0.8], n=80),
        "consistency": estimate(0.7, [0.6, 0.8], n=120, groups=4, sweep="location"),
        "consistency_correct": estimate(0.4, [0.3, 0.5], n=120, groups=4, sweep="location"),
        "flip_rate": estimate(0.1, [0.05, 0.2], n=8, groups=4, sweep="location"),
        "location_map": halves_map(),
        "distance_curve": curve("distance", [0, 0, 0.1, 0.2], [1.0, 0.6, 0.2]),
        "rotation_curve": curve("rotation", [-180, -60, 60, 180], [0.3, 0.9, None]),
        "scale_curve": None,
        "omitted": {"scale_curve": "scale does not vary among the evaluated items"},
    }
    return {"protocol": {"name": "demo", "version": 2}, "model": {"name": "tiny-cnn"}, "metrics": {**base, **metrics}}


def map_layout(results):
    """The map figure laid out once, as it was when written (each draw may nudge the layout)."""
    figure = map_figure(results)
    FigureCanvasAgg(figure).draw()
    return figure


def map_pixel(figure, png: np.ndarray, x: float, y: float) -> np.ndarray:
    """The PNG's RGB at canvas point (x, y) of the figure's first axes (the map)."""
    assert png.shape[:2] == figure.canvas.get_width_height()[::-1]
    px, py = figure.axes[0].transData.transform((x, y))
    return png[int(png.shape[0] - py), int(px), :3].astype(int)


def test_three_pngs_written_in_order(tmp_path):
    out = tmp_path / "new" / "folder"
    paths = write_report(make_results(), out)
    assert paths == [out / MAP_FILE, out / CURVES_FILE, out / SUMMARY_FILE]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)  # no temp files left
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG"
            width, height = image.size
            assert 400 <= width <= 3000 and 300 <= height <= 2000
            assert len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 20


def test_summary_shows_a_protocols_further_test_splits():
    accuracy = {split: estimate(0.5, [0.4, 0.6]) for split in ("test_id", "test_ood", "probe")}
    plain = make_results(accuracy=accuracy)
    moved = make_results(accuracy={**accuracy, "test_moved": estimate(0.625, [0.5, 0.7], n=32)})

    def text(results) -> str:
        return " ".join(t.get_text() for axes in summary_figure(results).axes for t in axes.texts)

    assert "test_moved" not in text(plain)
    assert "test_moved accuracy:\n    0.625 [0.500, 0.700] (n=32)" in text(moved)


def test_map_colours_follow_accuracy(tmp_path):
    results = make_results()
    path = write_report(results, tmp_path)[0]
    png = np.asarray(Image.open(path).convert("RGB"))
    figure = map_layout(results)
    n, lo, hi = GRID["n"], GRID["lo"], GRID["hi"]
    side = (hi - lo) / n
    # Off the cell centre, where the accuracy is printed.
    point = lambda row, col: (lo + (col + 0.2) * side, lo + (row + 0.2) * side)
    left = [map_pixel(figure, png, *point(row, col)) for row in range(n) for col in range(n // 2)]
    right = [
        map_pixel(figure, png, *point(row, col))
        for row in range(n)
        for col in range(n // 2, n)
        if (row, col) != MISSING_CELL
    ]
    assert all((p == left[0]).all() for p in left)
    assert all((p == right[0]).all() for p in right)
    assert np.abs(left[0] - right[0]).sum() > 150
    missing = map_pixel(figure, png, *point(*MISSING_CELL))
    assert missing[0] == missing[1] == missing[2], "a cell without items is drawn grey"
    assert not (missing == left[0]).all() and not (missing == right[0]).all()


def test_row_zero_is_drawn_at_the_top(tmp_path):
    accuracy = [1.0] * 4 + [0.0] * 12  # only the top row (small y) is right
    results = make_results(location_map={"grid": GRID, "accuracy": accuracy, "ci": [None] * 16, "n": [1] * 16})
    png = np.asarray(Image.open(write_report(results, tmp_path)[0]).convert("RGB"))
    figure = map_layout(results)
    axes = figure.axes[0]
    top_of_image = axes.transData.transform((0.3, 0.15))[1] > axes.transData.transform((0.3, 0.85))[1]
    assert top_of_image, "small y (canvas top) is drawn at the top"
    # The colour scale is sequential, light for accuracy 1 and dark for 0.
    assert map_pixel(figure, png, 0.12, 0.12).sum() > map_pixel(figure, png, 0.12, 0.88).sum() + 150


@pytest.mark.parametrize(
    "missing",
    [
        {
            "location_map": None,
            "distance_curve": None,
            "rotation_curve": None,
            "omitted": {"location_map": "no probe split", "distance_curve": "no probe split"},
        },
        {
            "normalised_gap": estimate(None, None, reason="ID accuracy is not above chance"),
            "consistency": None,
            "flip_rate": estimate(None, None, n=0, reason="no sequences"),
        },
    ],
)
def test_sections_that_do_not_apply_still_give_three_figures(tmp_path, missing):
    paths = write_report(make_results(**missing), tmp_path)
    assert [p.name for p in paths] == [MAP_FILE, CURVES_FILE, SUMMARY_FILE]
    assert all(Image.open(p).size[0] >= 400 for p in paths)


def test_curves_figure_has_a_panel_per_available_curve():
    two = curves_figure(make_results())
    three = curves_figure(make_results(scale_curve=curve("scale", [0.1, 0.2, 0.3], [0.5, 0.4])))
    assert [len(f.axes) for f in (two, three)] == [2, 3]
    assert two.bbox.width < three.bbox.width
    assert [a.get_xlabel().split()[0] for a in three.axes] == ["distance", "rotation", "scale"]


def test_stacked_curves_put_one_panel_under_another():
    three = curves_figure(make_results(scale_curve=curve("scale", [0.1, 0.2, 0.3], [0.5, 0.4])), stacked=True)
    lefts = {round(a.get_position().x0, 3) for a in three.axes}
    tops = [a.get_position().y1 for a in three.axes]
    assert len(three.axes) == 3 and len(lefts) == 1 and tops == sorted(tops, reverse=True)


def test_figure_image_is_the_png_the_report_writes(tmp_path):
    """The app shows figure_image(map_figure(...)); it is the same picture as the report's PNG."""
    results = make_results()
    image = figure_image(map_figure(results))
    written = np.asarray(Image.open(write_report(results, tmp_path)[0]).convert("RGB"))
    assert image.mode == "RGB" and np.array_equal(np.asarray(image), written)


@pytest.mark.parametrize("results", [{}, {"protocol": {"name": "demo"}}, {"metrics": None}, []])
def test_results_without_metrics_are_refused(tmp_path, results):
    with pytest.raises(ValueError, match="metrics") as error:
        write_report(results, tmp_path / "out")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_estimates_are_formatted_with_interval_or_reason():
    assert format_estimate(estimate(0.5, [0.25, 0.75], n=10)) == "0.500 [0.250, 0.750] (n=10)"
    assert format_estimate(estimate(-0.0625, [-0.2, 0.1], n=64), digits=2) == "-0.06 [-0.20, 0.10] (n=64)"
    assert format_estimate(estimate(None, None, reason="below chance")) == "none (below chance)"
    assert (
        format_estimate(estimate(1.07, None, n=64, reason="no bootstrap interval"))
        == "1.070 (n=64); no bootstrap interval"
    )
    assert format_estimate(None, "no probe split") == "not measured (no probe split)"


def test_interval_errors_are_distances_to_the_bounds():
    errors = interval_errors(np.array([0.5, 0.2, np.nan]), [[0.25, 0.9], None, None])
    np.testing.assert_allclose(errors[:, 0], [0.25, 0.4])
    assert np.isnan(errors[:, 1:]).all()


@pytest.mark.slow
def test_report_of_a_real_scored_dataset(tiny_dataset, tmp_path):
    """location-halves scored with predictions right exactly where x < 0.5: left bright, right dark."""
    from elsewhere.evaluation.data import load_truth
    from elsewhere.evaluation.predictions import make_predictions
    from elsewhere.evaluation.scoring import score_predictions

    truth = load_truth(tiny_dataset, "location-halves")
    frame = truth.frame
    prediction = np.where(frame["x"] < 0.5, frame["label"], (frame["label"] + 1) % len(truth.class_names))
    results = score_predictions(
        truth,
        make_predictions(frame["id"], prediction),
        model={"name": "left-oracle", "parameters": None, "source": "test"},
        source="test",
    )
    paths = write_report(results, tmp_path)
    assert [p.name for p in paths] == [MAP_FILE, CURVES_FILE, SUMMARY_FILE]
    grid = truth.grid
    probe = frame[frame["split"] == "probe"]
    column = probe["cell"] % grid.n
    assert (probe["x"][column == 0] < 0.5).all() and (probe["x"][column == grid.n - 1] > 0.5).all()
    png = np.asarray(Image.open(paths[0]).convert("RGB"))
    figure = map_layout(results)
    side = (grid.hi - grid.lo) / grid.n
    # Top row, first and last column, off the number printed at the cell centre.
    left = map_pixel(figure, png, grid.lo + 0.2 * side, grid.lo + 0.2 * side)
    right = map_pixel(figure, png, grid.hi - 0.8 * side, grid.lo + 0.2 * side)
    assert np.abs(left - right).sum() > 150
