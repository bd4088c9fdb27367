"""The PostgreSQL test server (tests/pgserver.py): when it cannot start, the session stops with one
clear message instead of skipping the PostgreSQL half of the suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pgserver import PgServerError, find_binary

ROOT = Path(__file__).resolve().parents[1]


def test_a_missing_program_is_named_with_what_to_install():
    with pytest.raises(PgServerError, match="`initdb_nowhere` not found on the PATH .* install PostgreSQL"):
        find_binary("initdb_nowhere")


def test_a_server_that_cannot_be_used_stops_the_session_with_one_message(tmp_path):
    env = dict(os.environ, REKINDLE_TEST_PG_URL=f"postgresql+psycopg://nobody@/postgres?host={tmp_path}")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/engine/store/test_database.py", "-k", "bulk_rows_arrive"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "the PostgreSQL tests cannot run" in done.stdout + done.stderr
    assert "skipped" not in done.stdout and " passed" not in done.stdout
