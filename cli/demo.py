"""`make demo`: the whole story on a fresh machine, as the commands a user would type.

Each step prints the command line, then runs the real `rekindle` command in this Python, so
what the demo shows is exactly what operations, planners and auditors would see.
"""

from __future__ import annotations

import argparse
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
    _approve_everything()
    step("8. Run a night (production: only approved content runs)",
         ["run", "--data", str(snapshot), "--as-of", as_of, "--out", str(out), "--workers", "2", "--production"])

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
    console.rule("[bold green]Demo finished")


def _approve_everything() -> None:
    """The supervising department approves the shipped content for its current bytes.

    Two roles (PLAYBOOKS.md §5): campaign planners (营销策划人员) edit and submit the packs,
    segmentation, sensitivity weights and strategies; the supervising department (主管部门)
    approves them. The shipped files were written and submitted by the planners; here the
    supervisor records the approval a production run checks.
    """
    console.rule("[bold]7. Planners edited and submitted; the supervising department (主管部门) approves (审核)")
    packs = sorted(p.stem for p in Path("rules").glob("*.yaml") if p.stem != "services")
    strategies = sorted(p.stem for p in Path("strategies").glob("*.yaml"))
    for name in packs:
        step(None, ["rules", "approve", name, "--by", "supervisor"], show=1)
    for name in strategies:
        step(None, ["strategies", "approve", name, "--by", "supervisor"], show=False)
    console.print(f"[dim]… and {len(strategies)} strategies approved the same way[/dim]")


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
