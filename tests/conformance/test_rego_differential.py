"""Differential suite: Hypothesis-generated Rego, embedded regorus against a real OPA.

Each example is a small module of generated rules (numbers, strings, sets, objects, negation,
comprehensions, ``with``, ``every``, partial rules, functions and the built-ins govern users reach
for). Every rule is evaluated on both engines; the outcome of each is one of

* **agree**: the same value (numbers compared as numbers), both undefined, or both an error;
* **refused**: the embedded engine refused the module at load, or raised an error where OPA
  answered — never a value, so a decision made with it is an error (exit 3), never a pass;
* **disagree**: any other difference — a silent wrong answer. The test fails on the first one.

The tally is printed at the end of the session (``-s`` shows it), e.g.
``rego differential: 1800 cases, 1790 agree, 10 refused, 0 disagree``, and the same for the
rules that call ``sprintf``.
"""

from __future__ import annotations

import collections
import json
import math
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govern.engine.backends import UNDEFINED, Backend, create_backend
from govern.engine.backends.embedded import EmbeddedBackend
from govern.engine.errors import BackendError, PolicyLoadError
from govern.engine.policyset import make_policy_set, parse_module
from govern.engine.spec import RegoVersion

from .harness import canonical
from .opa_server import OpaServer, shared_server

#: Examples per test; GOVERN_DIFFERENTIAL_EXAMPLES raises it for a longer run.
EXAMPLES = int(os.environ.get("GOVERN_DIFFERENTIAL_EXAMPLES", "300"))
TALLY: collections.Counter[str] = collections.Counter()
#: The same outcomes for the rules that call sprintf (also counted in TALLY).
SPRINTF_TALLY: collections.Counter[str] = collections.Counter()
#: Why the embedded engine refused (the error's last clause, numbers masked), for the summary.
REASONS: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module")
def opa() -> Iterator[Backend]:
    server: OpaServer = shared_server()
    backend = create_backend("opa", server.url)
    yield backend
    backend.close()  # the shared server stays up for the session's other modules (atexit stops it)
    print(
        f"\nrego differential: {sum(TALLY.values())} cases, {TALLY['agree']} agree, "
        f"{TALLY['refused']} refused, {TALLY['disagree']} disagree "
        f"({TALLY['both refuse']} more in modules OPA refuses as well); sprintf: "
        f"{SPRINTF_TALLY['agree']} agree, {SPRINTF_TALLY['refused']} refused, "
        f"{SPRINTF_TALLY['disagree']} disagree"
    )
    print("most frequent reasons for a refusal:")
    for reason, n in REASONS.most_common(12):
        print(f"{n:6}  {reason}")


# --- generated Rego ---------------------------------------------------------------------------

decimals = st.sampled_from(
    ["0.93", "0.91", "0.02", "0.1", "0.2", "0.3", "1.5", "2.25", "0.333", "1e3", "2.5e-1"]
)
ints = st.integers(min_value=-50, max_value=50).map(str)
number = st.one_of(ints, decimals, st.sampled_from(["input.a", "input.b", "input.missing"]))
string = st.sampled_from(
    ['"abc"', '"A-b_c"', '""', '"hello world"', '"x,y,z"', "input.s", '"2024-01-31T10:00:00Z"']
)
num_array = st.lists(st.one_of(ints, decimals), min_size=0, max_size=4).map(
    lambda xs: "[" + ", ".join(xs) + "]"
)
array = st.one_of(num_array, st.just("input.xs"), st.just('["a", "b"]'))
obj = st.sampled_from(['{"a": 1, "b": 2}', "input.o", '{"k": [1, 2]}', "{}"])
set_ = st.sampled_from(["{1, 2, 3}", '{"a"}', "{x | some x in input.xs}", "set()"])


# sprintf: OPA's text (Go's fmt) or a refusal; the numbers regorus used to print differently
sprintf_format = st.sampled_from(
    ["%v", "%d", "%s", "%f", "%.2f", "%.0f", "%e", "%E", "%g", "%G", "%x", "%X", "%o", "%b", "%t",
     "%q", "%%", "%8.3f", "%-6v|", "%+d", "% d", "%05d", "%#x", "%.3g", "%+.1e", "%v %v", "%c",
     "n=%v", "%5s|", "%.1s"]
).map(json.dumps)  # fmt: skip
sprintf_number = st.one_of(
    ints,
    decimals,
    st.sampled_from(
        ["1e21", "1e-7", "2.675", "123456789.123", "-2.5", "-0.001", "1234.5", "0.00001234", "1e6",
         "1000000", "123456789012345678901234", "9007199254740993", "-7", "1.0", "100000.5"]
    ),
    st.floats(min_value=-1e25, max_value=1e25, allow_nan=False).map(repr),
)  # fmt: skip
sprintf_arg = st.one_of(
    sprintf_number,
    string,
    array,
    obj,
    set_,
    st.sampled_from(["true", "null", "input.a", "input.b", "input.xs", "input.o"]),
    # arithmetic on operands beyond 2^53 stays native in regorus (a known limit of the exact
    # arithmetic, docs/fidelity.md), so computed numbers start from operands below it
    st.tuples(
        sprintf_number.filter(lambda n: abs(float(n)) < 2**53),
        st.sampled_from(["+", "-", "*", "/"]),
        st.one_of(ints, decimals),
    ).map(
        lambda t: f"{t[0]} {t[1]} {t[2]}"  # computed numbers, alone and inside an array
    ),
    st.tuples(number, st.sampled_from(["+", "*"]), decimals).map(lambda t: f"[{t[0]} {t[1]} {t[2]}]"),
)
sprintf_call = st.tuples(sprintf_format, st.lists(sprintf_arg, min_size=0, max_size=3)).map(
    lambda t: f"sprintf({t[0]}, [{', '.join(t[1])}])"
)


def binary(
    left: st.SearchStrategy[str], ops: list[str], right: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    return st.tuples(left, st.sampled_from(ops), right).map(lambda t: f"{t[0]} {t[1]} {t[2]}")


arith = binary(number, ["+", "-", "*", "/", "%"], number)
comparison = st.one_of(
    binary(st.one_of(number, arith), ["<", ">", "<=", ">=", "==", "!="], st.one_of(number, arith)),
    binary(string, ["==", "<", "!="], string),
)


@st.composite
def boundary(draw: st.DrawFn) -> str:
    """A comparison whose arithmetic side lands on (or a hair off) its comparand, where OPA's
    64-bit-mantissa result and the embedded ``f64`` can disagree: the embedded engine must give
    OPA's answer or refuse."""
    # 4503599627370496.0 is 2^52: from there on every binary float is an integer
    xs = ["0.93", "0.91", "1", "0.1", "0.2", "0.07", "1.93", "2.5", "0.333", "100.01", "4503599627370496.0"]
    x = draw(st.sampled_from(xs))
    y = draw(st.sampled_from(["0.91", "0.02", "0.3", "0.7", "3", "0.01", "0.333"]))
    op = draw(st.sampled_from(["+", "-", "*"]))
    exact = {"+": Decimal(x) + Decimal(y), "-": Decimal(x) - Decimal(y), "*": Decimal(x) * Decimal(y)}[op]
    nudge = draw(st.sampled_from(["", "", "up", "down"]))
    # the comparand as written, or the f64 next to it (17 digits: more are refused at load)
    comparand = (
        str(exact)
        if not nudge
        else repr(math.nextafter(float(exact), math.inf if nudge == "up" else -math.inf))
    )
    cmp = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
    form = draw(
        st.sampled_from(
            [
                "direct",
                "local",
                "reversed",
                "scaled",
                "array",
                "object",
                "some",
                "function",
                "sum",
                "floor",
                "member",
                "whole",
                "fields",
                "set",
            ]
        )
    )
    if form in ("scaled", "floor"):  # an integer computed from fractions: it may not be one in OPA
        scaled = exact * 1000
        integral = scaled.to_integral_value() if scaled == int(scaled) else scaled
        if form == "floor":
            return f"floor(({x} {op} {y}) * 1000) {cmp} {scaled.to_integral_value(rounding='ROUND_FLOOR')}"
        return f"({x} {op} {y}) * 1000 {cmp} {integral}"
    # the result travels before it is compared: through a collection, a field, `some`, a function
    if form == "array":
        return f"v := [{x} {op} {y}][0]; v {cmp} {comparand}"
    if form == "object":
        return f'o := {{"k": {x} {op} {y}}}; o.k {cmp} {comparand}'
    if form == "fields":  # a field before the last (regorus' span of an object starts at the last)
        return f'o := {{"k": {x} {op} {y}, "z": 1}}; o.k {cmp} {comparand}'
    if form == "set":  # one element or two: OPA holds a result apart from a number a hair off it
        return f"count({{{x} {op} {y}, {comparand}}}) {'==' if cmp in ('==', '<=', '>=') else '!='} 1"
    if form == "some":
        return f"some v in [{x} {op} {y}]; v {cmp} {comparand}"
    if form == "function":
        return f"ident({x} {op} {y}) {cmp} {comparand}"
    if form == "member":
        return f"({x} {op} {y}) in [{comparand}, 7]"
    if form == "whole":  # a whole collection compared at once
        return f"[{x} {op} {y}] {'==' if cmp in ('==', '<', '<=') else '!='} [{comparand}]"
    if form == "sum" and op == "+":
        return f"sum([{x}, {y}]) {cmp} {comparand}"
    if form == "local":
        return f"v := {x} {op} {y}; v {cmp} {comparand}"
    if form == "reversed":
        return f"{comparand} {cmp} {x} {op} {y}"
    return f"{x} {op} {y} {cmp} {comparand}"


calls = st.one_of(
    st.tuples(st.sampled_from(["round", "ceil", "floor", "abs"]), st.one_of(number, arith)).map(
        lambda t: f"{t[0]}({t[1]})"
    ),
    st.tuples(st.sampled_from(["count", "sum", "product", "max", "min", "sort"]), num_array).map(
        lambda t: f"{t[0]}({t[1]})"
    ),
    # a set: OPA sums and multiplies it in its sorted order, a product on 53 bits
    st.tuples(st.sampled_from(["sum", "product"]), num_array).map(
        lambda t: f"{t[0]}({{x | some x in {t[1]}}})"
    ),
    st.tuples(st.sampled_from(["count", "lower", "upper", "trim_space"]), string).map(
        lambda t: f"{t[0]}({t[1]})"
    ),
    st.tuples(st.sampled_from(["startswith", "endswith", "contains", "concat"]), string, string).map(
        lambda t: f"{t[0]}({t[1]}, {t[2]})" if t[0] != "concat" else f'concat({t[1]}, ["a", "b"])'
    ),
    st.tuples(string, string).map(lambda t: f"split({t[0]}, {t[1]})"),
    st.tuples(st.sampled_from(['"%v"', '"%d"', '"%s"', '"x=%v y=%v"']), st.one_of(ints, string)).map(
        lambda t: f"sprintf({t[0]}, [{t[1]}, {t[1]}])"
    ),
    st.tuples(obj, st.sampled_from(['"a"', '"z"', '["k", 0]'])).map(
        lambda t: f"object.get({t[0]}, {t[1]}, 0)"
    ),
    obj.map(lambda o: f"object.keys({o})"),
    st.tuples(obj, obj).map(lambda t: f"object.union({t[0]}, {t[1]})"),
    st.tuples(array, array).map(lambda t: f"array.concat({t[0]}, {t[1]})"),
    st.tuples(array, st.integers(0, 3), st.integers(0, 4)).map(
        lambda t: f"array.slice({t[0]}, {t[1]}, {t[2]})"
    ),
    st.one_of(obj, array, number).map(lambda x: f"json.marshal({x})"),
    st.tuples(st.sampled_from(['"^a"', '"[0-9]+"', '"b.c"']), string).map(
        lambda t: f"regex.match({t[0]}, {t[1]})"
    ),
    st.tuples(st.integers(0, 1), st.integers(-2, 13), st.integers(-40, 40)).map(
        lambda t: f'time.add_date(time.parse_rfc3339_ns("2024-01-31T10:00:00Z"), {t[0]}, {t[1]}, {t[2]})'
    ),
    st.sampled_from(['time.parse_rfc3339_ns("2024-02-29T00:00:00Z")', "time.date(1706695200000000000)"]),
    st.tuples(set_, set_, st.sampled_from(["|", "&", "-"])).map(lambda t: f"{t[0]} {t[2]} {t[1]}"),
)
value = st.one_of(number, arith, string, array, obj, set_, calls)
condition = st.one_of(
    comparison,
    boundary(),
    calls.map(lambda c: f"{c} == {c}"),
    st.tuples(st.one_of(number, string), array).map(lambda t: f"{t[0]} in {t[1]}"),
)
body_line = st.one_of(
    condition,
    condition.map(lambda c: f"not {c}"),
    st.sampled_from(
        ["not f(input.missing)", "not f(input.a)", "not g(input.xs)", 'not startswith(input.s, "a")']
    ),
    st.tuples(array, number).map(lambda t: f"every x in {t[0]} {{ x > {t[1]} }}"),
    st.tuples(array, number).map(lambda t: f"some x in {t[0]}; x == {t[1]}"),
)


@st.composite
def rule(draw: st.DrawFn, index: int) -> str:
    kind = draw(st.sampled_from(["value", "if", "contains", "compr", "with", "else"]))
    name = f"r{index}"
    if kind == "value":
        return f"{name} := {draw(value)}"
    if kind == "if":
        lines = draw(st.lists(body_line, min_size=1, max_size=3))
        return f"{name} if {{\n\t" + "\n\t".join(lines) + "\n}"
    if kind == "contains":
        return f"{name} contains x if {{\n\tsome x in {draw(array)}\n\t{draw(condition)}\n}}"
    if kind == "compr":
        return f"{name} := [y | some x in {draw(num_array)}; y := x * {draw(number)}; {draw(condition)}]"
    if kind == "with":
        return (
            f'{name} if {{\n\tnot f(input.missing) with input as {{"missing": {{"type": "final_exam"}}}}\n}}'
        )
    return f"{name} := 1 if {{\n\t{draw(condition)}\n}} else := 2 if {{\n\t{draw(condition)}\n}} else := 3"


PRELUDE = 'package d\n\nf(a) if a.type == "final_exam"\n\ng(xs) if count(xs) > 2\n\nident(v) := v\n\n'
inputs = st.fixed_dictionaries(
    {
        "a": st.sampled_from([0.93, 0.91, 1, 2.5, -3, 0]),
        "b": st.sampled_from([0.02, 0.1, 0.2, 7, 0.3]),
        "s": st.sampled_from(["abc", "Zed", ""]),
        "xs": st.lists(st.sampled_from([1, 2, 0.5, 3]), max_size=4),
        "o": st.sampled_from([{"a": 1}, {"z": {"k": 2}}, {}]),
    }
)


def outcome(
    backend: Backend, path: str, input_doc: dict[str, Any], *, exact: bool = False
) -> tuple[str, Any]:
    """The rule's outcome; its value canonical (numbers inside text read as numbers) unless
    ``exact`` (sprintf's text must be OPA's, character for character)."""
    try:
        got = backend.evaluate_rule(input_doc, path)
    except BackendError as exc:
        return "error", str(exc)
    if got is UNDEFINED:
        return "undefined", None
    return "value", got if exact else canonical(got)


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)


def _reason(message: str) -> str:
    """An error's gist: its text after the location, numbers masked, cut short."""
    prefix = "at load: " if message.startswith("at load: ") else ""
    rest = message.removeprefix(prefix)
    gist = prefix + rest.split("raises Python error: ", 1)[-1].split(" error: ", 1)[-1]
    return re.sub(r"-?\d[\d.e+-]*", "N", gist.replace("\n", " "))[:110]


def compare(rules: list[str], input_doc: dict[str, Any], opa: Backend, *, exact: bool = False) -> None:
    """Evaluate each generated rule on both engines and tally the outcome; fail on a disagreement."""
    count = len(rules)
    text = PRELUDE + "\n\n".join(rules) + "\n"
    try:
        module = parse_module("gen.rego", text, RegoVersion.V1, builtin=False)
        policy_set = make_policy_set([module])
    except PolicyLoadError as exc:
        TALLY["refused"] += count
        REASONS[_reason(f"at load: {exc}")] += count
        return
    try:
        opa.load(policy_set, {})
    except PolicyLoadError:
        TALLY["both refuse"] += count  # OPA's type checker refuses it too: not compared
        return
    embedded = EmbeddedBackend()
    try:
        embedded.load(policy_set, {})
    except PolicyLoadError as exc:
        TALLY["refused"] += count
        REASONS[_reason(f"at load: {exc}")] += count
        return
    for i in range(count):
        path = f"data.d.r{i}"
        ours = outcome(embedded, path, input_doc, exact=exact)
        theirs = outcome(opa, path, input_doc, exact=exact)
        tallies = [TALLY, SPRINTF_TALLY] if "sprintf(" in rules[i] else [TALLY]
        if ours[0] == theirs[0] and (ours[0] != "value" or ours[1] == theirs[1]):
            verdict = "agree"
        elif ours[0] == "error":
            verdict = "refused"
            REASONS[_reason(str(ours[1]))] += 1
        else:
            verdict = "disagree"
        for tally in tallies:
            tally[verdict] += 1
        if verdict == "disagree":
            pytest.fail(
                f"silent disagreement on r{i}:\n{text}\ninput: {json.dumps(input_doc)}\n"
                f"embedded: {ours}\nOPA: {theirs}"
            )


@SETTINGS
@given(data=st.data(), input_doc=inputs)
def test_generated_rego_agrees_with_opa_or_is_refused(
    data: st.DataObject, input_doc: dict[str, Any], opa: Backend
) -> None:
    count = data.draw(st.integers(min_value=1, max_value=6))
    compare([data.draw(rule(i)) for i in range(count)], input_doc, opa)


@SETTINGS
@given(data=st.data(), input_doc=inputs)
def test_generated_sprintf_gives_opas_text_or_is_refused(
    data: st.DataObject, input_doc: dict[str, Any], opa: Backend
) -> None:
    calls = data.draw(st.lists(sprintf_call, min_size=1, max_size=6))
    # alone, and as the first field of an object (as a deny rule's message usually is)
    wrapped = data.draw(st.lists(st.booleans(), min_size=len(calls), max_size=len(calls)))
    rules = [
        f'r{i} := {{"msg": {call}, "n": 1}}' if wrap else f"r{i} := {call}"
        for i, (call, wrap) in enumerate(zip(calls, wrapped, strict=True))
    ]
    compare(rules, input_doc, opa, exact=True)
