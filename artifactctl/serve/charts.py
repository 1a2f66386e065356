"""Inline SVG charts for the dashboard: plain strings, no scripts, nothing loaded.

Every text that comes from the repository is escaped. Each chart is one
``<svg class="chart">`` with a ``<title>`` for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 720
FONT = 12


def fmt(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def _svg(title: str, height: float, body: list[str], width: int = WIDTH) -> str:
    return (
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height:.0f}" '
        f'width="{width}" height="{height:.0f}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(text)}</text>'


def _line(cls: str, x1: float, y1: float, x2: float, y2: float) -> str:
    return f'<line class="{cls}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>'


def empty(title: str, message: str) -> str:
    return _svg(title, 40, [_text(8, 24, message, "muted")])


class Scale:
    """Linear map of [low, high] (always including 0) onto [x0, x1] pixels."""

    def __init__(self, values: Sequence[float], x0: float, x1: float) -> None:
        self.low = min(0.0, *values) if values else 0.0
        self.high = max(0.0, *values) if values else 1.0
        if self.high == self.low:
            self.high = self.low + 1.0
        self.x0, self.x1 = x0, x1

    def __call__(self, value: float) -> float:
        return self.x0 + (value - self.low) / (self.high - self.low) * (self.x1 - self.x0)


@dataclass
class Bar:
    label: str
    value: float
    cls: str = "bar"
    note: str = ""


def bar_chart(title: str, bars: list[Bar], reference: tuple[float, str] | None = None) -> str:
    """Horizontal bars, one per row, with the value at the end and an optional reference line."""
    if not bars:
        return empty(title, "nothing to chart yet")
    left, right, row = 150, WIDTH - 110, 26
    values = [b.value for b in bars] + ([reference[0]] if reference else [])
    scale = Scale(values, left, right)
    top = 24
    body = [_text(8, 16, title, "chart-title")]
    for i, bar in enumerate(bars):
        y = top + i * row
        x0, x1 = sorted((scale(0), scale(bar.value)))
        body.append(_text(left - 8, y + 15, bar.label, "label", "end"))
        body.append(
            f'<rect class="{escape(bar.cls)}" x="{x0:.1f}" y="{y + 3}" '
            f'width="{max(x1 - x0, 1):.1f}" height="{row - 8}" rx="2"/>'
        )
        body.append(_text(x1 + 6, y + 15, f"{fmt(bar.value)} {bar.note}".strip(), "value"))
    bottom = top + len(bars) * row
    body.append(_line("axis", scale(0), top, scale(0), bottom))
    if reference is not None:
        x = scale(reference[0])
        body.append(_line("reference", x, top - 4, x, bottom))
        body.append(_text(x, bottom + 14, reference[1], "muted", "middle"))
    return _svg(title, bottom + 22, body)


def grouped_bars(title: str, metrics: list[str], series: list[tuple[str, dict, str]]) -> str:
    """One group of bars per metric, one bar per series (each metric on its own scale)."""
    rows = [(m, [(name, s.get(m), cls) for name, s, cls in series]) for m in metrics]
    rows = [(m, [(n, v, c) for n, v, c in vals if _number(v)]) for m, vals in rows]
    rows = [(m, vals) for m, vals in rows if vals]
    if not rows:
        return empty(title, "no metrics recorded")
    left, right, bar_h = 150, WIDTH - 110, 18
    body = [_text(8, 16, title, "chart-title")]
    legend_x = left
    for name, _, cls in series:
        body.append(f'<rect class="{cls}" x="{legend_x}" y="26" width="12" height="12" rx="2"/>')
        body.append(_text(legend_x + 18, 36, name, "label"))
        legend_x += 30 + 8 * len(name)
    y = 50
    for metric, values in rows:
        scale = Scale([float(v) for _, v, _ in values], left, right)
        body.append(_text(left - 8, y + 12 + (len(values) - 1) * bar_h / 2, metric, "label", "end"))
        for _, value, cls in values:
            x0, x1 = sorted((scale(0), scale(float(value))))
            body.append(
                f'<rect class="{cls}" x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" '
                f'height="{bar_h - 3}" rx="2"/>'
            )
            body.append(_text(x1 + 6, y + 12, fmt(value), "value"))
            y += bar_h
        y += 10
    return _svg(title, y + 4, body)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class Mark:
    """One event on the timeline."""

    kind: str  # promote | forced | rollback | archive | unarchive | new
    label: str  # e.g. "v2-006"
    when: str  # shown under the label
    detail: str = ""  # tooltip


SHAPES = {
    "promote": '<circle class="m-promote" cx="{x}" cy="{y}" r="8"/>',
    "forced": '<path class="m-forced" d="M{x} {t} L{r} {y} L{x} {b} L{l} {y} Z"/>',
    "rollback": '<path class="m-rollback" d="M{l} {y} L{r} {t} L{r} {b} Z"/>',
    "archive": '<rect class="m-archive" x="{l}" y="{t}" width="16" height="16"/>',
    "unarchive": '<rect class="m-archive" x="{l}" y="{t}" width="16" height="16"/>',
    "new": '<circle class="m-new" cx="{x}" cy="{y}" r="4"/>',
}


def timeline(title: str, marks: list[Mark]) -> str:
    """Events in order along a line; forced promotions are diamonds, rollbacks arrows back."""
    if not marks:
        return empty(title, "no registry events yet")
    step = 96
    width = max(WIDTH, 60 + step * len(marks))
    y = 60
    body = [_text(8, 16, title, "chart-title")]
    body.append(_line("axis", 30, y, width - 20, y))
    for i, mark in enumerate(marks):
        x = 50 + i * step
        shape = SHAPES.get(mark.kind, SHAPES["new"]).format(
            x=x, y=y, t=y - 8, b=y + 8, l=x - 8, r=x + 8
        )
        body.append(f"<g><title>{escape(mark.detail)}</title>{shape}</g>")
        lift = 22 if i % 2 == 0 else 36
        body.append(_text(x, y - lift + 4, mark.label, "label", "middle"))
        body.append(_text(x, y + 26, mark.kind, f"small k-{mark.kind}", "middle"))
        body.append(_text(x, y + 40, mark.when, "small muted", "middle"))
    return _svg(title, y + 52, body, width)


def interval_chart(
    title: str,
    estimate: float,
    low: float,
    high: float,
    thresholds: list[tuple[float, str]],
    passed: bool,
) -> str:
    """An estimate with its confidence interval, against zero and the gate thresholds."""
    left, right = 40, WIDTH - 40
    values = [estimate, low, high, *(t for t, _ in thresholds)]
    span = max(values) - min(*values, 0.0) or 1.0
    scale = Scale([min(*values, 0.0) - 0.1 * span, max(values) + 0.1 * span], left, right)
    y, axis = 56, 84  # the interval's row; the axis, with the labels below it
    body = [_text(8, 16, title, "chart-title")]
    body.append(_line("axis", left, axis, right, axis))
    marks = [
        (0.0, "0", "zero"),
        *((v, f"{label} {fmt(v)}", "threshold") for v, label in thresholds),
    ]
    for i, (value, label, cls) in enumerate(marks):
        x = scale(value)
        body.append(_line(cls, x, y - 24, x, axis + 4 + 14 * i))
        anchor = "end" if x > (left + right) / 2 else "start"
        body.append(
            _text(x + (-4 if anchor == "end" else 4), axis + 14 + 14 * i, label, "small", anchor)
        )
    cls = "ci-pass" if passed else "ci-fail"
    x0, x1, xe = scale(low), scale(high), scale(estimate)
    body.append(_line(cls, x0, y, x1, y))
    for x in (x0, x1):
        body.append(_line(cls, x, y - 8, x, y + 8))
    body.append(f'<circle class="{cls}-dot" cx="{xe:.1f}" cy="{y}" r="6"/>')
    estimate_label = f"improvement {fmt(estimate)}, CI [{fmt(low)}, {fmt(high)}]"
    body.append(_text(xe, y - 14, estimate_label, "value", "middle"))
    return _svg(title, axis + 22 + 14 * len(marks), body)
