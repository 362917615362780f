"""The app's named API endpoints, called through ``gradio_client`` against a real server on a free port.

The store is seeded with three baseline entries scored from real predictions files; the expected
order and accuracies are computed here from the dataset's labels. Uploads land in a gradio upload
folder of the test's own (``GRADIO_TEMP_DIR``), so the tests can see that none is left behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_submissions import PROTOCOL, evaluated_labels, noisy_predictions, ood_accuracy, write_csv

from elsewhere.leaderboard.store import Store
from elsewhere.leaderboard.submissions import Truths, remaining_quota, submit

pytestmark = pytest.mark.slow

LOCAL = "ip:127.0.0.1"  # every call from this test process counts against this identity

BASELINES = (("baseline-mlp", 2), ("baseline-cnn", 4), ("baseline-gap", 9))  # model, every k-th item wrong


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def labels(tiny_dataset: Path):
    return evaluated_labels(tiny_dataset, PROTOCOL)


@pytest.fixture(scope="module")
def classes(tiny_dataset: Path) -> int:
    return len(Truths(tiny_dataset).get(PROTOCOL).class_names)


@pytest.fixture(scope="module")
def app(tiny_dataset: Path, labels, classes, tmp_path_factory):
    """A running leaderboard seeded with the baselines; yields (client, store, expected accuracies, upload folder)."""
    from gradio_client import Client

    from elsewhere.leaderboard.app import launch

    folder = tmp_path_factory.mktemp("client")
    db = folder / "leaderboard.sqlite"
    store, truths = Store(db), Truths(tiny_dataset)
    expected = {}
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
            family="cnn",
            verified=True,
            rate_limit_per_day=None,
        )
        expected[name] = ood_accuracy(labels, predictions)
    uploads = folder / "gradio-uploads"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        patch.setenv("GRADIO_TEMP_DIR", str(uploads))
        patch.setenv("ELSEWHERE_RATE_LIMIT", "100")
        port = free_port()
        demo = launch(db, tiny_dataset, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
        try:
            yield Client(f"http://127.0.0.1:{port}/", verbose=False), store, expected, uploads
        finally:
            demo.close()


def uploaded_files(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


def test_table_endpoint_ranks_the_baselines(app):
    client, _, expected, _ = app
    table = client.predict(api_name="/table")
    headers, rows = table["headers"], table["data"]
    model, accuracy, rank = headers.index("Model"), headers.index("OOD accuracy (%)"), headers.index("Rank")
    order = sorted(expected, key=lambda name: -expected[name])
    assert [row[model] for row in rows][:3] == order
    assert [row[accuracy] for row in rows][:3] == [round(100 * expected[name], 1) for name in order]
    assert rows[0][rank] == 1 and rows[0][headers.index("Tie")] == "leader"
    assert table["label"].startswith(PROTOCOL)

    narrow = client.predict(view=PROTOCOL, search="gap", columns=["submitter"], api_name="/table")
    assert [row[narrow["headers"].index("Model")] for row in narrow["data"]] == ["baseline-gap"]
    assert "Submitter" in narrow["headers"] and "Family" not in narrow["headers"]

    suite = client.predict(view="suite", api_name="/table")
    assert "Mean OOD accuracy (%)" in suite["headers"] and len(suite["data"]) >= 3


def test_unknown_view_is_an_app_error(app):
    from gradio_client.exceptions import AppError

    client, _, _, _ = app
    with pytest.raises(AppError, match="unknown view 'nowhere'"):
        client.predict(view="nowhere", api_name="/table")


def test_submit_endpoint_scores_stores_and_shows_the_row(app, labels, classes, tmp_path):
    from gradio_client import handle_file

    client, store, _, uploads = app
    predictions = noisy_predictions(labels, 3, classes, offset=1)
    path = write_csv(predictions, tmp_path / "mine.csv")
    status, row = client.predict(
        handle_file(str(path)),
        PROTOCOL,
        "my <b>net</b>",
        "carol",
        "https://example.org/x",
        "notes",
        "5k",
        "resnet",
        api_name="/submit",
    )
    entry = store.list()[-1]
    assert entry.model_name == "my <b>net</b>" and entry.submitter == "carol" and entry.model["parameters"] == 5000
    assert entry.ood_accuracy == pytest.approx(ood_accuracy(labels, predictions))
    assert f"entry #{entry.id}" in status and "<b>" not in status and "&lt;b&gt;" in status
    assert row["data"][0][row["headers"].index("Model")] == "my <b>net</b>"
    table = client.predict(api_name="/table")
    assert "my <b>net</b>" in [r[table["headers"].index("Model")] for r in table["data"]]
    assert "mine.csv" not in uploaded_files(uploads), "an accepted upload is deleted from gradio's cache"


def test_bad_file_is_a_one_line_app_error_and_stores_nothing(app, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client, store, _, uploads = app
    before = len(store.list(variant=None, include_hidden=True))
    bad = tmp_path / "bad.csv"
    bad.write_text("id,prediction\nlocation-halves/test_ood/9999999,0\n")
    with pytest.raises(AppError) as error:
        client.predict(handle_file(str(bad)), PROTOCOL, "bad", "dave", "", "", "", "other", api_name="/submit")
    message = str(error.value)
    assert "not evaluated items" in message and "\n" not in message
    assert len(store.list(variant=None, include_hidden=True)) == before
    assert "bad.csv" not in uploaded_files(uploads), "a refused upload is deleted from gradio's cache"


def test_renaming_does_not_dodge_the_limit_and_settings_are_read_when_submitting(
    app, labels, classes, tmp_path, monkeypatch
):
    """Each submission under a new typed name still counts against the client's address."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client, store, _, uploads = app
    used, _ = remaining_quota(store, LOCAL)
    monkeypatch.setenv("ELSEWHERE_RATE_LIMIT", str(used + 3))
    paths = [write_csv(noisy_predictions(labels, 5 + k, classes, offset=2), tmp_path / f"r{k}.csv") for k in range(4)]
    for k, path in enumerate(paths[:3]):
        client.predict(handle_file(str(path)), PROTOCOL, "busy", f"erin-{k}", "", "", "", "other", api_name="/submit")
    with pytest.raises(AppError, match=f"limit is {used + 3} \\(whatever name"):
        client.predict(
            handle_file(str(paths[3])), PROTOCOL, "busy", "a-new-name", "", "", "", "other", api_name="/submit"
        )
    assert remaining_quota(store, LOCAL) == (used + 3, used + 3)
    assert "a-new-name" not in [e.submitter for e in store.list()]
    monkeypatch.setenv("ELSEWHERE_RATE_LIMIT", "100")
    monkeypatch.setenv("ELSEWHERE_MAX_UPLOAD_MB", str(100 / 2**20))
    with pytest.raises(AppError, match="over the upload limit of 100"):
        client.predict(handle_file(str(paths[3])), PROTOCOL, "big", "frank", "", "", "", "other", api_name="/submit")
    assert not {path.name for path in paths} & set(uploaded_files(uploads)), "no upload is left behind"


def test_model_endpoint_compares_two_entries_on_the_same_items(app, labels):
    client, store, expected, _ = app
    entries = {e.model_name: e for e in store.list(protocol=PROTOCOL)}
    a, b = entries["baseline-gap"], entries["baseline-mlp"]
    summary_a, heatmap_a, curves_a, summary_b, _, _, metrics, comparison = client.predict(a.id, b.id, api_name="/model")
    # The paired counts, worked out here from the two prediction patterns on test_ood.
    ood = labels["split"].to_numpy() == "test_ood"
    position = labels.index.to_numpy()
    right = {name: (position % every != 0)[ood] for name, every in BASELINES}
    a_only = int((right["baseline-gap"] & ~right["baseline-mlp"]).sum())
    b_only = int((~right["baseline-gap"] & right["baseline-mlp"]).sum())
    assert f"Only A right on {a_only}, only B right on {b_only} items" in comparison
    assert f"{100 * expected['baseline-gap']:.1f}% vs {100 * expected['baseline-mlp']:.1f}%" in comparison
    assert "McNemar exact p" in comparison
    assert summary_a.startswith(f"### #{a.id} baseline") and "verified" in summary_a
    assert "**Versions**" in summary_a and a.fingerprint in summary_a
    assert summary_b.startswith(f"### #{b.id} baseline")
    for image in (heatmap_a, curves_a):
        assert Path(image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = {row[0]: row for row in metrics["data"]}
    assert rows["OOD accuracy (test_ood)"][1] == pytest.approx(expected["baseline-gap"], abs=1e-4)


def test_model_page_escapes_user_text(app, labels, classes, tmp_path):
    from gradio_client import handle_file

    client, store, _, _ = app
    path = write_csv(noisy_predictions(labels, 7, classes, offset=4), tmp_path / "x.csv")
    name = "![x](https://example.org/t.png) <img src=x onerror=alert(1)>"
    client.predict(
        handle_file(str(path)),
        PROTOCOL,
        name,
        "mallory",
        "https://example.org/a(b)",
        "*bold*",
        "",
        "other",
        api_name="/submit",
    )
    entry = store.list()[-1]
    assert entry.model_name == name
    summary = client.predict(entry.id, None, api_name="/model")[0]
    assert "<img" not in summary and "&lt;img" in summary and "!\\[x\\]" in summary
    assert "Notes: \\*bold\\*" in summary and "(https://example.org/a%28b%29)" in summary


def test_hidden_entries_leave_the_table_and_the_model_page(app, labels, classes, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client, store, _, _ = app
    path = write_csv(noisy_predictions(labels, 11, classes, offset=5), tmp_path / "h.csv")
    client.predict(handle_file(str(path)), PROTOCOL, "to hide", "grace", "", "", "", "other", api_name="/submit")
    entry = store.list()[-1]
    store.hide(entry.id, "test")
    table = client.predict(api_name="/table")
    assert "to hide" not in [row[table["headers"].index("Model")] for row in table["data"]]
    with pytest.raises(AppError, match=f"no entry {entry.id}"):
        client.predict(entry.id, None, api_name="/model")
    for bad in ("9" * 40, "-1", "1e3"):
        with pytest.raises(AppError, match="is not an entry id"):
            client.predict(bad, None, api_name="/model")
    with pytest.raises(AppError, match="no entry 999999 on this leaderboard") as missing:
        client.predict(999999, None, api_name="/model")
    assert "sqlite" not in str(missing.value), "the store's path stays on the server"


def test_auth_users_are_the_identity(tiny_dataset, labels, classes, tmp_path, monkeypatch):
    """Behind --auth the signed-in user is who the limit counts, whatever name is typed."""
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from elsewhere.leaderboard.app import launch

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    monkeypatch.setenv("ELSEWHERE_RATE_LIMIT", "2")
    db, port = tmp_path / "auth.sqlite", free_port()
    demo = launch(
        db, tiny_dataset, port=port, auth=["alice:pw-a", ("bob", "pw-b")], prevent_thread_lock=True, quiet=True
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        with pytest.raises(Exception):  # noqa: B017 - no password, no app (gradio_client's own error)
            Client(url, verbose=False).predict(api_name="/table")
        alice, bob = (
            Client(url, auth=("alice", "pw-a"), verbose=False),
            Client(url, auth=("bob", "pw-b"), verbose=False),
        )
        paths = [write_csv(noisy_predictions(labels, 3 + k, classes), tmp_path / f"a{k}.csv") for k in range(4)]
        for k in range(2):
            alice.predict(
                handle_file(str(paths[k])), PROTOCOL, "net", f"alias-{k}", "", "", "", "other", api_name="/submit"
            )
        with pytest.raises(AppError, match="limit is 2"):
            alice.predict(
                handle_file(str(paths[2])), PROTOCOL, "net", "alias-2", "", "", "", "other", api_name="/submit"
            )
        bob.predict(handle_file(str(paths[3])), PROTOCOL, "net", "", "", "", "", "other", api_name="/submit")
        store = Store(db)
        assert remaining_quota(store, "auth:alice") == (2, 2) and remaining_quota(store, "auth:bob") == (1, 2)
        assert [e.submitter for e in store.list()] == ["alias-0", "alias-1", "bob"]
    finally:
        demo.close()


def test_only_uploads_are_forgotten(tmp_path, monkeypatch):
    """Deleting an upload never reaches outside gradio's upload folder, whatever path a handler is given."""
    from elsewhere.leaderboard.app import forget_upload

    uploads, elsewhere = tmp_path / "uploads", tmp_path / "mine"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    (uploads / "abc").mkdir(parents=True)
    elsewhere.mkdir()
    upload, keep = uploads / "abc" / "p.csv", elsewhere / "p.csv"
    upload.write_text("id,prediction\n")
    keep.write_text("id,prediction\n")
    for outside in (keep, uploads / "abc" / ".." / ".." / "mine" / "p.csv", None, ""):
        forget_upload(outside)
    assert keep.exists()
    forget_upload(upload)
    assert not upload.exists() and not (uploads / "abc").exists() and uploads.exists()


def test_csv_files_are_named_by_content():
    from elsewhere.leaderboard.app import CsvFiles

    files = CsvFiles()
    first, again, other = (
        files.write("suite", b"a,b\n1,2\n"),
        files.write("suite", b"a,b\n1,2\n"),
        files.write("suite", b"a\n"),
    )
    assert first == again != other and first.name == "elsewhere-suite.csv"
    assert first.read_bytes() == b"a,b\n1,2\n" and other.read_bytes() == b"a\n"
    assert sorted(p.name for p in files.folder.rglob("*") if p.is_file()) == ["elsewhere-suite.csv"] * 2


def test_csv_files_leave_no_folder_behind():
    """Every app built (each test, each restart of the board) made a temporary folder that outlived it."""
    import gc

    from elsewhere.leaderboard.app import CsvFiles

    files = CsvFiles()
    folder = files.write("suite", b"a\n").parent.parent
    del files
    gc.collect()
    assert not folder.exists()


def test_a_board_stopped_by_sigterm_leaves_no_folder_behind(tiny_dataset: Path, tmp_path: Path):
    """A Space restart, `docker stop` or `kill` sends SIGTERM, which ended the board without its exit
    handlers: its CSV folder stayed in the temporary folder. It now shuts down as on Ctrl-C."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()
    command = [str(Path(sys.executable).parent / "elsewhere"), "leaderboard", "--port", str(port)]
    command += ["--db", str(tmp_path / "board.sqlite"), "--data", str(tiny_dataset)]
    env = dict(os.environ, TMPDIR=str(temp), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    board = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                    break
            except OSError:
                assert board.poll() is None, board.stdout.read().decode()[-3000:]
                time.sleep(0.5)
        else:
            pytest.fail("the board did not answer within 2 minutes")
        assert [p.name[:13] for p in temp.glob("elsewhere-csv-*")] == ["elsewhere-csv"]
        board.send_signal(signal.SIGTERM)
        output = board.communicate(timeout=60)[0].decode()
    finally:
        board.kill()
    # 0: stopped while serving; 130: the signal came while gradio was still starting up ("interrupted").
    assert board.returncode in (0, 130) and "Traceback" not in output, output[-3000:]
    assert not list(temp.glob("elsewhere-csv-*"))


STOP_A_BLOCKING_LAUNCH = """
import _thread, signal, sys, threading, time, urllib.request
from elsewhere.leaderboard.app import launch

db, data, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

def interrupt_once_served():
    for _ in range(240):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
            print("served", flush=True)
            break
        except OSError:
            time.sleep(0.5)
    _thread.interrupt_main()

threading.Thread(target=interrupt_once_served, daemon=True).start()
try:
    launch(db, data, port=port, quiet=True)
except KeyboardInterrupt:
    pass  # the interrupt came before gradio blocked
print("SIGTERM handler after launch:", signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
"""


def test_a_blocking_launch_puts_the_sigterm_handler_back_when_it_returns(tiny_dataset: Path, tmp_path: Path):
    """The SIGTERM mapping belongs to the serving board: a script that serves, stops the board and
    goes on must get its own SIGTERM handling back."""
    port = free_port()
    command = [sys.executable, "-c", STOP_A_BLOCKING_LAUNCH, str(tmp_path / "board.sqlite"), str(tiny_dataset)]
    env = dict(os.environ, TMPDIR=str(tmp_path), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    done = subprocess.run([*command, str(port)], env=env, capture_output=True, text=True, timeout=180)
    assert "served" in done.stdout, (done.stdout + done.stderr)[-3000:]  # the board did serve
    assert "SIGTERM handler after launch: True" in done.stdout, (done.stdout + done.stderr)[-3000:]


def test_panel_endpoint_gives_the_committed_table(app):
    from elsewhere.leaderboard.views import panel_view

    client, _, _, _ = app
    table, note = client.predict("iid", api_name="/panel")
    frame, expected_note = panel_view("iid")
    assert note == expected_note and "**control**" in note
    architecture = table["headers"].index("Architecture")
    assert [row[architecture] for row in table["data"]] == list(frame["Architecture"])


@pytest.mark.parametrize(
    "protocol", ["nowhere", "x" * 100_000, "iid\u202e🙂", "IID", " iid", None, ["iid"], 5, {"name": "iid"}]
)
def test_panel_endpoint_refuses_what_is_not_a_protocol_in_one_line(app, protocol):
    from gradio_client.exceptions import AppError

    client, _, _, _ = app
    with pytest.raises(AppError) as refused:
        client.predict(protocol, api_name="/panel")
    message = str(refused.value)
    assert "unknown protocol" in message and "choose one of location-halves-clutter" in message
    assert "\n" not in message and len(message) <= 1_000 and "Traceback" not in message
    # The board still answers afterwards.
    assert client.predict("iid", api_name="/panel")[1].startswith("**iid**")


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"view": "x" * 100_000}, "unknown view"),
        ({"columns": ["<script>"]}, "column"),
        ({"min_parameters": "1e999"}, ""),
        ({"verified": "maybe"}, ""),
        ({"families": ["\x00" * 10_000]}, None),
        ({"search": "(" * 100_000}, None),
    ],
)
def test_table_endpoint_answers_hostile_arguments_in_one_short_line(app, arguments, words):
    from gradio_client.exceptions import AppError

    client, _, _, _ = app
    try:
        table = client.predict(**arguments, api_name="/table")
    except AppError as refused:
        message = str(refused)
        assert words is not None and words in message, message[:300]
        assert "\n" not in message and len(message) <= 1_000 and "<script>" not in message
    else:
        assert words is None and table["data"] == [] and table["note"] == ""
