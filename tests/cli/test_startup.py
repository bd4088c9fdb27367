"""Reading a stored run must not pay for scikit-learn: `rekindle explain` is what an auditor
types, and importing sklearn costs seconds. Checked in a fresh interpreter.

`rekindle explain` on an SQLite store goes further (issue 9: under 0.5 s from the shell): run
in a fresh interpreter, it must not import SQLAlchemy/SQLModel nor the data stack at all.
Not timed (the machine is shared): the test names the modules that must stay out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from auditrun import query


@pytest.mark.parametrize("module", ["engine.outputs.explain", "engine.outputs.audit", "engine.outputs.export",
                                    "cli.main"])
def test_readers_do_not_import_scikit_learn(module):
    code = f"import sys, {module}; print(any(m == 'sklearn' or m.startswith('sklearn.') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# What `rekindle explain` must never import: the store's ORM (engine/store/lite.py reads SQLite
# with the standard library), the data stack, the models, the rule engine, YAML, the syntax
# highlighter (`rules show` needs it), and pydantic: typer 0.29 converts options through it (+0.2 s
# of CPU per command), so pyproject.toml keeps typer below 0.29 and this list holds the line.
HEAVY = ("sqlalchemy", "sqlmodel", "pandas", "numpy", "pyarrow", "sklearn", "skops", "durable_rules", "yaml",
         "psycopg", "starlette", "hypothesis", "pygments", "pydantic")

# Runs `rekindle ARGS` (ARGS: JSON in argv[1]) as the console script does, then prints which of
# HEAVY (JSON in argv[2]) it imported, and its exit code.
EXPLAIN_IN_A_FRESH_PROCESS = """
import json, sys
args, heavy = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
sys.argv = ["rekindle", *args]
from cli.main import main
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code
print("\\nIMPORTED " + json.dumps({"exit": code, "heavy": sorted({m.split(".")[0] for m in sys.modules} & heavy),
                                    "cli": sorted(m for m in sys.modules if m.startswith("cli."))}))
"""


def _explain_imports(args: list[str], heavy: tuple = HEAVY, output: list | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", EXPLAIN_IN_A_FRESH_PROCESS, json.dumps(args), json.dumps(heavy)],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    if output is not None:
        output.append(out.stdout.rsplit("IMPORTED ", 1)[0])
    return json.loads(out.stdout.rsplit("IMPORTED ", 1)[1])


def _contacted_recently(run) -> str:
    """A subscriber of the run that the contact policy's contacted_recently rule excluded
    (explain then names the earlier contacts: engine.store.loopback.prior_contacts)."""
    rows = query(run.db_url, "SELECT msisdn FROM decision WHERE run_id = ? AND decision = 'excluded' "
                             "AND reason = 'contacted_recently' ORDER BY msisdn LIMIT 1", (run.run_id,))
    assert rows, "the shared run has no contacted_recently exclusion to explain"
    return rows[0]["msisdn"]


@pytest.mark.parametrize("backend", ["sqlite"])  # the subject is the stdlib read of an SQLite store
def test_explain_from_the_shell_imports_no_orm_nor_data_stack(run):
    # one fresh process per subscriber (a few seconds each on a busy machine): the readable form
    # and the JSON document in turn, every kind of decision, and a contacted_recently exclusion
    msisdns = [run.examples[k] for k in ("treat", "excluded", "held_out", "out_of_scope")] + [_contacted_recently(run)]
    for i, msisdn in enumerate(msisdns):
        extra = ["--json"] if i % 2 else []
        seen = _explain_imports(["explain", msisdn, "--db", run.db_url, *extra])
        assert seen == {"exit": 0, "heavy": [], "cli": EXPLAIN_CLI}, (msisdn, extra)


# The console script loads only the module of the command it is asked for (cli/main.py's tables):
# `rekindle explain` does not import the other commands' modules (nor what they import at the top).
EXPLAIN_CLI = ["cli.common", "cli.explain", "cli.main"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_explain_json_from_the_shell_imports_neither_other_commands_nor_rich(run):
    output: list = []
    seen = _explain_imports(["explain", run.examples["treat"], "--db", run.db_url, "--json"], HEAVY + ("rich",), output)
    assert seen == {"exit": 0, "heavy": [], "cli": EXPLAIN_CLI}
    assert json.loads(output[0])["msisdn"] == run.examples["treat"]


def test_the_console_script_builds_only_the_command_asked_for_and_everything_otherwise():
    from cli import main as cli_main

    assert cli_main.command_named(["--debug", "explain", "13800000001", "--json"]) == "explain"
    assert cli_main.command_named(["audit", "verify"]) == "audit"
    assert cli_main.command_named(["--help"]) is None and cli_main.command_named([]) is None
    assert cli_main.command_named(["no-such-command"]) is None  # the full app then names the real ones
    one = cli_main.build_app("explain")
    assert [c.name for c in one.registered_commands] == ["explain"] and one.registered_groups == []
    full = cli_main.build_app()
    assert {c.name for c in full.registered_commands} == set(cli_main.COMMANDS)
    assert {g.name for g in full.registered_groups} == set(cli_main.GROUPS)
    assert cli_main.app.registered_commands  # `from cli.main import app`: the full app
