"""The public leaderboard: a thin Gradio 6 app over the store, the derived tables and the submission pipeline.

Four tabs: **Leaderboard** (a protocol or the whole suite, ranked, with filters, search and a
column chooser; :mod:`leaderboard.table` derives every table), **Model** (an entry's location
heatmap, curves and metrics, and a side-by-side comparison of two entries with the paired test of
:func:`evaluation.compare.compare_results`), **Submit** (a predictions file scored and stored by
:func:`leaderboard.submissions.submit`) and **About** (the protocols with example images, and the
rules). ``/table`` and ``/submit`` are named API endpoints for ``gradio_client``.

User text is never markup here: tables show it as plain text cells, Markdown gets it escaped
(:func:`markdown_text`), error messages (which gradio renders as HTML) get it HTML-escaped.
Settings (upload cap, rate limit) are read when a request needs them.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.compare import compare_results
from elsewhere.leaderboard import settings
from elsewhere.leaderboard.about import protocol_pages, rules
from elsewhere.leaderboard.store import Store, Submission
from elsewhere.leaderboard.submissions import FAMILIES, Truths, submit
from elsewhere.leaderboard.table import (
    COLUMNS,
    PROTOCOL,
    SUITE,
    Filters,
    datatypes,
    display,
    optional_columns,
    protocol_table,
    suite_table,
)

TITLE = "elsewhere leaderboard"
TAGLINE = "Can your network recognise it elsewhere?"
VERIFIED_CHOICES = ("all", "verified only", "unverified only")
# The parameter-range filter's bounds, on a log scale ("any": no bound).
PARAMETER_BOUNDS = {
    "any": None,
    "1k": 10**3,
    "10k": 10**4,
    "100k": 10**5,
    "1M": 10**6,
    "10M": 10**7,
    "100M": 10**8,
    "1B": 10**9,
    "10B": 10**10,
}
UPLOAD_TYPES = [".csv", ".parquet", ".jsonl", ".json"]
ENTRY_CHOICES_LIMIT = 1000
SUBMIT_CONCURRENCY = 2
DEFAULT_CONCURRENCY = 8
# Metrics of the Model tab, in order: results.metrics key and the label shown.
METRIC_ROWS = (
    ("ood_accuracy", "OOD accuracy (test_ood)"),
    ("id_accuracy", "ID accuracy (test_id)"),
    ("gap", "ID − OOD gap"),
    ("normalised_gap", "Normalised gap"),
    ("consistency", "Consistency"),
    ("consistency_correct", "Consistency among correct"),
    ("flip_rate", "Flip rate"),
)
_PARAMETERS = re.compile(r"(?:(\d+(?:\.\d+)?)\s*([kmbKMB]?))?")
_MULTIPLIERS = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
CSS = """
.elsewhere-note {font-size: 0.9em; opacity: 0.85}
"""


def markdown_text(text: object) -> str:
    """``text`` safe inside Markdown: HTML-escaped, Markdown punctuation backslash-escaped, one line."""
    flat = " ".join(str(text).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(flat, quote=False))


def error_text(error: BaseException) -> str:
    """One line for a ``gr.Error`` (whose message gradio renders as HTML)."""
    return html.escape(" ".join(str(error).split()) or type(error).__name__, quote=False)


def build_app(store: Store, truths: Truths, data: str | Path) -> gr.Blocks:
    """The leaderboard app over ``store``, scoring against ``truths``, with About images from ``data``."""
    protocols = truths.protocols
    variant = truths.variant
    view_choices = [("Whole suite (mean over protocols)", SUITE)] + [(name, name) for name in protocols]
    default_view = protocols[0]

    def table_rows(
        view: str,
        search: str,
        families: list[str],
        verified: str,
        min_parameters: str,
        max_parameters: str,
        columns: list[str],
    ) -> gr.Dataframe:
        """The Leaderboard tab's table: rows, datatypes and label (a count) for the chosen view."""
        try:
            frame, types, label = leaderboard_view(
                store,
                protocols,
                variant,
                view,
                search=search,
                families=families,
                verified=verified,
                min_parameters=min_parameters,
                max_parameters=max_parameters,
                columns=columns or [],
            )
        except (ElsewhereError, OSError) as error:
            raise gr.Error(error_text(error), print_exception=False) from None
        return gr.Dataframe(value=frame, datatype=types, label=label)

    def table_api(
        view: str = default_view,
        search: str = "",
        families: list[str] | None = None,
        verified: str = "all",
        min_parameters: str = "any",
        max_parameters: str = "any",
        columns: list[str] | None = None,
    ) -> dict:
        """The ranked table as JSON: {"label", "headers", "data"} (rows as lists, best first).

        view: a protocol name or "suite"; families: model families to keep (empty: all); verified: "all",
        "verified only" or "unverified only"; min/max_parameters: "any", "1k", "10k", ..., "10B";
        columns: keys of optional columns to show (None: the defaults; see leaderboard.table.COLUMNS).
        """
        try:
            frame, _, label = leaderboard_view(
                store,
                protocols,
                variant,
                view,
                search=search,
                families=families or (),
                verified=verified,
                min_parameters=min_parameters,
                max_parameters=max_parameters,
                columns=columns,
            )
        except (ElsewhereError, OSError) as error:
            raise gr.Error(error_text(error), print_exception=False) from None
        return {"label": label, "headers": list(frame.columns), "data": frame.to_numpy(dtype=object).tolist()}

    def entry_choices(view: str) -> list[tuple[str, int]]:
        frames = [protocol_table(store, name, variant=variant) for name in (protocols if view == SUITE else [view])]
        board = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        return [
            _entry_choice(row.id, row.model_name, row.protocol, row.ood_accuracy, row.submitter)
            for row in board.head(ENTRY_CHOICES_LIMIT).itertuples()
        ]

    def refresh_entries(view: str, a: int | None, b: int | None):
        choices = entry_choices(view if view in protocols or view == SUITE else default_view)
        ids = {value for _, value in choices}
        return (
            gr.Dropdown(choices=choices, value=a if a in ids else None),
            gr.Dropdown(choices=choices, value=b if b in ids else None),
        )

    def model_page(a: int | None, b: int | None):
        """Both entries' summaries, heatmaps and curves, their metrics side by side, and the paired test."""
        entries = [_entry(store, value, variant) for value in (a, b)]
        panes = []
        for entry in entries:
            if entry is None:
                panes += ["*Pick an entry.*", None, None]
            else:
                panes += [_summary(entry), location_heatmap(entry.results), curves_figure(entry.results)]
        metrics = _metrics_side_by_side(entries)
        return (*panes, metrics, _comparison(*entries))

    def open_row(view: str, table: pd.DataFrame, evt: gr.SelectData):
        """Clicking a row of a protocol's table opens its entry on the Model tab."""
        if table is None or "Entry" not in table.columns or evt.index is None:
            return gr.Tabs(), gr.Dropdown()
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        try:
            entry = _entry(store, table["Entry"].iloc[int(row)], variant)
        except (gr.Error, TypeError, IndexError):
            entry = None
        if entry is None:
            return gr.Tabs(), gr.Dropdown()
        choices = entry_choices(view if view in protocols else entry.protocol)
        if entry.id not in {value for _, value in choices}:
            choices.append(
                _entry_choice(entry.id, entry.model_name, entry.protocol, entry.ood_accuracy, entry.submitter)
            )
        return gr.Tabs(selected="model"), gr.Dropdown(choices=choices, value=entry.id)

    def submit_file(
        file: str | None,
        protocol: str,
        model_name: str,
        submitter: str,
        link: str,
        notes: str,
        parameters: str,
        family: str,
        request: gr.Request,
    ):
        """Validate, score and store an uploaded predictions file; show its row."""
        try:
            if not file:
                raise ElsewhereError("no predictions file uploaded; choose a CSV, Parquet or JSON lines file")
            # Behind gradio's auth the login names the submitter, so the rate limit cannot be dodged by renaming.
            who = getattr(request, "username", None) or submitter
            entry = submit(
                store,
                truths,
                protocol=protocol,
                predictions_path=file,
                model_name=model_name or "",
                submitter=who or "",
                link=link,
                notes=notes,
                parameters=parameter_count(parameters),
                family=family or "other",
                variant=variant,
            )
        except (ElsewhereError, OSError) as error:
            raise gr.Error(error_text(error), duration=None, print_exception=False) from None
        board = protocol_table(store, entry.protocol, variant=variant)
        row = board[board["id"] == entry.id]
        rank = row["rank"].iloc[0] if len(row) else None
        ci = entry.ood_ci
        interval = f" (95% CI {100 * ci[0]:.1f}–{100 * ci[1]:.1f})" if ci else ""
        status = (
            f"**Stored as entry #{entry.id}**: {markdown_text(entry.model_name)} on `{entry.protocol}`, "
            f"OOD accuracy {100 * entry.ood_accuracy:.1f}%{interval}, rank {rank} of {len(board)}."
        )
        return status, display(row, PROTOCOL, protocols=protocols)

    optional = optional_columns(PROTOCOL)
    suite_only = [c for c in optional_columns(SUITE) if c.key not in {o.key for o in optional}]
    column_choices = [(c.label, c.key) for c in (*optional, *suite_only)]
    column_defaults = [c.key for c in (*optional, *suite_only) if c.default]
    families = sorted(set(FAMILIES) | set(store.table(variant=variant)["family"].dropna().unique()))
    initial, initial_types, initial_label = leaderboard_view(store, protocols, variant, default_view)
    initial_entries = entry_choices(default_view)

    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(
            f"# {TITLE}\n*{TAGLINE}* Vision models trained on objects seen only at some locations "
            "(rotations, scales) of the canvas, ranked by their accuracy where they never saw them. "
            f"Scoring the **{variant}** variant of the dataset."
        )
        with gr.Tabs() as tabs:
            with gr.Tab("Leaderboard", id="leaderboard"):
                with gr.Row():
                    view = gr.Dropdown(view_choices, value=default_view, label="Protocol", scale=2)
                    search = gr.Textbox(
                        "", label="Search model or submitter", placeholder="press Enter to search", scale=2
                    )
                    refresh = gr.Button("Refresh", scale=0)
                with gr.Accordion("Filters and columns", open=False):
                    with gr.Row():
                        family_filter = gr.CheckboxGroup(families, label="Model family (none ticked: all)")
                        verified_filter = gr.Radio(list(VERIFIED_CHOICES), value="all", label="Verified")
                        min_parameters = gr.Dropdown(list(PARAMETER_BOUNDS), value="any", label="Parameters from")
                        max_parameters = gr.Dropdown(list(PARAMETER_BOUNDS), value="any", label="Parameters up to")
                    columns = gr.CheckboxGroup(column_choices, value=column_defaults, label="Columns")
                table = gr.Dataframe(
                    value=initial,
                    datatype=initial_types,
                    label=initial_label,
                    interactive=False,
                    max_height=640,
                    pinned_columns=3,
                    wrap=False,
                    buttons=["copy", "fullscreen"],
                    elem_id="leaderboard-table",
                )
                gr.Markdown(
                    "OOD accuracy: accuracy on locations never seen in training, with its 95% interval. "
                    "**leader**: the best entry; **tie**: its interval overlaps the leader's. "
                    "In the whole-suite view only models with an entry on every protocol are ranked; the others "
                    "follow, unranked, with their coverage. Click an entry to see its maps and curves. "
                    "How ranking works: see About.",
                    elem_classes="elsewhere-note",
                )
            with gr.Tab("Model", id="model"):
                with gr.Row():
                    # Custom values: an API client may name any entry id, listed or not.
                    entry_a = gr.Dropdown(initial_entries, value=None, label="Entry", scale=1, allow_custom_value=True)
                    entry_b = gr.Dropdown(
                        initial_entries, value=None, label="Compare with", scale=1, allow_custom_value=True
                    )
                comparison = gr.Markdown("*Pick an entry; pick a second one to compare them on the same items.*")
                with gr.Row(equal_height=False):
                    with gr.Column():
                        summary_a = gr.Markdown()
                        heatmap_a = gr.Image(label="Accuracy by location", type="pil", format="png", interactive=False)
                        curves_a = gr.Image(label="Accuracy curves", type="pil", format="png", interactive=False)
                    with gr.Column():
                        summary_b = gr.Markdown()
                        heatmap_b = gr.Image(label="Accuracy by location", type="pil", format="png", interactive=False)
                        curves_b = gr.Image(label="Accuracy curves", type="pil", format="png", interactive=False)
                metrics = gr.Dataframe(label="All metrics (95% intervals)", interactive=False, wrap=True)
            with gr.Tab("Submit", id="submit"):
                gr.Markdown(
                    "Upload predictions for every evaluated item of one protocol: a CSV, Parquet or JSON lines "
                    "file with columns `id`, `prediction` and optionally `probabilities`. The leaderboard scores "
                    "it against the labels it holds. See About for the rules."
                )
                with gr.Row():
                    with gr.Column():
                        upload = gr.File(
                            label="Predictions file",
                            file_types=UPLOAD_TYPES,
                            type="filepath",
                            elem_id="predictions-file",
                        )
                        submit_protocol = gr.Dropdown(list(protocols), value=default_view, label="Protocol")
                    with gr.Column():
                        model_name = gr.Textbox(label="Model name", max_length=200, elem_id="model-name")
                        submitter = gr.Textbox(
                            label="Submitter (your name or team)", max_length=200, elem_id="submitter"
                        )
                        family = gr.Dropdown(
                            list(FAMILIES), value="other", label="Model family", allow_custom_value=True
                        )
                        parameters = gr.Textbox(
                            "", label="Parameters (optional), e.g. 120000, 350k, 1.2M", max_length=20
                        )
                        link = gr.Textbox(label="Link to paper or code (optional)", max_length=200)
                        notes = gr.Textbox(label="Notes: training data, method (optional)", lines=3, max_length=2000)
                submit_button = gr.Button("Submit", variant="primary", elem_id="submit-button")
                status = gr.Markdown(elem_id="submit-status")
                new_row = gr.Dataframe(
                    label="Your entry", datatype=datatypes(PROTOCOL), interactive=False, wrap=True, elem_id="submit-row"
                )
            with gr.Tab("About", id="about"):
                gr.Markdown(rules(variant, protocols, settings.max_upload_bytes(), settings.rate_limit_per_day()))
                gr.Markdown("## The protocols")
                for number, page in enumerate(protocol_pages(data, protocols)):
                    with gr.Accordion(f"{page.title} ({page.name})", open=number == 0):
                        gr.Markdown(page.text)
                        with gr.Row():
                            for example in page.examples:
                                if example.path is None:
                                    gr.Markdown(f"*{example.caption}: {example.missing}*")
                                else:
                                    gr.Image(
                                        str(example.path),
                                        label=example.caption,
                                        interactive=False,
                                        buttons=[],
                                        height=300,
                                    )

        table_inputs = [view, search, family_filter, verified_filter, min_parameters, max_parameters, columns]
        gr.on(
            [
                view.change,
                search.submit,
                family_filter.change,
                verified_filter.change,
                min_parameters.change,
                max_parameters.change,
                columns.change,
                refresh.click,
                demo.load,
            ],
            table_rows,
            inputs=table_inputs,
            outputs=table,
            api_name=False,
            show_progress="minimal",
        )
        gr.api(table_api, api_name="table")
        gr.on(
            [view.change, refresh.click, demo.load],
            refresh_entries,
            inputs=[view, entry_a, entry_b],
            outputs=[entry_a, entry_b],
            api_name=False,
        )
        gr.on(
            [entry_a.change, entry_b.change],
            model_page,
            inputs=[entry_a, entry_b],
            outputs=[summary_a, heatmap_a, curves_a, summary_b, heatmap_b, curves_b, metrics, comparison],
            api_name="model",
        )
        table.select(open_row, inputs=[view, table], outputs=[tabs, entry_a], api_name=False)
        submit_button.click(
            submit_file,
            inputs=[upload, submit_protocol, model_name, submitter, link, notes, parameters, family],
            outputs=[status, new_row],
            api_name="submit",
            concurrency_limit=SUBMIT_CONCURRENCY,
        ).success(table_rows, inputs=table_inputs, outputs=table, api_name=False).success(
            refresh_entries, inputs=[view, entry_a, entry_b], outputs=[entry_a, entry_b], api_name=False
        )
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY)
    return demo


def launch(
    db: str | Path | None,
    data: str | Path,
    host: str = "127.0.0.1",
    port: int = 7860,
    labels: str | Path | None = None,
    *,
    auth: Sequence[tuple[str, str]] | None = None,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
) -> gr.Blocks:
    """``elsewhere leaderboard``: open the store, load the dataset's manifest, and serve the app.

    Args:
        db: the SQLite store (None: the ``ELSEWHERE_DB`` setting).
        data: the dataset folder or Hub repo id whose labels the leaderboard scores against.
        labels: the private variant's labels file (``elsewhere generate --private --labels``).
        auth: (user, password) pairs; with them the login names the submitter for the rate limit.
        prevent_thread_lock: return once the server runs (tests); otherwise block until stopped.
    """
    store = Store(db if db is not None else settings.database_path())
    truths = Truths(data, labels)
    demo = build_app(store, truths, data)
    demo.launch(
        server_name=host,
        server_port=port,
        max_file_size=settings.max_upload_bytes(),
        auth=list(auth) if auth else None,
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        ssr_mode=False,
        theme=gr.themes.Soft(),
        css=CSS,
    )
    return demo


def leaderboard_view(
    store: Store,
    protocols: Sequence[str],
    variant: str,
    view: str,
    *,
    search: str = "",
    families: Sequence[str] = (),
    verified: str = "all",
    min_parameters: str = "any",
    max_parameters: str = "any",
    columns: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, list[str], str]:
    """What the Leaderboard tab shows for ``view`` (a protocol or "suite"): rows, gradio datatypes, label.

    ``verified`` is one of :data:`VERIFIED_CHOICES`, the parameter bounds keys of
    :data:`PARAMETER_BOUNDS`; ``columns`` are optional column keys (None: the defaults), and keys
    that belong to the other view only are ignored, since one chooser serves both.
    """
    if verified not in VERIFIED_CHOICES:
        raise ElsewhereError(f"verified {verified!r} is not a choice; choose one of {', '.join(VERIFIED_CHOICES)}")
    filters = Filters(
        families=tuple(families),
        min_parameters=_bound("parameters from", min_parameters),
        max_parameters=_bound("parameters up to", max_parameters),
        verified={"all": None, "verified only": True, "unverified only": False}[verified],
        search=search or "",
    )
    if view == SUITE:
        board, kind = suite_table(store, protocols, variant=variant, filters=filters), SUITE
    elif view in protocols:
        board, kind = protocol_table(store, view, variant=variant, filters=filters), PROTOCOL
    else:
        raise ElsewhereError(f"unknown view {view!r}; choose {SUITE!r} or one of {', '.join(protocols)}")
    if columns is not None:
        unknown = sorted(set(columns) - {c.key for c in COLUMNS})
        if unknown:
            raise ElsewhereError(
                f"unknown columns {unknown}; choose among {', '.join(c.key for c in COLUMNS if not c.required)}"
            )
        columns = [key for key in columns if key in {c.key for c in optional_columns(kind)}]
    frame = display(board, kind, columns=columns, protocols=protocols)
    shown = f"the first {len(frame):,} of {len(board):,}" if len(frame) < len(board) else f"{len(board):,}"
    unit = ("model" if kind == SUITE else "entry") if len(board) == 1 else ("models" if kind == SUITE else "entries")
    label = f"{'Whole suite' if kind == SUITE else view}: {shown} {unit}"
    return frame, datatypes(kind, columns=columns, protocols=protocols), label


def location_heatmap(results: dict) -> Image.Image | None:
    """Accuracy on each cell of the protocol's location grid, as an image (None without a map)."""
    location = (results.get("metrics") or {}).get("location_map")
    if not location:
        return None
    grid = location["grid"]
    n, lo, hi = int(grid["n"]), float(grid["lo"]), float(grid["hi"])
    accuracy = np.array([np.nan if a is None else a for a in location["accuracy"]], dtype=float).reshape(n, n)
    figure = Figure(figsize=(4.2, 3.6), dpi=100)
    axes = figure.add_subplot()
    # Rows run with y, and y points down the canvas: origin="upper" puts row 0 at the top.
    shown = axes.imshow(
        np.ma.masked_invalid(accuracy),
        extent=(lo, hi, hi, lo),
        origin="upper",
        vmin=0,
        vmax=1,
        cmap=colormaps["viridis"].with_extremes(bad="#cccccc"),
        interpolation="nearest",
    )
    axes.set_xlabel("x (object centre)")
    axes.set_ylabel("y (down)")
    axes.set_title("Probe accuracy by location (grey: no items)", fontsize=9)
    figure.colorbar(shown, ax=axes, label="accuracy")
    return _image(figure)


def curves_figure(results: dict) -> Image.Image | None:
    """Accuracy against distance from the training region, rotation and scale, with 95% intervals."""
    metrics = results.get("metrics") or {}
    curves = [(key, metrics.get(key)) for key in ("distance_curve", "rotation_curve", "scale_curve")]
    curves = [(key, curve) for key, curve in curves if curve]
    if not curves:
        return None
    figure = Figure(figsize=(4.6, 0.5 + 2.4 * len(curves)), dpi=100)
    for number, (_, curve) in enumerate(curves, start=1):
        axes = figure.add_subplot(len(curves), 1, number)
        centre = (np.asarray(curve["lo"], float) + np.asarray(curve["hi"], float)) / 2
        accuracy = np.array([np.nan if a is None else a for a in curve["accuracy"]], dtype=float)
        ci = np.array([[np.nan, np.nan] if c is None else c for c in curve["ci"]], dtype=float).reshape(-1, 2)
        axes.fill_between(centre, ci[:, 0], ci[:, 1], alpha=0.25, linewidth=0)
        axes.plot(centre, accuracy, marker="o", markersize=3)
        axes.set_ylim(0, 1.02)
        axes.set_xlabel(
            {
                "distance": "distance from training region",
                "rotation": "rotation (degrees)",
                "scale": "scale (fraction of canvas)",
            }[curve["factor"]]
        )
        axes.set_ylabel("accuracy")
        axes.set_title(f"Accuracy by {curve['factor']} (band: 95% CI)", fontsize=9)
        axes.grid(alpha=0.3)
    figure.tight_layout()
    return _image(figure)


def _image(figure: Figure) -> Image.Image:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def _entry_choice(
    entry_id: int, model_name: str, protocol: str, ood_accuracy: float, submitter: str
) -> tuple[str, int]:
    """An entry as the Model tab's dropdowns list it: (label, id)."""
    return f"#{entry_id} {model_name} · {protocol} · {100 * ood_accuracy:.1f}% ({submitter})", int(entry_id)


def _entry(store: Store, value: object, variant: str) -> Submission | None:
    """The visible entry ``value`` of this leaderboard's variant (hidden ones are the operator's to see)."""
    if value is None or value == "":
        return None
    try:
        entry = store.get(int(value))
    except (ValueError, TypeError):
        entry = None
    if entry is None or entry.hidden or entry.variant != variant:
        raise gr.Error(
            error_text(f"no entry {value!r} on this leaderboard; pick an entry id from the leaderboard table"),
            print_exception=False,
        )
    return entry


def _summary(entry: Submission) -> str:
    model = entry.model
    link = model.get("link")
    link_text = f" · [link]({_safe_url(link)})" if link and _safe_url(link) else ""
    notes = model.get("training_data")
    parameters = model.get("parameters")
    lines = [
        f"### #{entry.id} {markdown_text(entry.model_name)}{' ✓ verified' if model.get('verified') else ''}",
        f"by {markdown_text(entry.submitter)} · family {markdown_text(model.get('family', 'other'))} · "
        f"{f'{parameters:,} parameters' if isinstance(parameters, int) else 'parameters unknown'}{link_text}",
        f"`{entry.protocol}` v{entry.protocol_version} ({entry.variant}) · submitted {entry.created[:16].replace('T', ' ')} UTC",
    ]
    if notes:
        lines.append(f"Notes: {markdown_text(notes)}")
    omitted = (entry.results.get("metrics") or {}).get("omitted") or {}
    if omitted:
        lines.append(
            "Not applicable: " + "; ".join(f"{markdown_text(k)} ({markdown_text(v)})" for k, v in omitted.items())
        )
    return "\n\n".join(lines)


def _safe_url(link: str) -> str | None:
    """A web link for a Markdown target (only http/https; parentheses and spaces percent-encoded)."""
    if not re.match(r"https?://", link):
        return None
    return link.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


def _metric_rows(results: dict) -> dict[str, tuple]:
    """Label -> (value, ci text, n) for every headline metric and every split's accuracy."""
    metrics = results.get("metrics") or {}
    rows: dict[str, tuple] = {}
    entries = list(METRIC_ROWS) + [
        (f"accuracy.{split}", f"Accuracy on {split}") for split in (metrics.get("accuracy") or {})
    ]
    for key, label in entries:
        if key.startswith("accuracy."):
            estimate = metrics["accuracy"][key.split(".", 1)[1]]
        else:
            estimate = metrics.get(key)
        if not isinstance(estimate, dict):
            rows[label] = (None, "not applicable", None)
            continue
        value, ci = estimate.get("value"), estimate.get("ci")
        ci_text = f"{ci[0]:.3f} to {ci[1]:.3f}" if isinstance(ci, list) and None not in ci else ""
        rows[label] = (None if value is None else round(float(value), 4), ci_text, estimate.get("n"))
    return rows


def _metrics_side_by_side(entries: list[Submission | None]) -> pd.DataFrame:
    present = [(name, entry) for name, entry in zip(("A", "B"), entries) if entry is not None]
    if not present:
        return pd.DataFrame({"Metric": []})
    tables = {name: _metric_rows(entry.results) for name, entry in present}
    labels = list(dict.fromkeys(label for rows in tables.values() for label in rows))
    out: dict[str, list] = {"Metric": labels}
    for name, entry in present:
        rows = tables[name]
        out[f"{name}: #{entry.id} value"] = [rows.get(label, (None,))[0] for label in labels]
        out[f"{name}: 95% CI"] = [rows.get(label, (None, ""))[1] for label in labels]
        out[f"{name}: n"] = [rows.get(label, (None, "", None))[2] for label in labels]
    return pd.DataFrame(out)


def _comparison(a: Submission | None, b: Submission | None) -> str:
    if a is None or b is None:
        return "*Pick a second entry to compare the two on the same items (paired McNemar test).*"
    try:
        result = compare_results(a.results, b.results, "test_ood")
    except (ValueError, KeyError) as error:
        return f"**Cannot compare #{a.id} with #{b.id}**: {markdown_text(error)}"
    difference = result["difference"]
    ci = difference["ci"]
    verdict = "the difference is significant at 5%" if result["p_value"] < 0.05 else "no significant difference at 5%"
    return (
        f"**#{a.id} {markdown_text(a.model_name)} vs #{b.id} {markdown_text(b.model_name)}** on the "
        f"{result['n']:,} `test_ood` items: accuracy {100 * result['accuracy_a']:.1f}% vs {100 * result['accuracy_b']:.1f}%, "
        f"difference {100 * difference['value']:+.1f} points (95% CI {100 * ci[0]:+.1f} to {100 * ci[1]:+.1f}); "
        f"McNemar exact p = {result['p_value']:.3g}: {verdict}. Only A right on {result['discordant']['a_only']}, "
        f"only B right on {result['discordant']['b_only']} items."
    )


def _bound(name: str, value: str | None) -> int | None:
    """A parameter bound from its label in :data:`PARAMETER_BOUNDS`."""
    if value is None or value == "":
        return None
    if value not in PARAMETER_BOUNDS:
        raise ElsewhereError(f"{name} {value!r} is not a bound; choose one of {', '.join(PARAMETER_BOUNDS)}")
    return PARAMETER_BOUNDS[value]


def parameter_count(text: str | int | None) -> int | None:
    """A parameter count typed by a visitor: ``""`` (unknown), ``120000``, ``120,000``, ``350k``, ``1.2M``, ``7B``."""
    if text is None or isinstance(text, int) and not isinstance(text, bool):
        return text
    match = _PARAMETERS.fullmatch(str(text).replace(",", "").replace("_", "").strip())
    if match is None or (match.group(1) and "." in match.group(1) and not match.group(2)):
        raise ElsewhereError(
            f"parameters {str(text)[:30]!r} is not a count; give a whole number like 120000, "
            "or one with k, M or B like 1.2M, or leave it empty"
        )
    if not match.group(1):
        return None
    return round(float(match.group(1)) * _MULTIPLIERS[match.group(2).lower()])
