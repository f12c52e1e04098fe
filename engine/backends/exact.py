"""The helpers the rewritten policies call, and the Python extensions behind them.

:mod:`.fidelity` rewrites a user policy so that arithmetic, rounding, aggregates, comparisons,
membership and ``sprintf`` go through the Rego functions of :data:`EXACT_MODULE` (package
``govern_exact_internal``); those call the extensions :func:`extensions` registers, which compute
as OPA does (:mod:`.opa_numbers`, :mod:`.gofmt`). This module is what every engine load needs,
cached policy texts or not, so it imports the computing modules only when an extension runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, Final

__all__ = [
    "ADD_DATE_EXT",
    "AGGREGATES",
    "ARITHMETIC",
    "COMPARISONS",
    "EXACT_LIMIT",
    "EXACT_MODULE",
    "EXACT_MODULE_PATH",
    "EXACT_PACKAGE",
    "MAYBE",
    "RESULT",
    "ROUNDING",
    "WRITTEN",
    "EvaluationContext",
    "add_date",
    "context",
    "exact_arith",
    "exact_cmp",
    "exact_equal",
    "exact_member",
    "exact_round",
    "exact_total",
    "extensions",
    "sprintf",
]


class EvaluationContext:
    """What the engine of this process reads: the policy set's texts and data, and the input of
    the evaluation under way. Setting it costs nothing; the helpers read it only when a number
    needs it (:class:`.opa_numbers.Ledger` starts afresh for each evaluation it sees)."""

    def __init__(self) -> None:
        self.texts: tuple[str, ...] = ()
        self.input_text: str | None = None
        self.loads = 0
        self.evaluations = 0

    def load(self, texts: list[str]) -> None:
        """A policy set is loaded (its module texts and data document)."""
        self.texts = tuple(texts)
        self.loads += 1
        self.start(None)

    def start(self, input_text: str | None) -> None:
        """An evaluation starts, on this input's JSON text (None: the input before)."""
        if input_text is not None:
            self.input_text = input_text
        self.evaluations += 1


#: The one context of this process (the embedded engine evaluates one query at a time).
context = EvaluationContext()

#: Built-ins that compute on numbers themselves (OPA adds with ``big.Float``).
AGGREGATES: Final = frozenset({"sum", "product"})
#: Built-ins whose integer result is computed as OPA computes it.
ROUNDING: Final = frozenset({"floor", "ceil", "round"})
#: 2^53: beyond it regorus holds big integers the helpers cannot receive; they stay native.
EXACT_LIMIT: Final = 9_007_199_254_740_992
#: What the load-time analysis tells a helper of an operand: a number as written (a literal, an
#: input reference), maybe an arithmetic result, certainly one.
WRITTEN: Final = 0
MAYBE: Final = 1
RESULT: Final = 2
EXACT_PACKAGE: Final = "govern_exact_internal"
EXACT_MODULE_PATH: Final = "govern/internal/exact.rego"
_ARITH_EXT: Final = "govern_exact_arith"
ADD_DATE_EXT: Final = "govern_time_add_date"
_CMP_EXT: Final = "govern_exact_cmp"
_ROUND_EXT: Final = "govern_exact_round"
_TOTAL_EXT: Final = "govern_exact_total"
_EQUAL_EXT: Final = "govern_exact_equal"
_SPRINTF_EXT: Final = "govern_sprintf"
_MEMBER_EXT: Final = "govern_exact_member"
_KEY_EXT: Final = "govern_exact_key"
_MESSAGE_EXT: Final = "govern_message"
_RESULTS_EXT: Final = "govern_exact_results"
_SPRINTF_TEXT_EXT: Final = "govern_sprintf_text"
_REFUSE_EXT: Final = "govern_refuse"
_UNPASSABLE: Final = "a set holding arrays, objects or sets (which the embedded engine cannot check) is"
_EXACT_LIMIT: Final = EXACT_LIMIT
ARITHMETIC: Final = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Mod": "%"}
COMPARISONS: Final = {"Lt": "<", "Le": "<=", "Gt": ">", "Ge": ">=", "Eq": "==", "Ne": "!="}


def _exact_module() -> str:
    functions = [
        f"{name.lower()}(a, b, ma, mb) := {_ARITH_EXT}({json.dumps(name)}, a, b, ma, mb) if {{\n"
        "\tis_number(a)\n\tis_number(b)\n"
        f"\tabs(a) < {_EXACT_LIMIT}\n\tabs(b) < {_EXACT_LIMIT}\n"
        f"}} else := a {symbol} b\n"
        for name, symbol in ARITHMETIC.items()
    ]
    functions += [
        f"cmp_{name.lower()}(a, b, ma, mb) := {_CMP_EXT}({json.dumps(name)}, a, b, ma, mb) if {{\n"
        "\tis_number(a)\n\tis_number(b)\n"
        f"\tabs(a) < {_EXACT_LIMIT}\n\tabs(b) < {_EXACT_LIMIT}\n"
        + (
            f"}} else := {_EQUAL_EXT}(a, b, ma, mb){'' if name == 'Eq' else ' == false'} if {{\n"
            "\tnot is_number(a)\n\tnot is_number(b)\n\tpassable([a, b])\n"
            f"}} else := {_REFUSE_EXT}({json.dumps(_UNPASSABLE + ' compared')}) if {{\n"
            f"\tnot is_number(a)\n\tnot is_number(b)\n\t{_RESULTS_EXT}(0)\n"
            if name in ("Eq", "Ne")
            else ""
        )
        + f"}} else := a {symbol} b\n"
        for name, symbol in COMPARISONS.items()
    ]
    # Where regorus cannot hand the helper its operands (a set holding an array, an object or a
    # set), the native answer is OPA's for numbers as written; with an arithmetic result in
    # this evaluation it may not be, and that is refused. sprintf reads such arguments back from
    # regorus' own text of them (whose order of objects and sets differs from OPA's).
    functions.append(
        f"member(x, xs, mx, mxs) := {_MEMBER_EXT}(x, xs, mx, mxs) if passable([x, xs])"
        f" else := x in xs if not {_RESULTS_EXT}(0)"
        f" else := {_REFUSE_EXT}({json.dumps(_UNPASSABLE + ' searched')})\n"
    )
    functions.append(
        f"format(f, a) := {_SPRINTF_EXT}(f, a) if passable(a)"
        f' else := {_SPRINTF_TEXT_EXT}(f, sprintf("%v", [a]))\n'
    )
    # regorus' own sprintf unless a number in the arguments may read otherwise on OPA (the test
    # in Rego spares the extension call for the usual message; :func:`_same_text` is the same)
    functions.append(
        "message(f, a) := s if {\n\tsome v in a\n\tis_number(v)\n\tnot same_text(v)\n"
        f"\tpassable(a)\n\ts := {_MESSAGE_EXT}(f, a)\n\tis_string(s)\n"
        "} else := sprintf(f, a)\n\n"
        "same_text(v) if v == 0\n\n"
        "same_text(v) if {\n\tabs(v) >= 0.0001\n\tabs(v) < 1000000\n}\n"
    )
    refused_key = json.dumps(_UNPASSABLE + " made a set element or an object key")
    functions.append(
        f"key(x) := x if {{\n\tpassable([x])\n\t{_KEY_EXT}(x)\n}} else := x if {{\n\tnot passable([x])\n"
        f"\tnot {_RESULTS_EXT}(0)\n}} else := {_REFUSE_EXT}({refused_key})\n"
    )
    # regorus cannot hand an extension a set holding an array, an object or a set
    functions.append(
        "passable(x) if not unpassable(x)\n\n"
        "unpassable(x) if {\n\twalk(x, [_, v])\n\tis_set(v)\n\tsome e in v\n"
        "\tnot is_string(e)\n\tnot is_number(e)\n\tnot is_boolean(e)\n\tnot is_null(e)\n}\n"
    )
    functions += [
        f"rounding_{name}(x, m) := {_ROUND_EXT}({json.dumps(name)}, x, m) if {{\n"
        f"\tis_number(x)\n\tabs(x) < {_EXACT_LIMIT}\n"
        f"}} else := {name}(x)\n"
        for name in sorted(ROUNDING)
    ]
    functions += [
        f"agg_{name}(xs) := {_TOTAL_EXT}({json.dumps(name)}, xs) if {{\n"
        f"\tnot is_object(xs)\n\tevery x in xs {{ is_number(x); abs(x) < {_EXACT_LIMIT} }}\n"
        f"}} else := {name}(xs)\n"
        for name in sorted(AGGREGATES)
    ]
    return f"package {EXACT_PACKAGE}\n\n" + "\n".join(functions)


#: The helpers rewritten calls go through: OPA's computation for numbers, the native built-in
#: otherwise.
EXACT_MODULE: Final = _exact_module()


def _mode(value: Any) -> int:
    """An operand's mode as the rewrite wrote it (:data:`WRITTEN`, :data:`MAYBE`, :data:`RESULT`)."""
    if value in (WRITTEN, MAYBE, RESULT) and not isinstance(value, bool):
        return int(value)
    raise ValueError(f"unknown operand mode {value!r}")


def opa_values(value: Any) -> Any:
    """A value the engine returned, with each inexact arithmetic result of this evaluation as
    OPA's JSON output reads it (:meth:`.opa_numbers.Ledger.as_opa_json`). Without a result (the
    number code never ran in this process) the value itself, at the cost of a lookup."""
    numbers = sys.modules.get(f"{__package__}.opa_numbers")
    if numbers is None:
        return value
    return numbers.ledger.as_opa_json(value)


def exact_arith(op: str, a: Any, b: Any, a_mode: Any = 1, b_mode: Any = 1) -> int | float:
    """``a op b`` as OPA computes it (:func:`.opa_numbers.arith`)."""
    from . import opa_numbers

    return opa_numbers.arith(op, a, b, _mode(a_mode), _mode(b_mode))


def exact_round(op: str, x: Any, mode: Any = 1) -> int:
    """``floor``/``ceil``/``round`` as OPA computes them (:func:`.opa_numbers.rounding`)."""
    from . import opa_numbers

    return opa_numbers.rounding(op, x, _mode(mode))


def exact_total(op: str, xs: Any) -> int | float:
    """``sum``/``product`` as OPA computes them (:func:`.opa_numbers.total`)."""
    from . import opa_numbers

    return opa_numbers.total(op, xs)


def exact_equal(a: Any, b: Any, a_mode: Any = 1, b_mode: Any = 1) -> bool:
    """OPA's equality of two collections (:func:`.opa_numbers.equal`)."""
    from . import opa_numbers

    return opa_numbers.equal(a, b, _mode(a_mode), _mode(b_mode))


def exact_member(value: Any, collection: Any, value_mode: Any = 1, items_mode: Any = 1) -> bool:
    """``value in collection`` as OPA decides it (:func:`.opa_numbers.member`)."""
    from . import opa_numbers

    return opa_numbers.member(value, collection, _mode(value_mode), _mode(items_mode))


def sprintf(fmt: Any, values: Any) -> str:
    """``sprintf`` as OPA computes it (Go's ``fmt.Sprintf`` over OPA's argument conversion,
    :mod:`.gofmt`); what cannot be reproduced raises."""
    if not isinstance(fmt, str):
        raise TypeError("sprintf: operand 1 must be string")
    if not isinstance(values, list):
        raise TypeError("sprintf: operand 2 must be array")
    from .gofmt import go_sprintf
    from .opa_numbers import ledger

    return go_sprintf(fmt, values, ledger)


def message(fmt: Any, values: Any) -> str | None:
    """A built-in library message as OPA writes it, or None where regorus' own ``sprintf``
    writes the same text (strings, integers below 10^6, non-integers from 10^-4 to 10^6, whose
    ``%v`` is the same shortest text on both) or where OPA's cannot be told (an integer that may
    have been written ``1.0e6``, a non-integer inside a composite): then regorus' text is used."""
    if not isinstance(fmt, str) or not isinstance(values, list) or all(map(_same_text, values)):
        return None
    from .gofmt import go_sprintf
    from .opa_numbers import ledger

    try:
        return go_sprintf(fmt, values, ledger)
    except (ValueError, TypeError):  # SprintfUnsupported, PrecisionLimit: regorus' own text
        return None


class Unreproducible(ValueError):
    """What the embedded engine cannot evaluate as OPA does, found while evaluating."""


def refuse(what: Any) -> bool:
    """Raise: ``what`` cannot be evaluated here as OPA would (the Rego helpers call it)."""
    raise Unreproducible(f"{what}; run it with --backend opa")


def results_pending(_: Any) -> bool:
    """Whether this evaluation has given out an arithmetic result held as a float that is not
    OPA's value (:class:`.opa_numbers.Ledger`); none before the number code is loaded."""
    numbers = sys.modules.get(f"{__package__}.opa_numbers")
    return numbers is not None and numbers.ledger.pending()


def _same_text(value: Any) -> bool:
    """Whether regorus' ``sprintf`` writes ``value`` as OPA does (composites: as regorus does,
    which is its own text; see :func:`message`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return True
    if isinstance(value, int):
        return abs(value) < 1_000_000
    return value == 0 or 0.0001 <= abs(value) < 1_000_000


def sprintf_text(fmt: Any, text: Any) -> str:
    """:func:`sprintf` of arguments regorus cannot hand over, read back from its text of them
    (:func:`.gofmt.parse_rego_text`)."""
    from .gofmt import SprintfUnsupported, parse_rego_text

    values = parse_rego_text(text) if isinstance(text, str) else None
    if not isinstance(values, list):
        raise SprintfUnsupported("sprintf: operand 2 must be array")
    return sprintf(fmt, values)


def exact_cmp(op: str, a: Any, b: Any, a_mode: Any = 1, b_mode: Any = 1) -> bool:
    """``a op b`` for two numbers, one of which may be an arithmetic result: OPA's answer
    (:func:`.opa_numbers.compare`), or an error when the embedded engine cannot tell it."""
    from . import opa_numbers

    return opa_numbers.compare(op, a, b, _mode(a_mode), _mode(b_mode))


def exact_key(value: Any) -> bool:
    """Whether ``value`` can be a set element or object key here as on OPA
    (:func:`.opa_numbers.key`); raises when OPA would hold it apart from another number."""
    from . import opa_numbers

    return opa_numbers.key(value)


def add_date(ns: Any, years: Any, months: Any, days: Any) -> int:
    """``time.add_date`` with Go's ``Time.AddDate`` normalisation (day overflow rolls forward)."""
    for value in (ns, years, months, days):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("time.add_date takes integers")
    import datetime as dt

    seconds, nanos = divmod(ns, 1_000_000_000)
    base = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    month_index = base.month - 1 + months
    year = base.year + years + month_index // 12
    month = month_index % 12 + 1
    first = dt.datetime(year, month, 1, base.hour, base.minute, base.second, tzinfo=dt.UTC)
    moved = first + dt.timedelta(days=base.day - 1 + days)
    delta = moved - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return int((delta.days * 86_400 + delta.seconds) * 1_000_000_000 + nanos)


def extensions() -> dict[str, tuple[int, Callable[..., Any]]]:
    """The Python extensions the rewritten modules call: name → (arity, function)."""
    from ..nonstrict import NONSTRICT_EXT, nonstrict_call  # loaded only by govern test's rewrite

    return {
        _ARITH_EXT: (5, exact_arith),
        _CMP_EXT: (5, exact_cmp),
        _ROUND_EXT: (3, exact_round),
        _TOTAL_EXT: (2, exact_total),
        _EQUAL_EXT: (4, exact_equal),
        _SPRINTF_EXT: (2, sprintf),
        _SPRINTF_TEXT_EXT: (2, sprintf_text),
        _MEMBER_EXT: (4, exact_member),
        _KEY_EXT: (1, exact_key),
        _MESSAGE_EXT: (2, message),
        _RESULTS_EXT: (1, results_pending),
        _REFUSE_EXT: (1, refuse),
        ADD_DATE_EXT: (4, add_date),
        NONSTRICT_EXT: (2, nonstrict_call),
    }
