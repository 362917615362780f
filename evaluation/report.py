"""Report figures of one results file: where on the canvas a model fails, and how fast it degrades.

Three PNGs: ``location_map.png`` (accuracy per cell of the protocol's location grid, drawn in
canvas coordinates: x right, y down, origin top-left), ``curves.png`` (accuracy against distance
from the training region, rotation and scale, each bin with its 95% interval, chance dashed) and
``summary.png`` (the headline estimates with their intervals beside small copies of both).
Figures are built with matplotlib's object API (``Figure`` and the Agg canvas), so drawing needs
no display and leaves pyplot's global state alone. The leaderboard's Model tab shows the same
figures (:func:`map_figure`, :func:`curves_figure` through :func:`figure_image`), so a map reads
the same in a report folder and on the board.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.metrics import further_splits
from elsewhere.files import atomic_path

MAP_FILE, CURVES_FILE, SUMMARY_FILE = "location_map.png", "curves.png", "summary.png"
DPI = 100
# Cells with a number printed in them stay legible up to 10 × 10.
ANNOTATE_UP_TO = 10
MISSING_GREY = "0.7"
ACCURACY_CMAP = colormaps["viridis"].with_extremes(bad=MISSING_GREY)
CURVES = (
    ("distance_curve", "distance from the training region (fraction of canvas side)"),
    ("rotation_curve", "rotation (degrees, counter-clockwise)"),
    ("scale_curve", "scale (object size / canvas side)"),
)
SUMMARY_ROWS = (
    ("id_accuracy", "in-distribution accuracy"),
    ("gap", "gap (ID − OOD)"),
    ("normalised_gap", "normalised gap (ID − OOD) / (ID − chance)"),
    ("consistency", "consistency (same object, two places)"),
    ("consistency_correct", "consistency among correct"),
    ("flip_rate", "flip rate along probe sweeps"),
)


def write_report(results: dict, out: str | Path) -> list[Path]:
    """Write the map, curves and summary PNGs of ``results`` into folder ``out``; return their paths.

    Raises:
        ValueError: if ``results`` has no ``metrics`` section.
    """
    if not isinstance(results, dict) or not isinstance(results.get("metrics"), dict):
        raise ElsewhereError(
            "results have no 'metrics' section; give a results JSON written by elsewhere score, evaluate or train"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = {
        MAP_FILE: map_figure(results),
        CURVES_FILE: curves_figure(results),
        SUMMARY_FILE: summary_figure(results),
    }
    return [_save(figure, out / name) for name, figure in figures.items()]


def map_figure(results: dict) -> Figure:
    """The accuracy map alone, with a colour bar; a note instead where there is no map."""
    figure = Figure(figsize=(7, 6), dpi=DPI, layout="constrained")
    draw_map_panel(figure.add_subplot(), results["metrics"], annotate=True)
    figure.suptitle(_title(results))
    return figure


def curves_figure(results: dict, *, stacked: bool = False) -> Figure:
    """One panel per available curve (distance, rotation, scale), side by side or ``stacked``; a note if none."""
    metrics = results["metrics"]
    present = [(key, label) for key, label in CURVES if metrics.get(key) is not None]
    panels = max(len(present), 1)
    size = (6, 0.6 + 3.6 * panels) if stacked else (5 * panels, 4.2)
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    if present:
        grid = figure.subplots(len(present), 1) if stacked else figure.subplots(1, len(present))
        for axes, (key, label) in zip(np.atleast_1d(grid), present):
            _draw_curve(axes, metrics[key], metrics["chance"], label)
    else:
        reasons = [f"{key.split('_')[0]}: {_reason(metrics, key) or 'not measured'}" for key, _ in CURVES]
        _note(figure.add_subplot(), "no accuracy curves", *reasons)
    figure.suptitle(_title(results))
    return figure


def summary_figure(results: dict) -> Figure:
    """One screen: protocol, model, the headline estimates, a small map and the first curve."""
    metrics = results["metrics"]
    figure = Figure(figsize=(13, 7), dpi=DPI, layout="constrained")
    grid = figure.add_gridspec(2, 2, width_ratios=(1, 1.15))
    text = figure.add_subplot(grid[:, 0])
    text.set_axis_off()
    text.text(0, 1, _title(results), fontsize=15, weight="bold", va="top", transform=text.transAxes)
    text.text(0, 0.9, "out-of-location accuracy (test_ood)", fontsize=12, va="top", transform=text.transAxes)
    text.text(
        0,
        0.84,
        format_estimate(metrics["ood_accuracy"]),
        fontsize=20,
        weight="bold",
        va="top",
        transform=text.transAxes,
    )
    lines = [f"{label}:\n    {format_estimate(metrics.get(key), _reason(metrics, key))}" for key, label in SUMMARY_ROWS]
    lines += [
        f"{split} accuracy:\n    {format_estimate(metrics['accuracy'][split])}" for split in further_splits(metrics)
    ]
    lines.append(f"chance: {metrics['chance']:.3f}")
    text.text(
        0, 0.7, "\n".join(lines), fontsize=10.5, va="top", linespacing=1.5, transform=text.transAxes, family="monospace"
    )
    draw_map_panel(figure.add_subplot(grid[0, 1]), metrics, annotate=False)
    curve = figure.add_subplot(grid[1, 1])
    first = next(((key, label) for key, label in CURVES if metrics.get(key) is not None), None)
    if first is None:
        _note(curve, "no accuracy curves")
    else:
        _draw_curve(curve, metrics[first[0]], metrics["chance"], first[1])
    return figure


def format_estimate(estimate: dict | None, reason: str = "", digits: int = 3) -> str:
    """``value [lo, hi] (n=…)``, or why there is no value or no interval."""
    if estimate is None:
        return _wrapped(f"not measured ({reason})" if reason else "not measured")
    value, ci, n = estimate["value"], estimate.get("ci"), estimate.get("n")
    why = estimate.get("reason", "")
    if value is None:
        return _wrapped(f"none ({why})" if why else "none")
    count = f" (n={n})" if n is not None else ""
    if ci is None:
        return _wrapped(f"{value:.{digits}f}{count}; {why or 'no interval'}")
    return f"{value:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]{count}"


def interval_errors(values: np.ndarray, ci: list) -> np.ndarray:
    """Error-bar lengths (2, k) below and above each value from its interval (NaN where missing)."""
    bounds = np.array([[np.nan, np.nan] if c is None else c for c in ci], dtype=float).reshape(-1, 2)
    return np.clip(np.stack([values - bounds[:, 0], bounds[:, 1] - values]), 0, None)


def figure_image(figure: Figure) -> Image.Image:
    """``figure`` rendered as an RGB image (for an app that shows images rather than files)."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def draw_map_panel(axes: Axes, metrics: dict, *, annotate: bool) -> None:
    """The accuracy map of ``metrics`` on ``axes`` (a note where the protocol has none)."""
    if metrics.get("location_map") is None:
        _note(axes, "no location map", _reason(metrics, "location_map"))
    else:
        _draw_map(axes, metrics["location_map"], annotate=annotate)


def _draw_map(axes: Axes, location_map: dict, *, annotate: bool) -> None:
    grid = location_map["grid"]
    n, lo, hi = grid["n"], grid["lo"], grid["hi"]
    values = _floats(location_map["accuracy"]).reshape(n, n)
    image = axes.imshow(
        np.ma.masked_invalid(values),
        cmap=ACCURACY_CMAP,
        vmin=0,
        vmax=1,
        origin="upper",
        extent=(lo, hi, hi, lo),
        interpolation="nearest",
    )
    axes.set_xlabel("x (canvas, left → right)")
    axes.set_ylabel("y (canvas, top → bottom)")
    missing = int(np.isnan(values).sum())
    axes.set_title(
        "accuracy per location cell" + (f"  (grey: no items, {missing} of {n * n})" if missing else ""), fontsize=10
    )
    axes.figure.colorbar(image, ax=axes, label="accuracy", shrink=0.9)
    if annotate and n <= ANNOTATE_UP_TO:
        centres = lo + (np.arange(n) + 0.5) * (hi - lo) / n
        for (row, col), value in np.ndenumerate(values):
            text = "–" if np.isnan(value) else f"{value:.2f}"
            # viridis is dark below about 0.6: white text there, black above.
            colour = "black" if np.isnan(value) or value > 0.6 else "white"
            axes.text(centres[col], centres[row], text, ha="center", va="center", color=colour, fontsize=max(8, 20 - n))


def _draw_curve(axes: Axes, curve: dict, chance: float, label: str) -> None:
    lo, hi = np.asarray(curve["lo"], dtype=float), np.asarray(curve["hi"], dtype=float)
    centres, accuracy = (lo + hi) / 2, _floats(curve["accuracy"])
    axes.errorbar(
        centres,
        accuracy,
        yerr=interval_errors(accuracy, curve["ci"]),
        fmt="o-",
        capsize=3,
        markersize=4,
        label="accuracy, 95% interval",
    )
    axes.axhline(chance, color="grey", linestyle="--", linewidth=1, label=f"chance {chance:.2f}")
    axes.set_xlabel(label)
    axes.set_ylabel("accuracy")
    axes.set_ylim(-0.02, 1.02)
    axes.set_title(f"accuracy against {curve['factor']}", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="best")


def _note(axes: Axes, headline: str, *details: str) -> None:
    axes.set_axis_off()
    lines = [headline, *(textwrap.fill(d, 45) for d in details if d)]
    axes.text(0.5, 0.5, "\n".join(lines), ha="center", va="center", fontsize=12, transform=axes.transAxes)


def _title(results: dict) -> str:
    protocol, model = results.get("protocol") or {}, results.get("model") or {}
    return (
        f"{protocol.get('name', 'unknown protocol')} v{protocol.get('version', '?')} — "
        f"model {model.get('name', 'unknown')}"
    )


def _reason(metrics: dict, key: str) -> str:
    return (metrics.get("omitted") or {}).get(key, "")


def _floats(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _wrapped(text: str, width: int = 60) -> str:
    return "\n    ".join(textwrap.wrap(text, width))


def _save(figure: Figure, path: Path) -> Path:
    with atomic_path(path) as temporary:
        FigureCanvasAgg(figure).print_png(temporary)
    return path
