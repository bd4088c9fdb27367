"""How the campaign evaluation 营销评估 reads: a terminal table and a self-contained HTML page.

The page carries its charts as inline SVG (no scripts, no network): per row, the response-rate
uplift as a point with its 95% confidence bar around a zero line, and the funnel targeted →
delivered → responded → converted beside the control's response. The page is well-formed
XML (every text escaped), so a test can parse it with a plain XML parser.
"""

from __future__ import annotations

import math
from html import escape

import pandas as pd
from rich.console import Group
from rich.table import Table
from rich.text import Text

from engine.outputs.reports.campaign import SUCCESS_TARGET, CampaignReport

DESIGN_NOTE = (
    "A pack's holdout 对照组 measures that pack's treatment against no treatment among the subscribers it "
    "selected; the universal holdout (row ALL) measures the whole programme. Neither compares two strategies "
    "with each other (that needs an A/B split), and the treated arm holds only the candidates that won "
    "arbitration. Rows of different holdout periods or pack versions are never pooled.")


def _pct(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


def _num(value, digits: int = 2) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def _label(row) -> str:
    return f"{row.pack} / {row.strategy} / {row.channel}"


def to_rich(report: CampaignReport) -> Group:
    """Terminal view: one line per row, the uplift with its interval, the 20% target flagged."""
    table = Table(title=f"营销评估 campaign evaluation — runs {', '.join(report.runs)}")
    for name in ("pack", "strategy", "channel", "period", "treated", "resp", "control", "ctrl resp",
                 "uplift [95% CI]", "incr. conv", "cost", "ROI", "success"):
        table.add_column(name, justify="left" if name in ("pack", "strategy", "channel", "period") else "right")
    for row in report.rows.itertuples(index=False):
        ok = row.meets_target
        table.add_row(row.pack, row.strategy, row.channel, row.period, f"{row.treated:,}", _pct(row.response_rate),
                      f"{row.control:,}", _pct(row.control_response_rate),
                      f"{_pct(row.uplift)} [{_pct(row.uplift_low)}, {_pct(row.uplift_high)}]",
                      _num(row.incremental_conversions, 1), _num(row.cost), _num(row.roi),
                      Text(_pct(row.success_rate) + (" ✓" if ok else " ✗"), style="green" if ok else "red"))
    notes = [Text(f"success = converted / targeted against the {SUCCESS_TARGET:.0%} dispatch target 派单营销成功率; "
                  "uplift interval: Newcombe hybrid score (95%)", style="dim"), Text(DESIGN_NOTE, style="dim")]
    notes += [Text(f"note: {n}", style="yellow") for n in report.notes]
    return Group(table, *notes)


def _uplift_chart(rows: pd.DataFrame) -> str:
    """Uplift points with 95% CI bars around a zero line, one line per row."""
    height, width, label_w, plot_w = 24, 760, 330, 380
    finite = [v for v in pd.concat([rows["uplift_low"], rows["uplift_high"]]).tolist() if not math.isnan(v)]
    span = max([abs(v) for v in finite] + [0.01])
    scale = (plot_w / 2) / span
    zero = label_w + plot_w / 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="uplift" width="{width}" height="{height * len(rows) + 40}" '
             f'role="img" aria-label="uplift with 95% confidence intervals">',
             '<text x="0" y="16" font-size="14" font-weight="bold">提升 uplift in response rate, 95% CI</text>',
             f'<line x1="{zero:.1f}" y1="24" x2="{zero:.1f}" y2="{height * len(rows) + 30}" stroke="#999"/>']
    for i, row in enumerate(rows.itertuples(index=False)):
        y = 30 + i * height + height / 2
        parts.append(f'<text x="0" y="{y + 4:.1f}" font-size="11">{escape(_label(row))}</text>')
        if math.isnan(row.uplift):
            parts.append(f'<text x="{zero + 4:.1f}" y="{y + 4:.1f}" font-size="11">no control</text>')
            continue
        lo, hi, mid = (zero + row.uplift_low * scale, zero + row.uplift_high * scale, zero + row.uplift * scale)
        colour = "#2e7d32" if row.uplift_low > 0 else ("#c62828" if row.uplift_high < 0 else "#555")
        parts.append(f'<line class="ci" x1="{lo:.1f}" y1="{y:.1f}" x2="{hi:.1f}" y2="{y:.1f}" stroke="{colour}" '
                     f'stroke-width="2"/><circle class="point" cx="{mid:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'
                     f'<text x="{label_w + plot_w + 8}" y="{y + 4:.1f}" font-size="11">{_pct(row.uplift)} '
                     f'[{_pct(row.uplift_low)}, {_pct(row.uplift_high)}]</text>')
    parts.append("</svg>")
    return "".join(parts)


def _funnel_chart(row) -> str:
    """Targeted → delivered → responded → converted, and the control's response, as bars."""
    steps = [("targeted 触达", row.treated), ("delivered 送达", row.delivered), ("responded 响应", row.responded),
             ("converted 转化", row.converted)]
    top = max(row.treated, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="funnel" width="520" height="{22 * 5 + 30}" role="img" '
             f'aria-label="funnel {escape(_label(row))}">',
             f'<text x="0" y="16" font-size="13" font-weight="bold">{escape(_label(row))} ({escape(row.period)})</text>']
    for i, (name, count) in enumerate(steps):
        y = 24 + i * 22
        bar = 300 * count / top
        parts.append(f'<text x="0" y="{y + 14}" font-size="11">{escape(name)}</text>'
                     f'<rect class="step" x="120" y="{y + 2}" width="{bar:.1f}" height="16" fill="#1565c0"/>'
                     f'<text x="{124 + bar:.1f}" y="{y + 14}" font-size="11">{count:,}</text>')
    y = 24 + 4 * 22
    parts.append(f'<text x="0" y="{y + 14}" font-size="11">control 对照 resp.</text>'
                 f'<rect class="control" x="120" y="{y + 2}" width="{300 * _zero(row.control_response_rate):.1f}" '
                 f'height="16" fill="#999"/><text x="{124 + 300 * _zero(row.control_response_rate):.1f}" y="{y + 14}" '
                 f'font-size="11">{_pct(row.control_response_rate)} of {row.control:,}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _zero(value) -> float:
    return 0.0 if value is None or math.isnan(value) else float(value)


def _table(rows: pd.DataFrame) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in rows.columns)
    body = []
    for row in rows.itertuples(index=False):
        cells = []
        for name, value in zip(rows.columns, row):
            if isinstance(value, float):
                shown = _pct(value) if name.endswith(("rate", "uplift", "_low", "_high", "churn_treated",
                                                      "churn_control")) else _num(value)
            else:
                shown = str(value)
            flag = ' class="miss"' if name == "success_rate" and not row.meets_target else ""
            cells.append(f"<td{flag}>{escape(shown)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def to_html(report: CampaignReport) -> str:
    """The whole evaluation as one self-contained, well-formed page."""
    rows = report.rows
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td.miss{color:#c62828}"
             "svg{display:block;margin:1em 0}")
    notes = "".join(f"<li>{escape(n)}</li>" for n in report.notes)
    return ('<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="zh"><head><meta charset="utf-8"/>'
            f"<title>营销评估 campaign evaluation</title><style>{style}</style></head><body>"
            f"<h1>营销评估 campaign evaluation</h1><p>runs: {escape(', '.join(report.runs))}</p>"
            f"<p>{escape(DESIGN_NOTE)}</p>"
            f"<p>success rate = converted / targeted, against the {SUCCESS_TARGET:.0%} dispatch target "
            "派单营销成功率; uplift interval: Newcombe hybrid score, 95%.</p>"
            + (f"<ul>{notes}</ul>" if notes else "")
            + _uplift_chart(rows)
            + "<h2>漏斗 funnels</h2>" + "".join(_funnel_chart(r) for r in rows.itertuples(index=False))
            + "<h2>table</h2>" + _table(rows)
            + "</body></html>\n")
