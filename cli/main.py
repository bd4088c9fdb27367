"""Entry point of the `rekindle` console script: wires the command groups together.

Each group lives in its own module and only parses options and calls the engine.
"""

from __future__ import annotations

import typer

from cli import audit, data, feedback, models, nightly, orders, report, rules, strategies

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
)

app.add_typer(data.app, name="data", help="Generate and check input snapshots.")
app.add_typer(rules.app, name="rules", help="Validate, test, compile and approve rule packs.")
app.add_typer(models.app, name="models", help="Train, score and inspect models (AHP, sensitivity, stability, value).")
app.add_typer(strategies.app, name="strategies", help="The strategy knowledge base (策略知识库).")
app.add_typer(audit.app, name="audit", help="Verify and replay stored decisions.")
app.add_typer(report.app, name="report", help="Silent/low-use, run and campaign reports.")
app.add_typer(feedback.app, name="feedback", help="Load the channel systems' feedback (营销反馈).")
app.add_typer(orders.app, name="orders", help="Work orders for outbound calls and account managers (工单).")
nightly.register(app)


def main() -> None:  # pragma: no cover - console script
    app()


if __name__ == "__main__":  # pragma: no cover
    app()
