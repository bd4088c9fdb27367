"""Charts as inline SVG 图表: geometry here, markup in templates/_charts.html.

No JavaScript and nothing fetched: a chart is rectangles and text in the page, coloured by
CSS classes from the console's own stylesheet (the Content-Security-Policy allows no inline
style or script), with an SVG `<title>` on each part so hovering shows its count. This module
only computes positions; the template writes the markup and Jinja escapes every label.

`funnel_by_pack` and `funnel_by_channel` read the funnel the run stored on its row
(engine/night/funnel.py) — the same numbers `rekindle report run` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Stages of one pack's outcomes, in funnel order; together they partition the pack's in-scope count.
PACK_STAGES = (("excluded", "excluded 排除"), ("not_selected", "not selected 未入选"), ("held_out", "held out 对照组"),
               ("lost", "lost 仲裁落选"), ("treated", "treated 触达"))
CHANNEL_STAGES = (("treated", "treated 触达"), ("held_out", "held out 对照组"), ("lost", "lost 仲裁落选"))


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    css: str  # stage name, also the CSS class
    label: str
    count: int


@dataclass(frozen=True)
class Bar:
    label: str
    y: float
    total: int
    segments: list[Segment]
    marker: float | None = None  # x of a capacity line
    marker_label: str = ""


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    left: int
    bar_height: int
    bars: list[Bar]
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css, label)


def _count(value) -> int:
    if isinstance(value, dict):
        return int(sum(int(v) for v in value.values()))
    return int(value or 0)


def stacked_bars(title: str, rows: list[tuple[str, dict[str, int], int | None]], stages, *, width: int = 760,
                 left: int = 170, right: int = 70, bar_height: int = 22, gap: int = 12) -> Chart:
    """Horizontal stacked bars, one per row (label, {stage: count}, marker value or None), on one scale."""
    scale_max = max([sum(counts.values()) for _, counts, _ in rows] + [m or 0 for _, _, m in rows] + [1])
    inner = width - left - right
    bars = []
    for i, (label, counts, marker) in enumerate(rows):
        x = float(left)
        segments = []
        for css, text in stages:
            n = counts.get(css, 0)
            if n <= 0:
                continue
            w = inner * n / scale_max
            segments.append(Segment(round(x, 2), round(w, 2), css, text, n))
            x += w
        marker_x = round(left + inner * marker / scale_max, 2) if marker else None
        bars.append(Bar(label, 10 + i * (bar_height + gap), sum(counts.values()), segments, marker_x,
                        f"capacity {marker:,}" if marker else ""))
    height = 10 + len(rows) * (bar_height + gap) + 4
    return Chart(title, width, height, left, bar_height, bars, [(css, text) for css, text in stages])


def funnel_by_pack(funnel: dict) -> Chart:
    """Per pack: how its in-scope facts ended (excluded, not selected, held out, lost, treated)."""
    rows = []
    for pack, row in sorted((funnel.get("packs") or {}).items()):
        rows.append((pack, {css: _count(row.get(css)) for css, _ in PACK_STAGES}, None))
    return stacked_bars("Funnel per pack 各规则包漏斗", rows, PACK_STAGES)


def funnel_by_channel(funnel: dict) -> Chart:
    """Per channel: treated, held out and lost candidates, with the channel's capacity when it has one."""
    rows = []
    for channel, row in sorted((funnel.get("channels") or {}).items()):
        rows.append((channel, {css: _count(row.get(css)) for css, _ in CHANNEL_STAGES}, row.get("capacity")))
    return stacked_bars("Per channel 各渠道", rows, CHANNEL_STAGES)


def pack_channel_rows(funnel: dict) -> list[dict]:
    """The pack × channel table under the charts: treated, held out, lost per (pack, channel)."""
    out = []
    for pack, row in sorted((funnel.get("packs") or {}).items()):
        for channel, ch in sorted((row.get("channels") or {}).items()):
            out.append({"pack": pack, "channel": channel, "treated": _count(ch.get("treated")),
                        "held_out": _count(ch.get("held_out")), "lost": _count(ch.get("lost"))})
    return out
