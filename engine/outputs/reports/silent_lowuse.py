"""The silent / low-use report 沉默与低使用分析报表 (SPEC §8, PLAYBOOKS.md §6): by month, city, brand, service.

Counts the operator's PLAYBOOK TYPES with the same segmentation a night uses (rules/segments.yaml
on engine.facts.build facts, vectorised by engine.rules.vector.segment_frame):
silent_long 包月长期沉默, silent_short 包月短期沉默, low_monthly 包月低使用, low_unpaid 非包月无付费低使用,
low_paid 非包月有付费低使用; `silent` = the two silent types, `low_use` = the three low-use types.

Month m is segmented as a night run on m's LAST DAY would segment it: the facts are built as of
that day, so m is "this month" (M0, complete), m−1..m−3 are M1..M3, and later usage, handset
changes and lists do not exist yet. Only complete months are reported by default: M3..M1 before
the as-of date. The as-of month itself is partial (a few days of use make it look far more silent)
and appears only with `include_partial=True`, segmented exactly as the run on the as-of date,
labelled `partial`.

Per month and group, over active-status subscriptions ordered on or before the segmentation day:
- subscribed 订购: such subscriptions; active 活跃: at least one use in the month (low-use
  subscribers included); activity rate 活跃率 = active / subscribed;
- one count per playbook type, silent, low_use, silent_share = silent / subscribed,
  low_use_share = low_use / subscribed.
"""

from __future__ import annotations

import html
from datetime import date

import numpy as np
import pandas as pd
from rich.console import Group
from rich.table import Table

from engine.base.csvsafe import safe_frame
from engine.facts.build import build_facts
from engine.facts.keys import month_labels
from engine.snapshot.loader import Snapshot

MONTHS = 3  # complete months M3..M1 (+ the partial M0 on request)
SLICE_SIZE = 20_000  # subscribers whose facts are built at a time
SILENT_TYPES = ("silent_long", "silent_short")
LOW_USE_TYPES = ("low_monthly", "low_unpaid", "low_paid")
KEYS = ["month", "city", "brand", "service"]
COUNTS = ["subscribed", "active", *SILENT_TYPES, *LOW_USE_TYPES, "silent", "low_use"]
COLUMNS = [*KEYS, "partial", *COUNTS, "silent_share", "low_use_share", "active_rate"]
HEADERS = {  # what a planner reads on screen and in HTML
    "month": "month 月份", "city": "city 地市", "brand": "brand 品牌", "service": "service 业务", "partial": "partial 不完整月",
    "subscribed": "subscribed 订购", "active": "active 活跃",
    "silent_long": "long silent 长期沉默", "silent_short": "short silent 短期沉默",
    "low_monthly": "low monthly 包月低使用", "low_unpaid": "low unpaid 无付费低使用", "low_paid": "low paid 有付费低使用",
    "silent": "silent 沉默", "low_use": "low-use 低使用", "silent_share": "silent % 沉默占比",
    "low_use_share": "low-use % 低使用占比", "active_rate": "活跃率 activity rate",
}


def _month_end(label: str) -> date:
    return pd.Period(label, freq="M").end_time.date()


def _one_month(snapshot: Snapshot, day: date, label: str, partial: bool, segments: dict, ranks=None) -> pd.DataFrame:
    """Counts of one month over the subscribers of `ranks` (None: the whole base)."""
    from engine.rules.vector import segment_frame

    facts = build_facts(snapshot, day, subscribers=ranks)
    facts = facts[facts["ordered_days"].to_numpy() >= 0]  # ordered after the day: not subscribed yet
    segment = segment_frame(facts, segments)["segment"].to_numpy()
    counts = {"subscribed": np.ones(len(facts), dtype=np.int64),
              "active": (facts["uses_m0"].to_numpy() >= 1).astype(np.int64)}
    for name in (*SILENT_TYPES, *LOW_USE_TYPES):
        counts[name] = (segment == name).astype(np.int64)
    frame = pd.DataFrame({"city": facts["city"].to_numpy(dtype=object), "brand": facts["brand"].to_numpy(dtype=object),
                          "service": facts["service"].to_numpy(dtype=object), **counts})
    grouped = frame.groupby(["city", "brand", "service"], sort=True).sum().reset_index()
    grouped.insert(0, "month", label)
    grouped.insert(4, "partial", partial)
    return grouped


def silent_lowuse(snapshot: Snapshot, as_of: date, segments: dict, include_partial: bool = False,
                  slice_size: int = SLICE_SIZE) -> pd.DataFrame:
    """The full breakdown: one row per (month, city, brand, service) with any subscription, sorted
    by month (oldest first), city, brand and service. `segments` is rules/segments.yaml's data.

    Facts are built a slice of `slice_size` subscribers at a time (engine.night.slices), so memory
    follows the slice, not the base; the per-slice counts are summed (integers: the same table
    for any slice size)."""
    from engine.night.slices import plan_slices

    labels = month_labels(as_of, MONTHS)
    months = [(_month_end(labels[k]), labels[k], False) for k in range(MONTHS, 0, -1)]
    if include_partial:
        months.append((as_of, labels[0], True))
    slices = plan_slices(snapshot, slice_size)
    parts = [_one_month(snapshot, day, label, partial, segments, slices.ranks(k))
             for k in range(slices.count) for day, label, partial in months]
    frame = pd.concat(parts, ignore_index=True)
    if slices.count > 1:
        frame = frame.groupby([*KEYS, "partial"], sort=False)[[c for c in frame.columns if c not in (*KEYS, "partial")]] \
            .sum().reset_index()
    frame = frame.sort_values(KEYS, kind="stable").reset_index(drop=True)
    return _with_shares(frame)


def totals(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Re-aggregate the breakdown by some of its keys (e.g. ["month"] or ["month", "service"])."""
    keys = [*by, "partial"] if "month" in by else by
    return _with_shares(frame.groupby(keys, sort=True)[COUNTS].sum().reset_index())


def _with_shares(frame: pd.DataFrame) -> pd.DataFrame:
    frame["silent"] = frame["silent_long"] + frame["silent_short"]
    frame["low_use"] = frame["low_monthly"] + frame["low_unpaid"] + frame["low_paid"]
    frame[COUNTS] = frame[COUNTS].astype(np.int64)
    base = frame["subscribed"].where(frame["subscribed"] > 0)
    frame["silent_share"] = (frame["silent"] / base).fillna(0.0)
    frame["low_use_share"] = (frame["low_use"] / base).fillna(0.0)
    frame["active_rate"] = (frame["active"] / base).fillna(0.0)
    return frame


def to_csv(frame: pd.DataFrame) -> str:
    """The full breakdown as CSV (machine column names, shares rounded to 4 places)."""
    rounded = frame[COLUMNS].round({"silent_share": 4, "low_use_share": 4, "active_rate": 4})
    return safe_frame(rounded).to_csv(index=False)  # city/brand text from the snapshot: formula cells quoted


# The terminal shows the counts a planner compares; the CSV and HTML have every column.
SHORT = {"month": "月份", "partial": "", "service": "业务", "subscribed": "订购", "active": "活跃",
         "silent_long": "长期沉默", "silent_short": "短期沉默", "low_monthly": "包月低使用", "low_unpaid": "无付费低使用",
         "low_paid": "有付费低使用", "silent_share": "沉默%", "low_use_share": "低使用%", "active_rate": "活跃率"}


def _rich_table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    names = [c for c in COLUMNS if c in SHORT and c in frame.columns and (c != "partial" or frame[c].any())]
    for name in names:
        table.add_column(SHORT[name], justify="left" if name in KEYS else "right", no_wrap=True)
    for row in frame[names].itertuples(index=False):
        table.add_row(*[_cell(n, v) for n, v in zip(names, row)])
    return table


def _cell(name: str, value) -> str:
    if name.endswith(("share", "rate")):
        return f"{value:.1%}"
    if name == "partial":
        return "partial 不完整" if value else ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    return str(value)


def to_rich(frame: pd.DataFrame, as_of: date) -> Group:
    """Terminal view: totals by month, then by month and service (the CSV has the full breakdown)."""
    return Group(
        _rich_table(totals(frame, ["month"]), f"沉默与低使用 silent / low-use, as of {as_of.isoformat()}"),
        _rich_table(totals(frame, ["month", "service"]), "by service 按业务"),
    )


def _bars(rows: list[tuple[str, float]], title: str, colour: str) -> str:
    """A horizontal bar chart of shares (0..1) as inline SVG."""
    height, width, label_w = 22, 560, 150
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height * len(rows) + 30}" '
           f'role="img" aria-label="{html.escape(title)}">',
           f'<text x="0" y="16" font-size="14" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, share) in enumerate(rows):
        y = 26 + i * height
        bar = max(0.0, min(1.0, share)) * (width - label_w - 60)
        svg.append(f'<text x="0" y="{y + 14}" font-size="12">{html.escape(label)}</text>'
                   f'<rect x="{label_w}" y="{y + 2}" width="{bar:.1f}" height="{height - 6}" fill="{colour}"/>'
                   f'<text x="{label_w + bar + 4:.1f}" y="{y + 14}" font-size="12">{share:.1%}</text>')
    svg.append("</svg>")
    return "".join(svg)


def _html_table(frame: pd.DataFrame) -> str:
    names = [c for c in COLUMNS if c in frame.columns]
    head = "".join(f"<th>{html.escape(HEADERS[n])}</th>" for n in names)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(n, v))}</td>" for n, v in zip(names, row)) + "</tr>"
        for row in frame[names].itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(frame: pd.DataFrame, as_of: date) -> str:
    """A self-contained page: bar charts (inline SVG, no scripts) and the tables."""
    by_month = totals(frame, ["month"])
    by_service = totals(frame, ["month", "service"])
    latest = by_service[by_service["month"] == month_labels(as_of, 1)[1]]  # M1: the last complete month
    months = [m + (" (partial)" if p else "") for m, p in zip(by_month["month"], by_month["partial"])]
    charts = [
        _bars(list(zip(months, by_month["active_rate"])), "活跃率 activity rate by month", "#2e7d32"),
        _bars(list(zip(months, by_month["silent_share"])), "沉默 silent share by month", "#c62828"),
        _bars(list(zip(months, by_month["low_use_share"])), "低使用 low-use share by month", "#ef6c00"),
        _bars(list(zip(latest["service"], latest["active_rate"])), "活跃率 by service, last complete month", "#1565c0"),
    ]
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}svg{display:block;margin:1em 0}")
    return (f'<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>沉默与低使用 report</title>'
            f"<style>{style}</style></head><body><h1>沉默与低使用 silent / low-use — as of {as_of.isoformat()}</h1>"
            + "".join(charts)
            + "<h2>by month 按月</h2>" + _html_table(by_month)
            + "<h2>by service 按业务</h2>" + _html_table(by_service)
            + "<h2>by month, city, brand, service</h2>" + _html_table(frame)
            + "</body></html>")


def load_segments(rules_dir) -> dict:
    """rules/segments.yaml of a rules folder, loaded and checked as a night loads it (DiagnosticError on problems)."""
    from pathlib import Path

    from engine.base.diagnostics import Diagnostic, DiagnosticError, has_errors
    from engine.content.documents import load_document

    path = Path(rules_dir) / "segments.yaml"
    if not path.is_file():
        raise DiagnosticError([Diagnostic("RN001", "segments.yaml not found", file=str(path),
                                          hint="the report segments as a night does: pass --rules DIR holding segments.yaml")])
    doc, diagnostics = load_document(path, "segments")
    if doc is None or has_errors(diagnostics):
        raise DiagnosticError([d for d in diagnostics if d.severity == "error"])
    return doc.data
