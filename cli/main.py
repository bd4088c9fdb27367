"""Entry point of the `rekindle` console script: wires the command groups together.

Each group lives in its own module and only parses options and calls the engine.

The wiring is a table (GROUPS, COMMANDS: name → module), read lazily: the console script
imports only the module of the command it was asked for (issue 9: `rekindle explain` is what an
auditor types, under 0.5 s from the shell, so it must not pay for importing every other
command's module and their rich tables). `rekindle --help`, an unknown or missing command name,
and `from cli.main import app` (the demo, the tests) get the full app with every command, built
on first use. The order of the tables is the order of `rekindle --help`.
"""

from __future__ import annotations

import importlib
import sys

import typer

from cli.common import RekindleGroup, set_debug

HELP = (
    "Rekindle — campaign decisions for silent (沉默) and low-use (低使用) value-added-service "
    "subscribers and retention of valuable, unstable subscribers (操心客户).\n\n"
    "State lives in REKINDLE_HOME (default ./.rekindle)."
)

# Command groups: name → (module whose `app` is the group, help line).
GROUPS: dict[str, tuple[str, str]] = {
    "data": ("cli.data", "Generate and check input snapshots."),
    "rules": ("cli.rules", "Validate, test, compile and approve rule packs."),
    "models": ("cli.models", "Train, score and inspect models (AHP, sensitivity, stability, value)."),
    "strategies": ("cli.strategies", "The strategy knowledge base (策略知识库)."),
    "audit": ("cli.audit", "Verify and replay stored decisions."),
    "report": ("cli.report", "Silent/low-use, run and campaign reports."),
    "users": ("cli.users", "Audit console users and their roles (auditor, supervisor, planner)."),
    "feedback": ("cli.feedback", "Load the channel systems' feedback (营销反馈)."),
    "orders": ("cli.orders", "Work orders for outbound calls and account managers (工单)."),
}

# Top-level commands: name → "module:function".
COMMANDS: dict[str, str] = {
    "run": "cli.nightly:run",
    "facts": "cli.facts:facts",
    "explain": "cli.explain:explain",
    "export": "cli.nightly:export",
    "serve": "cli.serve:serve",
}


def _options(debug: bool = typer.Option(False, "--debug", help="print the full traceback of an error")) -> None:
    """Options of every command (exit codes: README, engine/base/exitcodes.py)."""
    set_debug(debug)


def build_app(only: str | None = None) -> typer.Typer:
    """The `rekindle` app with every command, or with only the command or group named `only`."""
    made = typer.Typer(name="rekindle", help=HELP, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False, cls=RekindleGroup)
    made.callback()(_options)
    for name, (module, help_line) in GROUPS.items():
        if only in (None, name):
            made.add_typer(importlib.import_module(module).app, name=name, help=help_line)
    for name, target in COMMANDS.items():
        if only in (None, name):
            module, function = target.split(":")
            made.command(name)(getattr(importlib.import_module(module), function))
    return made


def command_named(args: list[str]) -> str | None:
    """The command or group `args` asks for (the first word that is not an option, as the only
    top-level option, --debug, takes no value), or None when it names none of ours."""
    word = next((arg for arg in args if not arg.startswith("-")), None)
    return word if word in GROUPS or word in COMMANDS else None


def __getattr__(name: str):
    if name == "app":  # the full app, built once on first use (`from cli.main import app`)
        full = globals()["app"] = build_app()
        return full
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:  # pragma: no cover - console script
    build_app(command_named(sys.argv[1:]))()


if __name__ == "__main__":  # pragma: no cover
    main()
