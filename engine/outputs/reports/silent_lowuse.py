"""The silent / low-use report 沉默与低使用 (SPEC §8): by month, city, brand and service.

For each month M3..M0 (labelled `YYYY-MM`; M0 is partial) and each active-status subscription
ordered on or before that month's last day:
- subscribed 订购: such subscriptions; active 活跃: uses >= 1 that month; silent 沉默: 0 uses;
  low-use 低使用: 1–2 uses (a low-use subscription is also active);
- silent_share = silent / subscribed, low_use_share = low_use / subscribed,
  active_rate 活跃率 = active / subscribed.
Usage comes from the same month matrix as the facts (engine.facts.build.usage_by_month).
"""

from __future__ import annotations

import html
from datetime import date

import numpy as np
import pandas as pd
from rich.console import Group
from rich.table import Table

from engine.base.csvsafe import safe_frame
from engine.snapshot.contract import SERVICE_IDS
from engine.facts.keys import month_labels
from engine.facts.build import service_codes, subscriber_positions, usage_by_month
from engine.snapshot.loader import Snapshot

MONTHS = 3  # M3..M0
LOW_USE_MAX = 2  # 1..2 uses is low use
KEYS = ["month", "city", "brand", "service"]
COUNTS = ["subscribed", "active", "silent", "low_use"]
COLUMNS = [*KEYS, *COUNTS, "silent_share", "low_use_share", "active_rate"]
HEADERS = {  # what a planner reads on screen and in HTML
    "month": "month 月份", "city": "city 地市", "brand": "brand 品牌", "service": "service 业务",
    "subscribed": "subscribed 订购", "active": "active 活跃", "silent": "silent 沉默",
    "low_use": "low-use 低使用", "silent_share": "silent % 沉默占比", "low_use_share": "low-use % 低使用占比",
    "active_rate": "活跃率 activity rate",
}


def silent_lowuse(snapshot: Snapshot, as_of: date) -> pd.DataFrame:
    """The full breakdown: one row per (month, city, brand, service) with any subscription,
    sorted by month (oldest first), city, brand and service."""
    subs = snapshot.tables["subscriptions"]
    subs = subs[subs["status"].to_numpy() == "active"].reset_index(drop=True)
    people = snapshot.tables["subscribers"]
    pos = subscriber_positions(snapshot, subs["msisdn"])
    # Count on integer group ids, not strings: millions of rows, a few thousand groups.
    city_code, cities = pd.factorize(np.asarray(people["city"], dtype=object))
    brand_code, brands = pd.factorize(np.asarray(people["brand"], dtype=object))
    service = service_codes(subs["service"])
    raw_group = (city_code[pos].astype(np.int64) * len(brands) + brand_code[pos]) * len(SERVICE_IDS) + service
    groups, group = np.unique(raw_group, return_inverse=True)
    uses = usage_by_month(snapshot, subs, as_of, MONTHS)["uses"]
    ordered = subs["ordered_on"].to_numpy(dtype="datetime64[s]")
    labels = month_labels(as_of, MONTHS)
    parts = []
    for k in range(MONTHS, -1, -1):  # oldest first
        month_end = pd.Period(labels[k], freq="M").end_time.normalize().to_datetime64()
        subscribed = ordered <= month_end
        used = uses[:, k]
        masks = {"subscribed": subscribed, "active": subscribed & (used >= 1), "silent": subscribed & (used == 0),
                 "low_use": subscribed & (used >= 1) & (used <= LOW_USE_MAX)}
        counts = {name: np.bincount(group[m], minlength=len(groups)) for name, m in masks.items()}
        parts.append(pd.DataFrame({"month": labels[k], "group": groups, **counts}))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[frame["subscribed"] > 0]
    g = frame.pop("group").to_numpy()
    frame.insert(1, "city", np.asarray(cities, dtype=object)[g // len(SERVICE_IDS) // len(brands)])
    frame.insert(2, "brand", np.asarray(brands, dtype=object)[g // len(SERVICE_IDS) % len(brands)])
    frame.insert(3, "service", np.asarray(SERVICE_IDS, dtype=object)[g % len(SERVICE_IDS)])
    frame = frame.sort_values(KEYS, kind="stable").reset_index(drop=True)
    return _with_shares(frame)


def totals(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Re-aggregate the breakdown by some of its keys (e.g. ["month"] or ["month", "service"])."""
    return _with_shares(frame.groupby(by, sort=True)[COUNTS].sum().reset_index())


def _with_shares(frame: pd.DataFrame) -> pd.DataFrame:
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


def _rich_table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    names = [c for c in COLUMNS if c in frame.columns]
    for name in names:
        table.add_column(HEADERS[name], justify="left" if name in KEYS else "right")
    for row in frame[names].itertuples(index=False):
        table.add_row(*[f"{v:.1%}" if n.endswith(("share", "rate")) else str(v) for n, v in zip(names, row)])
    return table


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
        "<tr>" + "".join(f"<td>{v:.1%}</td>" if n.endswith(("share", "rate")) else f"<td>{html.escape(str(v))}</td>"
                         for n, v in zip(names, row)) + "</tr>"
        for row in frame[names].itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(frame: pd.DataFrame, as_of: date) -> str:
    """A self-contained page: bar charts (inline SVG, no scripts) and the tables."""
    by_month = totals(frame, ["month"])
    by_service = totals(frame, ["month", "service"])
    latest = by_service[by_service["month"] == month_labels(as_of, 1)[1]]  # M1: the last complete month
    charts = [
        _bars(list(zip(by_month["month"], by_month["active_rate"])), "活跃率 activity rate by month", "#2e7d32"),
        _bars(list(zip(by_month["month"], by_month["silent_share"])), "沉默 silent share by month", "#c62828"),
        _bars(list(zip(by_month["month"], by_month["low_use_share"])), "低使用 low-use share by month", "#ef6c00"),
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
