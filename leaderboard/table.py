"""The leaderboard's tables, derived from the store; the app only shows them.

Two views, each a pandas DataFrame computed from :meth:`Store.table` on every request (the store
is the single source of truth, so an entry submitted from the command line shows on the next
refresh):

- **Protocol view**: every visible entry of one protocol, ranked by out-of-location (OOD)
  accuracy, best first, with its 95% interval. Ranks are competition ranks (equal accuracies share
  a rank). The leader is the first entry (earlier submission first among equals); every other entry
  whose interval overlaps the leader's is marked ``tie``: the data cannot tell it from the leader.
- **Suite view** (:data:`SUITE`): one row per model — entries with the same submitter and model
  name — holding its latest (last stored) entry on each protocol of the suite. Sanity controls
  (protocols marked ``control``: ``iid``, which holds nothing out, and those on which the reference
  panel transfers with no headroom, see ``splits.controls``) are left out: they cannot rank models.
  A model is ranked by its mean OOD accuracy over the suite only if it has an entry on *every*
  suite protocol; a model missing protocols is listed below the ranked ones, unranked, with the
  mean over the protocols it has and a ``k/n`` coverage, because a mean over an easier subset is
  not comparable. The mean's interval treats the protocols'
  test sets as independent: its standard error is ``sqrt(sum(se_i²)) / n``, each ``se_i`` read off
  protocol *i*'s 95% interval as half its width over the normal quantile
  (:func:`evaluation.stats.z_value`, about 1.96).

Ranks and ties are computed over the whole board of the view; filters (model family, parameter
range, verified, search) then choose which rows to show, so an entry keeps its rank and tie mark
whatever the visitor filters. As ranking needs the whole board anyway, the filters apply to the
board already read (:meth:`Filters.keep`) rather than in a second query. In the suite view they
apply to each model's metadata as given with its latest entry. Every column shown is defined
once, in :data:`COLUMNS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from elsewhere.errors import ElsewhereError
from elsewhere.evaluation.stats import z_value
from elsewhere.leaderboard.store import Store
from elsewhere.splits.registry import get_protocol

SUITE = "suite"
PROTOCOL = "protocol"
VIEWS = (PROTOCOL, SUITE)
LEADER, TIE = "leader", "tie"
# Key of the chooser entry that stands for the suite view's one-column-per-protocol block.
PER_PROTOCOL = "per_protocol"
DISPLAY_LIMIT = 1000
# The store's columns the suite view reads.
_SUITE_SOURCE = (
    "id",
    "submitter",
    "model_name",
    "protocol",
    "ood_accuracy",
    "ood_ci_lo",
    "ood_ci_hi",
    "family",
    "parameters",
    "verified",
    "link",
    "created",
)


@dataclass(frozen=True)
class Column:
    """One column a view can show: its key in the derived frame, header, gradio datatype, views."""

    key: str
    label: str
    datatype: str
    views: tuple[str, ...] = VIEWS
    default: bool = True
    required: bool = False
    percent: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("rank", "Rank", "number", required=True),
    Column("tie", "Tie", "str", required=True),
    Column("model_name", "Model", "str", required=True),
    Column("id", "Entry", "number", (PROTOCOL,)),
    Column("ood_accuracy", "OOD accuracy (%)", "number", (PROTOCOL,), required=True, percent=True),
    Column("ood_ci", "OOD 95% CI (%)", "str", (PROTOCOL,)),
    Column("mean_ood", "Mean OOD accuracy (%)", "number", (SUITE,), required=True, percent=True),
    Column("mean_ood_ci", "Mean OOD 95% CI (%)", "str", (SUITE,)),
    Column("coverage", "Protocols", "str", (SUITE,)),
    Column(PER_PROTOCOL, "OOD accuracy per protocol (%)", "number", (SUITE,), percent=True),
    Column("id_accuracy", "ID accuracy (%)", "number", (PROTOCOL,), percent=True),
    Column("gap", "ID − OOD gap (points)", "number", (PROTOCOL,), percent=True),
    Column("normalised_gap", "Normalised gap", "number", (PROTOCOL,), default=False),
    Column("family", "Family", "str"),
    Column("parameters", "Parameters", "number"),
    Column("verified", "Verified", "str"),
    Column("submitter", "Submitter", "str"),
    Column("link", "Link", "str", default=False),
    Column("created", "Submitted", "str"),
)
_BY_KEY = {column.key: column for column in COLUMNS}
VERIFIED_MARK = "✓"


@dataclass(frozen=True)
class Filters:
    """What a visitor narrows the table to; the defaults show everything.

    ``families`` empty keeps every family; a parameter bound drops entries of unknown size;
    ``verified`` None keeps both; ``search`` is a case-insensitive substring of the model name
    or submitter.
    """

    families: tuple[str, ...] = ()
    min_parameters: int | None = None
    max_parameters: int | None = None
    verified: bool | None = None
    search: str = ""

    def __post_init__(self) -> None:
        for name in ("min_parameters", "max_parameters"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ElsewhereError(f"{name} must be a whole number of at least 0 or None, got {value!r}")
        if None not in (self.min_parameters, self.max_parameters) and self.min_parameters > self.max_parameters:
            raise ElsewhereError(
                f"the parameter range {self.min_parameters:,} to {self.max_parameters:,} is empty; "
                "give a lower bound below the upper one"
            )

    def keep(self, rows: pd.DataFrame) -> np.ndarray:
        """Which ``rows`` (with the columns of :meth:`Store.table`) pass the filters."""
        keep = np.ones(len(rows), dtype=bool)
        if self.families:
            keep &= rows["family"].isin(self.families).to_numpy()
        parameters = rows["parameters"].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            if self.min_parameters is not None:
                keep &= parameters >= self.min_parameters
            if self.max_parameters is not None:
                keep &= parameters <= self.max_parameters
        if self.verified is not None:
            keep &= rows["verified"].astype(bool).to_numpy() == self.verified
        text = self.search.strip().lower()
        if text:
            keep &= (
                rows["model_name"].str.lower().str.contains(text, regex=False)
                | rows["submitter"].str.lower().str.contains(text, regex=False)
            ).to_numpy(dtype=bool)
        return keep


def view_columns(view: str) -> tuple[Column, ...]:
    """The columns ``view`` can show, in display order."""
    _check_view(view)
    return tuple(column for column in COLUMNS if view in column.views)


def optional_columns(view: str) -> tuple[Column, ...]:
    """The columns of ``view`` a visitor may hide or show."""
    return tuple(column for column in view_columns(view) if not column.required)


def protocol_table(
    store: Store, protocol: str, *, variant: str = "public", filters: Filters = Filters()
) -> pd.DataFrame:
    """Every visible entry of ``protocol`` with ``rank`` and ``tie``, best first, then filtered.

    Columns: those of :meth:`Store.table` plus ``rank`` (Int64) and ``tie`` (``"leader"``,
    ``"tie"`` or ``""``).
    """
    return ranked(store.table(protocol=protocol, variant=variant), filters)


def ranked(board: pd.DataFrame, filters: Filters = Filters()) -> pd.DataFrame:
    """``board`` (rows of one protocol as :meth:`Store.table` gives them, best first) with ``rank`` and ``tie``, filtered."""
    board = board.copy()
    board["rank"] = _competition_rank(board["ood_accuracy"].to_numpy())
    board["tie"] = _ties(board["ood_ci_lo"].to_numpy(), board["ood_ci_hi"].to_numpy(), np.ones(len(board), bool))
    return board[filters.keep(board)].reset_index(drop=True)


def suite_table(
    store: Store,
    protocols: Sequence[str],
    *,
    variant: str = "public",
    filters: Filters = Filters(),
    rows: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per model over the suite ``protocols`` (controls dropped), ranked as the module says.

    ``rows`` replaces the store's rows of ``variant`` (a round's entries, say; same columns).

    Columns: ``submitter``, ``model_name``, the metadata of the model's latest entry (``family``,
    ``parameters``, ``verified``, ``link``, ``created``), ``mean_ood`` and ``mean_ood_ci_lo/hi``,
    ``covered`` (protocols with an entry) and ``coverage`` (``"k/n"``), ``rank``, ``tie``, and one
    column per suite protocol holding the OOD accuracy (NaN where the model has no entry).
    """
    suite = suite_protocols(protocols)
    if not suite:
        raise ElsewhereError(
            f"the whole-suite view needs a protocol that is not a control; this leaderboard holds only "
            f"{', '.join(protocols) or 'none'}"
        )
    rows = store.table(variant=variant) if rows is None else rows
    rows = rows.loc[rows["protocol"].isin(suite).to_numpy(), list(_SUITE_SOURCE)]
    # A model is a submitter's model name.
    model, keys = pd.factorize(rows["submitter"] + "\x00" + rows["model_name"], sort=False)
    slot = model * len(suite) + pd.Categorical(rows["protocol"], categories=suite).codes
    # A model's later entry on a protocol replaces its earlier ones: keep the highest id per slot.
    newest = np.argsort(-rows["id"].to_numpy(), kind="stable")
    slots, first = np.unique(slot[newest], return_index=True)
    kept = newest[first]
    accuracy = np.full(len(keys) * len(suite), np.nan)
    accuracy[slots] = rows["ood_accuracy"].to_numpy()[kept]
    z = z_value()
    variance = np.full(len(keys) * len(suite), np.nan)
    variance[slots] = ((rows["ood_ci_hi"].to_numpy()[kept] - rows["ood_ci_lo"].to_numpy()[kept]) / (2 * z)) ** 2
    accuracy, variance = accuracy.reshape(-1, len(suite)), variance.reshape(-1, len(suite))
    covered = np.isfinite(accuracy).sum(axis=1)
    complete = covered == len(suite)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(accuracy, axis=1) if len(keys) else np.zeros(0)
        half = np.where(complete, z * np.sqrt(variance.sum(axis=1)) / len(suite), np.nan)
    # Metadata from each model's latest entry; models tie-break by it, earlier first.
    _, latest_first = np.unique(model[newest], return_index=True)
    latest = newest[latest_first]
    board = (
        rows.iloc[latest].reset_index(drop=True).drop(columns=["protocol", "ood_accuracy", "ood_ci_lo", "ood_ci_hi"])
    )
    board["mean_ood"] = mean
    board["mean_ood_ci_lo"] = mean - half
    board["mean_ood_ci_hi"] = mean + half
    board["covered"] = covered
    board["coverage"] = [f"{k}/{len(suite)}" for k in covered]
    for column, name in enumerate(suite):
        board[name] = accuracy[:, column]
    order = np.lexsort((board["id"].to_numpy(), -mean, -covered, ~complete))
    board, complete = board.iloc[order].reset_index(drop=True), complete[order]
    board["rank"] = pd.array([pd.NA] * len(board), dtype="Int64")
    board.loc[complete, "rank"] = _competition_rank(board["mean_ood"].to_numpy()[complete])
    board["tie"] = _ties(board["mean_ood_ci_lo"].to_numpy(), board["mean_ood_ci_hi"].to_numpy(), complete)
    board = board.drop(columns="id")
    return board[filters.keep(board)].reset_index(drop=True)


def suite_protocols(protocols: Sequence[str]) -> tuple[str, ...]:
    """The protocols the suite view averages over: all but the controls."""
    return tuple(name for name in protocols if not get_protocol(name).control)


def display(
    board: pd.DataFrame,
    view: str,
    *,
    columns: Sequence[str] | None = None,
    protocols: Sequence[str] = (),
    limit: int | None = DISPLAY_LIMIT,
) -> pd.DataFrame:
    """The rows of a derived ``board`` as shown: chosen columns, headers, percentages, intervals.

    ``columns`` are keys of :func:`optional_columns` (None: the defaults); required columns are
    always shown. ``protocols`` are the suite view's per-protocol columns. Missing values are
    None. At most ``limit`` rows (None: all).
    """
    chosen = _chosen(view, columns)
    if limit is not None:
        board = board.head(limit)
    out: dict[str, list] = {}
    for column in chosen:
        if column.key == PER_PROTOCOL:
            for name in suite_protocols(protocols):
                out[name] = _cells(board[name] * 100, decimals=1)
            continue
        out[column.label] = _formatted(board, column)
    # Object columns keep whole numbers whole and missing values None (not NaN) for JSON.
    return pd.DataFrame({label: pd.Series(cells, dtype=object) for label, cells in out.items()}, columns=list(out))


def datatypes(view: str, *, columns: Sequence[str] | None = None, protocols: Sequence[str] = ()) -> list[str]:
    """The gradio datatype of each column :func:`display` returns, in order."""
    types = []
    for column in _chosen(view, columns):
        types += [column.datatype] * (len(suite_protocols(protocols)) if column.key == PER_PROTOCOL else 1)
    return types


def _chosen(view: str, columns: Sequence[str] | None) -> list[Column]:
    available = view_columns(view)
    if columns is None:
        return [c for c in available if c.required or c.default]
    keys = set(columns)
    unknown = sorted(keys - {c.key for c in COLUMNS})
    if unknown:
        raise ElsewhereError(
            f"unknown columns {unknown}; choose among {', '.join(c.key for c in optional_columns(view))}"
        )
    return [c for c in available if c.required or c.key in keys]


def _formatted(board: pd.DataFrame, column: Column) -> list:
    key = column.key
    if key in ("ood_ci", "mean_ood_ci"):
        prefix = "ood_ci" if key == "ood_ci" else "mean_ood_ci"
        return _interval_text(board[f"{prefix}_lo"], board[f"{prefix}_hi"])
    values = board[key]
    if column.percent:
        return _cells(values * 100, decimals=1)
    if key == "normalised_gap":
        return _cells(values, decimals=3)
    if key == "verified":
        return [VERIFIED_MARK if not pd.isna(v) and bool(v) else "" for v in values.to_numpy(dtype=object)]
    if key == "created":
        return [value[:10] if isinstance(value, str) else None for value in values.to_numpy(dtype=object)]
    return _plain(values)


def _interval_text(lo: pd.Series, hi: pd.Series) -> list:
    lo_text = _cells(lo * 100, decimals=1)
    hi_text = _cells(hi * 100, decimals=1)
    return [f"{a:.1f}–{b:.1f}" if a is not None and b is not None else None for a, b in zip(lo_text, hi_text)]


def _cells(values: pd.Series, decimals: int) -> list:
    numbers = values.to_numpy(dtype=np.float64, na_value=np.nan).round(decimals)
    return [None if np.isnan(v) else float(v) for v in numbers]


def _plain(values: pd.Series) -> list:
    """Python values for JSON: ints stay ints, missing values become None."""
    cells = np.array(values.astype(object).to_numpy(), dtype=object)
    missing = pd.isna(cells)
    cells[missing] = None
    return [v.item() if isinstance(v, np.generic) else v for v in cells]


def _competition_rank(scores: np.ndarray) -> np.ndarray:
    """1 + the number of strictly higher scores, for each score ("1, 2, 2, 4")."""
    ordered = np.sort(scores)
    return len(scores) - np.searchsorted(ordered, scores, side="right") + 1


def _ties(lo: np.ndarray, hi: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """``"leader"`` for the first eligible row, ``"tie"`` where an interval overlaps the leader's."""
    marks = np.full(len(lo), "", dtype=object)
    first = np.flatnonzero(eligible)
    if first.size == 0:
        return marks
    leader = first[0]
    marks[leader] = LEADER
    with np.errstate(invalid="ignore"):
        overlap = eligible & (lo <= hi[leader]) & (hi >= lo[leader])
    overlap[leader] = False
    marks[overlap] = TIE
    return marks


def _check_view(view: str) -> None:
    if view not in VIEWS:
        raise ElsewhereError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
