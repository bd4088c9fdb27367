"""The run report 运行报告 (`rekindle report run`): one stored night's funnel and decision counts.

Everything comes from the database: the funnel stored on the run row (engine/night/funnel.py: per pack
in scope → excluded by reason → not selected → held out → lost → treated, per channel, and the
facts in no pack's scope by segment), the decision rows counted by pack, decision and channel,
and example subscribers for the demo and for auditors to explain — the smallest msisdn with each
kind of decision, so the same run always gives the same examples.

`long_rows` flattens the report into one tidy table (section, pack, channel, stage, reason,
count): that is the CSV, and the HTML and terminal tables are views of the same numbers.
"""

from __future__ import annotations

import csv
import html
import io
import json

from sqlalchemy import text

from engine.base.csvsafe import neutralise
from engine.base.privacy import mask_msisdn
from engine.store.read import first_only_out_of_scope, resolve_run
from engine.night.settings import settings_line
from engine.store.database import get_engine
from engine.base.vocabulary import DECISIONS, EXCLUDED, HELD_OUT, LOST, NOT_SELECTED, TREAT

STAGES = ("in_scope", "excluded", "not_selected", "held_out", "lost", "treated")
CSV_COLUMNS = ("section", "pack", "channel", "stage", "reason", "count")
# Example subscribers the report names, one per decision kind (smallest msisdn).
EXAMPLE_KINDS = (TREAT, EXCLUDED, HELD_OUT, LOST, NOT_SELECTED)


def _examples(conn, run_id: str) -> dict[str, str | None]:
    examples: dict[str, str | None] = {}
    for kind in EXAMPLE_KINDS:
        row = conn.execute(text("SELECT MIN(msisdn) FROM decision WHERE run_id = :r AND decision = :d"),
                           {"r": run_id, "d": kind}).first()
        examples[kind] = row[0] if row else None
    # A subscriber none of whose facts any pack considered (explain says "not in scope of any pack").
    examples["out_of_scope"] = first_only_out_of_scope(conn, run_id)
    return examples


def run_report(run: str | None, db_url: str | None = None, mask: bool = False) -> dict:
    """The report of run `run` (an id or `latest`) as one JSON-ready dict.

    Keys: run, as_of, started_at, finished_at, production, rerun_of ('' or the run it repeats),
    settings (how the night was run: engine, spark_master, workers, slice_size; engine/night/settings.py),
    facts, decisions, model_versions,
    funnel (as stored), decision_counts (list of {pack, decision, channel, count}),
    decisions_by_kind ({decision: count}), examples ({treat, excluded, held_out, lost,
    not_selected, out_of_scope: msisdn or None}). With `mask`, the example msisdns are shown as
    139****5678 (engine.base.privacy) — for a report that leaves the team.
    """
    info = resolve_run(run, db_url)
    with get_engine(db_url).connect() as conn:
        counts = conn.execute(text(
            "SELECT pack, decision, channel, COUNT(*) AS n FROM decision WHERE run_id = :r "
            "GROUP BY pack, decision, channel ORDER BY pack, decision, channel"), {"r": info.id}).all()
        examples = _examples(conn, info.id)
    if mask:
        examples = {kind: mask_msisdn(m) for kind, m in examples.items()}
    by_kind = {kind: 0 for kind in DECISIONS}
    for row in counts:
        by_kind[row.decision] = by_kind.get(row.decision, 0) + int(row.n)
    return {
        "run": info.id, "as_of": info.as_of, "started_at": info.started_at, "finished_at": info.finished_at,
        "production": info.production, "rerun_of": info.rerun_of, "settings": info.settings,
        "facts": info.facts, "decisions": info.decisions,
        "model_versions": info.model_versions, "funnel": info.funnel,
        "decision_counts": [{"pack": r.pack, "decision": r.decision, "channel": r.channel, "count": int(r.n)}
                            for r in counts],
        "decisions_by_kind": by_kind,
        "examples": examples,
    }


def long_rows(report: dict) -> list[dict]:
    """Every number of the report as rows of CSV_COLUMNS (deterministic order)."""
    rows: list[dict] = []

    def add(section: str, pack: str, channel: str, stage: str, reason: str, count: int) -> None:
        rows.append({"section": section, "pack": pack, "channel": channel, "stage": stage, "reason": reason,
                     "count": int(count)})

    funnel = report.get("funnel") or {}
    for pack, row in sorted((funnel.get("packs") or {}).items()):
        add("pack", pack, "", "in_scope", "", row.get("in_scope", 0))
        for stage in ("excluded", "not_selected", "lost"):
            for reason, n in sorted((row.get(stage) or {}).items()):
                add("pack", pack, "", stage, reason, n)
        add("pack", pack, "", "held_out", "", row.get("held_out", 0))
        add("pack", pack, "", "treated", "", row.get("treated", 0))
        for channel, ch in sorted((row.get("channels") or {}).items()):
            add("pack_channel", pack, channel, "held_out", "", ch.get("held_out", 0))
            for reason, n in sorted((ch.get("lost") or {}).items()):
                add("pack_channel", pack, channel, "lost", reason, n)
            add("pack_channel", pack, channel, "treated", "", ch.get("treated", 0))
    for channel, ch in sorted((funnel.get("channels") or {}).items()):
        add("channel", "", channel, "held_out", "", ch.get("held_out", 0))
        for reason, n in sorted((ch.get("lost") or {}).items()):
            add("channel", "", channel, "lost", reason, n)
        add("channel", "", channel, "treated", "", ch.get("treated", 0))
    for segment, n in sorted((funnel.get("out_of_scope") or {}).items()):
        add("out_of_scope", "", "", "out_of_scope", segment, n)
    for row in report["decision_counts"]:
        add("decision", row["pack"], row["channel"], row["decision"], "", row["count"])
    return rows


def to_csv(report: dict) -> str:
    """The report as CSV (one row per number, CSV_COLUMNS)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: neutralise(v) for k, v in row.items()} for row in long_rows(report))
    return buffer.getvalue()


def to_json(report: dict) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2, sort_keys=True)


def _decisions_table(report: dict):
    from rich.table import Table

    table = Table(title="Decisions 决策 (one per fact some pack considered)")
    for column in ("pack", "decision", "channel", "facts"):
        table.add_column(column, justify="right" if column == "facts" else "left")
    for row in report["decision_counts"]:
        table.add_row(row["pack"], row["decision"], row["channel"] or "-", f"{row['count']:,}")
    return table


def to_rich(report: dict):
    """rich renderables for the terminal: header, the stored funnel tables, decision counts, examples."""
    from rich.console import Group
    from rich.text import Text

    from engine.night.funnel import funnel_tables

    head = Text(f"Run {report['run']} — as of {report['as_of']} — {report['facts']:,} facts, "
                f"{report['decisions']:,} decisions" + (" — production" if report["production"] else "")
                + (f" — rerun of {report['rerun_of']}" if report.get("rerun_of") else ""))
    parts = [head, Text(f"Run settings 运行设置: {settings_line(report.get('settings') or {})}")]
    if report.get("funnel"):
        parts.extend(funnel_tables(report["funnel"]))
    parts.append(_decisions_table(report))
    shown = ", ".join(f"{kind} {m}" for kind, m in report["examples"].items() if m)
    parts.append(Text(f"Examples to explain (rekindle explain MSISDN): {shown or 'none'}"))
    return Group(*parts)


def _bars(rows: list[tuple[str, int]], title: str, colour: str) -> str:
    """A horizontal bar chart as inline SVG (no JavaScript, opens anywhere)."""
    top = max((n for _, n in rows), default=0) or 1
    width, label_w, height = 640, 200, 22
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height * len(rows) + 30}">'
           f'<text x="0" y="16" font-size="14" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, n) in enumerate(rows):
        y = 24 + i * height
        bar = (width - label_w - 80) * n / top
        out.append(f'<text x="0" y="{y + 14}" font-size="12">{html.escape(label)}</text>'
                   f'<rect x="{label_w}" y="{y + 2}" width="{bar:.1f}" height="{height - 6}" fill="{colour}"/>'
                   f'<text x="{label_w + bar + 4:.1f}" y="{y + 14}" font-size="12">{n:,}</text>')
    out.append("</svg>")
    return "".join(out)


def _html_table(rows: list[dict], columns: tuple[str, ...]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(report: dict) -> str:
    """A standalone HTML page: charts of treated per pack and per channel, and every number."""
    funnel = report.get("funnel") or {}
    per_pack = [(p, int(r.get("treated", 0))) for p, r in sorted((funnel.get("packs") or {}).items())]
    per_channel = [(c, int(r.get("treated", 0))) for c, r in sorted((funnel.get("channels") or {}).items())]
    kinds = [(k, n) for k, n in report["decisions_by_kind"].items()]
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 8px}svg{display:block;margin:1em 0}")
    title = f"Run {html.escape(report['run'])} — as of {html.escape(report['as_of'])}"
    return (f'<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{style}</style></head><body><h1>运行报告 {title}</h1>"
            f"<p>{report['facts']:,} facts, {report['decisions']:,} decisions"
            + (f" — rerun of {html.escape(report['rerun_of'])}" if report.get("rerun_of") else "") + "</p>"
            + f"<p>Run settings 运行设置: {html.escape(settings_line(report.get('settings') or {}))}</p>"
            + _bars(per_pack, "treated per pack 各规则包触达", "#2a7ab0")
            + _bars(per_channel, "treated per channel 各渠道触达", "#3a9a5b")
            + _bars(kinds, "decisions by kind 决策分布", "#b0702a")
            + "<h2>funnel and decisions 漏斗</h2>" + _html_table(long_rows(report), CSV_COLUMNS)
            + "</body></html>")
