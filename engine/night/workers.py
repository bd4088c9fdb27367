"""Worker processes for a nightly run: one long-lived process per partition of subscribers.

durable_rules holds the GIL and is not thread-safe, so a run scales with processes. Each worker
is forked with the run's prepared fact frame already in memory (no pickling of the input), builds
its own object (a `Partition`, which builds its own Decider: durable_rules rulesets and their
lambdas do not pickle), and then answers method calls from the parent over a pipe. The object
keeps its state between calls, so the two phases of a run (decide; then build the stored rows
once arbitration is known) run where the facts already are.

With one worker everything runs in the calling process through the same object, so
`--workers 1` and `--workers N` execute the same code on the same partitions' facts.

Workers never outlive the run: on Linux each asks the kernel for SIGKILL when its parent dies
(prctl PR_SET_PDEATHSIG, so even `kill -9` of the run takes them along), ignores SIGINT (a
Ctrl-C reaches the whole process group; the parent decides) and takes the default SIGTERM.
When the parent leaves the `with Workers(...)` block by an exception (a failure, SIGTERM or
SIGINT: `stop_on_signals` turns both into `Interrupted`), the workers are killed at once
instead of being waited for.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Interrupted(KeyboardInterrupt):
    """The run received SIGTERM or SIGINT; `signum` says which (exit code 128 + signum)."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Inside: SIGTERM and SIGINT raise `Interrupted` in the main thread, so the run's cleanup
    (failed row, lock, temp folder) runs as for any failure. Outside the main thread: no change."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        raise Interrupted(signum)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _die_with_parent(parent_pid: int) -> None:
    """In a worker: SIGKILL when the parent dies (Linux), the parent alone handles SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class WorkerError(RuntimeError):
    """A worker process failed; carries the worker's traceback text."""


def _serve(conn, make: Callable[[], Any], parent_pid: int | None = None) -> None:
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    try:
        target = make()
        conn.send(("ok", None))
    except BaseException:  # report construction failures to the parent
        conn.send(("error", traceback.format_exc()))
        return
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        name, args = message
        try:
            conn.send(("ok", getattr(target, name)(*args)))
        except BaseException:
            conn.send(("error", traceback.format_exc()))


class Workers:
    """`makers[i]()` builds the object of worker i; `call` runs one method on all of them."""

    def __init__(self, makers: Sequence[Callable[[], Any]], processes: bool = True):
        self._local: list[Any] = []
        self._pending: dict[int, Any] = {}  # worker -> its outstanding `submit` (the value, in-process)
        self._frozen = False
        self._procs: list[tuple[multiprocessing.Process, Any]] = []
        # Objects that exist now (the loaded snapshot, the scores) go to the collector's permanent
        # generation, so a forked child's garbage collections do not walk (and so write to, and
        # copy) every page of the parent's heap, and the parent's own collections skip them too,
        # in-process workers included, until `close` (then they are collected as before).
        gc.freeze()
        self._frozen = True
        if not processes:
            try:
                self._local = [make() for make in makers]
            except BaseException:
                self.close()
                raise
            return
        # fork: the children see the parent's prepared frames without copying them through a pipe.
        ctx = multiprocessing.get_context("fork")
        try:
            for make in makers:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_serve, args=(child, make, os.getpid()), daemon=True)
                proc.start()
                child.close()
                self._procs.append((proc, parent))
            for _proc, conn in self._procs:
                self._receive(conn)
        except BaseException:
            self.close(kill=True)
            raise

    @staticmethod
    def _receive(conn) -> Any:
        try:
            status, value = conn.recv()
        except EOFError as exc:
            raise WorkerError("a worker process died (out of memory?)") from exc
        if status != "ok":
            raise WorkerError(f"a worker failed:\n{value}")
        return value

    def call(self, name: str, per_worker_args: Sequence[tuple] | None = None) -> list[Any]:
        """Call method `name` on every worker (all at once), with its own args; results in worker order."""
        count = len(self._local) or len(self._procs)
        args = list(per_worker_args) if per_worker_args is not None else [()] * count
        if self._local:
            return [getattr(obj, name)(*a) for obj, a in zip(self._local, args)]
        for (_proc, conn), a in zip(self._procs, args):
            conn.send((name, a))
        return [self._receive(conn) for _proc, conn in self._procs]

    def call_one(self, index: int, name: str, args: tuple = ()) -> Any:
        """Call method `name` on worker `index` only (the run pulls each worker's sorted rows this way)."""
        if self._local:
            return getattr(self._local[index], name)(*args)
        _proc, conn = self._procs[index]
        conn.send((name, args))
        return self._receive(conn)

    def submit(self, index: int, name: str, args: tuple = ()) -> None:
        """Start method `name` on worker `index` and return at once; `result(index)` collects it.

        The run asks a worker for its next batch of rows before sealing the batch it has, so the
        worker builds rows while the parent writes. One call per worker may be outstanding."""
        if index in self._pending:
            raise RuntimeError(f"worker {index} already has a call outstanding")
        if self._local:
            self._pending[index] = getattr(self._local[index], name)(*args)
            return
        self._procs[index][1].send((name, args))
        self._pending[index] = None

    def busy(self, index: int) -> bool:
        return index in self._pending

    def result(self, index: int) -> Any:
        """The result of the call `submit` started on worker `index`."""
        value = self._pending.pop(index)
        if self._local:
            return value
        return self._receive(self._procs[index][1])

    def close(self, kill: bool = False) -> None:
        """Stop the worker processes (they exit on a None message or when the pipe closes);
        with `kill`, at once (SIGKILL: the run is failing and their work is no longer wanted)."""
        if kill:
            for proc, _conn in self._procs:
                if proc.is_alive():
                    proc.kill()
        for proc, conn in self._procs:
            try:
                conn.send(None)
            except (OSError, BrokenPipeError):
                pass
            conn.close()
        for proc, _conn in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self._procs = []
        self._local = []
        if self._frozen:
            gc.unfreeze()
            self._frozen = False

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(kill=exc_type is not None)
