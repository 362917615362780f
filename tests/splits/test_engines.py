"""Engines: local processes and Ray tasks give the same folder; a failed task is retried, never doubled."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from elsewhere.api import generate
from elsewhere.cli import main
from elsewhere.errors import ElsewhereError
from elsewhere.splits.engines import Engine, local_start_method, run_tasks
from elsewhere.splits.registry import parse_protocols
from elsewhere.splits.shards import Job, build_shard, plan, save_shard

PROTOCOLS = "location-halves,red-green"


def _square(x: int) -> int:
    return x * x


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_local_engine_returns_every_result_once():
    assert sorted(run_tasks(_square, range(7), Engine("local", workers=2))) == [x * x for x in range(7)]
    assert list(run_tasks(_square, [3], Engine("local", workers=1))) == [9]
    assert list(run_tasks(_square, [], Engine("local", workers=2))) == []


def _fail_once_the_other_runs(task: tuple[str, str]) -> str:
    """``fail`` raises only after ``slow`` has started, so the test sees a task truly in flight."""
    name, folder = task
    started = Path(folder) / "slow-started"
    if name == "fail":
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        raise ElsewhereError("this task fails")
    started.touch()
    time.sleep(1.0)
    return name


def test_a_failed_local_task_keeps_the_results_of_the_tasks_in_flight(tmp_path):
    # A sweep's runs last minutes: one failing run must not throw away the others already running
    # (they are waited for anyway), nor hide them from the caller, who saves each as it arrives.
    seen = []
    tasks = [("fail", str(tmp_path)), ("slow", str(tmp_path))]
    with pytest.raises(ElsewhereError, match="this task fails"):
        for result in run_tasks(_fail_once_the_other_runs, tasks, Engine("local", workers=2)):
            seen.append(result)
    assert seen == ["slow"]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"kind": "spark"}, "unknown engine 'spark'; choose one of local, ray"),
        ({"kind": "local", "address": "10.0.0.1:6379"}, "needs the ray engine"),
        ({"kind": "local", "workers": 0}, "bad number of workers 0"),
    ],
)
def test_bad_engines_are_refused_in_one_line(kwargs, words):
    with pytest.raises(ElsewhereError, match=words) as error:
        Engine(**kwargs)
    assert "\n" not in str(error.value)


def test_unknown_engine_on_the_command_line_writes_nothing(tmp_path, capsys):
    out = tmp_path / "data"
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--out", str(out), "--size", "tiny", "--engine", "spark"])
    assert exit_.value.code == 2 and "invalid choice: 'spark'" in capsys.readouterr().err
    status = main(["generate", "--out", str(out), "--size", "tiny", "--address", "10.0.0.1:6379", "--quiet"])
    assert status == 2 and "needs the ray engine" in capsys.readouterr().err
    assert not out.exists() and not any(tmp_path.iterdir())


def test_the_local_engine_never_imports_ray(tmp_path):
    code = (
        "import sys\nfrom elsewhere.api import generate\n"
        f"generate({str(tmp_path / 'data')!r}, protocols='location-halves', size='tiny', workers=2, progress=False)\n"
        "print('ray' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def _closed_port() -> int:
    """A local port where nothing listens (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "address, words",
    [
        (None, "cannot reach the Ray cluster at 127.0.0.1:{port} (Connection refused"),
        ("127.0.0.1:99999", "bad Ray cluster address 127.0.0.1:99999: port 99999 is not in 1-65535"),
    ],
)
def test_an_unreachable_cluster_fails_at_once_in_one_line_and_writes_nothing(tmp_path, address, words):
    # In a fresh process: this one may already hold a Ray instance, which connect_ray would reuse.
    pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'elsewhere[ray]'")
    port = _closed_port()
    address = address or f"127.0.0.1:{port}"
    out = tmp_path / "data"
    command = ["generate", "--out", str(out), "--size", "tiny", "--engine", "ray", "--address", address, "--quiet"]
    code = f"import sys\nfrom elsewhere.cli import main\nsys.exit(main({command!r}))\n"
    # Ray alone would retry for about two minutes; the timeout only keeps a regression from hanging the suite.
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words.format(port=port) in lines[0], done.stderr
    assert not out.exists() and not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install 'elsewhere[ray]'")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.mark.slow
def test_local_workers_are_not_forked_from_a_process_connected_to_ray(ray_instance):
    # A forked child inherits Ray's gRPC locks as some thread held them; one such child hung this
    # suite in the test below. Started from a server process, the workers hold none.
    assert ray_instance.is_initialized()
    assert local_start_method() == "forkserver"
    assert sorted(run_tasks(abs, [-2, -1, 3], Engine(workers=2))) == [1, 2, 3]


def test_local_workers_fork_when_nothing_makes_it_unsafe():
    code = "from elsewhere.splits.engines import local_start_method as m; print(m(), m(fresh_workers=True))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["fork", "forkserver"], done.stderr


@pytest.mark.slow
def test_ray_engine_writes_the_same_folder_byte_for_byte(ray_instance, tmp_path):
    local = generate(tmp_path / "local", protocols=PROTOCOLS, size="tiny", seed=5, workers=2, progress=False)
    remote = generate(tmp_path / "ray", protocols=PROTOCOLS, size="tiny", seed=5, progress=False, engine="ray")
    assert remote == local
    assert _files(tmp_path / "ray") == _files(tmp_path / "local")
    # Nothing temporary is left beside the shards, manifest and card (written once, at the end).
    assert not [p for p in (tmp_path / "ray").rglob("*") if p.name.startswith(".")]


def _crash_once(task):
    """``build_shard``, except that the first attempt at the first shard dies half-way (a lost worker)."""
    shard, job, marker = task
    if shard.index == 0 and shard.split == "train" and not os.path.exists(marker):
        Path(marker).touch()
        build_shard((shard, job))  # the work done before the crash is lost with the worker
        os._exit(1)
    return build_shard((shard, job))


@pytest.mark.slow
def test_a_task_that_dies_is_retried_and_its_shard_written_once(ray_instance, tmp_path):
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    job = Job(seed=5, size="tiny")
    shards = plan(parse_protocols("location-halves"), "tiny")
    marker = str(tmp_path / "crashed")
    root = tmp_path / "root"
    results = list(run_tasks(_crash_once, [(s, job, marker) for s in shards], Engine("ray")))
    assert os.path.exists(marker), "the first attempt did not run"
    assert sorted(w.shard.path for w, _ in results) == sorted(s.path for s in shards)
    for written, data in results:
        save_shard(root, written, data)
    expected = generate(tmp_path / "local", protocols="location-halves", size="tiny", seed=5, workers=1, progress=False)
    assert _files(root / "data") == _files(tmp_path / "local" / "data")
    rows = sum(w.rows for w, _ in results)
    assert rows == sum(s["rows"] for s in expected["protocols"]["location-halves"]["splits"].values())


def _refuse(marker: str) -> None:
    with open(marker, "a") as attempts:
        attempts.write("attempt\n")
    raise ElsewhereError("a refusal: the same input fails the same way every time")


def _fail_once_with_os_error(marker: str) -> str:
    with open(marker, "a") as attempts:
        attempts.write("attempt\n")
    if Path(marker).read_text().count("attempt") == 1:
        raise OSError("a passing failure of the file system")
    return "done"


@pytest.mark.slow
def test_ray_runs_a_refused_task_once_and_retries_a_passing_failure(ray_instance, tmp_path):
    # A refusal (bad input, a diverged training run) is deterministic: retrying it only wastes the
    # run's time again, twice. A failure of the system around the task may pass.
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    refused = tmp_path / "refused"
    with pytest.raises(ElsewhereError, match="a refusal") as refusal:
        list(run_tasks(_refuse, [str(refused)], Engine("ray")))
    assert refused.read_text().count("attempt") == 1
    # The task's own line reaches the user, not Ray's account of the remote traceback.
    assert str(refusal.value) == "a refusal: the same input fails the same way every time"
    passing = tmp_path / "passing"
    assert list(run_tasks(_fail_once_with_os_error, [str(passing)], Engine("ray"))) == ["done"]
    assert passing.read_text().count("attempt") == 2


def test_a_damaged_shard_is_refused_and_not_written(tmp_path):
    job = Job(seed=5, size="tiny")
    shard = plan(parse_protocols("location-halves"), "tiny")[0]
    written, data = build_shard((shard, job))
    with pytest.raises(OSError, match="arrived damaged"):
        save_shard(tmp_path, written, data[:-1] + bytes([data[-1] ^ 1]))
    assert not any(tmp_path.rglob("*.parquet"))
    save_shard(tmp_path, written, data)
    assert (tmp_path / shard.path).read_bytes() == data


@pytest.mark.slow
@pytest.mark.parametrize("fresh, hangs", [(False, True), (True, False)])
def test_fresh_workers_survive_torch_in_the_parent(fresh, hangs):
    """A process that ran torch's OpenMP pool hangs its forked children's first parallel op (seen in
    the sweep); fresh workers, as the sweep's training tasks use, do not."""
    code = (
        "import torch\n"
        "from elsewhere.splits.engines import Engine, local_start_method, run_tasks\n"
        "torch.set_num_threads(2)\n"
        "torch.nn.Conv2d(3, 16, 3)(torch.randn(64, 3, 64, 64)).sum().backward()\n"
        f"sizes = [len(t) for t in run_tasks(torch.ones, [2_000_000] * 2, Engine(workers=2), fresh_workers={fresh})]\n"
        "assert sizes == [2_000_000] * 2\n"
    )
    # Its own session, so that a hang is ended for the forked workers too, not only their parent.
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        assert hangs, "fresh workers hung"
        return
    assert not hangs or process.returncode != 0, "forked workers did not hang: this test no longer shows the hazard"
    assert process.returncode == 0, stderr.decode()[-2000:]
