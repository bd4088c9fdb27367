"""Issue 11 item 6: a real `rekindle run --workers 2` process, signalled while its workers decide.

SIGTERM and SIGINT stop the run cleanly (a `failed` row, the lock released, the staging folder
and its journal entry gone, exit 128 + signal); SIGKILL cannot be caught, but the workers die
with their parent (PR_SET_PDEATHSIG) and the next start removes the staging folder.
Issue 11: "kill -9 / SIGTERM of a --workers 2 run orphans both workers (~500 MB each, blocked
for 8+ minutes); SIGTERM leaves the lock and no failed row".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.store.database import dispose_all, get_engine
from nightly_inputs import RULES, STRATEGIES

ROOT = Path(__file__).resolve().parents[3]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_signalled_run_leaves_no_workers_lock_or_temp(tmp_path, night_inputs, signum):
    inputs = night_inputs
    home = tmp_path / "home"
    home.mkdir()
    os.symlink(inputs.models, home / "models")
    db = f"sqlite:///{tmp_path / 'night.db'}"
    out = tmp_path / "lists"
    env = dict(os.environ, REKINDLE_HOME=str(home))
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "run", "--data", str(inputs.data), "--as-of",
                             inputs.as_of.isoformat(), "--db", db, "--rules", str(RULES), "--strategies",
                             str(STRATEGIES), "--workers", "2", "--out", str(out)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: len(children(proc.pid)) >= 2 or proc.poll() is not None, 300)
        workers = children(proc.pid)
        assert len(workers) == 2 and proc.poll() is None, "the run ended before its workers could be signalled"
        os.kill(proc.pid, signum)
        _stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert wait_for(lambda: not any(alive(w) for w in workers), 15), "a worker outlived its run"
    staging = [p for p in tmp_path.iterdir() if p.name.startswith(".lists.tmp-")]
    try:
        with get_engine(db).connect() as conn:
            runs = conn.execute(text("SELECT status, error FROM run")).all()
            locks = conn.execute(text("SELECT run_id, pid FROM run_lock")).all()
    finally:
        dispose_all()
    assert not out.exists()
    if signum == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        assert runs == [] and len(locks) == 1 and staging  # nothing could run; the next start recovers
        from engine.night import outdir
        from engine.store.read import succeeded_run

        os.environ["REKINDLE_HOME"], saved = str(home), os.environ.get("REKINDLE_HOME")
        try:
            done = outdir.recover(db, lambda rid: succeeded_run(db, rid))
        finally:
            dispose_all()
            if saved is None:
                os.environ.pop("REKINDLE_HOME")
            else:
                os.environ["REKINDLE_HOME"] = saved
        assert len(done) == 1 and "removed" in done[0] and not staging[0].exists()
        return
    assert proc.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and signal.Signals(signum).name in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert [r.status for r in runs] == ["failed"] and signal.Signals(signum).name in runs[0].error
    assert locks == [] and staging == [] and list((home / "pending").iterdir()) == []
