"""Horizontal bar charts as inline SVG, written by hand (no plotting library).

One bar per row: its label on the left, its value in a column on the right; a bar may carry its
own threshold (a dark tick across the bar's row), and a chart may carry one reference line for
all rows (dashed, labelled on top). Every piece of text is escaped; the output is a fragment to
embed in HTML (no XML declaration, no external references, no script).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from html import escape

__all__ = ["Bar", "Reference", "Tone", "bar_chart"]

WIDTH = 720
ROW = 26
BAR = 14
VALUE_W = 64
AXIS_H = 24
MAX_LABEL = 30
CHAR_W = 6.6  # average glyph width at 12px, for sizing the label column


class Tone(StrEnum):
    """What a bar's colour says."""

    MET = "met"  # within its threshold
    NOT_MET = "not-met"  # beyond its threshold
    FLAG = "flag"  # highlighted (a sensitive or prohibited feature)
    NEUTRAL = "neutral"  # no threshold applies


_FILL = {Tone.MET: "#3a6ea5", Tone.NOT_MET: "#c0392b", Tone.FLAG: "#c77c0e", Tone.NEUTRAL: "#8da2bf"}


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    tone: Tone = Tone.NEUTRAL
    threshold: float | None = None  # drawn as a tick across this bar's row
    text: str | None = None  # the value as written beside the bar; default: formatted value


@dataclass(frozen=True)
class Reference:
    value: float
    label: str  # e.g. "max 0.50"


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return f"{value:.1%}"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def _tick(value: float, step: float, percent: bool) -> str:
    if percent:
        return f"{value:.0%}" if step >= 0.01 else f"{value:.1%}"
    return f"{value:g}"


def _step(span: float) -> float:
    """A round tick step giving at most 5 intervals over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / 5
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


def _domain(bars: Sequence[Bar], reference: Reference | None) -> tuple[float, float]:
    values = [b.value for b in bars if b.value is not None]
    values += [b.threshold for b in bars if b.threshold is not None]
    if reference is not None:
        values.append(reference.value)
    top, low = max([*values, 0.0]), min([*values, 0.0])
    padded = top * 1.08 if top > 0 else 1.0
    step = _step(padded - low)
    high = math.ceil(padded / step) * step
    if top <= 1.0 and low >= 0.0:
        high = min(high, 1.0)  # shares, rates and ratios: never past 1
    return math.floor(low / step) * step, high


def _text(bar: Bar, percent: bool) -> str:
    if bar.text is not None:
        return bar.text
    return "n/a" if bar.value is None else _fmt(bar.value, percent)


def _clip(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def bar_chart(
    bars: Sequence[Bar],
    *,
    chart_id: str,
    title: str,
    reference: Reference | None = None,
    domain: tuple[float, float] | None = None,
    percent: bool = False,
) -> str:
    """An SVG fragment: ``title`` is its accessible name (the visible caption is the caller's)."""
    lo, hi = domain if domain is not None else _domain(bars, reference)
    if hi <= lo:
        hi = lo + 1.0
    texts = [_text(b, percent) for b in bars]
    label_w = min(220.0, max(72.0, CHAR_W * max((len(_clip(b.label)) for b in bars), default=4) + 18))
    value_w = max(VALUE_W, CHAR_W * max((len(x) for x in texts), default=4) + 20)
    x0, x1 = label_w, WIDTH - value_w
    top = 22 if reference is not None else 8
    height = top + ROW * len(bars) + AXIS_H

    def x(value: float) -> float:
        return x0 + (min(max(value, lo), hi) - lo) / (hi - lo) * (x1 - x0)

    safe_id = "".join(c if c.isalnum() or c in "-_" else "-" for c in chart_id)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-labelledby="{safe_id}-t">',
        f'<title id="{safe_id}-t">{escape(title)}</title>',
    ]
    plot_bottom = top + ROW * len(bars)
    step = _step(hi - lo)
    tick = lo
    while tick <= hi + step / 1000:
        tx = x(tick)
        out.append(
            f'<line x1="{tx:.1f}" y1="{top - 2}" x2="{tx:.1f}" y2="{plot_bottom + 2}" stroke="#e4e7eb" '
            'stroke-width="1"/>'
        )
        out.append(
            f'<text x="{tx:.1f}" y="{plot_bottom + 16}" text-anchor="middle" fill="#616e7c" '
            f'font-size="10">{escape(_tick(tick, step, percent))}</text>'
        )
        tick = round(tick + step, 10)
    out.append(f'<line x1="{x0:.1f}" y1="{top - 2}" x2="{x0:.1f}" y2="{plot_bottom + 2}" stroke="#9aa5b1"/>')
    for i, bar in enumerate(bars):
        y = top + i * ROW + (ROW - BAR) / 2
        cy = y + BAR / 2 + 4
        label = _clip(bar.label)
        out.append(
            f'<text x="{x0 - 8:.1f}" y="{cy:.1f}" text-anchor="end" fill="#1f2933">'
            f"<title>{escape(bar.label)}</title>{escape(label)}</text>"
        )
        if bar.value is not None:
            width = max(x(bar.value) - x0, 1.0)
            out.append(
                f'<rect x="{x0:.1f}" y="{y:.1f}" width="{width:.1f}" height="{BAR}" rx="2" '
                f'fill="{_FILL[bar.tone]}" class="bar {bar.tone.value}"/>'
            )
        fill = "#9aa5b1" if bar.value is None else "#1f2933"
        out.append(
            f'<text x="{x1 + 12:.1f}" y="{cy:.1f}" fill="{fill}" '
            f'font-variant-numeric="tabular-nums">{escape(texts[i])}</text>'
        )
        if bar.threshold is not None:
            tx = x(bar.threshold)
            out.append(
                f'<line x1="{tx:.1f}" y1="{y - 4:.1f}" x2="{tx:.1f}" y2="{y + BAR + 4:.1f}" stroke="#1f2933" '
                'stroke-width="2.5" class="threshold"/>'
            )
    if reference is not None:
        rx = x(reference.value)
        out.append(
            f'<line x1="{rx:.1f}" y1="{top - 6}" x2="{rx:.1f}" y2="{plot_bottom + 2}" stroke="#1f2933" '
            'stroke-width="1.5" stroke-dasharray="5 3" class="reference"/>'
        )
        anchor = "end" if rx > x1 - 40 else ("start" if rx < x0 + 40 else "middle")
        out.append(
            f'<text x="{rx:.1f}" y="{top - 9}" text-anchor="{anchor}" fill="#1f2933" font-size="11" '
            f'font-weight="600">{escape(reference.label)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)
