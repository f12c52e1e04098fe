"""The embedded engine gives OPA's answer or refuses: each case runs on regorus and on a real OPA.

Rule values are compared between the two backends (never against a value written here alone);
where the issue that motivated a case names OPA's answer, that answer is pinned as well.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govern.engine.backends import UNDEFINED, Backend, create_backend
from govern.engine.backends.embedded import EmbeddedBackend
from govern.engine.backends.exact import add_date, context, exact_arith, exact_cmp, exact_round
from govern.engine.backends.fidelity import rewrite_module
from govern.engine.errors import BackendError, PolicyLoadError
from govern.engine.policyset import PolicyModule, make_policy_set, parse_module
from govern.engine.rego_ast import iter_spanned, parse_rego, repair_object_spans
from govern.engine.spec import RegoVersion

from .conformance.opa_server import OpaServer, shared_server, stop_shared
from .conftest import EVIDENCE, SPEC, run_govern

CHECK_ARGS_EVIDENCE = ("check", str(SPEC), "--evidence", str(EVIDENCE), "--as-of", "2026-11-27")


@pytest.fixture(scope="module")
def opa() -> Iterator[OpaServer]:
    yield shared_server()
    stop_shared()


@pytest.fixture(scope="module")
def opa_backend(opa: OpaServer) -> Iterator[Backend]:
    backend = create_backend("opa", opa.url)
    yield backend
    backend.close()


def modules(files: dict[str, str], version: RegoVersion = RegoVersion.V1) -> list[PolicyModule]:
    return [parse_module(name, text, version, builtin=False) for name, text in files.items()]


def values(
    backend: Backend, files: dict[str, str], input_doc: dict[str, Any], names: list[str]
) -> dict[str, Any]:
    backend.load(make_policy_set(modules(files)), {})
    out = {}
    for name in names:
        try:
            value = backend.evaluate_rule(input_doc, f"data.p.{name}")
        except BackendError:
            value = "error"
        out[name] = "undefined" if value is UNDEFINED else value
    return out


NEGATION = """package p

f(a) if { a.type == "final_exam" }
g(x) if { count(x) == 7 }

default compliant := false
compliant if { not f(input.assessment) }

r_gt if { not input.x > 1 }
r_neq if { not input.x != 1 }
r_eq_ref if { not input.x.y == 1 }
r_eq_call if { not count(input.x) == 1 }
r_in if { not 1 in input.xs }
r_array if { not g([input.x, 1]) }
r_object if { not g({"a": input.x}) }
r_local if { a := input.v; not f(a.b) }
r_braceless if not f(input.a)
r_term if { not input.x }
r_compr := [x | some x in [1, 2]; not f(input.a)]
r_set contains x if { some x in [1, 2]; not f(x) }
r_with if { not f(input.assessment) with input as {"assessment": {"type": "essay"}} }
"""
NEGATION_RULES = [
    "compliant", "r_gt", "r_neq", "r_eq_ref", "r_eq_call", "r_in", "r_array", "r_object", "r_local",
    "r_braceless", "r_term", "r_compr", "r_set", "r_with",
]  # fmt: skip
NEGATION_INPUTS = [
    {},
    {"x": {"y": [7, 8]}},
    {"x": 1, "xs": [2], "a": {"type": "x"}, "v": {"b": 7}, "assessment": {"type": "final_exam"}},
    {"x": 0, "xs": [1], "assessment": {"type": "essay"}},
]


@pytest.mark.parametrize("input_doc", NEGATION_INPUTS, ids=lambda d: json.dumps(d)[:40])
def test_negation_over_a_call_agrees_with_opa(input_doc: dict[str, Any], opa_backend: Backend) -> None:
    files = {"neg.rego": NEGATION}
    embedded = values(EmbeddedBackend(), files, input_doc, NEGATION_RULES)
    assert embedded == values(opa_backend, files, input_doc, NEGATION_RULES)


def test_negation_with_no_evidence_does_not_approve() -> None:
    # the case from the field: no assessment at all must not make the model compliant
    got = values(EmbeddedBackend(), {"neg.rego": NEGATION}, {}, ["compliant", "r_term"])
    assert got == {"compliant": False, "r_term": True}


SPLIT = {
    "other": "package p\n\nother := 1\n",
    "policy": 'package p\n\nok if { m == 5 }\n\nm := 5\n\ndeny contains "not ok" if { not ok }\n',
    "more": "package p\n\nwarn_m contains m if { m > other }\n",
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    order=st.permutations(sorted(SPLIT)),
    names=st.lists(st.text(alphabet="abcz_019", min_size=1, max_size=6), min_size=3, max_size=3, unique=True),
)
def test_a_package_split_across_files_never_depends_on_order_or_names(
    order: list[str], names: list[str], opa_backend: Backend
) -> None:
    files = {f"{name}.rego": SPLIT[key] for name, key in zip(names, order, strict=True)}
    wanted = ["ok", "m", "other", "deny", "warn_m"]
    expected = {"ok": True, "m": 5, "other": 1, "deny": [], "warn_m": [5]}
    assert values(EmbeddedBackend(), files, {}, wanted) == expected
    assert values(opa_backend, files, {}, wanted) == expected
    backend = EmbeddedBackend()
    backend.load(make_policy_set(modules(files)), {})
    assert backend.evaluate({}, ("p",)) == {"p": {"deny": [], "warn_m": [5]}}


ARITHMETIC = """package p

drop := input.champion - input.run
regressed if { drop > 0.02 }
sum_eq if { 0.1 + 0.2 == 0.3 }
product := 1.1 * 1.1
quotient := 1 / 3
remainder := -7 % 3
negated := -input.stats.mean_abs
set_diff := {1, 2, 3} - {2}
nested := (input.champion - input.run) * 100
int_math := count([1, 2, 3]) - 1
"""
ARITH_RULES = ["drop", "regressed", "sum_eq", "product", "quotient", "remainder", "negated", "set_diff",
               "nested", "int_math"]  # fmt: skip


def test_arithmetic_gives_opas_answer(opa_backend: Backend) -> None:
    input_doc = {"champion": 0.93, "run": 0.91, "stats": {"mean_abs": 0.25}}
    files = {"arith.rego": ARITHMETIC}
    embedded = values(EmbeddedBackend(), files, input_doc, ARITH_RULES)
    opa_values = values(opa_backend, files, input_doc, ARITH_RULES)
    # 0.93 - 0.91 is 0.019999999999999999983 on OPA (not above 0.02), 0.1 + 0.2 prints as 0.3
    assert (opa_values["regressed"], opa_values["sum_eq"]) == ("undefined", True)
    # OPA's `nested` is 1.99999999999999999983, which the JSON OPA writes reads back as 2.0: the
    # embedded engine holds it below 2 while it evaluates (its floor is 1 on both) and returns it
    # as OPA's output reads
    assert opa_values["nested"] == 2.0
    assert embedded == opa_values
    assert embedded["drop"] == 0.02


BOUNDARY = """package p

r_lt if { 0.93 - 0.91 < 0.02 }
r_le if { 0.93 - 0.91 <= 0.02 }
r_gt if { 0.93 - 0.91 > 0.02 }
r_ge if { 0.93 - 0.91 >= 0.02 }
r_eq if { 0.93 - 0.91 == 0.02 }
r_ne if { 0.93 - 0.91 != 0.02 }
r_add_eq if { 1 + 0.93 == 1.93 }
r_sum_eq if { 0.1 + 0.2 == 0.3 }
r_rev if { 0.02 > input.a - input.b }
r_local if { drop := input.a - input.b; drop < 0.02 }
r_rule if { diff < 0.02 }
r_func if { half(input.a) == 0.465 }
r_mul if { input.a * 3 >= 2.79 }
r_div if { input.a / 3 <= 0.31 }
r_neg if { not input.a - input.b < 0.02 }
diff := input.a - input.b
half(x) := x / 2
off_lt if { input.a - input.b < 0.021 }
off_gt if { input.a - input.b > 0.019 }
r_exact_eq if { 0.5 + 0.25 == 0.75 }
r_int_from_fractions if { (0.3 - 0.1) * 10 == 2 }
r_int_rule if { n_less == 4 }
n_less := input.n - 1
r_int_abs if { abs(0.3 - 0.1) * 10 == 2 }
off_local if { d := input.a - input.b; d != 0.03 }
int_gt if { count(input.xs) - 1 > 0 }
int_eq if { count(input.xs) * 2 == 6 }
int_ne if { input.n - 1 != 4 }
int_local_eq if { m := input.n * 2; m == 10 }
plain_eq if { input.a == 0.93 }
plain_lt if { input.b < input.a }
"""
BOUNDARY_RULES = ["r_lt", "r_le", "r_gt", "r_ge", "r_eq", "r_ne", "r_add_eq", "r_sum_eq", "r_rev",
                  "r_local", "r_rule", "r_func", "r_mul", "r_div", "r_neg", "r_exact_eq",
                  "r_int_from_fractions", "r_int_abs", "r_int_rule", "off_lt", "off_gt", "off_local",
                  "int_gt", "int_eq", "int_ne", "int_local_eq", "plain_eq", "plain_lt"]  # fmt: skip


def test_comparisons_on_arithmetic_give_opas_answer(opa_backend: Backend) -> None:
    """Comparisons whose arithmetic side lands on its comparand, where f64 and OPA's 64-bit
    mantissa disagree: the embedded engine gives OPA's answer for every one of them."""
    input_doc = {"a": 0.93, "b": 0.91, "xs": [1, 2, 3], "n": 5}
    files = {"cmp.rego": BOUNDARY}
    embedded = values(EmbeddedBackend(), files, input_doc, BOUNDARY_RULES)
    opa_values = values(opa_backend, files, input_doc, BOUNDARY_RULES)
    assert "error" not in opa_values.values()
    assert embedded == opa_values
    # where f64 arithmetic answers the other way round
    assert opa_values["r_lt"] is True
    assert opa_values["r_eq"] == "undefined"
    assert opa_values["r_int_from_fractions"] == "undefined"


ROUTES = {
    "a_other.rego": "package p\n\ndrop := input.a - input.b\n",
    "q.rego": "package q\n\ndrop := input.a - input.b\n",
    "b.rego": """package p

import data.q

below(x, t) if { x < t }

ds := [d | d := input.a - input.b]

drops contains d if { d := input.a - input.b }

r_other_file if { drop < 0.02 }
r_other_pkg if { data.q.drop < 0.02 }
r_import if { q.drop < 0.02 }
r_arg if { below(input.a - input.b, 0.02) }
r_coll if { xs := [input.a - input.b]; xs[0] < 0.02 }
r_some if { some v in [input.a - input.b]; v < 0.02 }
r_obj if { o := {"d": input.a - input.b}; o.d < 0.02 }
r_compr if { ds[_] < 0.02 }
r_sum if { sum([1, 0.93]) == 1.93 }
r_abs if { abs(input.a - input.b) < 0.02 }
r_unify if { 0.02 = input.a - input.b }
r_every if { every v in [input.a - input.b] { v < 0.02 } }
r_set_rule if { some d in drops; d < 0.02 }
r_member if { drop in [0.02] }
r_array_eq if { [drop] == [0.02] }
r_object_eq if { {"d": drop} == {"d": 0.02} }
r_dynamic if { data[input.pkg].drop < 0.02 }

ok_sum_int if { sum([1, 2]) == 3 }
ok_sum_input if { sum(input.xs) == 6 }
ok_count if { count([input.a - input.b]) == 1 }
ok_floor_far if { floor(input.a - input.b + 0.5) == 0 }
ok_arg_far if { below(input.a - input.b, 0.03) }
ok_plain_arg if { below(input.a, 1) }
ok_other_far if { drop < 0.021 }
ok_floor_plain if { floor(input.a) == 0 }
ok_floor_computed if { floor((0.3 - 0.1) * 10) == 2 }
ok_ceil_negative if { ceil(-0.5) == 1 }
ok_floor_negative if { floor(-0.5) == 0 }
ok_int_function if { scaled(4) > 3999 }
ok_int_function_eq if { not scaled(4) > 4000 }

scaled(x) := x * 1000
""",
}
ROUTES_INPUT = {"a": 0.93, "b": 0.91, "xs": [1, 2, 3], "pkg": "q"}
ROUTES_NAMES = [
    line.split(" if")[0] for line in ROUTES["b.rego"].splitlines() if line.startswith(("r_", "ok_"))
]
#: where an operand may be a number written in the policy (0.02) or an arithmetic result with that
#: f64, and the two give different answers: refused, never guessed
ROUTES_REFUSED = ["r_arg", "r_compr", "r_set_rule", "r_dynamic"]


def test_arithmetic_results_are_followed_across_files_packages_functions_and_collections(
    opa_backend: Backend,
) -> None:
    """An arithmetic result at its comparison's boundary gives OPA's answer wherever it travels:
    a rule of another file or package (by path or import), a collection, an object field,
    `some`/`every`, `abs`, `sum`, unification; so do the same routes away from the boundary,
    integers computed through a function, and `floor`/`ceil` as OPA computes them (its
    `ceil(-0.5)` is 1), membership and whole-collection equality. An operand that may be either
    a number written in the policy (0.02) or a result with the same f64, where the two answer
    differently (a function argument passed both, a comprehension, a set rule, a computed path
    `data[x]`), is refused."""
    embedded = values(EmbeddedBackend(), ROUTES, ROUTES_INPUT, ROUTES_NAMES)
    opa_values = values(opa_backend, ROUTES, ROUTES_INPUT, ROUTES_NAMES)
    assert "error" not in opa_values.values()
    assert {name: embedded[name] for name in ROUTES_REFUSED} == dict.fromkeys(ROUTES_REFUSED, "error")
    answered = [name for name in ROUTES_NAMES if name not in ROUTES_REFUSED]
    assert {name: embedded[name] for name in answered} == {name: opa_values[name] for name in answered}
    # OPA's own answers at the boundary, which f64 arithmetic gets the other way round
    assert opa_values["r_other_file"] is True
    assert opa_values["r_sum"] == "undefined"


def test_a_change_in_another_file_changes_how_this_one_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cached rewrite of a module depends on what the rest of the policy set computes."""
    monkeypatch.setenv("GOVERN_CACHE_DIR", str(tmp_path / "cache"))
    user = "package p\n\nr if { drop < 0.02 }\n"
    plain = {"a.rego": "package p\n\ndrop := input.d\n", "b.rego": user}
    computed = {"a.rego": "package p\n\ndrop := input.a - input.b\n", "b.rego": user}
    doc = {"a": 0.93, "b": 0.91, "d": 0.019}
    assert values(EmbeddedBackend(), plain, doc, ["r"]) == {"r": True}
    # OPA's 0.93 - 0.91 is below 0.02; b.rego loaded as for `plain` (no comparison rewritten)
    # would compare the f64 0.02 and find it is not
    assert values(EmbeddedBackend(), computed, doc, ["r"]) == {"r": True}
    assert values(EmbeddedBackend(), plain, {**doc, "d": 0.02}, ["r"]) == {"r": "undefined"}


def test_a_refused_comparison_names_the_limit_and_the_fix() -> None:
    text = (
        "package p\n\nbelow(x) if { x < 0.02 }\n\n"
        "q if { below(input.a - input.b) }\n\nplain if { below(input.c) }\n"
    )
    backend = EmbeddedBackend()
    backend.load(make_policy_set(modules({"c.rego": text})), {})
    # `x` is 0.02 both as OPA's 0.93 - 0.91 (below 0.02) and as the number written: which it is
    # decides the answer
    with pytest.raises(BackendError, match=r"precision limit.*--backend opa"):
        backend.evaluate_rule({"a": 0.93, "b": 0.91, "c": 0.5}, "data.p.q")
    assert backend.evaluate_rule({"a": 0.93, "b": 0.90, "c": 0.5}, "data.p.q") is UNDEFINED
    assert backend.evaluate_rule({"a": 0.93, "b": 0.90, "c": 0.01}, "data.p.plain") is True


def test_comparisons_are_rewritten_only_where_an_arithmetic_result_can_reach() -> None:
    text = """package p

d := input.a - input.b
f(x) := x * 2
r if {
\tinput.a < 0.5
\tinput.a == data.govern.params.t
\tn := input.a
\tn > 1
\tm := input.a - 1
\tm > 1
\td >= 1
\tf(1) == 2
\t[y | y := input.a + 1; y > 0]
\t[z | z := input.a; z > 0]
\tg(1) == 1
\th(1) > 0
}

g(x) := x

h(x) := f(x)

s if {
\tinput.a - 1
\t\t< 2
\tinput.zz
}
"""
    ast = parse_rego("c.rego", text, v0=False).ast
    out = rewrite_module("c.rego", text, ast).splitlines()
    assert len(out) == len(text.splitlines())
    rewritten = [i + 1 for i, line in enumerate(out) if "cmp_" in line]
    assert rewritten == [11, 12, 13, 14, 17, 25]
    assert out.index("\tinput.zz") == text.splitlines().index(
        "\tinput.zz"
    )  # a split comparison keeps its lines
    assert "cmp_gt(y, 0, 2, 0)" in out[13]  # y certainly a result, 0 a number as written
    assert "z > 0" in out[14]
    assert "cmp_" not in rewrite_module("c.rego", text, ast, arithmetic=False)


def test_a_rewritten_comparison_with_an_empty_set_keeps_the_module_valid() -> None:
    # regorus gives `set()` a span running past the expression; the rewrite must not take the rest
    text = "package p\n\ns(x) := {x}\n\nt if s(1) != set()\n\nu if s(1) == set()\n"
    backend = EmbeddedBackend()
    backend.load(make_policy_set(modules({"s.rego": text})), {})
    assert backend.evaluate_rule({}, "data.p.t") is True
    assert backend.evaluate_rule({}, "data.p.u") is UNDEFINED


@pytest.mark.parametrize(
    ("op", "a", "b", "expected"),
    [("Lt", 1, 2, True), ("Eq", 3, 3, True), ("Ne", 2**52, 2**52 + 1, True), ("Lt", 0.03, 0.02, False),
     ("Le", 0.02, 0.0200001, True), ("Ge", -1.5, -1.5000001, True), ("Eq", 0.0, 1e-300, False),
     ("Eq", 0.02, 0.02, True), ("Gt", 4000, 4000, False)],
)  # fmt: skip
def test_exact_cmp_compares_numbers_as_written_exactly(op: str, a: float, b: float, expected: bool) -> None:
    context.start(None)
    assert exact_cmp(op, a, b, 0, 0) is expected


def test_exact_cmp_reads_a_result_as_opa_holds_it() -> None:
    context.load([])
    drop = exact_arith("Sub", 0.93, 0.91, 0, 0)
    assert drop == 0.02  # the f64 regorus holds; OPA holds 0.019999999999999999983
    assert exact_cmp("Lt", drop, 0.02, 2, 0) is True
    assert exact_cmp("Eq", drop, 0.02, 2, 0) is False
    assert exact_cmp("Eq", drop, 0.02, 0, 0) is True  # read as the number 0.02 written
    # maybe a result, maybe the number 0.02 written in a policy: the answers differ, refused
    context.load(["x := 0.02"])
    drop = exact_arith("Sub", 0.93, 0.91, 0, 0)
    with pytest.raises(ValueError, match="precision limit"):
        exact_cmp("Lt", drop, 0.02, 1, 0)
    assert exact_cmp("Lt", drop, 0.02, 2, 0) is True
    context.load([])


def test_opa_rounding_quirks_and_integer_results() -> None:
    context.start(None)
    assert [exact_round("ceil", -0.5), exact_round("floor", -0.5)] == [1, 0]  # OPA 1.22's answers
    assert [exact_round("floor", -1.5), exact_round("round", -0.5), exact_round("round", 2.5)] == [-2, -1, 3]
    near_two = exact_arith("Mul", exact_arith("Sub", 0.93, 0.91, 0, 0), 100, 2, 0)
    assert near_two == math.nextafter(2, 0)  # OPA: 1.99999999999999999983, never the integer 2
    assert exact_round("floor", near_two, 2) == 1


def test_division_by_zero_is_an_error_not_a_value() -> None:
    backend = EmbeddedBackend()
    backend.load(make_policy_set(modules({"z.rego": "package p\n\nq := input.a / input.b\n"})), {})
    with pytest.raises(BackendError, match="divide by zero"):
        backend.evaluate_rule({"a": 1, "b": 0}, "data.p.q")


@pytest.mark.parametrize(
    ("op", "a", "b", "expected"),
    [("Sub", 0.93, 0.91, 0.02), ("Add", 0.1, 0.2, 0.3), ("Mul", 3, 4, 12), ("Mod", -7, 3, -1),
     ("Div", 10, 4, 2.5), ("Add", 0.5, 0.25, 0.75)],
)  # fmt: skip
def test_exact_arith(op: str, a: float, b: float, expected: float) -> None:
    got = exact_arith(op, a, b)
    assert abs(got - expected) <= 2**-50 * abs(expected)
    # an integer only when OPA's value is exactly that integer
    assert isinstance(got, int) is (op in ("Mul", "Mod"))


def test_time_add_date_overflows_like_go(opa: OpaServer) -> None:
    jan31 = 1_706_659_200_000_000_000  # 2024-01-31T00:00:00Z
    ours = add_date(jan31, 0, 1, 0)
    proc = subprocess.run(
        [opa.binary, "eval", "-f", "raw", f"time.add_date({jan31}, 0, 1, 0)"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert ours == int(proc.stdout.strip())
    backend = EmbeddedBackend()
    backend.load(
        make_policy_set(modules({"t.rego": f"package p\n\nd := time.add_date({jan31}, 0, 1, 0)\n"})), {}
    )
    assert backend.evaluate_rule({}, "data.p.d") == ours


def test_bodiless_function_and_unary_minus_on_a_reference_load() -> None:
    files = {
        "b.rego": 'package p\n\nlegit("academic_advising")\n\n'
        "ok if legit(input.purpose)\n\nneg := -input.x.mean_abs\n"
    }
    got = values(
        EmbeddedBackend(), files, {"purpose": "academic_advising", "x": {"mean_abs": 1.5}}, ["ok", "neg"]
    )
    assert got == {"ok": True, "neg": -1.5}


@pytest.mark.parametrize("version", [RegoVersion.V1, RegoVersion.V0])
def test_an_unknown_function_is_a_load_error_naming_it(version: RegoVersion) -> None:
    body = (
        "deny contains 1 if { no_such.func(1) }"
        if version is RegoVersion.V1
        else "deny[1] { no_such.func(1) }"
    )
    mods = modules({"u.rego": f"package p\n\n{body}\n"}, version)
    with pytest.raises(PolicyLoadError, match=r"no_such\.func") as info:
        EmbeddedBackend().load(make_policy_set(mods), {})
    assert info.value.location is not None
    assert info.value.location.line == 3


def test_a_builtin_regorus_cannot_evaluate_is_refused_with_the_fix() -> None:
    mods = modules({"h.rego": 'package p\n\nr := http.send({"method": "get", "url": "http://x"})\n'})
    with pytest.raises(PolicyLoadError, match=r"http.send.*--backend opa") as info:
        EmbeddedBackend().load(make_policy_set(mods), {})
    assert info.value.location is not None
    assert info.value.location.line == 3


def test_rule_heads_are_found_from_the_ast() -> None:
    text = (
        "package team\n\n"
        "# a comment that says deny_commented := 1\n"
        '\tdeny_tab contains "t" if { input.x }\n'
        ' warn_space := "s" if { input.x }\n'
        'deny_multi[\n  "k"\n] := {"msg": "m"} if { input.x }\n'
        'deny.always := {"msg": "always"}\n'
        'note := "deny_in_string := 1"\n'
        "test_one if { true }\n"
        "todo_test_two if { false }\n"
    )
    module = parse_module("team.rego", text, RegoVersion.V1, builtin=False)
    assert [(r.name, r.line) for r in module.rules] == [
        ("deny_tab", 4), ("warn_space", 5), ("deny_multi", 6), ("deny", 9),
    ]  # fmt: skip
    assert module.tests == (("test_one", 11),)
    assert module.todos == (("todo_test_two", 12),)


def test_a_ref_head_deny_is_evaluated(tmp_path: Path) -> None:
    (tmp_path / "always.rego").write_text(
        'package team\n\n# METADATA\n# custom:\n#   id: TEAM-ALWAYS\n  deny.always := {"msg": "never ship"}\n'
    )
    run = run_govern(*CHECK_ARGS_EVIDENCE, "--policies", str(tmp_path))
    assert run.code == 1, run.stdout + run.stderr
    assert "TEAM-ALWAYS" in run.stdout


MANY = 300


def many_rules(tmp_path: Path) -> Path:
    body = "".join(
        f"\n# METADATA\n# custom:\n#   id: MANY-{i}\n"
        f'deny_r{i} contains "r{i}" if {{ input.run.metrics.accuracy > {i + 2} }}\n'
        for i in range(MANY)
    )
    folder = tmp_path / "many"
    folder.mkdir()
    (folder / "many.rego").write_text(f"package many\n{body}")
    return folder


def test_three_hundred_rules_decide_normally(tmp_path: Path) -> None:
    run = run_govern(*CHECK_ARGS_EVIDENCE, "--policies", str(many_rules(tmp_path)), "--format", "json")
    assert run.code == 0, run.stderr
    results = json.loads(run.stdout)["decision"]["results"]
    assert sum(1 for r in results if r["rule_id"].startswith("MANY-")) == MANY


def real_panic() -> BaseException:
    """A genuine regorus panic: its compiler overflows its registers on this many rules."""
    from govern.engine.rego_ast import import_regorus

    regorus = import_regorus()
    text = "package many\n" + "".join(f"deny_r{i} contains {i} if {{ input.x > {i} }}\n" for i in range(MANY))
    try:
        regorus.Program.compile_from_modules(
            "{}", [("many.rego", text)], [f"data.many.deny_r{i}" for i in range(MANY)]
        )
    except BaseException as exc:
        return exc
    pytest.skip("this regorus build no longer panics on 300 rules")


def test_an_engine_panic_is_an_evaluation_error_not_a_crash(tmp_path: Path) -> None:
    panic = real_panic()
    assert not isinstance(panic, Exception)
    backend = EmbeddedBackend()
    backend.load(make_policy_set(modules({"p.rego": "package p\n\ndeny contains 1 if { input.x }\n"})), {})

    class Exploding:
        def __getattr__(self, name: str) -> Any:
            def explode(*_: Any) -> Any:
                raise panic

            return explode

    backend._engine = Exploding()
    with pytest.raises(BackendError, match="crashed"):
        backend.evaluate({"x": True}, ("p",))
    with pytest.raises(BackendError, match="crashed"):
        backend.evaluate_rule({"x": True}, "data.p.deny")


V0_FORMS = """package p

# a comment with braces { and parentheses ( is not code
violation[{"msg": msg}] {
  input.x == 1 # }
  msg := "one"
} {
  input.x == 2
  msg := "two" # { (
}

spread(h) { # ) {
  h.min
  (h.max - h.min) >= 2
}

ok { spread(input.h) }

big := 1000000000000000000000 * 3
"""


@pytest.mark.parametrize(
    "input_doc", [{"x": 2, "h": {"min": 1, "max": 5}}, {"x": 1, "h": {"min": 0, "max": 1}}]
)
def test_v0_forms_regorus_misreads_agree_with_opa(input_doc: dict[str, Any], opa: OpaServer) -> None:
    mods = modules({"v0.rego": V0_FORMS}, RegoVersion.V0)
    backend = EmbeddedBackend()
    backend.load(make_policy_set(mods), {})
    ours = {name: backend.evaluate_rule(input_doc, f"data.p.{name}") for name in ("violation", "ok", "big")}
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "v0.rego").write_text(V0_FORMS)
        (Path(tmp) / "in.json").write_text(json.dumps(input_doc))
        proc = subprocess.run(
            [opa.binary, "eval", "--v0-compatible", "-f", "json", "-d", str(Path(tmp) / "v0.rego"),
             "-i", str(Path(tmp) / "in.json"), "data.p"],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
    theirs = json.loads(proc.stdout)["result"][0]["expressions"][0]["value"]
    assert ours["violation"] == theirs["violation"]
    assert (ours["ok"] is True) == (theirs.get("ok") is True)
    assert ours["big"] == theirs["big"] == 3 * 10**21


def test_json_match_schema_error_list_is_refused_unless_discarded(opa_backend: Backend) -> None:
    schema = '{"type": "object", "properties": {"a": {"type": "string"}}}'
    reads = f"package p\n\nr := json.match_schema(input, {schema})\n"
    with pytest.raises(PolicyLoadError, match=r"json\.match_schema.*\[ok, _\]") as info:
        EmbeddedBackend().load(make_policy_set(modules({"s.rego": reads})), {})
    assert info.value.location is not None
    assert info.value.location.line == 3
    discards = f"package p\n\nok if {{\n\t[valid, _] := json.match_schema(input, {schema})\n\tvalid\n}}\n"
    for doc in ({"a": "x"}, {"a": 1}):
        files = {"s.rego": discards}
        assert values(EmbeddedBackend(), files, doc, ["ok"]) == values(opa_backend, files, doc, ["ok"])


def test_a_panic_while_parsing_is_an_engine_error(monkeypatch: pytest.MonkeyPatch) -> None:
    panic = real_panic()
    from govern.engine import rego_ast

    class Exploding:
        def set_rego_v0(self, _: bool) -> None:
            pass

        def add_policy(self, *_: Any) -> None:
            raise panic

    real = rego_ast.import_regorus()
    monkeypatch.setattr(
        rego_ast, "import_regorus", lambda: type("R", (), {"Engine": Exploding, "real": real})
    )
    with pytest.raises(BackendError, match=r"crashed while parsing p\.rego"):
        parse_module("p.rego", "package p\n", RegoVersion.V1, builtin=False)


def test_a_number_literal_regorus_cannot_hold_is_refused_at_load() -> None:
    """OPA compares every digit of `1.84000000000000000001`; regorus parses it to the f64 1.84."""
    text = "package p\n\nr if {\n\t0.93 + 0.91 < 1.84000000000000000001\n}\n"
    with pytest.raises(
        PolicyLoadError, match=r"1\.84000000000000000001 \(regorus holds 1\.84.*--backend opa"
    ) as caught:
        EmbeddedBackend().load(make_policy_set(modules({"long.rego": text})), {})
    assert caught.value.location is not None
    assert (caught.value.location.file, caught.value.location.line) == ("long.rego", 4)
    # as many digits as an f64 holds, and trailing zeros, load
    fine = "package p\n\nr if { 0.93 + 0.91 < 1.8400000000000003 }\n\ns := 1.840\n"
    EmbeddedBackend().load(make_policy_set(modules({"fine.rego": fine})), {})


def test_with_an_arithmetic_result_and_key_value_membership_are_refused_at_load() -> None:
    for rule, construct in [
        ("r if { input.x > 0 with input.x as input.a - input.b }", "`with ... as` an arithmetic result"),
        ("r if { 0, input.a - input.b in [0.02] }", "`k, v in xs` over arithmetic results"),
    ]:
        text = f"package p\n\n{rule}\n"
        with pytest.raises(PolicyLoadError, match=re.escape(construct) + r".*--backend opa"):
            EmbeddedBackend().load(make_policy_set(modules({"w.rego": text})), {})


def test_the_facts_of_no_user_module_are_the_empty_facts() -> None:
    from govern.engine.backends.arith_flow import ArithFacts
    from govern.engine.backends.derived import NO_FACTS

    assert ArithFacts().key() == NO_FACTS
    assert ArithFacts.from_key(NO_FACTS) == ArithFacts()


AGGREGATE_RULES = """package p

p_set := product({1.1, 3})
p_arr := product([0.1, 0.2, 0.3])
p_eq if { product([1.1, 1.1]) == 1.21 }
s_set := sum({0.7, 0.2, 0.1})
s_eq if { sum([0.1, 0.2]) == 0.3 }
s_int := sum([1, 2, 3])
"""


def test_sum_and_product_as_opa_computes_them(opa_backend: Backend) -> None:
    """OPA sums on 64 bits but multiplies on 53 (its product starts from big.NewFloat(1)), and
    goes through a set in its sorted order: `product({1.1, 3})` is 3.3000000000000003 there."""
    names = ["p_set", "p_arr", "p_eq", "s_set", "s_eq", "s_int"]
    embedded = values(EmbeddedBackend(), {"agg.rego": AGGREGATE_RULES}, {}, names)
    assert embedded == values(opa_backend, {"agg.rego": AGGREGATE_RULES}, {}, names)
    assert embedded["p_set"] == 3.3000000000000003


KEYED = """package p

a := 0.1 * 3
b := 0.3 * 1
same_set := {a, b}
same_compr := {x | some x in [0.93 - 0.91, 0.95 - 0.93]}
same_count := count(same_compr)
apart_compr := {x | some x in [0.1 * 3, 0.7 - 0.4]}
apart_count := count(apart_compr)
apart_rule contains x if { some x in [0.1 * 3, 0.7 - 0.4] }
apart_object[x] := 1 if { some x in [0.93 - 0.91, 0.5 - 0.48] }
apart_keys := {x: 1 | some x in [0.93 - 0.91, 0.5 - 0.48]}
written_and_result := {x | some x in [input.w, 0.93 - 0.91]}
result_key := {0.93 - 0.91: "k"}
far_apart := {0.5 * 3, 0.25 * 2, 1.1 + 2.2}
nested := {"drop": (0.93 - 0.91) * 100, "drops": [(0.93 - 0.91) * 100]}
"""
KEYED_ANSWERED = ["a", "b", "same_set", "same_compr", "same_count", "far_apart", "nested"]
KEYED_REFUSED = ["apart_compr", "apart_count", "apart_rule", "apart_object", "apart_keys",
                 "written_and_result", "result_key"]  # fmt: skip


def test_sets_and_object_keys_of_results_give_opas_answer_or_are_refused(opa_backend: Backend) -> None:
    """Two results OPA holds apart but regorus as one float (0.1 * 3 and 0.7 - 0.4), or a result
    and a number written with the same float, would be one set element or object key embedded
    and two on OPA (a count, a deny set): that is refused when the element is made. Results OPA
    holds equal too, or far apart, are answered; a result returned in a value reads as OPA's JSON
    of it does (1.99999999999999999983 is 2.0); a result as an object key is refused (OPA writes
    it with all its digits)."""
    names = KEYED_ANSWERED + KEYED_REFUSED
    files = {"keyed.rego": KEYED}
    embedded = values(EmbeddedBackend(), files, {}, names)
    opa_values = values(opa_backend, files, {}, names)
    # a result beside the same float written in the input, on an input of its own (that written
    # 0.02 would make the sets of results equal to it above refuse too)
    with_input = {"w": 0.02}
    embedded["written_and_result"] = values(EmbeddedBackend(), files, with_input, ["written_and_result"])[
        "written_and_result"
    ]
    opa_values["written_and_result"] = values(opa_backend, files, with_input, ["written_and_result"])[
        "written_and_result"
    ]
    assert "error" not in opa_values.values()
    assert {n: embedded[n] for n in KEYED_ANSWERED} == {n: opa_values[n] for n in KEYED_ANSWERED}
    assert {n: embedded[n] for n in KEYED_REFUSED} == dict.fromkeys(KEYED_REFUSED, "error")
    # OPA's own answers, which the embedded engine would otherwise get wrong silently
    assert (opa_values["same_count"], opa_values["apart_count"]) == (1, 2)
    assert len(opa_values["written_and_result"]) == 2
    assert opa_values["nested"] == {"drop": 2.0, "drops": [2.0]}


def test_a_refused_set_element_names_the_fix() -> None:
    backend = EmbeddedBackend()
    backend.load(make_policy_set(modules({"keyed.rego": KEYED})), {})
    with pytest.raises(BackendError, match=r"set element or an object key .* --backend opa"):
        backend.evaluate_rule({}, "data.p.apart_count")
    with pytest.raises(BackendError, match=r"object key 0\.02 may be an inexact arithmetic result"):
        backend.evaluate_rule({}, "data.p.result_key")


FIELDS = """package p

floored if {
	o := {"drop": (0.93 - 0.91) * 100, "other": 1}
	floor(o.drop) == 1
}
message := {"msg": sprintf("%v and %.2f", [1e-7, 2.675]), "n": 1}
nested := {"a": {"b": (0.93 - 0.91) * 100, "c": 2}, "d": 3}
"""


def test_every_field_of_an_object_literal_is_rewritten(opa_backend: Backend) -> None:
    """regorus starts an object literal's span at its last field: a rewrite by spans used to
    copy the fields before it as written, so their arithmetic, rounding and sprintf kept
    regorus' answers (`floored` false: its floor was 2)."""
    names = ["floored", "message", "nested"]
    embedded = values(EmbeddedBackend(), {"fields.rego": FIELDS}, {}, names)
    assert embedded == values(opa_backend, {"fields.rego": FIELDS}, {}, names)
    assert embedded["floored"] is True
    assert embedded["message"] == {"msg": "1e-07 and 2.67", "n": 1}
    tree = repair_object_spans(parse_rego("f.rego", FIELDS, v0=False).ast, FIELDS)
    objects = [node for node in iter_spanned(tree["rules"]) if node.kind == "Object"]
    assert len(objects) == 4
    assert all(FIELDS.encode()[o.start : o.start + 1] == b"{" for o in objects)


LIBRARY_CALLER = """package team

import rego.v1

import data.govern.lib

drop := input.champion - input.run

fixed_drop := lib.fixed(drop)

regressed if lib.fixed(input.champion - input.run) > 4
"""
RULES_OF_CALLER = ("fixed_drop", "regressed")


def test_a_result_passed_to_the_builtin_library_is_computed_as_opa_does(opa_backend: Backend) -> None:
    """`lib.fixed` rounds millionths natively, which is exact for numbers as written; a result
    passed to it is OPA's value, which its native product may round to the other side: with
    `0.010004499999 - 0.01`, OPA's `fixed` is 4 and the native one 5. The library is rewritten
    through the helpers when a team policy passes it a result."""
    library = (Path(__file__).resolve().parent.parent / "policies" / "lib" / "lib.rego").read_text("utf-8")
    modules_ = [
        parse_module("govern/lib/lib.rego", library, RegoVersion.V1, builtin=True),
        parse_module("team.rego", LIBRARY_CALLER, RegoVersion.V1, builtin=False),
    ]
    input_doc = {"champion": 0.010004499999, "run": 0.01}
    answers = []
    for backend in (EmbeddedBackend(), opa_backend):
        backend.load(make_policy_set(modules_), {})
        answers.append([backend.evaluate_rule(input_doc, f"data.team.{n}") for n in RULES_OF_CALLER])
    assert answers[0] == answers[1] == [4, UNDEFINED]


FROM_TEXT = """package p

n := count([v | some v in [0.93 - 0.91, to_number(input.s)]; v * 100 < 2])
"""


def test_a_number_made_from_text_is_not_taken_for_a_result(opa_backend: Backend) -> None:
    """`to_number("0.02")` is the float the result `0.93 - 0.91` is remembered under: read as the
    result, both elements counted (2, where OPA counts 1). A number in an input string, or any
    number once a policy makes numbers from text, is read both ways: here that is refused."""
    input_doc = {"s": "0.02"}
    assert values(opa_backend, {"t.rego": FROM_TEXT}, input_doc, ["n"]) == {"n": 1}
    assert values(EmbeddedBackend(), {"t.rego": FROM_TEXT}, input_doc, ["n"]) == {"n": "error"}


UNPASSABLE = """package p

with_result if [0.93 - 0.91] in {[0.02], {"a": 1}}
whole_with_result if {[0.93 - 0.91], {"a": 1}} == {[0.02], {"a": 1}}
written_only if [1] in {[1], {"a": 1}}
"""


def test_a_set_of_composites_beside_a_result_is_refused(opa_backend: Backend) -> None:
    """regorus cannot hand the helpers a set holding arrays, objects or sets: natively, `[r] in
    {[0.02], …}` holds where OPA's result is not 0.02. That is refused when the evaluation holds
    a result as a float other than OPA's value; numbers as written compare natively as on OPA."""
    names = ["with_result", "whole_with_result", "written_only"]
    theirs = values(opa_backend, {"u.rego": UNPASSABLE}, {}, names)
    assert theirs == {"with_result": "undefined", "whole_with_result": "undefined", "written_only": True}
    ours = values(EmbeddedBackend(), {"u.rego": UNPASSABLE}, {}, names)
    assert ours == {"with_result": "error", "whole_with_result": "error", "written_only": True}


SHADOWING = """package p

f(x) := [x | some x in [1]]

param := f(7)

object_compr if { x := 1; y := {k: x | some k, x in {"a": 2}}; y.a == 2 }

outer_kept if { x := 1; y := [x | some x in [2]]; y == [2]; x == 1 }

set_rule contains x if { some x in [0.2]; count({x | some x in [0.1, 0.3]}) == 2 }
"""


def test_some_in_a_comprehension_declares_a_new_variable(opa_backend: Backend) -> None:
    """`[x | some x in xs]` where `x` is bound around it declares a new `x` in OPA; regorus
    refused such a module ("var `x` used before definition below"). The comprehension's own
    variable is renamed throughout it."""
    names = ["param", "object_compr", "outer_kept", "set_rule"]
    ours = values(EmbeddedBackend(), {"s.rego": SHADOWING}, {}, names)
    assert ours == values(opa_backend, {"s.rego": SHADOWING}, {}, names)
    assert ours == {"param": [1], "object_compr": True, "outer_kept": True, "set_rule": [0.2]}


@pytest.mark.parametrize(
    "literal",
    [
        '{"a": 1 + 2, "b": 3}',
        '{  # a comment\n  "a": 1 + 2,\n  `b`: 3}',
        '{(1 + 2): 1, "b": 3}',
        "{input.k: 1, 2: 3}",
    ],
)
def test_an_object_span_starts_at_its_brace(literal: str) -> None:
    text = f"package p\n\nx := {literal}\n"
    tree = parse_rego("o.rego", text, v0=False).ast
    objects = [node for node in iter_spanned(tree["rules"]) if node.kind == "Object"]
    assert [text.encode()[o.start : o.end].decode() for o in objects] == [literal]


BEYOND_2_52 = """package p

below if 4503599627370496.0 + 0.02 < 4503599627370497
integral := 4503599627370496.0 + 2
"""


def test_an_inexact_result_beyond_2_52_is_refused(opa_backend: Backend) -> None:
    """From 2^52 on every binary float is an integer: OPA's 4503599627370496.02 has no float, and
    the one next to it (4503599627370497) answered `<` the other way. Refused; an integral
    result there is exact."""
    names = ["below", "integral"]
    theirs = values(opa_backend, {"b.rego": BEYOND_2_52}, {}, names)
    assert theirs == {"below": True, "integral": 4503599627370498}
    assert values(EmbeddedBackend(), {"b.rego": BEYOND_2_52}, {}, names) == {
        "below": "error",
        "integral": 4503599627370498,
    }


COMPREHENSION_BODY = """package p

r if {
	{1, 2, 3} | {1, 2, 3} == {1, 2, 3} | {1, 2, 3}
	not count([]) == count([])
}
"""


def test_a_body_that_reads_as_a_set_comprehension_is_refused(opa_backend: Backend) -> None:
    """`r if { {1} | … }`: OPA reads the braces as a set comprehension (a term always defined),
    so `r` holds whatever follows; regorus reads a union and a condition. Found by a
    5,000-example differential run; refused at load with the line and column."""
    assert values(opa_backend, {"c.rego": COMPREHENSION_BODY}, {}, ["r"]) == {"r": True}
    with pytest.raises(PolicyLoadError, match=r"c\.rego:4: .*set comprehension to OPA") as info:
        EmbeddedBackend().load(make_policy_set(modules({"c.rego": COMPREHENSION_BODY})), {})
    assert "(column " in str(info.value)


def test_a_body_starting_with_an_empty_set_union_is_refused() -> None:
    """`set() | …` too (regorus' span of `set()` takes in the `|` after it)."""
    text = "package p\n\nr if {\n\tset() | {1} == {1}\n\tnot count([]) == count([])\n}\n"
    with pytest.raises(PolicyLoadError, match=r"starts with `set\(\) \|`"):
        EmbeddedBackend().load(make_policy_set(modules({"e.rego": text})), {})


def test_brackets_nested_too_deep_are_refused_before_the_parser_hangs() -> None:
    """regorus' parse time doubles with each level of `[`/`{` (22 levels: over two minutes)."""
    deep = "[" * 40 + "1" + "]" * 40
    text = f'package p\n\n# {"[" * 40} in a comment and "{"{" * 40}" in a string do not count\nx := {deep}\n'
    with pytest.raises(PolicyLoadError, match=r"n\.rego:4: brackets nested more than 16 deep"):
        parse_rego("n.rego", text, v0=False)
    assert parse_rego("ok.rego", "package p\n\nx := " + "[" * 8 + "1" + "]" * 8 + "\n", v0=False)
