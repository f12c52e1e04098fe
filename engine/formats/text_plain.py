"""The text format's table without colour, laid out as Rich lays it out, without importing Rich.

Rich takes a fifth of a cold ``govern check`` to import and draw a table that, without colour,
is plain characters. This module computes the same characters for the one table the text
format draws (``Table(show_edge=False, pad_edge=False)``, heavy head, cell padding ``(0, 1)``,
the first three columns unwrapped, the last two wrapped with an ellipsis for a word too long),
following Rich's column measuring, collapsing and word wrapping step by step; the lines around
the table are wrapped as ``Console.print`` wraps them (a word too long is folded).

It handles text whose every character is one cell wide in Rich (printable ASCII and ``…``) and a
width of at least 40; for anything else :func:`render` returns None and the caller uses Rich.
The text format's tests compare both on the same decisions.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence

__all__ = ["render"]

_WORD = re.compile(r"\s*\S+\s*")
_TRAILING_SPACE = re.compile(r"\s+$")
_MIN_WIDTH = 40
#: Columns that never wrap (result, rule, severity); the others wrap.
_NO_WRAP = (True, True, True, False, False)
_HEAD, _HEAD_RULE, _HEAD_CROSS, _BODY = "┃", "━", "╇", "│"


def _simple(text: str) -> bool:
    """Every character is one cell wide for Rich and needs no tab expansion."""
    return all(" " <= c <= "~" or c in {"\n", "…"} for c in text)


def _divide_line(text: str, width: int, fold: bool) -> list[int]:
    """``rich._wrap.divide_line`` for one-cell characters."""
    breaks: list[int] = []
    offset = 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:
            if fold:
                chunks = [word[i : i + width] for i in range(0, len(word), width)]
                for i, chunk in enumerate(chunks):
                    if start:
                        breaks.append(start)
                    if i == len(chunks) - 1:
                        offset = len(chunk)
                    else:
                        start += len(chunk)
            else:
                if start:
                    breaks.append(start)
                offset = len(word)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    return breaks


def _divide(text: str, offsets: Iterable[int]) -> list[str]:
    cuts = [0, *offsets, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(cuts)]


def _rstrip_end(line: str, size: int) -> str:
    if len(line) > size:
        match = _TRAILING_SPACE.search(line)
        if match is not None:
            return line[: len(line) - min(len(match.group(0)), len(line) - size)]
    return line


def _truncate(line: str, width: int, overflow: str, pad: bool = False) -> str:
    length = len(line)
    if length > width:
        line = line[: width - 1] + "…" if overflow == "ellipsis" else line[:width]
    if pad and length < width:
        line += " " * (width - length)
    return line


def _wrap(text: str, width: int, *, overflow: str, no_wrap: bool, justify_left: bool) -> list[str]:
    """``Text.wrap`` for one-cell characters (justify ``left`` in a cell, ``default`` outside)."""
    out: list[str] = []
    for line in text.split("\n"):
        if no_wrap:
            pieces = [line]
        else:
            pieces = [
                _rstrip_end(p, width) for p in _divide(line, _divide_line(line, width, overflow == "fold"))
            ]
        if justify_left:
            pieces = [_truncate(p, width, overflow, pad=True) for p in pieces]
        out.extend(_truncate(p, width, overflow) for p in pieces)
    return out


def _measure(text: str) -> tuple[int, int]:
    """``Text.__rich_measure__``: (longest word, longest line)."""
    lines = text.splitlines()
    longest = max((len(line) for line in lines), default=0)
    words = text.split()
    return (max((len(w) for w in words), default=longest), longest)


def _ratio_reduce(total: int, ratios: list[int], maximums: list[int], values: list[int]) -> list[int]:
    ratios = [r if m else 0 for r, m in zip(ratios, maximums, strict=True)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return values[:]
    remaining = total
    out = []
    for ratio, maximum, value in zip(ratios, maximums, values, strict=True):
        if ratio and total_ratio > 0:
            distributed = min(maximum, round(ratio * remaining / total_ratio))
            out.append(value - distributed)
            remaining -= distributed
            total_ratio -= ratio
        else:
            out.append(value)
    return out


def _collapse(widths: list[int], wrapable: Sequence[bool], max_width: int) -> list[int]:
    total = sum(widths)
    excess = total - max_width
    if any(wrapable):
        while total and excess > 0:
            widest = max(w for w, can in zip(widths, wrapable, strict=True) if can)
            second = max(w if can and w != widest else 0 for w, can in zip(widths, wrapable, strict=True))
            difference = widest - second
            ratios = [1 if (w == widest and can) else 0 for w, can in zip(widths, wrapable, strict=True)]
            if not any(ratios) or not difference:
                break
            widths = _ratio_reduce(excess, ratios, [min(excess, difference)] * len(widths), widths)
            total = sum(widths)
            excess = total - max_width
    return widths


def _padding(index: int, count: int) -> tuple[int, int]:
    return (0 if index == 0 else 1, 0 if index == count - 1 else 1)


def _column_width(cells: list[str], pad: tuple[int, int], limit: int) -> int:
    """The column's maximum measurement (``Table._measure_column`` over padded cells)."""
    extra = pad[0] + pad[1]
    widest = 0
    for cell in cells:
        if limit - extra < 1:
            maximum = limit
        else:
            _low, high = _measure(cell)
            high = min(high, limit)
            if high < 1:
                high = 0
            maximum = min(high + extra, limit)
        widest = max(widest, maximum)
    return min(widest, limit)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> list[str] | None:
    count = len(headers)
    columns = [[headers[i], *(row[i] for row in rows)] for i in range(count)]
    pads = [_padding(i, count) for i in range(count)]
    available = width - (count - 1)
    widths = [_column_width(cells, pad, available) or 1 for cells, pad in zip(columns, pads, strict=True)]
    if sum(widths) > available:
        widths = _collapse(widths, [not nw for nw in _NO_WRAP], available)
        if sum(widths) > available:
            widths = _ratio_reduce(sum(widths) - available, [1] * count, widths, widths)
        widths = [
            _column_width(cells, pad, w) if w >= 1 else 0
            for cells, pad, w in zip(columns, pads, widths, strict=True)
        ]
    if any(w - pad[0] - pad[1] < 1 for w, pad in zip(widths, pads, strict=True)):
        return None  # a column squeezed to nothing: Rich's corner cases are Rich's to draw

    def cell_lines(text: str, index: int) -> list[str]:
        left, right = pads[index]
        inner = widths[index] - left - right
        wrapped = _wrap(text, inner, overflow="ellipsis", no_wrap=_NO_WRAP[index], justify_left=True)
        return [" " * left + line + " " * right for line in wrapped]

    out: list[str] = []
    for r, row in enumerate([list(headers), *[list(row) for row in rows]]):
        cells = [cell_lines(text, i) for i, text in enumerate(row)]
        height = max(len(c) for c in cells)
        for cell, w in zip(cells, widths, strict=True):
            cell.extend([" " * w] * (height - len(cell)))
        separator = _HEAD if r == 0 else _BODY
        out.extend(separator.join(cell[n] for cell in cells) for n in range(height))
        if r == 0:
            out.append(_HEAD_CROSS.join(_HEAD_RULE * w for w in widths))
    return out


def render(
    heading: str, headers: Sequence[str], rows: Sequence[Sequence[str]], after: Sequence[str], width: int
) -> str | None:
    """The heading line, the table and the lines after it, as Rich prints them without colour;
    None when Rich must draw them (see the module's docstring)."""
    texts = [heading, *headers, *(cell for row in rows for cell in row), *after]
    if width < _MIN_WIDTH or not all(_simple(t) for t in texts):
        return None
    table = _table(headers, rows, width)
    if table is None:
        return None
    lines = _wrap(heading, width, overflow="fold", no_wrap=False, justify_left=False)
    lines.extend(table)
    for text in after:
        lines.extend(_wrap(text, width, overflow="fold", no_wrap=False, justify_left=False))
    return "".join(line + "\n" for line in lines)
