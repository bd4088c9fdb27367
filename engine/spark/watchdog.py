"""A Spark job of the night fails, naming its stage, instead of hanging or failing as something else.

Every Spark call of a night's stage runs inside `watched(spark, stage)`. Whatever ends it —
a job's error, the driver's JVM gone, or no progress — leaves as one `SparkJobFailed`: "the
Spark job of the <stage> stage failed: …", which takes engine/night/run.py's failure path like
any other error (the run's transaction never commits, the staged files are removed, the lock is
released, a `failed` run row records the message). What `watched` handles:

- **A job's error** (py4j's or PySpark's: a task that failed its attempts, a cancelled job).
- **The driver's JVM ended** (its OutOfMemoryError with `-XX:+ExitOnOutOfMemoryError`, set by
  engine/spark/driver.py; Spark's own exit on an executor thread's OOM in local mode, code 52;
  the kernel's OOM killer): the blocked py4j call then fails at once, and not always with a
  py4j error (a collect's result socket gives `ConnectionRefusedError`, measured), and the
  socket can break while the JVM is still exiting: after such an error the JVM's process (the
  gateway's `Popen`) is given EXIT_WAIT seconds to end, and the message names its exit code and
  heap instead of a socket error.
- **No progress**: a thread pool's thread can die of an error the job never hears of (the 1M
  attempt's OutOfMemoryError in `task-result-getter`: the task never counts as finished and
  the job waits forever). A daemon thread reads Spark's status tracker every POLL seconds while
  the stage runs; progress is any change in the active jobs or in their stages' finished or
  failed task counts. When jobs are active and nothing changes for REKINDLE_SPARK_STALL_SECONDS
  (default 1800: a task of a night — a 128 MiB part, a 50,000-subscriber slice — takes minutes
  at most; a cluster that queues the job longer needs a larger value), it cancels the jobs
  (`SparkContext.cancelAllJobs`: a night is the process's only Spark work), and if the blocked
  call has not returned GRACE seconds later (a wedged scheduler), it kills the driver's JVM, so
  the call fails at once. Time the driver spends in Python between jobs is not a stall: with no
  active job the clock does not run.

Limits: the tracker sees tasks, not progress inside a task, so one task longer than the stall
time is a stall; a JVM so wedged that the tracker does not answer is caught only by its end.
"""

from __future__ import annotations

import contextlib
import threading
import time

from engine.base.envnumber import positive_number

STALL_ENV = "REKINDLE_SPARK_STALL_SECONDS"
DEFAULT_STALL = 1800.0
POLL = 2.0  # seconds between two readings of the status tracker
GRACE = 60.0  # seconds a cancelled job's call has to return before the JVM is killed
EXIT_WAIT = 30.0  # seconds a JVM whose connection broke has to end before the error is taken as it is
# Exit codes of the driver's JVM worth naming.
EXITS = {3: "out of memory: -XX:+ExitOnOutOfMemoryError", 52: "out of memory: Spark's handler for an executor thread",
         -9: "killed (SIGKILL: the kernel's OOM killer, or a person)", -15: "terminated (SIGTERM)"}


class SparkJobFailed(RuntimeError):
    """A Spark job of the night failed; `stage` is the night's stage it belonged to. `exit_code`
    4 (environment, engine/base/exitcodes.py) when the machine failed it — the JVM ended or the
    job stalled — so the command line prints the message instead of "internal error"."""

    def __init__(self, stage: str, error: BaseException | str, environment: bool = False):
        if isinstance(error, str):
            cause = error
        else:
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            cause = next((line for line in lines if "Error" in line or "Exception" in line),
                         lines[0] if lines else type(error).__name__)
        super().__init__(f"the Spark job of the {stage} stage failed: {cause[:400]}")
        self.stage = stage
        if environment:
            self.exit_code = 4


def spark_errors() -> tuple[type, ...]:
    """The errors a Spark call raises for a failed job (py4j's and PySpark's)."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    return (Py4JError, PySparkException)


def stall_seconds() -> float:
    """REKINDLE_SPARK_STALL_SECONDS, checked (SP004), else DEFAULT_STALL."""
    return positive_number(STALL_ENV, DEFAULT_STALL, code="SP004", unit="seconds", parse=float,
                           hint=f"unset it for {DEFAULT_STALL:.0f} s, or give a number of seconds > 0 "
                                "after which a Spark job that makes no progress fails the night")


def jvm_process(spark):
    """The driver JVM's process (subprocess.Popen) when this Python launched it, else None."""
    gateway = getattr(spark.sparkContext, "_gateway", None)
    return getattr(gateway, "proc", None)


def jvm_ended(spark, heap: str = "") -> str | None:
    """Why the driver's JVM is gone ("the driver's JVM ended with exit code 3 (…)"), or None.
    `heap`: its spark.driver.memory, named when it ran out of memory."""
    process = jvm_process(spark)
    code = process.poll() if process is not None else None
    if code is None:
        return None
    why = EXITS.get(code, "")
    return (f"the driver's JVM ended with exit code {code}" + (f" ({why})" if why else "")
            + (f"; its heap was spark.driver.memory={heap}: raise it with REKINDLE_SPARK_DRIVER_MEMORY (docs/SPARK.md)"
               if heap and code in (3, 52) else ""))


def driver_heap(spark) -> str:
    """The driver's spark.driver.memory as the session was given it ("" when Spark's default)."""
    try:
        return spark.sparkContext.getConf().get("spark.driver.memory", "") or ""
    except Exception:  # noqa: BLE001  (a JVM already gone: the message names its exit code only)
        return ""


class Watchdog(threading.Thread):
    """Watches the status tracker while a stage runs; cancels (then kills) a stalled job."""

    def __init__(self, spark, limit: float, poll: float = POLL, grace: float = GRACE):
        super().__init__(name="rekindle-spark-watchdog", daemon=True)
        self.spark, self.limit, self.poll, self.grace = spark, limit, poll, min(grace, limit)
        self.reason: str | None = None
        self.heap = driver_heap(spark)  # read while the JVM answers, for the message of its end
        self._done = threading.Event()

    def stop(self) -> None:
        self._done.set()

    def _progress(self):
        """What moves while a job progresses; None when no job is active."""
        tracker = self.spark.sparkContext.statusTracker()
        jobs = tuple(sorted(tracker.getActiveJobsIds()))
        if not jobs:
            return None
        stages = []
        for stage in sorted(tracker.getActiveStageIds()):
            info = tracker.getStageInfo(stage)
            if info is not None:
                stages.append((stage, info.currentAttemptId, info.numCompletedTasks, info.numFailedTasks))
        return jobs, tuple(stages)

    def run(self) -> None:
        seen, since = None, time.monotonic()
        while not self._done.wait(self.poll):
            if jvm_process(self.spark) is not None and jvm_process(self.spark).poll() is not None:
                return  # the blocked call fails by itself; `watched` names the exit
            try:
                now_seen = self._progress()
            except Exception:  # noqa: BLE001  (the JVM going away: its end is seen above next time)
                continue
            now = time.monotonic()
            if now_seen is None or now_seen != seen:
                seen, since = now_seen, now
                continue
            if now - since >= self.limit:
                jobs, stages = now_seen
                done = ", ".join(f"stage {s}: {c} tasks done" for s, _a, c, _f in stages) or "no active stage"
                self.reason = (f"no progress for {self.limit:g} s ({STALL_ENV}; job {', '.join(map(str, jobs))}, "
                               f"{done}); the job was cancelled")
                self._stop_stalled()
                return

    def _stop_stalled(self) -> None:
        try:
            self.spark.sparkContext.cancelAllJobs()
        except Exception:  # noqa: BLE001  (a JVM that cannot cancel is killed below)
            pass
        if self._done.wait(self.grace):
            return
        process = jvm_process(self.spark)
        if process is not None and process.poll() is None:
            self.reason += f"; it did not end within {self.grace:g} s, so the driver's JVM was killed"
            process.kill()


def _await_exit(spark, error: BaseException) -> None:
    """After a broken connection to the JVM, give its process EXIT_WAIT seconds to end: the socket
    can break while the JVM is still exiting (after -XX:+ExitOnOutOfMemoryError's message, before
    its process ends), and the message should name the exit, not "Connection refused"."""
    from py4j.protocol import Py4JNetworkError

    process = jvm_process(spark)
    if process is None or not isinstance(error, (OSError, EOFError, Py4JNetworkError)):
        return
    try:
        process.wait(timeout=EXIT_WAIT)
    except Exception:  # noqa: BLE001  (still running: the error is what it says)
        pass


def failure(spark, stage: str, error: BaseException, dog: "Watchdog | None" = None) -> BaseException:
    """The error to raise for `error`, met in a Spark call of `stage`: SparkJobFailed when the
    watchdog stopped the job, the JVM is gone or Spark reports a failed job; else `error`."""
    _await_exit(spark, error)
    ended = jvm_ended(spark, dog.heap if dog is not None else "")
    reason = (dog.reason if dog is not None else None) or ended
    if reason:
        return SparkJobFailed(stage, reason, environment=True)
    if isinstance(error, spark_errors()) and not isinstance(error, SparkJobFailed):
        return SparkJobFailed(stage, error)
    return error


@contextlib.contextmanager
def watched(spark, stage: str, limit: float | None = None):
    """Run a stage's Spark calls under the watchdog; any way they fail leaves as SparkJobFailed
    naming `stage` (module docstring). Other errors (a DiagnosticError of the snapshot, an
    interrupt) pass unchanged while the JVM lives."""
    dog = Watchdog(spark, stall_seconds() if limit is None else limit)
    dog.start()
    try:
        yield dog
    except BaseException as error:
        found = failure(spark, stage, error, dog)
        if found is error:
            raise
        raise found from None
    finally:
        dog.stop()
