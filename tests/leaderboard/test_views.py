"""The leaderboard's pure views, without gradio: real entries scored from the tiny dataset into a real store.

Every input a visitor controls (names, links, ids, query parameters, parameter counts) is attacked
here; the expected values are worked out from the entries' own predictions.
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl

import pandas as pd
import pytest
from test_submissions import PROTOCOL, evaluated_labels, noisy_predictions, ood_accuracy, write_csv

from elsewhere.errors import ElsewhereError
from elsewhere.leaderboard.store import Store
from elsewhere.leaderboard.submissions import Truths, submit
from elsewhere.leaderboard.table import SUITE
from elsewhere.leaderboard.views import (
    MAX_ID_DIGITS,
    MODEL_HEADER,
    auth_pairs,
    comparison_text,
    csv_bytes,
    csv_name,
    entry_id,
    error_text,
    leaderboard_view,
    markdown_text,
    metrics_side_by_side,
    model_summary,
    parameter_bound,
    parameter_count,
    permalink,
    quota_text,
    read_permalink,
    safe_url,
    submitter_identity,
    versions_text,
    visible_entry,
)

HOSTILE = '=HYPERLINK("https://evil.example") <img src=x onerror=alert(1)> [x](javascript:alert(1))'


@pytest.fixture(scope="module")
def board(tiny_dataset: Path, tmp_path_factory):
    """A store with two entries on PROTOCOL, one named by an attacker; yields (store, truths, entries, accuracies)."""
    folder = tmp_path_factory.mktemp("views")
    store, truths = Store(folder / "leaderboard.sqlite"), Truths(tiny_dataset)
    labels = evaluated_labels(tiny_dataset, PROTOCOL)
    classes = len(truths.get(PROTOCOL).class_names)
    entries, accuracy = {}, {}
    for name, every, link in (("plain net", 3, "https://example.org/a(b)"), (HOSTILE, 5, None)):
        predictions = noisy_predictions(labels, every, classes)
        entries[name] = submit(
            store,
            truths,
            protocol=PROTOCOL,
            predictions_path=write_csv(predictions, folder / f"{every}.csv"),
            model_name=name,
            submitter="-2+3 <b>me</b>",
            identity="hf:tester",
            link=link,
            notes="*bold* notes",
            rate_limit_per_day=None,
        )
        accuracy[name] = ood_accuracy(labels, predictions)
    return store, truths, entries, accuracy


def test_views_import_no_gradio():
    code = "import sys, elsewhere.leaderboard.views; sys.exit('gradio' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_markdown_text_leaves_no_markup():
    text = markdown_text("a\n<script>alert(1)</script> *b* [c](d) `e`")
    assert "<" not in text and "\n" not in text
    assert text == "a &lt;script&gt;alert\\(1\\)&lt;/script&gt; \\*b\\* \\[c\\]\\(d\\) \\`e\\`"
    assert error_text(ValueError("<b>x</b>\nline")) == "&lt;b&gt;x&lt;/b&gt; line"


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://example.org/a(b) c", "https://example.org/a%28b%29%20c"),
        ("http://x.org/<i>", "http://x.org/%3Ci%3E"),
        ("javascript:alert(1)", None),
        ("data:text/html,<b>", None),
        ("  https://x.org", None),
        (None, None),
    ],
)
def test_safe_url_keeps_web_links_only(link, expected):
    assert safe_url(link) == expected


@pytest.mark.parametrize(
    ("text", "count"),
    [("", None), ("120000", 120_000), ("120,000", 120_000), ("350k", 350_000), ("1.2M", 1_200_000), ("7b", 7 * 10**9)],
)
def test_parameter_counts(text, count):
    assert parameter_count(text) == count


@pytest.mark.parametrize("text", ["1.5", "12 apples", "-3", "1e9", "k", "９"])
def test_bad_parameter_counts_are_one_line(text):
    with pytest.raises(ElsewhereError, match="is not a count"):
        parameter_count(text)


def test_parameter_bounds():
    assert parameter_bound("from", "10k") == 10_000 and parameter_bound("from", "any") is None
    with pytest.raises(ElsewhereError, match="choose one of any, 1k"):
        parameter_bound("from", "12")


@pytest.mark.parametrize(
    ("value", "expected"), [("12", 12), (12, 12), (12.0, 12), (" 7 ", 7), ("", None), (None, None)]
)
def test_entry_ids(value, expected):
    assert entry_id(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "1" * (MAX_ID_DIGITS + 1), "9" * 400, True, 1.5, "١٢", "1; DROP", "0x10"])
def test_bad_entry_ids_are_refused_without_overflow(value):
    with pytest.raises(ElsewhereError, match="is not an entry id"):
        entry_id(value)


def test_visible_entry_refuses_unknown_hidden_and_other_variants(board):
    store, _, entries, _ = board
    plain = entries["plain net"]
    assert visible_entry(store, str(plain.id), "public").id == plain.id
    with pytest.raises(ElsewhereError, match=f"no entry {plain.id} on this leaderboard"):
        visible_entry(store, plain.id, "private")
    with pytest.raises(ElsewhereError, match="no entry 999999"):
        visible_entry(store, 999999, "public")
    with pytest.raises(ElsewhereError, match="is not an entry id"):
        visible_entry(store, "9" * 40, "public")


def test_permalinks_round_trip_and_bad_ones_fall_back():
    protocols = (PROTOCOL, "iid")
    link = permalink(PROTOCOL, 42)
    assert link == f"?protocol={PROTOCOL}&model=42"
    assert read_permalink(dict(parse_qsl(link[1:])), protocols, "iid") == (PROTOCOL, 42)
    assert read_permalink({"protocol": SUITE}, protocols, "iid") == (SUITE, None)
    assert read_permalink({}, protocols, "iid") == ("iid", None)
    for query in ({"protocol": "<script>", "model": "1e99"}, {"protocol": "nowhere", "model": "9" * 100}):
        assert read_permalink(query, protocols, "iid") == ("iid", None)
    assert permalink("a b&c=d") == "?protocol=a%20b%26c%3Dd"


def test_table_links_models_to_their_entries_escaped(board):
    store, truths, entries, accuracy = board
    plain_frame, _, _ = leaderboard_view(store, truths.protocols, "public", PROTOCOL)
    frame, types, label = leaderboard_view(store, truths.protocols, "public", PROTOCOL, linked=True)
    order = sorted(accuracy, key=lambda name: -accuracy[name])
    assert list(plain_frame[MODEL_HEADER]) == order
    assert types[list(frame.columns).index(MODEL_HEADER)] == "markdown"
    for cell, name in zip(frame[MODEL_HEADER], order):
        assert cell == f"[{markdown_text(name)}]({permalink(PROTOCOL, entries[name].id)})"
    hostile = frame[MODEL_HEADER].iloc[order.index(HOSTILE)]
    assert "<img" not in hostile and "](javascript" not in hostile
    assert label == f"{PROTOCOL}: 2 entries"
    suite, suite_types, _ = leaderboard_view(store, truths.protocols, "public", SUITE, linked=True)
    assert "markdown" not in suite_types and HOSTILE in list(suite[MODEL_HEADER])


def test_csv_holds_the_filtered_view_and_defuses_formulas(board):
    store, truths, _, accuracy = board
    frame, _, _ = leaderboard_view(store, truths.protocols, "public", PROTOCOL, search="plain")
    back = pd.read_csv(io.BytesIO(csv_bytes(frame)), dtype=str, keep_default_na=False)
    assert list(back.columns) == list(frame.columns)
    assert list(back[MODEL_HEADER]) == ["plain net"]
    assert float(back["OOD accuracy (%)"].iloc[0]) == pytest.approx(round(100 * accuracy["plain net"], 1))
    assert back["Submitter"].iloc[0] == "'-2+3 <b>me</b>"
    whole, _, _ = leaderboard_view(store, truths.protocols, "public", PROTOCOL)
    cells = pd.read_csv(io.BytesIO(csv_bytes(whole)), dtype=str, keep_default_na=False)[MODEL_HEADER]
    assert "'" + HOSTILE in list(cells)
    assert not any(str(cell).startswith(("=", "+", "-", "@")) for cell in cells)
    assert csv_name(PROTOCOL) == f"elsewhere-{PROTOCOL}.csv"
    assert csv_name("../../etc/passwd") == "elsewhere-etc-passwd.csv"


def test_model_summary_and_versions_escape_user_text(board):
    _, truths, entries, _ = board
    hostile, plain = entries[HOSTILE], entries["plain net"]
    summary = model_summary(hostile)
    assert summary.startswith(f"### #{hostile.id} ") and "<img" not in summary and "&lt;img" in summary
    assert "Notes: \\*bold\\* notes" in summary and "<b>" not in summary
    assert f"[permalink]({permalink(PROTOCOL, hostile.id)})" in summary
    assert "[link](https://example.org/a%28b%29)" in model_summary(plain)
    versions = versions_text(plain)
    truth = truths.get(PROTOCOL)
    harness = plain.results["harness"]
    assert f"version {truth.version}" in versions and truth.fingerprint in versions
    assert f"{markdown_text(harness['name'])} {markdown_text(harness['version'])}" in versions
    assert "packages: " in versions and "numpy" in versions
    assert "`" not in versions, "escaped text in a code span would show its backslashes"
    assert f"protocol {markdown_text(PROTOCOL)} version" in versions


def test_metrics_and_comparison_of_two_entries(board):
    _, _, entries, accuracy = board
    a, b = entries["plain net"], entries[HOSTILE]
    table = metrics_side_by_side([a, b])
    rows = table.set_index("Metric")
    assert rows.loc["OOD accuracy (test_ood)", f"A: #{a.id} value"] == pytest.approx(accuracy["plain net"], abs=1e-4)
    assert rows.loc["OOD accuracy (test_ood)", f"B: #{b.id} value"] == pytest.approx(accuracy[HOSTILE], abs=1e-4)
    assert list(metrics_side_by_side([None, None]).columns) == ["Metric"]
    text = comparison_text(a, b)
    assert f"{100 * accuracy['plain net']:.1f}% vs {100 * accuracy[HOSTILE]:.1f}%" in text and "<img" not in text
    assert comparison_text(a, None).startswith("*Pick a second entry")


def test_identity_ignores_the_typed_name_and_prefers_logins():
    assert submitter_identity(login="alice", user="bob", address="10.0.0.1") == "hf:alice"
    assert submitter_identity(user="bob", address="10.0.0.1") == "auth:bob"
    assert submitter_identity(address="10.0.0.1") == "ip:10.0.0.1"
    assert submitter_identity() == "ip:unknown"
    text = quota_text("hf:<b>al_ice</b>", 3, 5)
    assert "**2 left**" in text and "<b>" not in text and "al\\_ice" in text
    assert "**0 left**" in quota_text("ip:1.2.3.4", 7, 5) and "address 1\\.2\\.3\\.4" in quota_text("ip:1.2.3.4", 0, 5)


def test_auth_pairs_from_user_password_strings():
    assert auth_pairs(None) is None and auth_pairs([]) is None
    assert auth_pairs(["alice:pw", "bob:a:b:c", ("carol", "x")]) == [("alice", "pw"), ("bob", "a:b:c"), ("carol", "x")]
    for bad, message in (
        (["alice"], "without a password"),
        (["alice:"], "without a password"),
        ([":pw"], "without a user name"),
        (["a:1", "a:2"], "'a' is given twice"),
    ):
        with pytest.raises(ElsewhereError, match=message):
            auth_pairs(bad)


def test_accuracy_cells_give_mean_and_sd_over_seeds():
    from elsewhere.leaderboard.views import accuracy_cell

    assert accuracy_cell([]) == "–"
    assert accuracy_cell([(0.9, 0.5)]) == "0.900 → 0.500"
    assert accuracy_cell([(0.9, 0.4), (1.0, 0.6)]) == "0.950 ± 0.071 → 0.500 ± 0.141"


def test_panel_view_ranks_the_committed_table_and_gives_the_verdict():
    """On the committed panel table: every current-version run of the protocol, ranked by mean OOD accuracy."""
    from elsewhere.leaderboard.views import panel_summary, panel_view
    from elsewhere.splits.controls import PANEL, panel_rows
    from elsewhere.splits.registry import get_protocol

    rows = panel_rows()
    version = get_protocol(PROTOCOL).version
    runs = [r for r in rows if r.protocol == PROTOCOL and r.protocol_version == version]
    frame, note = panel_view(PROTOCOL)
    assert sorted(frame["Architecture"]) == sorted({r.architecture for r in runs})
    means = {
        a: statistics.fmean(r.ood_accuracy for r in runs if r.architecture == a) for a in {r.architecture for r in runs}
    }
    best = max(means, key=means.get)
    assert frame["Architecture"].iloc[0] == best and frame["Rank"].iloc[0] == 1
    assert frame["OOD accuracy (%)"].iloc[0] == round(100 * means[best], 1)
    seeds = frame.set_index("Architecture")["Seeds"].to_dict()
    assert seeds == {a: sum(r.architecture == a for r in runs) for a in means}
    assert list(frame["OOD accuracy (%)"]) == sorted(frame["OOD accuracy (%)"], reverse=True)
    assert frame.set_index("Architecture")["In panel"].to_dict() == {
        a: "✓" if a in PANEL else "" for a in frame["Architecture"]
    }
    assert note.startswith(f"**{PROTOCOL}** version {version}: **ranked**") and "Headroom" in note

    summary = panel_summary(["iid", PROTOCOL]).set_index("Protocol")
    assert summary.loc["iid", "Verdict"] == "control" and "by design" in summary.loc["iid", "Why"]
    assert summary.loc[PROTOCOL, "Verdict"] == "ranked"


def test_panel_view_of_several_seeds_and_unmeasured_protocols():
    """Two seeds give mean ± sd and a seed count; a protocol without current-version runs is not measured."""
    import dataclasses

    from elsewhere.leaderboard.views import panel_summary, panel_view
    from elsewhere.splits.controls import panel_rows

    rows = [r for r in panel_rows() if r.protocol == PROTOCOL and r.seed == 0]
    second = [dataclasses.replace(r, seed=1, ood_accuracy=max(r.ood_accuracy - 0.1, 0.0)) for r in rows]
    frame, _ = panel_view(PROTOCOL, rows + second)
    assert set(frame["Seeds"]) == {2} and all(" ± " in cell for cell in frame["ID → OOD accuracy"])
    stale = [dataclasses.replace(r, protocol_version=r.protocol_version - 1) for r in rows]
    frame, note = panel_view(PROTOCOL, stale)
    assert frame.empty and "**not measured**" in note
    assert panel_summary([PROTOCOL], stale)["Verdict"].tolist() == ["not measured"]


def test_table_json_is_the_view_as_the_api_gives_it(board):
    from elsewhere.leaderboard.views import table_json, table_view

    store, truths, entries, _ = board
    shown = table_view(store, truths.protocols, "public", PROTOCOL)
    out = table_json(shown)
    assert out["label"] == shown.label and out["note"] == "" and out["headers"] == list(shown.frame.columns)
    assert out["data"] == shown.frame.to_numpy(dtype=object).tolist() and len(out["data"]) == len(entries)


def test_column_and_family_choices(board):
    from elsewhere.leaderboard.table import COLUMNS
    from elsewhere.leaderboard.views import column_choices, family_choices

    offered, defaults = column_choices()
    keys = [key for _, key in offered]
    assert len(keys) == len(set(keys)) == len([c for c in COLUMNS if not c.required])
    assert set(defaults) == {c.key for c in COLUMNS if not c.required and c.default}
    store, _, _, _ = board
    assert family_choices(store, "public", ("zeta",)) == sorted({"zeta"} | set(store.table()["family"]))


@pytest.mark.parametrize(
    "index, expected", [(1, 20), ([0, 3], 10), ((1, 0), 20), (None, None), (5, None), ("x", None), ([], None)]
)
def test_clicked_entry_reads_the_entry_cell_of_the_clicked_row(index, expected):
    from elsewhere.leaderboard.views import clicked_entry

    table = pd.DataFrame({"Rank": [1, 2], "Entry": [10, 20]})
    assert clicked_entry(table, index) == expected
    assert clicked_entry(None, 0) is None and clicked_entry(table.drop(columns="Entry"), 0) is None


def test_shown_submitter_prefers_the_typed_name():
    from elsewhere.leaderboard.views import shown_submitter

    assert shown_submitter("typed", "hub-user", "auth-user") == "typed"
    assert shown_submitter("", "hub-user", "auth-user") == "hub-user"
    assert shown_submitter(None, None, "auth-user") == "auth-user"
    assert shown_submitter("", None, None) == ""


def test_error_text_does_not_send_a_huge_value_back():
    from elsewhere.leaderboard.views import ERROR_CHARS

    text = error_text(ValueError("unknown view '" + "<" * 100_000 + "'"))
    assert text.startswith("unknown view '&lt;") and text.endswith("…") and "\n" not in text
    assert len(text.replace("&lt;", "<")) == ERROR_CHARS


@pytest.mark.parametrize(
    "index", [-1, [-1, 0], float("inf"), [float("-inf")], float("nan"), 10**30, "1e3", [], {"row": 0}, [None], None]
)
def test_a_click_index_no_row_has_opens_nothing(index):
    from elsewhere.leaderboard.views import clicked_entry

    assert clicked_entry(pd.DataFrame({"Entry": [5, 6, 7]}), index) is None
