"""kill -9 of a real run process at several stages leaves no partial run and no stray files;
the rerun succeeds and decides exactly what an undisturbed run decides.

The run process is a real `python` child running `run_night`; its progress callback sends
SIGKILL to its own process when the chosen stage starts (with --workers 2, so worker processes
exist and are orphaned too). "score" is reached with every slice's tables in files in the staging
folder (the snapshot read straight into them, engine/night/slicesplit.py); "decide" with every
slice's scores beside them (engine/night/slicescore.py). "files" is reached with every decision and trace already written
inside the run's uncommitted transaction; "store" with the channel files staged on disk.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from engine.base.diagnostics import DiagnosticError
from engine.night import outdir
from engine.night.run import run_night
from engine.outputs.audit import verify_run
from engine.outputs.explain import explain
from engine.store.read import resolve_run
from test_run import decisions, options, payloads, rows

KILLER = textwrap.dedent("""
    import os, signal, sys
    from datetime import date
    from pathlib import Path
    from engine.night.run import RunOptions, run_night

    data, models, db, out, rules, strategies, as_of, stage = sys.argv[1:]

    def progress(name):
        if name == stage:
            os.kill(os.getpid(), signal.SIGKILL)

    run_night(RunOptions(data=Path(data), as_of=date.fromisoformat(as_of), db_url=db, out=Path(out), workers=2,
                         rules_dir=Path(rules), strategies_dir=Path(strategies), models_dir=Path(models)),
              progress=progress)
    sys.exit(3)  # not killed: the stage was never reached
""")


def _kill_at(opts, stage: str) -> int:
    args = [sys.executable, "-c", KILLER, str(opts.data), str(opts.models_dir), opts.db_url, str(opts.out),
            str(opts.rules_dir), str(opts.strategies_dir), opts.as_of.isoformat(), stage]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run(args, env=env, timeout=600).returncode


@pytest.fixture
def reference(stored_run_sqlite):
    """An undisturbed run, what every rerun must equal: the session's shared stored run on SQLite
    (tests/auditrun.py: the same inputs and shipped content, default options), read only."""
    run = stored_run_sqlite
    return decisions(run.db_url, run.run_id), payloads(run.db_url, run.run_id), run.out, run.db_url


@pytest.mark.parametrize("stage", ["score", "decide", "rows", "files", "store"])
def test_kill_9_at_a_stage_leaves_nothing_and_the_rerun_is_identical(inputs, home, reference, stage):
    # A SQLite file: this test is about processes killed mid-run, not about the backend.
    opts = options(inputs, home, f"sqlite:///{home / 'night.db'}")
    assert _kill_at(opts, stage) == -9
    db = opts.db_url
    for table in ("run", "decision", "trace", "out_of_scope", "trace_block", "out_of_scope_block"):
        assert rows(db, f"SELECT count(*) FROM {table}")[0][0] == 0, table
    with pytest.raises(DiagnosticError):
        resolve_run("latest", db)  # explain, export, report and audit verify all start here
    assert not opts.out.exists()

    result = run_night(opts)
    assert not [p.name for p in home.iterdir() if p.name.startswith(".run")]  # the killed run's staging is gone
    assert not (home / "night.db-journal").exists()
    ref_decisions, ref_payloads, ref_out, ref_db = reference
    assert decisions(db, result.run_id) == ref_decisions
    strip = lambda texts, run_id: [t.replace(run_id, "RUN") for t in texts]  # noqa: E731
    ref_id = resolve_run("latest", ref_db).id
    assert strip(payloads(db, result.run_id), result.run_id) == strip(ref_payloads, ref_id)
    # The channel files are byte-identical; the folder's ownership marker (engine/night/outdir.py)
    # names the run that wrote it, so it holds each run's own id.
    assert sorted(p.name for p in opts.out.iterdir()) == sorted(p.name for p in ref_out.iterdir())
    for path in sorted(ref_out.iterdir()):
        if path.name == outdir.MARKER:
            assert path.read_text(encoding="utf-8") == f"{ref_id}\n"
            assert (opts.out / path.name).read_text(encoding="utf-8") == f"{result.run_id}\n"
            continue
        assert (opts.out / path.name).read_bytes() == path.read_bytes()
    pending = home / "home" / "pending"  # the staging journal (REKINDLE_HOME/pending): the killed run's entry is gone too
    assert not pending.exists() or not any(pending.iterdir()), sorted(pending.iterdir())
    assert verify_run(result.run_id, db).ok
    msisdn = ref_decisions[0][0]
    assert explain(result.run_id, msisdn, db_url=db)["facts"]
