"""Entry point of the `rekindle` console script: wires the command groups together.

Each group lives in its own module and only parses options and calls the engine.
"""

from __future__ import annotations

import typer

from cli import audit, data, feedback, models, nightly, orders, report, rules, serve, strategies, users
from cli.common import RekindleGroup, set_debug

app = typer.Typer(
    name="rekindle",
    help=(
        "Rekindle — campaign decisions for silent (沉默) and low-use (低使用) value-added-service "
        "subscribers and retention of valuable, unstable subscribers (操心客户).\n\n"
        "State lives in REKINDLE_HOME (default ./.rekindle)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=RekindleGroup,
)


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="print the full traceback of an error")) -> None:
    """Options of every command (exit codes: README, engine/base/exitcodes.py)."""
    set_debug(debug)

app.add_typer(data.app, name="data", help="Generate and check input snapshots.")
app.add_typer(rules.app, name="rules", help="Validate, test, compile and approve rule packs.")
app.add_typer(models.app, name="models", help="Train, score and inspect models (AHP, sensitivity, stability, value).")
app.add_typer(strategies.app, name="strategies", help="The strategy knowledge base (策略知识库).")
app.add_typer(audit.app, name="audit", help="Verify and replay stored decisions.")
app.add_typer(report.app, name="report", help="Silent/low-use, run and campaign reports.")
app.add_typer(users.app, name="users", help="Audit console users and their roles (auditor, supervisor, planner).")
app.add_typer(feedback.app, name="feedback", help="Load the channel systems' feedback (营销反馈).")
app.add_typer(orders.app, name="orders", help="Work orders for outbound calls and account managers (工单).")
nightly.register(app)
serve.register(app)


def main() -> None:  # pragma: no cover - console script
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
