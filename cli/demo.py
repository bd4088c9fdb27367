"""`make demo`: the whole story on a fresh machine, as the commands a user would type.

Each step prints the command line, then runs the real `rekindle` command in this Python, so
what the demo shows is exactly what operations, planners and auditors would see.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from cli.main import app

console = Console()


WIDTH = "120"  # the width the commands lay their tables out for


def step(title: str | None, args: list[str], *, show: bool | int = True) -> str:
    """Run one `rekindle` command, echo it like a shell session, stop the demo if it fails.

    `show` is True (all output), False (none) or a number of closing lines to show.
    """
    if title:
        console.rule(f"[bold]{title}")
    console.print(f"[dim]$[/dim] rekindle {shlex.join(args)}", markup=True, highlight=False, soft_wrap=True)
    started = time.perf_counter()
    result = CliRunner().invoke(app, args, catch_exceptions=False, env={"COLUMNS": WIDTH})
    lines = result.output.rstrip().splitlines()
    if result.exit_code != 0 or show is True:
        shown = lines
    else:
        shown = lines[-show:] if show else []
    if shown:
        # as the command printed it: already laid out, so no second wrapping here
        sys.stdout.write("\n".join(shown) + "\n")
        sys.stdout.flush()
    if title:
        console.print(f"[dim]({time.perf_counter() - started:.1f} s)[/dim]")
    if result.exit_code != 0:
        console.print(f"[red]step failed with exit code {result.exit_code}[/red]")
        sys.exit(result.exit_code)
    return result.output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default="demo", help="folder for the demo snapshot and outputs")
    parser.add_argument("--subscribers", type=int, default=20000)
    parser.add_argument("--as-of", default="2026-11-15")
    opts = parser.parse_args(argv)

    root = Path(opts.dir)
    snapshot = root / "snapshot"
    out = root / "out"
    for path in (snapshot, out):
        shutil.rmtree(path, ignore_errors=True)
    as_of = opts.as_of

    step("1. Generate a sample operator (a snapshot of the base)",
         ["data", "generate", "--subscribers", str(opts.subscribers), "--seed", "7", "--as-of", as_of, "--out", str(snapshot)])
    step("2. Check the snapshot against the data contract", ["data", "check", str(snapshot)])
    step("3. Silent and low-use playbook types (沉默 / 低使用) by complete month and service",
         ["report", "silent-lowuse", "--data", str(snapshot), "--as-of", as_of])
    step("4. Train the stability (churn risk) model", ["models", "train", "stability", "--data", str(snapshot), "--as-of", as_of])
    step("5. Validate the planners' rule packs and strategies", ["rules", "validate", "rules", "strategies"])
    step("6. Run the packs' own tests and the operator's seed scenarios",
         ["rules", "test", "rules", "--cases", "tests/cases/seed_scenarios.yaml"], show=1)
    _approvals()
    step("8. Run a night (a trial run: `--production` runs only content a supervisor approved)",
         # --rerun: a second `make demo` repeats the night of the same date in demo/home's database
         ["run", "--data", str(snapshot), "--as-of", as_of, "--out", str(out), "--workers", "2", "--rerun"])

    treated, excluded = _pick_subscribers(out)
    if treated:
        step("9. Why was this subscriber targeted? (为什么选中)", ["explain", treated])
    if excluded:
        step("10. Why was this one not? (为什么未选中)", ["explain", excluded])
    step("11. Prove the stored decisions were not altered", ["audit", "verify", "--run", "latest"])
    step("12. The list for the SMS gateway", ["export", "--run", "latest", "--channel", "sms", "--out", str(out / "sms_export.csv")])
    head = (out / "sms_export.csv").read_text(encoding="utf-8").splitlines()[:6]
    sys.stdout.write("\n".join(head) + "\n")
    step("13. The monthly silent-user list 沉默用户视图 (type and causes per subscription)",
         ["export", "--run", "latest", "--view", "silent", "--out", str(out / "silent_view.csv")])
    head = (out / "silent_view.csv").read_text(encoding="utf-8").splitlines()[:6]
    sys.stdout.write("\n".join(head) + "\n")
    _loop(snapshot, out)
    console.rule("[bold green]Demo finished")
    _console_commands()


def _approvals() -> None:
    """Where approval stands. The demo approves nothing: approvals are recorded under the OS login
    of whoever runs `approve`, and the login that submitted content may not approve it (four
    eyes), so one person running a demo cannot — and should not — approve on their own."""
    console.rule("[bold]7. Approval 审核: planners (营销策划人员) edit and submit, the supervising department "
                 "(主管部门) approves under its own login")
    step(None, ["rules", "show", "long_term_silent"], show=3)
    console.print("[dim]`rekindle rules submit NAME` (planner), then `rekindle rules approve NAME` from the "
                  "supervisor's own login; the same login cannot do both (four eyes, exit 3).[/dim]")


def _console_commands() -> None:
    """The last lines: how to create a console user and open the audit console on this run."""
    import os

    result = CliRunner().invoke(app, ["report", "run", "--run", "latest", "--format", "json"], catch_exceptions=False)
    run_id = json.loads(result.output).get("run", "latest") if result.exit_code == 0 else "latest"
    home = os.environ.get("REKINDLE_HOME", ".rekindle")
    exe = Path(sys.executable).with_name("rekindle")
    try:
        exe = exe.relative_to(Path.cwd())
    except ValueError:
        pass
    prefix = f"REKINDLE_HOME={shlex.quote(home)} {shlex.quote(str(exe))}"
    console.print("[bold]The audit console 审计控制台[/bold] — create a user (you choose the password), then serve:",
                  highlight=False)
    sys.stdout.write(f"  {prefix} users add auditor --role auditor\n")
    sys.stdout.write(f"Open the console on this run at http://127.0.0.1:8080/runs/{run_id} after running:\n")
    sys.stdout.write(f"  {prefix} serve --port 8080\n")
    sys.stdout.flush()


def _loop(snapshot: Path, out: Path) -> None:
    """The closed loop (docs/LOOP.md) in four steps: the channels report back, it is stored,
    the call centre's orders wait, and the campaign is measured against its control group."""
    feedback = out / "feedback.csv"
    step("14. The channels report back (simulated for the sample operator) 营销反馈",
         ["data", "feedback", "--data", str(snapshot), "--run", "latest", "--out", str(feedback)])
    step("15. Load the feedback (loading it again changes nothing)", ["feedback", "load", str(feedback)])
    step("16. Work orders for the call centre and account managers 工单", ["orders", "list", "--state", "accepted"],
         show=8)
    step("17. Campaign evaluation 营销评估: treated vs holdout, uplift with its 95% interval",
         ["report", "campaign", "--format", "html", "--out", str(out / "campaign.html")])
    step(None, ["report", "campaign", "--format", "csv", "--out", str(out / "campaign.csv")], show=False)
    rows = list(csv.DictReader((out / "campaign.csv").open(encoding="utf-8")))
    for row in rows:
        if row["pack"] == "ALL":
            console.print(f"programme vs the universal control group: {row['treated']} treated, {row['control']} "
                          f"control; response uplift {float(row['uplift']):+.1%} "
                          f"[{float(row['uplift_low']):+.1%}, {float(row['uplift_high']):+.1%}] (95%, Newcombe)")
    console.print(f"[dim]{len(rows)} rows in {out / 'campaign.csv'}; the next night (`rekindle run … --as-of` "
                  "the day after) skips today's contacts and opt-outs; `rekindle models train response` learns "
                  "propensity from this history[/dim]")


def _pick_subscribers(out: Path) -> tuple[str | None, str | None]:
    """One treated and one excluded subscriber of the latest run, from the run's decisions."""
    result = CliRunner().invoke(app, ["report", "run", "--run", "latest", "--format", "json"], catch_exceptions=False)
    try:
        doc = json.loads(result.output)
    except ValueError:
        return None, None
    examples = doc.get("examples", {})
    return examples.get("treat"), examples.get("excluded")


if __name__ == "__main__":
    main()
