"""The leaderboard in a real browser: Debian's Chromium driven by Playwright against a real server.

Loads the page, reads the ranked table, submits a valid predictions file through the Submit tab and
finds its row in the table, submits a bad file and reads the error; downloads the table as CSV and
reads its rows; opens a permalink and a model link and sees the model page. Screenshots go to
``$TMPDIR/elsewhere-leaderboard-*.png`` for a human to look at. Every wait is on a condition.
Without Chromium the tests skip, unless the ``CI`` variable is set: there they fail.
"""

from __future__ import annotations

import io
import os
import re
import socket
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from test_submissions import PROTOCOL, evaluated_labels, noisy_predictions, ood_accuracy, write_csv

from elsewhere.leaderboard.store import Store
from elsewhere.leaderboard.submissions import Truths, submit
from elsewhere.leaderboard.views import permalink

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
# Flags that work on this project's machines (see REFERENCE.md).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BASELINES = (("baseline-mlp", 2), ("baseline-cnn", 4), ("baseline-gap", 9))
TIMEOUT_MS = 90_000  # generous: CI machines are small and may be busy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def screenshot(page, name: str) -> None:
    page.screenshot(path=str(Path(tempfile.gettempdir()) / f"elsewhere-leaderboard-{name}.png"), full_page=True)


def column(page, header: str):
    """A locator of the cells of one column of the Leaderboard tab's table, top to bottom."""
    table = page.locator("#leaderboard-table")
    table.locator("[role=gridcell]").first.wait_for()
    headers = table.locator("th[role=columnheader]").all_inner_texts()
    index = [h.strip() for h in headers].index(header)
    return table.locator(f"[role=gridcell][data-col='{index}']")


def submit_through_form(page, path: Path, model_name: str) -> None:
    """Fill the Submit tab with ``path`` and ``model_name`` and press Submit."""
    page.get_by_role("tab", name="Submit").click()
    page.locator("#predictions-file input[type=file]").set_input_files(str(path))
    # Once uploaded, the file's row is labelled with its name; its text splits stem and extension
    # ("browser-net .csv"), so only the upload's passing progress line matches the name as text.
    page.locator("#predictions-file").get_by_label(path.name, exact=True).wait_for()
    page.locator("#model-name").get_by_role("textbox").fill(model_name)
    page.locator("#submitter").get_by_role("textbox").fill("playwright")
    page.locator("#submit-button").click()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        reason = (
            f"{CHROMIUM} is missing: install Debian's Chromium (apt-get update && apt-get install -y chromium) "
            "to run the browser tests"
        )
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def site(tiny_dataset: Path, tmp_path_factory):
    """A running leaderboard seeded with the baselines; yields (url, store, labels, classes, accuracies)."""
    from elsewhere.leaderboard.app import launch

    folder = tmp_path_factory.mktemp("browser")
    store, truths = Store(folder / "leaderboard.sqlite"), Truths(tiny_dataset)
    labels = evaluated_labels(tiny_dataset, PROTOCOL)
    classes = len(truths.get(PROTOCOL).class_names)
    accuracy = {}
    for name, every in BASELINES:
        predictions = noisy_predictions(labels, every, classes)
        submit(
            store,
            truths,
            protocol=PROTOCOL,
            predictions_path=write_csv(predictions, folder / f"{name}.csv"),
            model_name=name,
            submitter="operator",
            identity="operator",
            verified=True,
            rate_limit_per_day=None,
        )
        accuracy[name] = ood_accuracy(labels, predictions)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        port = free_port()
        demo = launch(store.path, tiny_dataset, port=port, prevent_thread_lock=True, quiet=True)
        try:
            yield f"http://127.0.0.1:{port}/", store, labels, classes, accuracy
        finally:
            demo.close()


def test_table_submit_and_error_in_the_browser(browser, site, tmp_path):
    from playwright.sync_api import expect

    url, store, labels, classes, accuracy = site
    order = sorted(accuracy, key=lambda name: -accuracy[name])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.locator("#leaderboard-table [role=gridcell]").first.wait_for()
    # The table refreshes once the page has loaded; these assertions retry until it has settled.
    expect(column(page, "Model")).to_have_text(order)
    expect(column(page, "Rank")).to_have_text(["1", "2", "3"])
    expect(column(page, "Tie")).to_have_text(["leader", re.compile(".*"), re.compile(".*")])
    screenshot(page, "table")

    predictions = noisy_predictions(labels, 3, classes, offset=2)
    good = write_csv(predictions, tmp_path / "browser-net.csv")
    accuracy = {**accuracy, "browser net": ood_accuracy(labels, predictions)}
    submit_through_form(page, good, "browser net")
    page.locator("#submit-status").get_by_text("Stored as entry").wait_for()
    expect(page.locator("#submit-quota")).to_contain_text("used 1,")
    entry = store.list()[-1]
    assert entry.model_name == "browser net"
    screenshot(page, "submitted")
    page.get_by_role("tab", name="Leaderboard").click()
    # Equal accuracies go to the earlier entry; the new one is the latest.
    ranked = sorted(accuracy, key=lambda name: (-accuracy[name], name == "browser net"))
    expect(column(page, "Model")).to_have_text(ranked)
    screenshot(page, "table-after-submit")

    page.reload()
    # As after the first load: the form takes a file only once the app has started in the page.
    page.locator("#leaderboard-table [role=gridcell]").first.wait_for()
    bad = tmp_path / "bad.csv"
    bad.write_text("id,prediction\nnot-an-item,0\n")
    submit_through_form(page, bad, "bad net")
    error = page.get_by_text("ids are not evaluated items").first
    expect(error).to_contain_text("not-an-item")
    expect(error).to_be_visible()
    screenshot(page, "error")
    assert [e.model_name for e in store.list()].count("bad net") == 0
    page.close()


def download_csv(page) -> pd.DataFrame:
    with page.expect_download() as download:
        page.locator("#download-csv").click()
    return pd.read_csv(io.BytesIO(Path(download.value.path()).read_bytes()), dtype=str, keep_default_na=False)


def test_csv_download_holds_the_current_view(browser, site):
    from playwright.sync_api import expect

    url, store, _, _, _ = site
    entries = sorted(store.list(protocol=PROTOCOL), key=lambda e: (-e.ood_accuracy, e.id))
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    expect(column(page, "Model")).to_have_text([e.model_name for e in entries])
    whole = download_csv(page)
    assert list(whole["Model"]) == [e.model_name for e in entries]
    assert list(whole["Entry"]) == [str(e.id) for e in entries]
    assert [float(v) for v in whole["OOD accuracy (%)"]] == [round(100 * e.ood_accuracy, 1) for e in entries]

    page.get_by_label("Search model or submitter").fill("gap")
    page.get_by_label("Search model or submitter").press("Enter")
    expect(column(page, "Model")).to_have_text(["baseline-gap"])
    # The table and the button's file are outputs of one event, applied together: the table shown is the file.
    narrowed = download_csv(page)
    assert list(narrowed["Model"]) == ["baseline-gap"]
    page.close()


def test_permalinks_and_model_links_open_the_model_page(browser, site, tiny_dataset, tmp_path):
    from playwright.sync_api import expect

    url, store, labels, classes, _ = site
    # A hostile name: its link must stay one link, and its markup text.
    hostile = '<img src=x onerror="window.pwned=1"> ](javascript:alert(1))'
    path = write_csv(noisy_predictions(labels, 13, classes, offset=3), tmp_path / "hostile.csv")
    entry = submit(
        store,
        Truths(tiny_dataset),
        protocol=PROTOCOL,
        predictions_path=path,
        model_name=hostile,
        submitter="mallory",
        identity="test",
        rate_limit_per_day=None,
    )
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url + permalink(PROTOCOL, entry.id))
    summary = page.locator("#model-summary-a")
    expect(summary).to_contain_text(f"#{entry.id} {hostile}")
    expect(summary).to_contain_text("Versions")
    expect(summary).to_contain_text(entry.fingerprint)
    expect(page.get_by_role("tab", name="Model")).to_have_attribute("aria-selected", "true")
    screenshot(page, "permalink")

    page.goto(url)
    link = page.locator("#leaderboard-table a:visible", has_text=hostile)
    expect(link).to_have_attribute("href", permalink(PROTOCOL, entry.id))
    # Every link in the table is a permalink: the name's "](javascript:...)" stayed text.
    hrefs = page.locator("#leaderboard-table a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs and all(href.startswith("?protocol=") for href in hrefs), hrefs
    # gradio opens Markdown links in a new tab.
    with page.context.expect_page() as opened:
        link.click()
    model_page = opened.value
    expect(model_page.locator("#model-summary-a")).to_contain_text(f"#{entry.id} {hostile}")
    for shown in (page, model_page):
        assert shown.evaluate("window.pwned") is None
        assert shown.locator("#leaderboard-table img, #model-summary-a img").count() == 0
    model_page.close()
    page.close()


def test_reference_panel_tab_shows_the_committed_table(browser, site):
    """The Reference panel tab renders splits/panel.json: the architectures ranked, the verdict, per protocol."""
    from playwright.sync_api import expect

    from elsewhere.leaderboard.views import panel_view

    url, *_ = site
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("tab", name="Reference panel").click()
    for protocol in (PROTOCOL, "iid"):
        if protocol != PROTOCOL:
            page.locator("#panel-protocol input").click()
            page.get_by_role("option", name=protocol, exact=True).click()
        frame, _ = panel_view(protocol)
        assert len(frame) >= 5, "the committed table holds most of the panel on this protocol"
        table = page.locator("#panel-table")
        table.locator("[role=gridcell]").first.wait_for()
        headers = [h.strip() for h in table.locator("th[role=columnheader]").all_inner_texts()]
        architecture = table.locator(f"[role=gridcell][data-col='{headers.index('Architecture')}']")
        expect(architecture).to_have_text(list(frame["Architecture"]))
        cells = table.locator(f"[role=gridcell][data-col='{headers.index('ID → OOD accuracy')}']")
        expect(cells.first).to_have_text(frame["ID → OOD accuracy"].iloc[0])
        expect(page.locator("#panel-note")).to_contain_text(f"{protocol} version")
    expect(page.locator("#panel-note")).to_contain_text("control")
    screenshot(page, "panel")
    page.close()
