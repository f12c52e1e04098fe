"""OPA's numbers, computed in Python for the embedded engine's arithmetic helpers.

OPA (1.22, ``topdown/arithmetic.go``, ``aggregates.go``) computes ``+ - *`` on two integers
exactly, and everything else on ``big.Float`` with a 64-bit mantissa: each operand's text parsed
to 64 bits, the result rounded to 64 bits (half to even) and kept as the shortest decimal text
that parses back to it. regorus holds an ``f64``, 53 bits.

Each arithmetic result of a user policy is computed here as OPA computes it (:func:`arith`,
:func:`total`, :func:`rounding`) and handed to regorus (:meth:`Ledger.give_out`) as an integer
only when OPA's value is exactly that integer, as the ``f64`` whose shortest text is OPA's text
when there is one (then OPA reads the result exactly as it reads that number written), and
otherwise as an ``f64`` next to OPA's value whose exact value is remembered for the evaluation
(:data:`ledger`). Comparisons on values that may be results (:func:`compare`) then decide on the
decimals OPA's texts spell, as OPA does. A remembered ``f64`` that is also a number written in the
input, the data or a policy text is read both ways; when the two readings give different
answers, the answer is an error naming ``--backend opa``, never a guess.
"""

from __future__ import annotations

import functools
import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

from .exact import ARITHMETIC, COMPARISONS, EXACT_LIMIT, MAYBE, RESULT, WRITTEN, context

__all__ = [
    "Ledger",
    "PrecisionLimit",
    "arith",
    "compare",
    "equal",
    "ledger",
    "member",
    "round64",
    "rounding",
    "shortest_text",
    "total",
]

_BITS: Final = 64
_PRODUCT_BITS: Final = 53
#: How many inexact results one evaluation may remember before it fails (closed).
_LEDGER_LIMIT: Final = 200_000


class PrecisionLimit(ValueError):
    """OPA's answer cannot be told from what the embedded engine holds."""


def _split64(x: Fraction, bits: int = _BITS) -> tuple[int, int]:
    """``(m, e)`` with ``x`` rounded to ``bits`` bits = ``m * 2**e``, ``2**(bits-1) <= |m| <=
    2**bits`` (half to even, ``big.Float``'s default); ``x`` is not zero."""
    p, q = abs(x.numerator), x.denominator
    e = p.bit_length() - q.bit_length() - bits
    num, den = (p, q << e) if e >= 0 else (p << -e, q)
    m, r = divmod(num, den)
    if m >= 1 << bits:  # one bit too many: the estimate of e was low by one
        e += 1
        num, den = (p, q << e) if e >= 0 else (p << -e, q)
        m, r = divmod(num, den)
    elif m < 1 << (bits - 1):
        e -= 1
        num, den = (p, q << e) if e >= 0 else (p << -e, q)
        m, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and m % 2 == 1):
        m += 1
    return (m if x > 0 else -m), e


def round64(x: Fraction, bits: int = _BITS) -> Fraction:
    """``x`` rounded to a 64-bit (or ``bits``-bit) binary mantissa, half to even
    (``big.Float``'s default)."""
    if x == 0:
        return x
    m, e = _split64(x, bits)
    return Fraction(m << e) if e >= 0 else Fraction(m, 1 << -e)


def _pow2(e: int) -> Fraction:
    return Fraction(1 << e) if e >= 0 else Fraction(1, 1 << -e)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _written(value: float) -> Fraction:
    """The value of a number as written (JSON input, a literal): its shortest text, exactly."""
    return Fraction(Decimal(repr(value)))


class Ledger:
    """OPA's exact values of the inexact results handed out in one evaluation, by ``f64``, and
    the numbers written in what the evaluation reads (input, data, policy texts)."""

    def __init__(self) -> None:
        self.values: dict[float, set[Fraction]] = {}
        #: results given out as the f64 whose shortest text is OPA's (nothing remembered)
        self.shorts: set[float] = set()
        self._seen = (-1, -1)  # the (load, evaluation) of :data:`.exact.context` last seen
        self._static: tuple[frozenset[float], frozenset[int]] | None = None
        #: whether a policy makes numbers from text other than by writing them (set with _static)
        self._from_text = False
        self._input_written: set[float] | None = None
        self._input_integral: frozenset[int] | None = None

    def _sync(self) -> None:
        """Start afresh when the engine has loaded a policy set or started an evaluation since."""
        now = (context.loads, context.evaluations)
        if now == self._seen:
            return
        if now[0] != self._seen[0]:
            self._static = None
        self._seen = now
        self.values.clear()
        self.shorts.clear()
        self._input_written = None
        self._input_integral = None

    def _scanned(self) -> tuple[frozenset[float], frozenset[int]]:
        if self._static is None:
            texts = list(context.texts)
            self._static = (written_numbers(texts), integral_spellings("\n".join(texts)))
            self._from_text = any(call in text for text in texts for call in _NUMBERS_FROM_TEXT)
        return self._static

    @property
    def static_written(self) -> frozenset[float]:
        """The non-integers written in the policy set's texts and data."""
        return self._scanned()[0]

    @property
    def static_integral(self) -> frozenset[int]:
        """The integers spelled with a fraction or an exponent there."""
        return self._scanned()[1]

    @property
    def input_text(self) -> str:
        return context.input_text or ""

    def written(self, value: float) -> bool:
        """Whether ``value`` may be a number written in the input, the data or a policy text (in
        a string too), or any number at all when a policy makes numbers from text
        (``to_number``, ``units.parse``, ``json.unmarshal`` …: the text may be built)."""
        self._sync()
        if value in self.static_written or self._from_text:
            return True
        if self._input_written is None:  # read only when a result and a number collide
            self._input_written = set(written_numbers([self.input_text]))
        return value in self._input_written

    def ambiguous(self, value: int) -> bool:
        """Whether an integer regorus holds may be a number OPA reads as a float (spelled ``1.0``
        or ``1e6`` in the input, the data or a policy text), or beyond what it holds exactly."""
        self._sync()
        if abs(value) >= EXACT_LIMIT or value in self.static_integral:
            return True
        if self._input_integral is None:
            self._input_integral = integral_spellings(self.input_text)
        return value in self._input_integral

    def opa_float(self, value: float) -> float:
        """The ``float64`` OPA's ``sprintf`` formats for ``value``: an arithmetic result's text
        parsed as a float64 (``1.99999999999999999983`` is ``2.0``), else the number itself."""
        self._sync()
        found = self.values.get(value)
        if not found:
            return value
        options = {float(shortest_text(v)) for v in found}
        if value in self.shorts or self.written(value):
            options.add(value)
        if len(options) > 1:
            raise PrecisionLimit(
                f"{value!r} is both a number written and an arithmetic result that OPA prints"
                " differently; run it with --backend opa"
            )
        return options.pop()

    def pending(self) -> bool:
        """Whether a result of this evaluation is held as a float other than OPA's value."""
        self._sync()
        return bool(self.values)

    def as_opa_json(self, value: Any) -> Any:
        """A value the engine returned, as OPA's JSON output of it reads: an arithmetic result
        as its own text parses (``(0.93 - 0.91) * 100`` is ``1.99999999999999999983`` on OPA,
        which reads ``2.0``; regorus holds ``1.9999999999999998``). Raises where that cannot be
        told (a number both written and a result that OPA writes differently), and for an object
        key that is a result (OPA writes the key with its 20 digits; regorus with 17)."""
        self._sync()
        if not self.values:
            return value
        return self._as_opa_json(value)

    def _as_opa_json(self, value: Any) -> Any:
        if isinstance(value, float):
            return self.opa_float(value)
        if isinstance(value, list):
            return [self._as_opa_json(item) for item in value]
        if isinstance(value, dict):
            for key in value:
                if _NUMERIC_KEY.fullmatch(key) and float(key) in self.values:
                    raise PrecisionLimit(
                        f"the object key {key} may be an inexact arithmetic result, which OPA writes"
                        " with more digits; run it with --backend opa"
                    )
            return {key: self._as_opa_json(item) for key, item in value.items()}
        return value

    def readings(self, value: int | float, mode: int = MAYBE) -> list[tuple[Fraction, bool]]:
        """OPA's possible values of an operand, each with whether it is an arithmetic result (a
        64-bit value) or a number as written (its exact decimal). A number as written
        (``WRITTEN``) is read as written; a result (``RESULT``) as the results remembered under
        its ``f64``, and as written too when a result with that short text was given out; a value
        that may be either (``MAYBE``) also as written when the number is written somewhere."""
        if _is_int(value):
            return [(Fraction(value), False)]
        if mode == WRITTEN:
            return [(_written(value), False)]
        found = [(v, True) for v in sorted(self.values.get(value, ()))]
        if found and value not in self.shorts and (mode == RESULT or not self.written(value)):
            return found
        return [*found, (_written(value), False)]

    def give_out(self, v: Fraction) -> int | float:
        """The ``f64`` (or integer) regorus holds for OPA's value ``v``.

        When OPA's text for ``v`` is the shortest text of an ``f64`` (``0.93``, ``0.3``), that
        ``f64`` is given: OPA reads the result exactly as it would read that number written, so
        nothing needs remembering. Otherwise (``0.019999999999999999983``) the ``f64`` one step
        from the nearest towards OPA's value is given and ``v`` remembered under it: not a number
        anyone writes (``0.019999999999999997``, not ``0.02``), so a number written is rarely
        mistaken for the result, and never an integer, so floor, ceil and integers see OPA's
        side of it."""
        self._sync()
        if v.denominator == 1 and abs(v) < 2**63:
            return int(v)
        f = float(v)
        if len(self.values) + len(self.shorts) >= _LEDGER_LIMIT:
            raise PrecisionLimit(
                f"more than {_LEDGER_LIMIT // 2} inexact arithmetic results in one evaluation;"
                " run it with --backend opa"
            )
        if not f.is_integer() and round64(_written(f)) == v:
            self.shorts.update((f, -f))  # abs() keeps what a result is, whatever its sign
            return f
        if abs(f) >= _EVERY_FLOAT_INTEGRAL:
            raise PrecisionLimit(
                f"{float(v)!r} is an inexact arithmetic result beyond 2^52, where every binary float"
                " is an integer and regorus cannot hold OPA's value; run it with --backend opa"
            )
        if f.is_integer():  # regorus would hold it as an integer: keep OPA's side of it
            f = math.nextafter(f, math.inf if v > f else -math.inf)
        self.values.setdefault(f, set()).add(v)
        self.values.setdefault(-f, set()).add(-v)
        return f


#: 2^52: from there on every binary float is an integer (a non-integral result has no float).
_EVERY_FLOAT_INTEGRAL: Final = 2.0**52

#: Built-ins that make a number from a text other than the number written in it.
_NUMBERS_FROM_TEXT: Final = ("to_number(", "units.parse(", "json.unmarshal(", "yaml.unmarshal(")

#: An object key regorus wrote from a number (JSON keys are strings).
_NUMERIC_KEY = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")

_NUMBER = re.compile(r"(?<![\w.])(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?(?![\w.])")


_FLOAT_SPELLING = re.compile(r"(?<![\w.])-?\d+(?:\.\d+(?:[eE][-+]?\d+)?|[eE][-+]?\d+)(?![\w.])")


def integral_spellings(text: str) -> frozenset[int]:
    """The integers spelled with a fraction or an exponent in ``text`` (``1.0``, ``1e6``): OPA
    formats such a number as a float, regorus holds an integer. Strings and comments count too,
    which can only make ``sprintf`` more cautious."""
    out: set[int] = set()
    for match in _FLOAT_SPELLING.finditer(text):
        try:
            number = Decimal(match.group(0))
        except ArithmeticError:  # pragma: no cover - the pattern spells numbers
            continue
        if number.is_finite() and number == number.to_integral_value() and abs(number) < 2**64:
            out.update((int(number), -int(number)))
    return frozenset(out)


def written_numbers(texts: list[str]) -> frozenset[float]:
    """Every non-integer number spelled in these texts (policies, data): a superset, since a
    number in a comment or a string counts too, which only makes a collision more cautious."""
    found: set[float] = set()
    for text in texts:
        for match in _NUMBER.finditer(text):
            try:
                value = float(match.group(0))
            except ValueError:  # pragma: no cover - the pattern spells floats
                continue
            if math.isfinite(value) and not value.is_integer():
                found.update((value, -value))
    return frozenset(found)


#: The one ledger of this process (the embedded engine evaluates one query at a time).
ledger = Ledger()


def _check(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("operand is not a number")


def arith(op: str, a: Any, b: Any, a_mode: int = MAYBE, b_mode: int = MAYBE) -> int | float:
    """``a op b`` as OPA computes it (``Add Sub Mul Div Mod``); division and modulo by zero, and
    modulo on non-integers, are errors as in OPA."""
    _check(a)
    _check(b)
    if op == "Mod":
        if not (_is_int(a) and _is_int(b)):
            raise ValueError("modulo on floating-point number")
        if b == 0:
            raise ValueError("modulo by zero")
        remainder = abs(int(a)) % abs(int(b))
        return remainder if a >= 0 else -remainder  # the dividend's sign, as Go's Rem
    if op == "Div" and b == 0:
        raise ValueError("divide by zero")
    if _is_int(a) and _is_int(b):
        i, j = int(a), int(b)
        if op == "Add":
            return i + j
        if op == "Sub":
            return i - j
        if op == "Mul":
            return i * j
        if op == "Div" and i != 0 and i % j == 0:
            return i // j
    if op not in ("Add", "Sub", "Mul", "Div"):
        raise ValueError(f"unknown arithmetic operator {op}")
    results = {
        round64(_apply(op, x, y))
        for x in map(_parsed, ledger.readings(a, a_mode))
        for y in map(_parsed, ledger.readings(b, b_mode))
    }
    return ledger.give_out(_one(results, f"{a!r} {_SYMBOLS[op]} {b!r}"))


def _apply(op: str, x: Fraction, y: Fraction) -> Fraction:
    return x + y if op == "Add" else x - y if op == "Sub" else x * y if op == "Mul" else x / y


def _parsed(reading: tuple[Fraction, bool]) -> Fraction:
    """A number as OPA's arithmetic reads it: its text parsed to 64 bits (a result already is)."""
    v, result = reading
    return v if result or v.denominator == 1 else round64(v)


def _one(results: set[Fraction], what: str) -> Fraction:
    if len(results) > 1:
        raise PrecisionLimit(
            f"{what} is at the precision limit: an operand is both a number written in the input or"
            " the policies and an inexact arithmetic result, and OPA's value depends on which;"
            " run it with --backend opa"
        )
    return results.pop()


def total(op: str, values: Any) -> int | float:
    """``sum`` / ``product`` of numbers as OPA computes them (exact on integers, else each step on
    64 bits)."""
    # OPA sums a set in its sorted order (each step rounds, so the order matters)
    items = sorted(values) if isinstance(values, (set, frozenset)) else list(values)
    for item in items:
        _check(item)
    if all(_is_int(item) for item in items):
        integers = [int(item) for item in items]
        return math.prod(integers) if op == "product" else sum(integers)
    results = set()
    # OPA's sum starts from a big.Float of no precision (it takes the operands' 64 bits); its
    # product from big.NewFloat(1), whose 53 bits every step then keeps
    bits = _PRODUCT_BITS if op == "product" else _BITS
    for choice in range(2):  # remembered results first, then every colliding number as written
        acc = Fraction(1 if op == "product" else 0)
        for item in items:
            options = ledger.readings(item)
            x = _parsed(options[min(choice, len(options) - 1)])
            acc = round64(acc * x if op == "product" else acc + x, bits)
        results.add(acc)
    return ledger.give_out(_one(results, f"{op} of {len(items)} numbers"))


def rounding(op: str, x: Any, mode: int = MAYBE) -> int:
    """``floor`` / ``ceil`` / ``round`` as OPA 1.22 computes them, quirks included: it truncates
    towards zero and then corrects, so ``floor(-0.5)`` is 0 and ``ceil(-0.5)`` is 1; ``round``
    adds a half on 64 bits before truncating."""
    _check(x)
    if _is_int(x):
        return int(x)
    results = {_round_one(op, _parsed(reading)) for reading in ledger.readings(x, mode)}
    if len(results) > 1:
        raise PrecisionLimit(f"{op}({x!r}) is at the precision limit; run it with --backend opa")
    return results.pop()


def _round_one(op: str, v: Fraction) -> int:
    truncated = math.trunc(v)
    if op == "round":
        return math.trunc(round64(v - Fraction(1, 2) if v < 0 else v + Fraction(1, 2)))
    if op == "floor":  # big.Float's sign bit: an integer zero has none
        return truncated if (truncated >= 0 or v == truncated) else truncated - 1
    if op == "ceil":
        return truncated if (truncated < 0 or v == truncated) else truncated + 1
    raise ValueError(f"unknown rounding {op}")


_SYMBOLS: Final = {**ARITHMETIC, **COMPARISONS}


@functools.lru_cache(maxsize=4096)
def shortest_text(v: Fraction) -> Fraction:
    """The value of OPA's text for a 64-bit result: the shortest decimal that parses back to it
    (``big.Float.Text('g', -1)``), the nearest such when several have as few digits."""
    if v.denominator == 1:
        return v
    m, e = _split64(v)
    half = _pow2(e - 1)
    low, high = v - half, v + half  # what parses back to v: inside, or on an edge when m is even
    even = m % 2 == 0
    exponent = math.floor(math.log10(abs(v)))

    def nearest(digits: int) -> Fraction | None:
        quantum = _pow10(exponent - digits + 1)
        candidate = round(v / quantum) * quantum
        inside = low < candidate < high or (even and candidate in (low, high))
        return candidate if inside else None

    # a decimal of n digits that parses back means one of n + 1 digits does too: bisect
    lo, hi = 1, 40
    while lo < hi:
        middle = (lo + hi) // 2
        if nearest(middle) is None:
            lo = middle + 1
        else:
            hi = middle
    return nearest(lo) or v


def _pow10(e: int) -> Fraction:
    return Fraction(10**e) if e >= 0 else Fraction(1, 10**-e)


def compare(op: str, a: Any, b: Any, a_mode: int = MAYBE, b_mode: int = MAYBE) -> bool:
    """``a op b`` as OPA decides it: exactly, on the decimals the two numbers' texts spell (an
    arithmetic result's text is the shortest decimal parsing back to its 64-bit value). Each
    operand is read as its mode (from the load-time analysis) says (:meth:`Ledger.readings`);
    when it has two readings and they give different answers, that is an error."""
    _check(a)
    _check(b)
    if op not in COMPARISONS:
        raise ValueError(f"unknown comparison operator {op}")
    answers = {
        _decide(op, _text(x), _text(y))
        for x in ledger.readings(a, a_mode)
        for y in ledger.readings(b, b_mode)
    }
    if len(answers) > 1:
        raise PrecisionLimit(
            f"comparison {a!r} {_SYMBOLS[op]} {b!r} is at the precision limit: an operand is both a"
            " number written in the input or the policies and an inexact arithmetic result, and"
            " OPA's answer depends on which; run it with --backend opa"
        )
    return answers.pop()


def _text(reading: tuple[Fraction, bool]) -> Fraction:
    """A reading as OPA compares it: a result by its shortest text, a number as written as is."""
    v, result = reading
    return shortest_text(v) if result else v


def _decide(op: str, x: Fraction, y: Fraction) -> bool:
    if op == "Lt":
        return x < y
    if op == "Le":
        return x <= y
    if op == "Gt":
        return x > y
    if op == "Ge":
        return x >= y
    if op == "Eq":
        return x == y
    return x != y


def equal(a: Any, b: Any, a_mode: int = MAYBE, b_mode: int = MAYBE) -> bool:
    """OPA's equality of two values, numbers anywhere inside compared as :func:`compare` does,
    each side's numbers read as its mode says."""
    if _is_number(a) and _is_number(b):
        return compare("Eq", a, b, a_mode, b_mode)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y, a_mode, b_mode) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[key], b[key], a_mode, b_mode) for key in a)
    if isinstance(a, (set, frozenset)) and isinstance(b, (set, frozenset)):
        return len(a) == len(b) and all(any(equal(x, y, a_mode, b_mode) for y in b) for x in a)
    return type(a) is type(b) and bool(a == b)


def member(value: Any, collection: Any, value_mode: int = MAYBE, items_mode: int = MAYBE) -> bool:
    """``value in collection`` as OPA decides it (an object's values, an array's or set's
    elements), numbers compared as :func:`compare` does."""
    if isinstance(collection, dict):
        items: Any = collection.values()
    elif isinstance(collection, (list, set, frozenset)):
        items = collection
    else:
        return False
    return any(equal(value, item, value_mode, items_mode) for item in items)


def key(value: Any) -> bool:
    """True when every number in ``value`` (a set element or an object key being made) is one
    OPA tells apart from every other exactly as regorus does. A float under which two
    different results are remembered, or a result and a number written (in the input, the
    data or a policy), is one ``f64`` here and two numbers on OPA: a set would count it once and
    an object keep one key, so that raises."""
    ledger._sync()
    if not ledger.values:
        return True
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            found = ledger.values.get(item)
            if found and (len(found) > 1 or item in ledger.shorts or ledger.written(item)):
                raise PrecisionLimit(
                    f"{item!r} as a set element or an object key stands for numbers OPA holds apart"
                    " (arithmetic results, or a result and a number written, that differ only"
                    " beyond a binary float); run it with --backend opa"
                )
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, set, frozenset, tuple)):
            stack.extend(item)
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
