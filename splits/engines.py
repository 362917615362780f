"""Engines: where independent tasks run — shards of a generation, training runs of a sweep.

``local`` (the default) runs them in a pool of processes on this machine and needs nothing beyond
the package. ``ray`` runs each as a Ray task, on a cluster given by its address (``ray start
--head`` prints it) or, with no address, on a Ray instance this process starts or already holds;
an address where nothing answers is refused within seconds (Ray alone retries for minutes).
Ray is imported only when chosen. A task is a module-level function and its argument, both
pickled to the worker, and it returns its whole result to the caller: workers never write into
the caller's output, so a task that fails and is retried cannot leave a partial or duplicate file
behind, and both engines give the same results for the same tasks.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from elsewhere.errors import ElsewhereError

ENGINES = ("local", "ray")
RETRIES = 2
# What a task raises that is worth another try: the file system or network failing around it. A
# refusal (``ElsewhereError``: bad input, a diverged run) fails the same way every time, so it
# fails at once. A worker or node that dies is retried whatever it was running.
RETRIED = [OSError]
RAY_EXTRA = "pip install 'elsewhere[ray]'"
# How long a cluster's address may take to accept a connection before it counts as unreachable.
PROBE_SECONDS = 5.0


@dataclass(frozen=True)
class Engine:
    """Where tasks run: ``kind`` (``local`` or ``ray``), local ``workers``, a Ray cluster ``address``."""

    kind: str = "local"
    workers: int | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ENGINES:
            raise ElsewhereError(f"unknown engine {self.kind!r}; choose one of {', '.join(ENGINES)}")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise ElsewhereError(f"bad number of workers {self.workers!r}; use a whole number of at least 1")
        if self.address is not None and self.kind != "ray":
            raise ElsewhereError(
                f"a cluster address ({self.address}) needs the ray engine; the local engine takes none"
            )


def run_tasks(
    function: Callable[[Any], Any],
    items: Iterable[Any],
    engine: Engine = Engine(),
    *,
    gpus: float = 0,
    fresh_workers: bool = False,
) -> Iterator[Any]:
    """``function(item)`` for every item, yielded as each finishes (in any order).

    Args:
        function: a module-level function (pickled by reference to the workers).
        items: the tasks' arguments.
        engine: where to run them.
        gpus: GPUs each task holds (Ray schedules by it; the local engine runs one task per worker).
        fresh_workers: start local workers from a clean server process instead of forking this one.
            Tasks that run torch need it: a process that has already used torch's OpenMP thread pool
            hangs its forked children the first time they use it.

    Raises:
        whatever a task raised: locally after the tasks already running have finished and been
        yielded; on Ray at once, or once the retries of a dead worker or an ``OSError`` are spent.
        The tasks not yet started never start.
    """
    items = list(items)
    if engine.kind == "ray":
        yield from _ray_tasks(function, items, engine.address, gpus)
        return
    workers = min(engine.workers or os.cpu_count() or 1, max(len(items), 1))
    if workers == 1:
        yield from map(function, items)
        return
    # Forked workers start at once with everything imported; a worker that dies breaks the pool
    # with an error instead of hanging it (multiprocessing.Pool would wait forever).
    context = multiprocessing.get_context(local_start_method(fresh_workers))
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending = {pool.submit(function, item) for item in items}
        failure: BaseException | None = None
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    if future.cancelled():
                        continue
                    if future.exception() is None:
                        yield future.result()
                    elif failure is None:  # start nothing more, but keep what is already running
                        failure = future.exception()
                        for waiting in pending:
                            waiting.cancel()
        finally:
            for future in pending:
                future.cancel()
        if failure is not None:
            raise failure


def local_start_method(fresh_workers: bool = False) -> str:
    """How the local engine starts its workers: ``fork``, unless forking this process is unsafe.

    A process connected to Ray holds Ray's gRPC threads and their locks; a forked child inherits a
    lock some thread held at the fork, and hangs for good the first time it frees a Ray object
    (seen: a shard worker blocked in ``GcsRpcClient``'s destructor after ``--engine ray`` had run in
    the same process). Such a process, like one asking for ``fresh_workers``, starts its workers
    from a clean server process instead.
    """
    ray = sys.modules.get("ray")
    ray_connected = ray is not None and getattr(ray, "is_initialized", lambda: False)()
    return "forkserver" if fresh_workers or ray_connected else "fork"


def connect_ray(address: str | None = None):
    """The ``ray`` module, connected to ``address`` (or to a local instance it starts)."""
    try:
        import ray
    except ImportError:
        raise ElsewhereError(f"the ray engine needs Ray, which is not installed; {RAY_EXTRA}") from None
    if not ray.is_initialized():
        if address is not None:
            _probe(address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            reason = " ".join(str(error).split())[:300]
            raise ElsewhereError(
                f"cannot connect to {where} ({reason}); start one with `ray start --head` and give its address"
            ) from None
    return ray


def _probe(address: str) -> None:
    """Fail within seconds when nothing listens at ``host:port``: Ray itself keeps retrying for minutes.

    Addresses that are not ``host:port`` (``auto``, ``local``, a malformed one) are left to Ray.
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    if not 0 < int(port) < 65536:
        raise ElsewhereError(f"bad Ray cluster address {address}: port {port} is not in 1-65535; give HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS):
            pass
    except OSError as error:
        reason = f"no answer within {PROBE_SECONDS:g} s" if isinstance(error, TimeoutError) else error.strerror
        raise ElsewhereError(
            f"cannot reach the Ray cluster at {address} ({reason or error}); check that its "
            "head node is running (`ray start --head` prints the address to use) and that this host can reach "
            "that port"
        ) from None


def _ray_tasks(function: Callable[[Any], Any], items: list[Any], address: str | None, gpus: float) -> Iterator[Any]:
    ray = connect_ray(address)
    remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=RETRIES, retry_exceptions=RETRIED)(function)
    pending = [remote.remote(item) for item in items]
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            try:
                result = ray.get(done[0])
            except ray.exceptions.RayTaskError as error:
                if isinstance(error.cause, ElsewhereError):  # its own line, not Ray's coloured traceback
                    raise error.cause from None
                raise
            yield result
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
