"""OPA's ``sprintf``: Go's ``fmt.Sprintf`` over the arguments as OPA converts them.

OPA (``topdown/strings.go``) turns each element of the argument array into a Go value before
calling ``fmt.Sprintf``: a number whose text is an integer becomes an ``int64``, any other number
a ``float64``, a string a Go ``string``, and every other value (``true``, ``null``, arrays,
objects, sets) the *string* of its Rego text (``[1, "a"]``, ``{"a": 1}``, ``{1, 2}``,
``set()``). :func:`go_sprintf` reproduces that for the verbs, flags, widths and precisions of
Go's ``fmt``; what it cannot reproduce exactly raises :class:`SprintfUnsupported`, so the
caller's evaluation is an error, never a different text:

* a non-integral number inside an array, object or set (OPA prints the number's text: as
  written, ``0.50``, or as its arithmetic wrote it, ``0.019999999999999999983``);
* an argument index (``%[2]d``), a ``*`` width or precision, the ``#`` flag on floats or ``%v``,
  ``%x``/``%b`` of a float, ``%x`` of a string with the space or ``#`` flag, ``%#q``, a width
  or precision above 10000;
* an integral number the caller says may have been written ``1.0`` or ``1e6`` (the embedded
  engine receives it as an integer; OPA formats such a text as a ``float64``) where the two
  texts would differ.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Final, Protocol

__all__ = ["RegoObject", "RegoSet", "SprintfUnsupported", "go_sprintf", "parse_rego_text", "rego_text"]

_MAX_WIDTH: Final = 10_000
_INT_VERBS: Final = frozenset("bcdoOqxXUv")
_FLOAT_VERBS: Final = frozenset("eEfFgGv")
_FLOAT_GO_VERBS: Final = frozenset("beEfFgGxXv")  # valid for a Go float64 (b, x, X refused)
_STRING_VERBS: Final = frozenset("vsqxX")


class SprintfUnsupported(ValueError):
    """A ``sprintf`` whose OPA text the embedded engine cannot reproduce exactly."""


class NumberTexts(Protocol):
    """How the numbers an engine reads are written (policies, data, input)."""

    def ambiguous(self, value: int) -> bool:
        """Whether the integer may have been written ``n.0`` or with an exponent."""

    def opa_float(self, value: float) -> float:
        """The ``float64`` OPA formats for a number regorus holds as ``value`` (an arithmetic
        result's own text may parse to another one); raises when that cannot be told."""


@dataclass
class _Spec:
    minus: bool = False
    plus: bool = False
    space: bool = False
    zero: bool = False
    sharp: bool = False
    width: int | None = None
    prec: int | None = None


# --- Rego text of a value (OPA's Term.String) ---------------------------------------------------


def _go_quote(text: str, quote: str = '"', *, ascii_only: bool = False) -> str:
    """Go's ``strconv.Quote`` (``'`` for a rune literal; ``QuoteToASCII`` with ``ascii_only``)."""
    out = [quote]
    for ch in text:
        code = ord(ch)
        if ch in (quote, "\\"):
            out.append("\\" + ch)
        elif ch.isprintable() and (ch.isascii() or not ascii_only):
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")  # Go writes a lone surrogate as the replacement character
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append(quote)
    return "".join(out)


_ESCAPES: Final = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


class RegoSet(tuple[Any, ...]):
    """A set whose elements may be arrays, objects or sets (a Python set holds only scalars)."""


class RegoObject(tuple[tuple[Any, Any], ...]):
    """An object as ``(key, value)`` pairs, whose keys may be arrays, objects or sets."""


def _order(value: Any) -> tuple[Any, ...]:
    """OPA's order of Rego values (``ast.Compare``): null, booleans, numbers, strings, arrays,
    objects, sets; arrays element by element, objects by their sorted keys and each key's value
    in turn, sets by their sorted elements, a shorter prefix first."""
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, (int, float)):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, list):
        return (6, tuple(_order(item) for item in value))
    if isinstance(value, (dict, RegoObject)):
        pairs = value.items() if isinstance(value, dict) else value
        return (7, tuple(sorted((_order(k), _order(v)) for k, v in pairs)))
    if isinstance(value, (set, frozenset, RegoSet)):
        return (8, tuple(sorted(_order(item) for item in value)))
    raise SprintfUnsupported(f"a value of type {type(value).__name__}")


def rego_text(value: Any, numbers: NumberTexts | None = None) -> str:
    """The value printed as OPA prints a Rego term (``[1, "a"]``, ``{"a": 1}``, ``{1, 2}``).

    OPA prints a number inside a composite by its text (as written, or as its arithmetic wrote
    it: ``0.93 - 0.91`` is ``0.019999999999999999983``): a non-integral number, or an integer
    that may have been written ``n.0``, raises."""

    def text(item: Any) -> str:
        return rego_text(item, numbers)

    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if numbers is not None and numbers.ambiguous(value):
            raise SprintfUnsupported(f"{value} inside an array, object or set may be written as a float")
        return str(value)
    if isinstance(value, float):
        raise SprintfUnsupported(f"{value!r} inside an array, object or set (OPA prints its text)")
    if isinstance(value, str):
        return _go_quote(value)
    if isinstance(value, list):
        return "[" + ", ".join(text(item) for item in value) + "]"
    if isinstance(value, (dict, RegoObject)):
        pairs = sorted(value.items() if isinstance(value, dict) else value, key=lambda kv: _order(kv[0]))
        return "{" + ", ".join(f"{text(k)}: {text(v)}" for k, v in pairs) + "}"
    if isinstance(value, (set, frozenset, RegoSet)):
        if not value:
            return "set()"
        return "{" + ", ".join(text(item) for item in sorted(value, key=_order)) + "}"
    raise SprintfUnsupported(f"a value of type {type(value).__name__}")


_TOKEN: Final = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)'
    r"|(?P<word>null|true|false|set\(\))|(?P<punct>[\[\]{},:]))"
)


def parse_rego_text(text: str) -> Any:
    """A value read back from regorus' own text of it (``sprintf("%v", [x])``): how a set holding
    arrays, objects or sets reaches Python, since regorus cannot hand one to an extension. An
    empty ``{}`` inside a composite (regorus writes an empty set and an empty object alike)
    raises."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            if text[pos:].strip() == "":
                break
            raise SprintfUnsupported("a value the embedded engine wrote in a form govern cannot read")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    try:
        value, end = _parse_value(tokens, 0)
    except SprintfUnsupported:
        raise
    except (IndexError, RecursionError, ValueError) as exc:
        raise SprintfUnsupported("a value the embedded engine wrote in a form govern cannot read") from exc
    if end != len(tokens):
        raise SprintfUnsupported("a value the embedded engine wrote in a form govern cannot read")
    return value


def _parse_value(tokens: list[tuple[str, str]], i: int) -> tuple[Any, int]:
    kind, token = tokens[i]
    if kind == "string":
        return json.loads(token), i + 1
    if kind == "number":
        return (float(token) if any(c in token for c in ".eE") else int(token)), i + 1
    if kind == "word":
        return {"null": None, "true": True, "false": False, "set()": RegoSet()}[token], i + 1
    if token == "[":
        items: list[Any] = []
        i += 1
        while tokens[i][1] != "]":
            item, i = _parse_value(tokens, i)
            items.append(item)
            if tokens[i][1] == ",":
                i += 1
        return items, i + 1
    if token == "{":
        if tokens[i + 1][1] == "}":
            raise SprintfUnsupported("an empty set or object inside a composite (regorus writes both {})")
        first, j = _parse_value(tokens, i + 1)
        if tokens[j][1] == ":":  # an object
            pairs: list[tuple[Any, Any]] = []
            key, i = first, j
            while True:
                value, i = _parse_value(tokens, i + 1)
                pairs.append((key, value))
                if tokens[i][1] == "}":
                    break
                key, i = _parse_value(tokens, i + 1)  # past the comma
                if tokens[i][1] != ":":
                    raise ValueError("expected a colon")
            scalar_keys = all(k is None or isinstance(k, (bool, int, float, str)) for k, _ in pairs)
            return (dict(pairs) if scalar_keys else RegoObject(pairs)), i + 1
        elements = [first]
        i = j
        while tokens[i][1] == ",":
            element, i = _parse_value(tokens, i + 1)
            elements.append(element)
        if tokens[i][1] != "}":
            raise ValueError("expected a closing brace")
        return RegoSet(elements), i + 1
    raise ValueError(f"unexpected {token!r}")


def _go_arg(value: Any, numbers: NumberTexts | None) -> int | float | str:
    """The Go value OPA hands to fmt.Sprintf for one array element."""
    if isinstance(value, bool) or value is None:
        return rego_text(value)
    if isinstance(value, (list, dict, set, frozenset, RegoSet, RegoObject)):
        return rego_text(value, numbers)
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise SprintfUnsupported("an integer beyond 64 bits")
        return value
    if isinstance(value, float):
        return numbers.opa_float(value) if numbers is not None else value
    if isinstance(value, str):
        return value
    raise SprintfUnsupported(f"a value of type {type(value).__name__}")


def _type_name(arg: int | float | str) -> str:
    if isinstance(arg, int):
        return "int64"
    return "float64" if isinstance(arg, float) else "string"


# --- padding ------------------------------------------------------------------------------------


def _pad(text: str, spec: _Spec, *, zero: bool | None = None) -> str:
    if spec.width is None:
        return text
    fill = "0" if (spec.zero if zero is None else zero) else " "
    missing = spec.width - len(text)
    if missing <= 0:
        return text
    return text + " " * missing if spec.minus else fill * missing + text


# --- integers -----------------------------------------------------------------------------------


def _format_int(value: int, verb: str, spec: _Spec) -> str:
    if verb == "c":
        return _pad(_rune(value), spec)
    if verb == "q":
        return _pad(_go_quote(_rune(value), "'", ascii_only=spec.plus), spec)
    if verb == "U":
        text = f"U+{value:04X}" if value >= 0 else f"U+{value & 0xFFFFFFFFFFFFFFFF:04X}"
        if spec.prec is not None:
            raise SprintfUnsupported("a precision with %U")
        if spec.sharp and 0 <= value <= 0x10FFFF and _rune(value).isprintable():
            text += " '" + _rune(value) + "'"
        return _pad(text, spec, zero=False)
    base = {"b": 2, "o": 8, "O": 8, "x": 16, "X": 16}.get(verb, 10)
    negative = value < 0
    digits = _digits(abs(value), base, upper=verb == "X")
    prec = 0
    if spec.prec is not None:
        prec = spec.prec
        if prec == 0 and value == 0:
            return " " * spec.width if spec.width else ""
    elif spec.zero and not spec.minus and spec.width is not None:
        prec = spec.width - (1 if negative or spec.plus or spec.space else 0)
    if len(digits) < prec:
        digits = "0" * (prec - len(digits)) + digits
    if spec.sharp:
        if base == 2:
            digits = "0b" + digits
        elif base == 8 and not digits.startswith("0"):
            digits = "0" + digits
        elif base == 16:
            digits = ("0X" if verb == "X" else "0x") + digits
    if verb == "O":
        digits = "0o" + digits
    if negative:
        digits = "-" + digits
    elif spec.plus:
        digits = "+" + digits
    elif spec.space:
        digits = " " + digits
    return _pad(digits, spec, zero=False)


def _digits(value: int, base: int, *, upper: bool) -> str:
    if base == 10:
        return str(value)
    text = {2: format(value, "b"), 8: format(value, "o"), 16: format(value, "x")}[base]
    return text.upper() if upper else text


def _rune(value: int) -> str:
    if 0 <= value <= 0x10FFFF and not 0xD800 <= value <= 0xDFFF:
        return chr(value)
    return "\ufffd"


# --- floats -------------------------------------------------------------------------------------


def _shortest(value: float, verb: str) -> str:
    """Go's ``%g``/``%G`` (and ``%v``) with the shortest precision, for a non-negative value."""
    _, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    if not isinstance(exponent, int):  # pragma: no cover - JSON has no infinities or NaN
        raise SprintfUnsupported("a non-finite number")
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    exponent += len(digit_tuple) - len(digits)
    if digits == "0":
        return "0"
    dp = len(digits) + exponent  # position of the decimal point
    exp = dp - 1
    if exp < -4 or exp >= 6:  # shortest %g switches to %e at precision 6, as strconv does
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e = "E" if verb == "G" else "e"
        return f"{mantissa}{e}{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return "0." + "0" * (-dp) + digits
    if dp >= len(digits):
        return digits + "0" * (dp - len(digits))
    return digits[:dp] + "." + digits[dp:]


def _format_float(value: float, verb: str, spec: _Spec) -> str:
    if verb in "bxX":
        raise SprintfUnsupported(f"%{verb} of a non-integral number")
    if spec.sharp:
        raise SprintfUnsupported("the # flag with a non-integral number")
    negative = value < 0 or (value == 0 and str(value).startswith("-"))
    magnitude = abs(value)
    if verb in "gGv" and spec.prec is None:
        body = _shortest(magnitude, verb)
    else:
        prec = 6 if spec.prec is None else spec.prec
        python_verb = {"v": "g", "F": "f"}.get(verb, verb)
        body = format(magnitude, f".{prec}{python_verb}")
    if negative:
        sign = "-"
    elif spec.plus:
        sign = "+"
    elif spec.space:
        sign = " "
    else:
        sign = ""
    if sign and spec.zero and not spec.minus and spec.width is not None and spec.width > len(body) + 1:
        return sign + "0" * (spec.width - len(body) - 1) + body
    return _pad(sign + body, spec)


# --- strings ------------------------------------------------------------------------------------


def _format_str(value: str, verb: str, spec: _Spec) -> str:
    if verb in "vs":
        text = value if spec.prec is None else value[: spec.prec]
        return _pad(text, spec)
    if verb == "q":
        if spec.sharp:
            raise SprintfUnsupported("%#q")
        text = value if spec.prec is None else value[: spec.prec]
        return _pad(_go_quote(text, ascii_only=spec.plus), spec)
    if spec.sharp or spec.space:
        raise SprintfUnsupported(f"%{verb} of a string with the # or space flag")
    data = value.encode("utf-8", "surrogatepass")
    if spec.prec is not None:
        data = data[: spec.prec]
    text = data.hex()
    return _pad(text.upper() if verb == "X" else text, spec)


# --- the format string --------------------------------------------------------------------------


def _format_arg(arg: int | float | str, verb: str, spec: _Spec) -> str:
    if isinstance(arg, int) and verb in _INT_VERBS:
        return _format_int(arg, "d" if verb == "v" else verb, spec)
    if isinstance(arg, float) and verb in _FLOAT_GO_VERBS:
        return _format_float(arg, verb, spec)
    if isinstance(arg, str) and verb in _STRING_VERBS:
        return _format_str(arg, verb, spec)
    # Go's bad verb: %!d(string=abc), the value printed with %v and the same flags
    return f"%!{verb}({_type_name(arg)}={_format_arg(arg, 'v', spec)})"


def _number(fmt: str, pos: int) -> tuple[int | None, int]:
    start = pos
    while pos < len(fmt) and fmt[pos].isascii() and fmt[pos].isdigit():
        pos += 1
    if pos == start:
        return None, pos
    value = int(fmt[start:pos])
    if value > _MAX_WIDTH:
        raise SprintfUnsupported("a width or precision above 10000")
    return value, pos


def _parse_spec(fmt: str, pos: int) -> tuple[_Spec, int]:
    """The flags, width and precision of the verb starting at ``pos`` (after the ``%``)."""
    end = len(fmt)
    spec = _Spec()
    while pos < end and fmt[pos] in "-+# 0":
        flag = fmt[pos]
        if flag == "-":
            spec.minus, spec.zero = True, False
        elif flag == "+":
            spec.plus = True
        elif flag == "#":
            spec.sharp = True
        elif flag == " ":
            spec.space = True
        else:
            spec.zero = not spec.minus
        pos += 1
    if pos < end and fmt[pos] in "[*":
        raise SprintfUnsupported("an argument index or a * width in the format")
    spec.width, pos = _number(fmt, pos)
    if pos < end and fmt[pos] == ".":
        pos += 1
        if pos < end and fmt[pos] in "[*":
            raise SprintfUnsupported("an argument index or a * precision in the format")
        prec, pos = _number(fmt, pos)
        spec.prec = 0 if prec is None else prec
    return spec, pos


def go_sprintf(fmt: str, values: list[Any], numbers: NumberTexts | None = None) -> str:
    """``sprintf(fmt, values)`` as OPA computes it (Go's ``fmt.Sprintf``).

    ``numbers`` says how the numbers were written (in the input, the data or the policy): OPA
    formats an integer written ``n.0`` or ``1e6`` as a float, so where the two texts would differ
    for an integer it calls ambiguous, this raises. Without it, every integer is taken as
    written as an integer, and a non-integral number inside a composite raises."""
    ambiguous = numbers.ambiguous if numbers is not None else None
    args = [_go_arg(value, numbers) for value in values]
    out: list[str] = []
    used = 0
    pos = 0
    end = len(fmt)
    while pos < end:
        percent = fmt.find("%", pos)
        if percent < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:percent])
        pos = percent + 1
        spec, pos = _parse_spec(fmt, pos)
        if pos >= end:
            out.append("%!(NOVERB)")
            break
        verb = fmt[pos]
        pos += 1
        if verb == "%":
            out.append("%")  # Go writes a percent sign whatever the flags
        elif used >= len(args):
            out.append(f"%!{verb}(MISSING)")
        else:
            arg = args[used]
            used += 1
            if verb == "v":
                if spec.sharp:
                    raise SprintfUnsupported("%#v")
                spec.plus = False  # %+v is Go's plusV: no sign (a bad verb keeps the flag)
            if (
                isinstance(arg, int)
                and ambiguous is not None
                and ambiguous(arg)
                and _format_arg(arg, verb, replace(spec)) != _format_arg(float(arg), verb, replace(spec))
            ):
                raise SprintfUnsupported(
                    f"{arg} may be written with a fraction or an exponent (OPA formats it as a float)"
                )
            out.append(_format_arg(arg, verb, spec))
    if used < len(args):
        if ambiguous is not None and any(isinstance(a, int) and ambiguous(a) for a in args[used:]):
            raise SprintfUnsupported("an extra integral argument may be written as a float")
        extra = [f"{_type_name(arg)}={_format_arg(arg, 'v', _Spec())}" for arg in args[used:]]
        out.append("%!(EXTRA " + ", ".join(extra) + ")")
    return "".join(out)
