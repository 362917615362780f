"""What the leaderboard's pages say, as plain functions of the store: no gradio here.

The app (:mod:`leaderboard.app`) lays these out and wires them to events; everything it shows is
computed here, so it is tested without a server: the ranked table of a view with its filters, the
CSV of that table, permalinks (``?protocol=...&model=ID``), the Model tab's summary, versions,
metrics and paired comparison, a visitor's parameter count, and the submitter identity that rate
limits count against.

User text is never markup: Markdown gets it through :func:`markdown_text` (HTML-escaped, Markdown
punctuation backslash-escaped, one line), links only through :func:`safe_url` (http and https
only), error messages (which gradio renders as HTML) through :func:`error_text`, and CSV cells
that a spreadsheet would run as a formula are quoted (:func:`csv_bytes`).
"""

from __future__ import annotations

import dataclasses
import html
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import pandas as pd

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.compare import compare_results
from elsewhere.leaderboard import rounds
from elsewhere.leaderboard.store import Store, Submission
from elsewhere.leaderboard.table import (
    COLUMNS,
    PROTOCOL,
    SUITE,
    Filters,
    datatypes,
    display,
    optional_columns,
    protocol_table,
    ranked,
    suite_table,
)
from elsewhere.splits.controls import CONTROL, PANEL, panel_rows, verdict
from elsewhere.splits.protocol import Protocol
from elsewhere.splits.registry import get_protocol

VERIFIED_CHOICES = ("all", "verified only", "unverified only")
# The longest message an app error shows.
ERROR_CHARS = 1_000
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
ENTRY_CHOICES_LIMIT = 1000
# Entry ids are SQLite integers; more digits than this cannot name an entry (and would overflow).
MAX_ID_DIGITS = 18
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
MODEL_HEADER = next(column.label for column in COLUMNS if column.key == "model_name")
# Permalink query parameters.
PROTOCOL_PARAMETER, MODEL_PARAMETER = "protocol", "model"
_PARAMETERS = re.compile(r"(?:(\d+(?:\.\d+)?)\s*([kmbKMB]?))?", re.ASCII)
_MULTIPLIERS = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def markdown_text(text: object) -> str:
    """``text`` safe inside Markdown: HTML-escaped, Markdown punctuation backslash-escaped, one line."""
    flat = " ".join(str(text).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(flat, quote=False))


def error_text(error: BaseException | str) -> str:
    """One line for a ``gr.Error`` (whose message gradio renders as HTML), at most ``ERROR_CHARS`` long:
    a message that quotes what a client sent must not send a huge value back."""
    text = " ".join(str(error).split()) or type(error).__name__
    if len(text) > ERROR_CHARS:
        text = text[: ERROR_CHARS - 1] + "…"
    return html.escape(text, quote=False)


def safe_url(link: str) -> str | None:
    """A web link for a Markdown target (only http/https; parentheses, spaces and brackets percent-encoded)."""
    if not isinstance(link, str) or not re.match(r"https?://", link):
        return None
    return link.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


@dataclass(frozen=True)
class TableView:
    """One view of the board as shown: plain-text rows, gradio datatypes, a label, and each row's entry.

    ``entries`` holds the entry id of each row in a protocol view (None in the suite view, whose
    rows are models). The rows stay plain text, as the API and the CSV give them; :meth:`linked`
    is the page's version.
    """

    view: str
    frame: pd.DataFrame
    types: list[str]
    label: str
    entries: tuple[int, ...] | None
    note: str = ""

    def linked(self) -> tuple[pd.DataFrame, list[str]]:
        """Rows and datatypes with each model name a Markdown permalink to its entry (protocol views)."""
        if self.entries is None:
            return self.frame, self.types
        frame, types = self.frame.copy(), list(self.types)
        frame[MODEL_HEADER] = [
            f"[{markdown_text(name)}]({permalink(self.view, entry)})"
            for name, entry in zip(frame[MODEL_HEADER], self.entries)
        ]
        types[list(frame.columns).index(MODEL_HEADER)] = "markdown"
        return frame, types


def table_view(
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
) -> TableView:
    """What the Leaderboard tab shows for ``view`` (a protocol or "suite"), derived once per request.

    ``verified`` is one of :data:`VERIFIED_CHOICES`, the parameter bounds keys of
    :data:`PARAMETER_BOUNDS`; ``columns`` are optional column keys (None: the defaults), and keys
    that belong to the other view only are ignored, since one chooser serves both.
    """
    if verified not in VERIFIED_CHOICES:
        raise ElsewhereError(f"verified {verified!r} is not a choice; choose one of {', '.join(VERIFIED_CHOICES)}")
    filters = Filters(
        families=tuple(families),
        min_parameters=parameter_bound("parameters from", min_parameters),
        max_parameters=parameter_bound("parameters up to", max_parameters),
        verified={"all": None, "verified only": True, "unverified only": False}[verified],
        search=search or "",
    )
    if view != SUITE and view not in protocols:
        raise ElsewhereError(f"unknown view {view!r}; choose {SUITE!r} or one of {', '.join(protocols)}")
    # A hidden set's board shows one round: its shown-part scores while open, its final ranking once closed.
    record = rounds.latest_round(store) if variant == "private" else None
    rows = None if record is None else rounds.round_rows(store, record)
    if view == SUITE:
        board, kind = suite_table(store, protocols, variant=variant, filters=filters, rows=rows), SUITE
    elif rows is None:
        board, kind = protocol_table(store, view, variant=variant, filters=filters), PROTOCOL
    else:
        board, kind = ranked(rows[(rows["protocol"] == view).to_numpy()], filters), PROTOCOL
    if columns is not None:
        unknown = sorted(set(columns) - {c.key for c in COLUMNS})
        if unknown:
            raise ElsewhereError(
                f"unknown columns {unknown}; choose among {', '.join(c.key for c in COLUMNS if not c.required)}"
            )
        columns = [key for key in columns if key in {c.key for c in optional_columns(kind)}]
    frame = display(board, kind, columns=columns, protocols=protocols)
    types = datatypes(kind, columns=columns, protocols=protocols)
    entries = tuple(int(entry) for entry in board["id"].head(len(frame))) if kind == PROTOCOL else None
    shown = f"the first {len(frame):,} of {len(board):,}" if len(frame) < len(board) else f"{len(board):,}"
    unit = ("model" if kind == SUITE else "entry") if len(board) == 1 else ("models" if kind == SUITE else "entries")
    label = f"{'Whole suite' if kind == SUITE else view}: {shown} {unit}"
    if record is not None:
        label += f", {'final ranking' if record['closed'] else 'shown part'} of round {record['id']}"
    return TableView(view, frame, types, label, entries, round_note(record))


def round_note(record: dict | None) -> str:
    """What the table's scores are during round ``record`` (None: no round, nothing to say), in Markdown.

    Open: shown-part scores at coarsened precision, and the commitment. Closed: the final ranking,
    with the commitment and the revealed secret, so that anyone can check it.
    """
    if record is None:
        return ""
    number, commitment = record["id"], record["commitment"]
    if record["closed"] is None:
        return (
            f"**Round {number} is open** (since {record['opened'][:16].replace('T', ' ')} UTC). Scores are on the "
            "*shown* part of the hidden test set only, rounded to a step of at least 1/√n (the smallest of "
            f"{', '.join(f'{step:g}' for step in rounds.STEPS[:5])}, … that is), so that a single changed "
            "prediction does not show. The ranking that counts is scored on the *final* part when the round "
            f"closes. Commitment (SHA-256 of the round's secret): `{commitment}`."
        )
    return (
        f"**Round {number} is closed** ({record['closed'][:16].replace('T', ' ')} UTC): this is its **final "
        "ranking**, scored on the *final* part of the hidden test set, which no score showed while the round "
        f"was open. Commitment: `{commitment}`; revealed secret: {markdown_text(record['secret'])}. "
        f"With the board's store anyone can regenerate the labels and check every score: "
        f"`elsewhere round verify --round {number}`."
    )


def table_json(shown: TableView) -> dict:
    """A view as the ``/table`` endpoint gives it: ``label``, ``headers``, ``data`` (rows as lists) and ``note``."""
    return {
        "label": shown.label,
        "headers": list(shown.frame.columns),
        "data": shown.frame.to_numpy(dtype=object).tolist(),
        "note": shown.note,
    }


def column_choices() -> tuple[list[tuple[str, str]], list[str]]:
    """The column chooser's (label, key) choices, the protocol view's first, and the keys ticked by default.

    One chooser serves both views; :func:`table_view` ignores the keys the other view lacks.
    """
    optional = optional_columns(PROTOCOL)
    suite_only = [c for c in optional_columns(SUITE) if c.key not in {o.key for o in optional}]
    chosen = (*optional, *suite_only)
    return [(c.label, c.key) for c in chosen], [c.key for c in chosen if c.default]


def family_choices(store: Store, variant: str, known: Sequence[str]) -> list[str]:
    """The family filter's choices: the ``known`` families and any other one an entry of ``variant`` gives."""
    return sorted(set(known) | set(store.table(variant=variant)["family"].dropna().unique()))


def clicked_entry(table: pd.DataFrame | None, index: object) -> object:
    """The ``Entry`` cell of the row a click on a protocol table landed on (``index``: row or (row, column)), or None."""
    if table is None or "Entry" not in table.columns or index is None:
        return None
    try:
        row = int(index[0] if isinstance(index, (list, tuple)) else index)
        # A click lands on a row from the top: a negative index would count from the bottom.
        return table["Entry"].iloc[row] if row >= 0 else None
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def shown_submitter(typed: str | None, login: str | None = None, user: str | None = None) -> str:
    """The submitter name a new entry shows: what was typed, else the visitor's login or ``--auth`` user."""
    return typed or login or user or ""


def leaderboard_view(
    store: Store, protocols: Sequence[str], variant: str, view: str, *, linked: bool = False, **filters
) -> tuple[pd.DataFrame, list[str], str]:
    """:func:`table_view` as (rows, datatypes, label); ``linked`` gives the page's rows (model names as links)."""
    table = table_view(store, protocols, variant, view, **filters)
    frame, types = table.linked() if linked else (table.frame, table.types)
    return frame, types, table.label


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The table as UTF-8 CSV; text cells a spreadsheet would evaluate as a formula get a leading ``'``."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object:
            safe[column] = [
                "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value
                for value in safe[column]
            ]
    return safe.to_csv(index=False).encode("utf-8")


def csv_name(view: str) -> str:
    """The download's file name for ``view`` (letters, digits, ``-`` and ``_`` only)."""
    return "elsewhere-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", view).strip("-") or "view") + ".csv"


def permalink(view: str, entry_id: int | None = None) -> str:
    """The query string that opens ``view`` (and entry ``entry_id`` on the Model tab)."""
    query = {PROTOCOL_PARAMETER: view}
    if entry_id is not None:
        query[MODEL_PARAMETER] = str(int(entry_id))
    return "?" + urlencode(query, quote_via=quote)


def read_permalink(query: Mapping[str, str], protocols: Sequence[str], default: str) -> tuple[str, int | None]:
    """The view and entry id a page's query parameters ask for; anything unusable falls back quietly.

    A link is typed or pasted by anyone, so a wrong value opens the default view rather than an error.
    """
    view = query.get(PROTOCOL_PARAMETER, default)
    if view != SUITE and view not in protocols:
        view = default
    try:
        entry = entry_id(query.get(MODEL_PARAMETER))
    except ElsewhereError:
        entry = None
    return view, entry


def entry_id(value: object) -> int | None:
    """An entry id from a dropdown, an API call or a link: None for empty, else a positive whole number."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= MAX_ID_DIGITS and int(text) > 0):
        raise ElsewhereError(
            f"entry {str(value)[:30]!r} is not an entry id; pick an entry id (a whole number) from the leaderboard table"
        )
    return int(text)


def visible_entry(store: Store, value: object, variant: str) -> Submission | None:
    """The visible entry ``value`` of this leaderboard's variant (hidden ones are the operator's to see).

    An entry of a closed round comes with its final-part results, as the round's ranking shows it.
    """
    number = entry_id(value)
    if number is None:
        return None
    try:
        entry = store.get(number)
    except ElsewhereError:
        # The store's own message names its file, which visitors have no business seeing.
        entry = None
    if entry is None or entry.hidden or entry.variant != variant:
        raise ElsewhereError(f"no entry {number} on this leaderboard; pick an entry id from the leaderboard table")
    # A closed round's entry is shown as the round ranks it: by its final-part results.
    final = store.final_results(entry.id) if entry.variant == "private" else None
    return entry if final is None else dataclasses.replace(entry, results=final)


def entry_choice(entry: Submission) -> tuple[str, int]:
    """An entry as the Model tab's dropdowns list it: (label, id)."""
    return _choice(entry.id, entry.model_name, entry.protocol, entry.ood_accuracy, entry.submitter)


def entry_choices(store: Store, protocols: Sequence[str], variant: str, view: str) -> list[tuple[str, int]]:
    """The entries of ``view`` (a protocol, or every protocol for the suite), best first, as (label, id)."""
    frames = [protocol_table(store, name, variant=variant) for name in (protocols if view == SUITE else [view])]
    board = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return [
        _choice(row.id, row.model_name, row.protocol, row.ood_accuracy, row.submitter)
        for row in board.head(ENTRY_CHOICES_LIMIT).itertuples()
    ]


def model_summary(entry: Submission) -> str:
    """The Model tab's heading for ``entry``: name, submitter, family, size, link, protocol, notes."""
    model = entry.model
    link = model.get("link")
    url = safe_url(link) if link else None
    link_text = f" · [link]({url})" if url else ""
    notes = model.get("training_data")
    parameters = model.get("parameters")
    created = entry.created[:16].replace("T", " ")
    lines = [
        f"### #{entry.id} {markdown_text(entry.model_name)}{' ✓ verified' if model.get('verified') else ''}",
        f"by {markdown_text(entry.submitter)} · family {markdown_text(model.get('family', 'other'))} · "
        f"{f'{parameters:,} parameters' if isinstance(parameters, int) else 'parameters unknown'}{link_text}",
        f"`{entry.protocol}` v{entry.protocol_version} ({entry.variant}) · submitted {created} UTC · "
        f"[permalink]({permalink(entry.protocol, entry.id)})",
    ]
    if notes:
        lines.append(f"Notes: {markdown_text(notes)}")
    omitted = (entry.results.get("metrics") or {}).get("omitted") or {}
    if omitted:
        lines.append(
            "Not applicable: " + "; ".join(f"{markdown_text(k)} ({markdown_text(v)})" for k, v in omitted.items())
        )
    return "\n\n".join(lines)


def versions_text(entry: Submission) -> str:
    """What an entry was scored with: protocol version, dataset fingerprint, harness and package versions.

    Read from the stored results, so an entry scored by an older harness says so.
    """
    results = entry.results
    protocol = results.get("protocol") or {}
    harness = results.get("harness") or {}
    dataset = results.get("dataset") or {}
    lines = [
        f"protocol {markdown_text(protocol.get('name', entry.protocol))} "
        f"version {markdown_text(protocol.get('version', entry.protocol_version))}",
        f"dataset fingerprint {markdown_text(protocol.get('fingerprint') or 'unknown')}",
    ]
    if dataset:
        lines.append(
            # Plain text, not code spans: a code span would show the escapes themselves.
            "dataset " + ", ".join(f"{markdown_text(k)} {markdown_text(v)}" for k, v in dataset.items() if v)
        )
    if harness:
        name, version = harness.get("name", "harness"), harness.get("version", "unknown")
        extra = ", ".join(
            f"{markdown_text(k)} {markdown_text(v)}"
            for k, v in harness.items()
            if k not in {"name", "version", "packages"} and isinstance(v, (str, int, float)) and v != ""
        )
        lines.append(f"{markdown_text(name)} {markdown_text(version)}" + (f" ({extra})" if extra else ""))
        packages = harness.get("packages") or {}
        if packages:
            lines.append(
                "packages: "
                + ", ".join(f"{markdown_text(k)} {markdown_text(v or 'absent')}" for k, v in sorted(packages.items()))
            )
    lines.append(f"results schema {markdown_text(results.get('schema_version', 'unknown'))}")
    return "**Versions** · " + " · ".join(lines)


def metric_rows(results: dict) -> dict[str, tuple]:
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


def metrics_side_by_side(entries: Sequence[Submission | None]) -> pd.DataFrame:
    """One row per metric, and value, interval and n columns for each entry picked (A, then B)."""
    present = [(name, entry) for name, entry in zip(("A", "B"), entries) if entry is not None]
    if not present:
        return pd.DataFrame({"Metric": []})
    tables = {name: metric_rows(entry.results) for name, entry in present}
    labels = list(dict.fromkeys(label for rows in tables.values() for label in rows))
    out: dict[str, list] = {"Metric": labels}
    for name, entry in present:
        rows = tables[name]
        out[f"{name}: #{entry.id} value"] = [rows.get(label, (None,))[0] for label in labels]
        out[f"{name}: 95% CI"] = [rows.get(label, (None, ""))[1] for label in labels]
        out[f"{name}: n"] = [rows.get(label, (None, "", None))[2] for label in labels]
    return pd.DataFrame(out)


def comparison_text(a: Submission | None, b: Submission | None) -> str:
    """The paired (McNemar) test of two entries on the same ``test_ood`` items, in one paragraph."""
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


def submission_status(entry: Submission, board: pd.DataFrame) -> str:
    """The Submit tab's line after an entry is stored: its id, accuracy with interval, and rank."""
    row = board[board["id"] == entry.id]
    rank = row["rank"].iloc[0] if len(row) else None
    ci = entry.ood_ci
    interval = f" (95% CI {100 * ci[0]:.1f}–{100 * ci[1]:.1f})" if ci else ""
    return (
        f"**Stored as entry #{entry.id}**: {markdown_text(entry.model_name)} on `{entry.protocol}`, "
        f"OOD accuracy {100 * entry.ood_accuracy:.1f}%{interval}, rank {rank} of {len(board)}. "
        f"[permalink]({permalink(entry.protocol, entry.id)})"
    )


def submitter_identity(*, login: str | None = None, user: str | None = None, address: str | None = None) -> str:
    """The key that submission limits count against: a name the submitter cannot change by retyping it.

    The Hugging Face login (on a Space) first, then the ``--auth`` user, then the client address as
    the floor. The typed submitter name is display only and never part of it.
    """
    if login:
        return f"hf:{login}"
    if user:
        return f"auth:{user}"
    return f"ip:{address or 'unknown'}"


def auth_pairs(auth: Sequence[str | tuple[str, str]] | None) -> list[tuple[str, str]] | None:
    """``user:password`` strings (or ``(user, password)`` pairs) as the pairs gradio's login takes; None for none.

    The password may contain ``:``; the user may not. Users are the identities limits count against,
    so each must be unique.
    """
    if not auth:
        return None
    pairs = []
    for item in auth:
        user, _, password = (item[0], ":", item[1]) if isinstance(item, tuple) else str(item).partition(":")
        if not user or not password:
            raise ElsewhereError(
                "a login must be given as USER:PASSWORD with both parts non-empty; got one without"
                + (" a password" if user else " a user name")
            )
        pairs.append((str(user), str(password)))
    users = [user for user, _ in pairs]
    if len(set(users)) != len(users):
        duplicate = next(user for user in users if users.count(user) > 1)
        raise ElsewhereError(f"login user {duplicate!r} is given twice; give each user once")
    return pairs


def quota_text(identity: str, used: int, limit: int) -> str:
    """The Submit tab's line on the limit: who counts, how many used, how many left."""
    left = max(limit - used, 0)
    kind, _, name = identity.partition(":")
    who = {
        "hf": f"Hugging Face user {markdown_text(name)}",
        "auth": f"signed-in user {markdown_text(name)}",
        "ip": f"your address {markdown_text(name)}",
    }.get(kind, markdown_text(identity))
    plural = "" if limit == 1 else "s"
    return f"Limit: {limit} submission{plural} per 24 hours for {who}; used {used}, **{left} left**."


def parameter_bound(name: str, value: str | None) -> int | None:
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


def _choice(entry_id: int, model_name: str, protocol: str, ood_accuracy: float, submitter: str) -> tuple[str, int]:
    return f"#{entry_id} {model_name} · {protocol} · {100 * ood_accuracy:.1f}% ({submitter})", int(entry_id)


def accuracy_cell(values: Sequence[tuple[float, float]]) -> str:
    """``ID → OOD`` accuracy of one architecture on one protocol, ± sd over seeds when there are several."""
    if not values:
        return "–"
    ids, oods = [v[0] for v in values], [v[1] for v in values]
    if len(values) == 1:
        return f"{ids[0]:.3f} → {oods[0]:.3f}"
    return (
        f"{statistics.fmean(ids):.3f} ± {statistics.stdev(ids):.3f} → "
        f"{statistics.fmean(oods):.3f} ± {statistics.stdev(oods):.3f}"
    )


def panel_summary(protocols: Sequence[str], rows: Sequence | None = None) -> pd.DataFrame:
    """The Reference panel tab's overview: each protocol's verdict (control, ranked, not measured) and why."""
    rows = panel_rows() if rows is None else rows
    verdicts = [panel_verdict(get_protocol(name), rows) for name in protocols]
    return pd.DataFrame(
        {
            "Protocol": list(protocols),
            "Version": [get_protocol(name).version for name in protocols],
            "Verdict": [status for status, _ in verdicts],
            "Why": [note for _, note in verdicts],
        }
    )


def panel_verdict(protocol: Protocol, rows: Sequence) -> tuple[str, str]:
    """A protocol's verdict and its note: the panel's (``splits.controls``), or a control by design (``iid``)."""
    judged = verdict(protocol, rows)
    if protocol.control and judged.status != CONTROL:
        return CONTROL, f"Sanity control by design: it holds nothing out, so it cannot rank models. {judged.note()}"
    return judged.status, judged.note()


def panel_view(protocol: str, rows: Sequence | None = None) -> tuple[pd.DataFrame, str]:
    """One protocol's panel results, ranked by OOD accuracy (mean over seeds), and its verdict in Markdown.

    Rows of other versions of the protocol are left out, as the verdict leaves them out.
    Architectures outside the panel (the shape-descriptors baseline, the Red-Green networks) are
    listed, marked, but do not decide the verdict.
    """
    rows = panel_rows() if rows is None else rows
    chosen = get_protocol(protocol)
    runs: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        if row.protocol == chosen.name and row.protocol_version == chosen.version:
            runs.setdefault(row.architecture, []).append((row.id_accuracy, row.ood_accuracy))
    order = sorted(runs, key=lambda arch: (-statistics.fmean(v[1] for v in runs[arch]), arch))
    ood = [statistics.fmean(v[1] for v in runs[arch]) for arch in order]
    frame = pd.DataFrame(
        {
            "Rank": pd.Series(_competition_ranks(ood), dtype=object),
            "Architecture": order,
            "In panel": ["✓" if arch in PANEL else "" for arch in order],
            "OOD accuracy (%)": [round(100 * value, 1) for value in ood],
            "ID → OOD accuracy": [accuracy_cell(runs[arch]) for arch in order],
            "Seeds": [len(runs[arch]) for arch in order],
        }
    )
    status, why = panel_verdict(chosen, rows)
    note = f"**{chosen.name}** version {chosen.version}: **{status}**. {why}"
    return frame, note


def _competition_ranks(scores: Sequence[float]) -> list[int]:
    return [1 + sum(other > score for other in scores) for score in scores]
