"""Packaging: scoring needs neither torch nor gradio; the wheel installs one name, ``elsewhere``, and
passes the tests from outside the repository, beside a user's own ``evaluation/`` folder."""

import json
import os
import socket
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from elsewhere.errors import ElsewhereError
from elsewhere.extras import missing_extra, optional_dependencies

REPO = Path(__file__).resolve().parents[1]
PROTOCOL = "location-halves"
OPTIONAL = ("torch", "safetensors", "gradio")
# Tests run against the installed wheel: every stage, without the slow ones (they run here anyway).
WHEEL_TESTS = (
    "tests/test_files.py",
    "tests/test_registry.py",
    "tests/generator/test_shapes.py",
    "tests/splits/test_protocols.py",
    "tests/evaluation/test_metrics.py",
    "tests/evaluation/test_predictions.py",
    "tests/evaluation/test_results.py",
)
# Runs the command line in a fresh interpreter and reports which optional modules it imported.
RUN_CLI = f"""
import json, sys
from elsewhere.cli import main
status = main(sys.argv[1:])
loaded = sorted(m for m in {OPTIONAL!r} if m in sys.modules)
print(json.dumps({{"status": status, "loaded": loaded}}))
"""


def oracle_predictions(dataset: Path, path: Path) -> Path:
    """A predictions CSV that is right on every evaluated item of PROTOCOL, read from the shards."""
    rows = [
        pq.read_table(shard, columns=["id", "label"])
        for split in ("test_id", "test_ood", "probe")
        for shard in sorted((dataset / "data" / PROTOCOL).glob(f"{split}-*.parquet"))
    ]
    lines = ["id,prediction"] + [f"{i},{label}" for table in rows for i, label in zip(*table.to_pydict().values())]
    path.write_text("\n".join(lines) + "\n")
    return path


def environment(home: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(home), **extra}


def run_cli(python: str, argv: list, cwd: Path, env: dict) -> tuple[dict, str]:
    done = subprocess.run(
        [python, "-c", RUN_CLI, *map(str, argv)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def score_argv(dataset: Path, predictions: Path, out: Path) -> list:
    return ["score", "--data", dataset, "--protocol", PROTOCOL, "--predictions", predictions, "--out", out]


def test_scoring_a_predictions_file_imports_neither_torch_nor_gradio(tiny_dataset, tmp_path):
    predictions = oracle_predictions(tiny_dataset, tmp_path / "oracle.csv")
    report, _ = run_cli(
        sys.executable, score_argv(tiny_dataset, predictions, tmp_path / "r.json"), tmp_path, environment(tmp_path)
    )
    assert report == {"status": 0, "loaded": []}
    assert json.loads((tmp_path / "r.json").read_text())["metrics"]["ood_accuracy"]["value"] == 1.0


def fresh_environment(folder: Path, leave_out: tuple[str, ...]) -> tuple[str, Path]:
    """A new virtual environment holding, as links, this one's packages but those whose names contain
    a word of ``leave_out``; returns its python and its site-packages. Its .pth files run, so unless
    left out, this checkout's editable install is the ``elsewhere`` it imports."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", folder], check=True, timeout=300)
    python = str(folder / "bin" / "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not any(word in entry.name.lower() for word in leave_out):
            (Path(purelib) / entry.name).symlink_to(entry)
    return python, Path(purelib)


def test_without_the_extras_scoring_works_and_the_rest_says_which_extra_in_one_line(tiny_dataset, tmp_path):
    python, _ = fresh_environment(tmp_path / "venv", leave_out=OPTIONAL)
    env = environment(tmp_path)
    predictions = oracle_predictions(tiny_dataset, tmp_path / "oracle.csv")
    report, stderr = run_cli(python, score_argv(tiny_dataset, predictions, tmp_path / "r.json"), tmp_path, env)
    assert report == {"status": 0, "loaded": []}, stderr

    factory = tmp_path / "model.py"
    factory.write_text("def build(num_classes):\n    raise AssertionError('never reached')\n")
    argv = ["evaluate", "--data", tiny_dataset, "--protocol", PROTOCOL, "--model", f"{factory}:build"]
    report, stderr = run_cli(python, [*argv, "--out", tmp_path / "e.json"], tmp_path, env)
    assert report["status"] == 2
    assert stderr.strip() == (
        "elsewhere evaluate: error: this needs torch, which is not installed; "
        "install the 'torch' extra: pip install 'elsewhere[torch]'"
    )

    # The architectures are choices of the command line, read from a module that needs torch.
    argv = ["train", "--data", tiny_dataset, "--protocol", PROTOCOL, "--arch", "cnn-gap", "--out", tmp_path / "run"]
    report, stderr = run_cli(python, argv, tmp_path, env)
    assert report["status"] == 2
    assert stderr.strip() == (
        "elsewhere: error: this needs torch, which is not installed; "
        "install the 'torch' extra: pip install 'elsewhere[torch]'"
    )

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["leaderboard", "--data", tiny_dataset, "--db", tmp_path / "board.sqlite", "--port", port]
    report, stderr = run_cli(python, argv, tmp_path, env)
    assert report["status"] == 2
    assert stderr.strip() == (
        "elsewhere leaderboard: error: this needs gradio, which is not installed; "
        "install the 'leaderboard' extra: pip install 'elsewhere[leaderboard]'"
    )


def test_a_missing_module_that_no_extra_provides_keeps_its_traceback():
    assert missing_extra(ModuleNotFoundError("No module named 'numpy'", name="numpy")) is None
    assert "elsewhere[torch]" in str(missing_extra(ModuleNotFoundError("", name="torch.nn")))
    with pytest.raises(ModuleNotFoundError), optional_dependencies():
        import a_module_nobody_ships  # noqa: F401
    with pytest.raises(ElsewhereError, match=r"elsewhere\[leaderboard\]"), optional_dependencies():
        raise ModuleNotFoundError("No module named 'gradio'", name="gradio")


def working_tree_copy(destination: Path) -> Path:
    """The repository's files as a user's checkout has them (tracked and new, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return destination


@pytest.mark.slow
def test_the_wheel_installs_only_elsewhere_and_passes_the_tests_from_outside_the_repository(tiny_dataset, tmp_path):
    if not (REPO / ".git").exists():
        pytest.skip("the source files are listed by git: run this test in a git checkout")
    # Built from a copy, so that the build's own folders never land in the checkout.
    source = working_tree_copy(tmp_path / "source")
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, f"{source}/"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = dist.glob("elsewhere-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"elsewhere", wheel.name.split("-py")[0] + ".dist-info"}
    for stage in ("generator", "splits", "evaluation", "leaderboard"):
        assert f"elsewhere/{stage}/__init__.py" in names
    assert "elsewhere/evaluation/results.schema.json" in names

    # A fresh environment with this one's dependencies but not its editable install, then the wheel.
    python, purelib = fresh_environment(tmp_path / "venv", leave_out=("elsewhere",))
    before = {p.name for p in purelib.iterdir()}
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel],
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert {p.name for p in purelib.iterdir()} - before == {"elsewhere", wheel.name.split("-py")[0] + ".dist-info"}

    # A user's script beside a folder of their own called evaluation/ (and one called splits/).
    user = tmp_path / "user"
    for folder in ("evaluation", "splits"):
        (user / folder).mkdir(parents=True)
        (user / folder / "__init__.py").write_text("WHOSE = 'the user'\n")
    (user / "evaluation" / "data.py").write_text("raise ImportError('the user evaluation package was imported')\n")
    (user / "score.py").write_text(
        textwrap.dedent(
            """
            import json, sys
            import evaluation
            import elsewhere
            results = elsewhere.score(sys.argv[1], sys.argv[2], sys.argv[3])
            print(json.dumps({"ood": results["metrics"]["ood_accuracy"]["value"], "module": elsewhere.__file__,
                              "user": evaluation.WHOSE}))
            """
        )
    )
    predictions = oracle_predictions(tiny_dataset, user / "oracle.csv")
    env = environment(tmp_path / "home")
    done = subprocess.run(
        [python, "score.py", tiny_dataset, PROTOCOL, predictions],
        cwd=user,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ood"] == 1.0 and report["user"] == "the user"
    assert Path(report["module"]).is_relative_to(purelib)

    # The installed command, from the user's folder.
    done = subprocess.run(
        [Path(python).parent / "elsewhere", *score_argv(tiny_dataset, predictions, user / "r.json")],
        cwd=user,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0 and "out-of-location accuracy 1.0000" in done.stdout, done.stderr

    # The repository's tests against the installed package; a check first that it is the one imported.
    (user / "test_installed.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            import elsewhere.evaluation.metrics, elsewhere.splits.registry

            def test_the_package_under_test_is_the_installed_wheel():
                for module in (elsewhere.evaluation.metrics, elsewhere.splits.registry):
                    assert Path(module.__file__).is_relative_to({str(purelib)!r}), module.__file__
            """
        )
    )
    done = subprocess.run(
        [python, "-m", "pytest", "-q", "-x", "-c", REPO / "pyproject.toml", "--rootdir", REPO, "-m", "not slow"]
        + ["test_installed.py"]
        + [REPO / test for test in WHEEL_TESTS],
        cwd=user,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.strip().splitlines()[-1]


@pytest.fixture
def shared_conftest(request):
    """tests/conftest.py, as pytest loaded it."""
    path = str(Path(__file__).with_name("conftest.py"))
    (module,) = [p for p in request.config.pluginmanager.get_plugins() if getattr(p, "__file__", None) == path]
    return module


@pytest.mark.parametrize("ci, outcome", [("", pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_browser_tests_skip_without_chromium_unless_ci_asks_for_it(
    request, shared_conftest, monkeypatch, tmp_path, ci, outcome
):
    monkeypatch.setattr(shared_conftest, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", ci)
    shared_conftest.pytest_runtest_setup(request.node)  # not a browser test: runs
    request.node.add_marker("browser")
    with pytest.raises(outcome, match=r"Chromium is not installed .*apt-get install -y chromium"):
        shared_conftest.pytest_runtest_setup(request.node)
