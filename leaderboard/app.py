"""The public leaderboard: a Gradio 6 app over the store, the derived tables and the submission pipeline.

Layout and wiring only; what each part shows is computed by :mod:`leaderboard.views` (tables,
texts, permalinks) and :mod:`evaluation.report` (the map and curves figures). Five tabs:
**Leaderboard** (a protocol or the whole suite, ranked, with filters, search and a column
chooser; on a hidden set's board, the current round's shown-part scores, or the final ranking of
the last closed round, with its commitment and secret), **Model** (an entry's location map,
curves, metrics and versions, and a side-by-side comparison of two entries with the paired test),
**Submit** (a predictions file scored and stored by :func:`leaderboard.submissions.submit`),
**Reference panel** (the committed panel table: which protocols rank models, and why) and
**About** (the protocols with example images, and the rules). ``/table``, ``/model``, ``/submit``
and ``/panel`` are named API endpoints for ``gradio_client``.

User text is never markup here (see :mod:`leaderboard.views`). Settings (upload cap, rate limit)
are read when a request needs them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path

import gradio as gr
import pandas as pd

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.report import curves_figure, figure_image, map_figure
from elsewhere.files import write_bytes_atomic
from elsewhere.leaderboard import settings
from elsewhere.leaderboard.about import protocol_pages, rules
from elsewhere.leaderboard.store import Store
from elsewhere.leaderboard.submissions import FAMILIES, Truths, remaining_quota, submit
from elsewhere.leaderboard.table import PROTOCOL, SUITE, datatypes, display, protocol_table
from elsewhere.leaderboard.views import (
    PARAMETER_BOUNDS,
    VERIFIED_CHOICES,
    auth_pairs,
    clicked_entry,
    column_choices,
    comparison_text,
    csv_bytes,
    csv_name,
    entry_choice,
    entry_choices,
    error_text,
    family_choices,
    markdown_text,
    metrics_side_by_side,
    model_summary,
    panel_summary,
    panel_view,
    parameter_count,
    quota_text,
    read_permalink,
    shown_submitter,
    submission_status,
    submitter_identity,
    table_json,
    table_view,
    versions_text,
    visible_entry,
)
from elsewhere.splits.controls import HEADROOM

TITLE = "elsewhere leaderboard"
TAGLINE = "Can your network recognise it elsewhere?"
UPLOAD_TYPES = [".csv", ".parquet", ".jsonl", ".json"]
SUBMIT_CONCURRENCY = 2
DEFAULT_CONCURRENCY = 8
# Files the app hands out (CSV downloads, figures) leave gradio's cache after an hour.
CACHE_SECONDS = 3600
CSS = """
.elsewhere-note {font-size: 0.9em; opacity: 0.85}
"""


def user_error(error: BaseException, **kwargs) -> gr.Error:
    """A user's mistake as a one-line ``gr.Error`` (escaped: gradio renders its message as HTML)."""
    return gr.Error(error_text(error), print_exception=False, **kwargs)


def on_space() -> bool:
    """Whether the app runs as a Hugging Face Space (where visitors sign in with their Hub account)."""
    return gr.utils.get_space() is not None


def visitor(request: gr.Request | None, profile: gr.OAuthProfile | None) -> str:
    """The identity a visitor's submissions count against (see :func:`leaderboard.views.submitter_identity`)."""
    client = getattr(request, "client", None)
    return submitter_identity(
        login=getattr(profile, "username", None),
        user=getattr(request, "username", None),
        address=getattr(client, "host", None),
    )


def forget_upload(path: str | Path | None) -> None:
    """Delete an uploaded file from gradio's upload cache (and its folder, once empty); nothing outside it."""
    if not path:
        return
    cache = Path(gr.utils.get_upload_folder()).resolve()
    file = Path(path).resolve()
    if cache not in file.parents:
        return
    file.unlink(missing_ok=True)
    if file.parent != cache:
        try:
            file.parent.rmdir()
        except OSError:
            pass  # not empty: another upload with the same content is still there


class CsvFiles:
    """The CSV downloads of table views, one file per distinct content, pruned when unused for :data:`CACHE_SECONDS`.

    The folder goes with the object, or at the latest when the process exits.
    """

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="elsewhere-csv-"))
        weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)

    def write(self, view: str, data: bytes) -> Path:
        now = time.time()
        for old in self.folder.glob("*/*.csv"):
            try:
                if now - old.stat().st_mtime > CACHE_SECONDS:
                    old.unlink()
                    old.parent.rmdir()
            except OSError:
                pass  # another request pruned or reused it meanwhile
        path = self.folder / hashlib.sha256(data).hexdigest()[:32] / csv_name(view)
        path.parent.mkdir(exist_ok=True)
        if path.exists():
            os.utime(path)  # in use again: not to be pruned before gradio has copied it
        else:
            write_bytes_atomic(path, data)
        return path


def build_app(store: Store, truths: Truths, data: str | Path) -> gr.Blocks:
    """The leaderboard app over ``store``, scoring against ``truths``, with About images from ``data``."""
    protocols = truths.protocols
    variant = truths.variant
    view_choices = [("Whole suite (mean over protocols)", SUITE)] + [(name, name) for name in protocols]
    default_view = protocols[0]
    login = on_space()
    downloads = CsvFiles()

    def table_rows(
        view: str,
        search: str,
        families: list[str],
        verified: str,
        min_parameters: str,
        max_parameters: str,
        columns: list[str],
    ):
        """The Leaderboard tab's table (model names linked to their entries) and the CSV of the same rows."""
        filters = {
            "search": search,
            "families": families,
            "verified": verified,
            "min_parameters": min_parameters,
            "max_parameters": max_parameters,
            "columns": columns or [],
        }
        try:
            shown = table_view(store, protocols, variant, view, **filters)
        except (ElsewhereError, OSError) as error:
            raise user_error(error) from None
        linked, types = shown.linked()
        return (
            gr.Dataframe(value=linked, datatype=types, label=shown.label),
            gr.DownloadButton(value=downloads.write(view, csv_bytes(shown.frame))),
            shown.note,
        )

    def table_api(
        view: str = default_view,
        search: str = "",
        families: list[str] | None = None,
        verified: str = "all",
        min_parameters: str = "any",
        max_parameters: str = "any",
        columns: list[str] | None = None,
    ) -> dict:
        """The ranked table as JSON: {"label", "headers", "data", "note"} (rows as lists, best first).

        view: a protocol name or "suite"; families: model families to keep (empty: all); verified: "all",
        "verified only" or "unverified only"; min/max_parameters: "any", "1k", "10k", ..., "10B";
        columns: keys of optional columns to show (None: the defaults; see leaderboard.table.COLUMNS).
        note: on a hidden set's board, what the scores are (a round's shown part, or its final ranking
        with the revealed secret), as Markdown; else empty.
        """
        try:
            shown = table_view(
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
            raise user_error(error) from None
        return table_json(shown)

    def panel_page(protocol: str):
        """The Reference panel tab for ``protocol``: its architectures ranked by OOD accuracy, and its verdict."""
        if protocol not in protocols:
            raise user_error(ElsewhereError(f"unknown protocol {protocol!r:.80}; choose one of {', '.join(protocols)}"))
        frame, note = panel_view(protocol)
        return frame, note

    def refresh_entries(view: str, a: int | None, b: int | None):
        choices = entry_choices(store, protocols, variant, view if view in protocols or view == SUITE else default_view)
        ids = {value for _, value in choices}
        return (
            gr.Dropdown(choices=choices, value=a if a in ids else None),
            gr.Dropdown(choices=choices, value=b if b in ids else None),
        )

    def entry(value: object):
        try:
            return visible_entry(store, value, variant)
        except ElsewhereError as error:
            raise user_error(error) from None

    def model_page(a: int | None, b: int | None):
        """Both entries' summaries, maps and curves, their metrics side by side, and the paired test."""
        entries = [entry(value) for value in (a, b)]
        panes = []
        for picked in entries:
            if picked is None:
                panes += ["*Pick an entry.*", None, None]
            else:
                results = picked.results
                panes += [
                    f"{model_summary(picked)}\n\n{versions_text(picked)}",
                    figure_image(map_figure(results)),
                    figure_image(curves_figure(results, stacked=True)),
                ]
        return (*panes, metrics_side_by_side(entries), comparison_text(*entries))

    def open_entry(picked, view: str):
        """The Model tab selected, its first dropdown on ``picked`` (listed with the entries of ``view``)."""
        choices = entry_choices(store, protocols, variant, view)
        if picked.id not in {value for _, value in choices}:
            choices.append(entry_choice(picked))
        return gr.Tabs(selected="model"), gr.Dropdown(choices=choices, value=picked.id)

    def open_row(view: str, table: pd.DataFrame, evt: gr.SelectData):
        """Clicking a row of a protocol's table opens its entry on the Model tab."""
        try:
            picked = visible_entry(store, clicked_entry(table, evt.index), variant)
        except ElsewhereError:
            picked = None
        if picked is None:
            return gr.Tabs(), gr.Dropdown()
        return open_entry(picked, view if view in protocols else picked.protocol)

    def open_permalink(request: gr.Request):
        """``?protocol=NAME&model=ID`` selects the view and opens the entry on the Model tab."""
        view, number = read_permalink(dict(request.query_params or {}), protocols, default_view)
        try:
            picked = visible_entry(store, number, variant)
        except ElsewhereError:
            picked = None
        if picked is None:
            return gr.Dropdown(value=view), gr.Tabs(), gr.Dropdown()
        view = view if view == SUITE else picked.protocol
        return gr.Dropdown(value=view), *open_entry(picked, view)

    def quota(request: gr.Request, profile: gr.OAuthProfile | None) -> str:
        """The Submit tab's line on the visitor's limit and what is left of it."""
        if login and profile is None:
            return "Sign in with Hugging Face (button above) to submit; the limit counts per account."
        identity = visitor(request, profile)
        try:
            used, limit = remaining_quota(store, identity)
        except (ElsewhereError, OSError) as error:
            return f"The submission limit cannot be read: {markdown_text(error)}"
        return quota_text(identity, used, limit)

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
        profile: gr.OAuthProfile | None,
    ):
        """Validate, score and store an uploaded predictions file; show its row. The upload is deleted either way.

        The limit counts against the visitor's identity (login, ``--auth`` user, else address);
        the typed submitter name is only what the board shows.
        """
        try:
            if login and profile is None:
                raise ElsewhereError("sign in with Hugging Face to submit; the limit counts per account")
            if not file:
                raise ElsewhereError("no predictions file uploaded; choose a CSV, Parquet or JSON lines file")
            shown = shown_submitter(submitter, getattr(profile, "username", None), getattr(request, "username", None))
            stored = submit(
                store,
                truths,
                protocol=protocol,
                predictions_path=file,
                model_name=model_name or "",
                submitter=shown,
                identity=visitor(request, profile),
                link=link,
                notes=notes,
                parameters=parameter_count(parameters),
                family=family or "other",
                variant=variant,
            )
        except (ElsewhereError, OSError) as error:
            raise user_error(error, duration=None) from None
        finally:
            forget_upload(file)
        board = protocol_table(store, stored.protocol, variant=variant)
        return submission_status(stored, board), display(board[board["id"] == stored.id], PROTOCOL, protocols=protocols)

    columns_offered, column_defaults = column_choices()
    families = family_choices(store, variant, FAMILIES)
    first = table_view(store, protocols, variant, default_view)
    first_panel, first_panel_note = panel_view(default_view)
    initial, initial_types = first.linked()
    initial_entries = entry_choices(store, protocols, variant, default_view)

    with gr.Blocks(title=TITLE, delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as demo:
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
                    download = gr.DownloadButton(
                        "Download CSV",
                        value=downloads.write(default_view, csv_bytes(first.frame)),
                        scale=0,
                        elem_id="download-csv",
                    )
                with gr.Accordion("Filters and columns", open=False):
                    with gr.Row():
                        family_filter = gr.CheckboxGroup(families, label="Model family (none ticked: all)")
                        verified_filter = gr.Radio(list(VERIFIED_CHOICES), value="all", label="Verified")
                        min_parameters = gr.Dropdown(list(PARAMETER_BOUNDS), value="any", label="Parameters from")
                        max_parameters = gr.Dropdown(list(PARAMETER_BOUNDS), value="any", label="Parameters up to")
                    columns = gr.CheckboxGroup(columns_offered, value=column_defaults, label="Columns")
                round_line = gr.Markdown(first.note, elem_id="round-note")
                table = gr.Dataframe(
                    value=initial,
                    datatype=initial_types,
                    label=first.label,
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
                        summary_a = gr.Markdown(elem_id="model-summary-a")
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
                if login:
                    gr.LoginButton()
                quota_line = gr.Markdown(elem_id="submit-quota")
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
            with gr.Tab("Reference panel", id="panel"):
                gr.Markdown(
                    "Which protocols rank models is decided by a panel of the architectures researchers bring "
                    "(CNNs with flatten and pooling heads, a residual network, a rotation-equivariant CNN, a ViT, "
                    "an MLP-Mixer, an MLP), trained by the project on each protocol: its committed table "
                    f"(`splits/panel.json`). A protocol is a sanity control if every panel network scores above "
                    f"{HEADROOM:.0%} out of location; it is ranked if one does not. Cells: in-distribution → "
                    "out-of-location accuracy, mean ± sd over seeds when there are several.",
                    elem_classes="elsewhere-note",
                )
                # Custom values reach panel_page, which refuses them in one short line (gradio's own
                # check would echo a client's whole value back).
                panel_protocol = gr.Dropdown(
                    list(protocols),
                    value=default_view,
                    label="Protocol",
                    elem_id="panel-protocol",
                    allow_custom_value=True,
                )
                panel_note = gr.Markdown(first_panel_note, elem_id="panel-note")
                panel_table = gr.Dataframe(
                    value=first_panel, interactive=False, wrap=True, elem_id="panel-table", label="Panel results"
                )
                with gr.Accordion("Every protocol's verdict", open=False):
                    gr.Dataframe(value=panel_summary(protocols), interactive=False, wrap=True, elem_id="panel-summary")
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
            ],
            table_rows,
            inputs=table_inputs,
            outputs=[table, download, round_line],
            api_name=False,
            show_progress="minimal",
        )
        panel_protocol.change(panel_page, inputs=panel_protocol, outputs=[panel_table, panel_note], api_name="panel")
        gr.api(table_api, api_name="table")
        gr.on(
            [view.change, refresh.click],
            refresh_entries,
            inputs=[view, entry_a, entry_b],
            outputs=[entry_a, entry_b],
            api_name=False,
        )
        # A page opens on its permalink first; the table and entry lists then follow the view it chose.
        demo.load(open_permalink, outputs=[view, tabs, entry_a], api_name=False).then(
            table_rows, inputs=table_inputs, outputs=[table, download, round_line], api_name=False
        ).then(refresh_entries, inputs=[view, entry_a, entry_b], outputs=[entry_a, entry_b], api_name=False)
        demo.load(quota, outputs=quota_line, api_name=False)
        gr.on(
            [entry_a.change, entry_b.change],
            model_page,
            inputs=[entry_a, entry_b],
            outputs=[summary_a, heatmap_a, curves_a, summary_b, heatmap_b, curves_b, metrics, comparison],
            api_name="model",
        )
        table.select(open_row, inputs=[view, table], outputs=[tabs, entry_a], api_name=False)
        submitted = submit_button.click(
            submit_file,
            inputs=[upload, submit_protocol, model_name, submitter, link, notes, parameters, family],
            outputs=[status, new_row],
            api_name="submit",
            concurrency_limit=SUBMIT_CONCURRENCY,
        )
        # Whatever the outcome the upload is gone from the server, so the form lets go of it too.
        submitted.then(lambda: None, outputs=upload, api_name=False).then(quota, outputs=quota_line, api_name=False)
        submitted.success(
            table_rows, inputs=table_inputs, outputs=[table, download, round_line], api_name=False
        ).success(refresh_entries, inputs=[view, entry_a, entry_b], outputs=[entry_a, entry_b], api_name=False)
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY)
    return demo


def launch(
    db: str | Path | None,
    data: str | Path,
    host: str = "127.0.0.1",
    port: int = 7860,
    labels: str | Path | None = None,
    *,
    auth: Sequence[str | tuple[str, str]] | None = None,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
) -> gr.Blocks:
    """``elsewhere leaderboard``: open the store, load the dataset's manifest, and serve the app.

    Args:
        db: the SQLite store (None: the ``ELSEWHERE_DB`` setting).
        data: the dataset folder or Hub repo id whose labels the leaderboard scores against.
        labels: the private variant's labels file (``elsewhere generate --private --labels``).
        auth: ``user:password`` strings or (user, password) pairs; with them visitors sign in, and
            the rate limit counts per user (never per typed name).
        prevent_thread_lock: return once the server runs (tests); otherwise block until stopped.
    """
    logins = auth_pairs(auth)
    store = Store(db if db is not None else settings.database_path())
    truths = Truths(data, labels)
    demo = build_app(store, truths, data)
    # A Space restart, `docker stop` or `kill` sends SIGTERM, whose default ends the process without
    # its exit handlers (the CSV folder stayed behind): while the board serves, shut down as on Ctrl-C.
    previous = None if prevent_thread_lock else signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            max_file_size=settings.max_upload_bytes(),
            auth=logins,
            prevent_thread_lock=prevent_thread_lock,
            quiet=quiet,
            ssr_mode=False,
            theme=gr.themes.Soft(),
            css=CSS,
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return demo
