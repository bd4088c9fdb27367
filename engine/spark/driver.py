"""The driver JVM's launch settings: its heap, and that an OutOfMemoryError ends it.

The driver's JVM reads its heap size (`spark.driver.memory`, its `-Xmx`) only when it is
launched, so it is decided here, in Python, before the session starts — and checked, so a bad
value is named with where it came from instead of ending in PySpark's "Java gateway process
exited". In local mode this one JVM also runs the executors' side of every task and receives
every result (the typed tables of the snapshot stage, the rows of each slice), so its heap is
the night's limit: 4 GB by default, which is short at 1M subscribers (docs/SPARK.md).

Where the heap size comes from, first found wins:

1. `REKINDLE_SPARK_DRIVER_MEMORY` (the night's own setting) and/or PYSPARK_SUBMIT_ARGS'
   `--driver-memory X` / `--conf spark.driver.memory=X` (Spark's): both are explicit, so when
   both are given they must agree (SP003 otherwise: Spark applies PYSPARK_SUBMIT_ARGS after
   the session's own settings, so a silent choice between them would not be ours to make);
2. `spark.driver.memory` in `$SPARK_CONF_DIR/spark-defaults.conf` (else `$SPARK_HOME/conf/`);
3. `SPARK_DRIVER_MEMORY` in the environment (spark-submit's own fallback);
4. local mode: 4g (LOCAL_DRIVER_MEMORY); on a cluster master: Spark's default (1g).

A size is a JVM heap size with its unit, as spark-submit passes it to `-Xmx`: a whole number
followed by k, m, g or t (`10g`, `10240m`), at least 450m (Spark refuses a driver whose heap is
smaller: UnifiedMemoryManager's 1.5 × 300 MB). A bare number is refused: Spark's launcher would
hand it to the JVM as bytes.

**An OutOfMemoryError ends the JVM** (`-XX:+ExitOnOutOfMemoryError`, prepended to the driver's
Java options through `spark.driver.defaultJavaOptions`, merged with any the configuration
already gives). Without it a driver OOM in one of Spark's own threads (the 1M attempt: the
`task-result-getter` threads deserialising the typed parts) kills that thread only, the task
never counts as finished, and the job waits forever. With it the JVM exits at once, the py4j
call of the job fails, and the night ends with SparkJobFailed naming its stage
(engine/spark/watchdog.py). `spark.driver.defaultJavaOptions` (Spark ≥ 3.0) is the option meant
for defaults, so `spark.driver.extraJavaOptions` stays the operator's. One case is not
merged: PYSPARK_SUBMIT_ARGS' own `--conf spark.driver.defaultJavaOptions=…` is applied by Spark
after the session's and replaces it — put -XX:+ExitOnOutOfMemoryError in it there (the
watchdog's no-progress limit still ends a hung job).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from engine.base.diagnostics import Diagnostic, DiagnosticError

MEMORY_ENV = "REKINDLE_SPARK_DRIVER_MEMORY"
MEMORY_KEY = "spark.driver.memory"
DEFAULT_OPTIONS_KEY = "spark.driver.defaultJavaOptions"
BAD_MEMORY = "SP003"
# Heap of the one JVM of a local-mode night: every task's results come back to it (the snapshot
# stage's typed tables: ~4 GB at 1M subscribers, where 4g ran out) and the rows job's records of
# one slice and the next one's; 1 GB ran out at 100k with 50k-subscriber slices.
LOCAL_DRIVER_MEMORY = "4g"
EXIT_ON_OOM = "-XX:+ExitOnOutOfMemoryError"
MINIMUM_MIB = 450  # Spark's UnifiedMemoryManager refuses a smaller heap
_SIZE = re.compile(r"^([0-9]+)([kKmMgGtT])$")
_MIB = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}
HINT = f"give a heap size with its unit, e.g. 10g or 10240m; at least {MINIMUM_MIB}m"


@dataclass(frozen=True)
class Setting:
    """A value and where it was found (for the diagnostic that names a bad one)."""

    value: str
    source: str  # "REKINDLE_SPARK_DRIVER_MEMORY", "PYSPARK_SUBMIT_ARGS", a spark-defaults.conf path, …
    line: int | None = None


def heap_mib(text: str) -> float | None:
    """The heap size `text` names in MiB, or None when it is not a JVM heap size with a unit."""
    found = _SIZE.match(text.strip())
    return int(found.group(1)) * _MIB[found.group(2).lower()] if found else None


def _checked(setting: Setting) -> str:
    """The heap size `setting` gives, or SP003 naming it and where it came from."""
    mib = heap_mib(setting.value)
    if mib is not None and mib >= MINIMUM_MIB:
        return setting.value.strip()
    what = "is not a heap size" if mib is None else f"is below the {MINIMUM_MIB}m the Spark driver needs"
    if setting.line is not None:  # spark-defaults.conf: its file and line
        found = Diagnostic(BAD_MEMORY, f"{MEMORY_KEY}={setting.value!r} {what}", file=setting.source,
                           line=setting.line, hint=HINT)
    elif setting.source.endswith("_MEMORY"):  # an environment variable
        found = Diagnostic(BAD_MEMORY, f"{setting.source}={setting.value!r} {what}", hint=HINT)
    else:
        found = Diagnostic(BAD_MEMORY, f"{setting.source}: {MEMORY_KEY}={setting.value!r} {what}", hint=HINT)
    raise DiagnosticError([found])


def defaults_file() -> Path | None:
    """spark-defaults.conf as spark-submit finds it: $SPARK_CONF_DIR, else $SPARK_HOME/conf."""
    folder = os.environ.get("SPARK_CONF_DIR")
    if not folder:
        home = os.environ.get("SPARK_HOME")
        if not home:
            try:
                import pyspark
            except ImportError:
                return None
            home = str(Path(pyspark.__file__).parent)  # what pyspark's launcher uses without SPARK_HOME
        folder = str(Path(home) / "conf")
    path = Path(folder) / "spark-defaults.conf"
    return path if path.is_file() else None


def _from_defaults(key: str) -> Setting | None:
    """`key`'s value in spark-defaults.conf (a Java properties file: `key value`, `key=value`
    or `key: value`; the last occurrence wins, as in java.util.Properties)."""
    path = defaults_file()
    if path is None:
        return None
    found = None
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        text = line.strip()
        if not text or text[0] in "#!":
            continue
        parts = re.split(r"\s*[=:\s]\s*", text, maxsplit=1)
        if parts[0] == key:
            found = Setting(parts[1] if len(parts) > 1 else "", str(path), number)
    return found


def _from_submit_args(key: str, flag: str | None) -> Setting | None:
    """`key`'s value in PYSPARK_SUBMIT_ARGS (`--conf key=v`, `--conf=key=v`, `-c key=v`, or
    `flag v`); the last one wins, as in spark-submit."""
    words = shlex.split(os.environ.get("PYSPARK_SUBMIT_ARGS", ""))
    found = None
    for i, word in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) else ""
        if word in ("--conf", "-c") and following.startswith(key + "="):
            found = following[len(key) + 1:]
        elif word.startswith(f"--conf={key}="):
            found = word[len(f"--conf={key}="):]
        elif flag and word == flag and following:
            found = following
        elif flag and word.startswith(flag + "="):
            found = word[len(flag) + 1:]
    return Setting(found, "PYSPARK_SUBMIT_ARGS") if found is not None else None


def driver_memory(master: str) -> str | None:
    """The driver's heap size for a session on `master` (module docstring), checked; None:
    Spark's own default (a cluster master with no setting anywhere)."""
    mine = os.environ.get(MEMORY_ENV, "").strip()
    explicit = [s for s in (Setting(mine, MEMORY_ENV) if mine else None,
                            _from_submit_args(MEMORY_KEY, "--driver-memory")) if s is not None]
    sizes = {s.source: _checked(s) for s in explicit}
    if len({heap_mib(v) for v in sizes.values()}) > 1:
        raise DiagnosticError([Diagnostic(
            BAD_MEMORY, f"{MEMORY_ENV}={sizes[MEMORY_ENV]!r} and PYSPARK_SUBMIT_ARGS' "
                        f"{MEMORY_KEY}={sizes['PYSPARK_SUBMIT_ARGS']!r} disagree",
            hint=f"set the driver's heap in one place: unset {MEMORY_ENV}, or remove --driver-memory from PYSPARK_SUBMIT_ARGS")])
    if sizes:
        return next(iter(sizes.values()))
    found = _from_defaults(MEMORY_KEY)
    if found is None and os.environ.get("SPARK_DRIVER_MEMORY", "").strip():
        found = Setting(os.environ["SPARK_DRIVER_MEMORY"], "SPARK_DRIVER_MEMORY")
    if found is not None:
        return _checked(found)
    return LOCAL_DRIVER_MEMORY if master.startswith("local") else None


def default_java_options(given: str | None = None) -> str:
    """`spark.driver.defaultJavaOptions` with EXIT_ON_OOM first: `given` (the session's own
    conf), else PYSPARK_SUBMIT_ARGS' or spark-defaults.conf's value, kept after it."""
    if given is None:
        found = _from_submit_args(DEFAULT_OPTIONS_KEY, None) or _from_defaults(DEFAULT_OPTIONS_KEY)
        given = found.value if found is not None else ""
    if "OnOutOfMemoryError" in given:  # the operator chose (Exit/Crash…): kept as given
        return given.strip()
    return f"{EXIT_ON_OOM} {given}".strip()


def launch_settings(master: str, conf: dict[str, str] | None = None) -> dict[str, str]:
    """The settings the session gives the driver's JVM at launch (module docstring). `conf`:
    the caller's own settings (tests), which win."""
    conf = dict(conf or {})
    settings = {DEFAULT_OPTIONS_KEY: default_java_options(conf.pop(DEFAULT_OPTIONS_KEY, None))}
    memory = conf.pop(MEMORY_KEY, None)
    memory = _checked(Setting(memory, "session conf")) if memory is not None else driver_memory(master)
    if memory is not None:
        settings[MEMORY_KEY] = memory
    return settings
