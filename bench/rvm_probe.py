"""Is regorus' compiled VM (RVM) usable for govern yet? Speed and fail-closed probes, one run.

Run:  python bench/rvm_probe.py [--repeat R]

The per-decision target of the performance work (0.35x of the reference library) is out of reach
of regorus' interpreter: evaluating the 45 built-in rules alone costs more than the target. The
compiled VM (``Program.compile_from_modules`` + ``Rvm``) runs the same library faster, and govern
would use it if it were fail-closed. This script measures, on the installed regorus:

1. the built-in library (every pack, the example spec's params) at each stage: the fastest of
   ``R`` evaluations of every rule value, interpreter (one query, as govern asks) vs RVM (one
   entry point per rule), and whether the values are the same;
2. three probes where the interpreter raises (an erroring built-in, a complete-rule conflict,
   division by zero): what the RVM answers. An answer of ``[]`` for a ``deny`` set is a pass where
   the interpreter fails closed, i.e. the RVM is not usable;
3. whether the RVM can call the extensions govern's OPA arithmetic needs (``add_extension``).

Prints a table and, last, one line ``RESULT {json}``. Exit 0 whatever it finds: it reports.
"""

# ruff: noqa: PLR0915  (linear main() reads best as a script)

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ["RUST_LIB_BACKTRACE"] = "0"

from govern.engine.backends.embedded import EmbeddedBackend
from govern.engine.check import Checker
from govern.engine.policyset import load_policy_set
from govern.engine.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "adult-income"

PROBES = {
    "erroring built-in (to_number of a word)": (
        'package probe\nimport rego.v1\ndeny contains "x" if { to_number(input.s) > 1 }\n',
        {"s": "abc"},
    ),
    "complete rule conflict": (
        'package probe\nimport rego.v1\nx := 1 if true\nx := 2 if true\ndeny contains "y" if { x == 1 }\n',
        {},
    ),
    "division by zero": (
        'package probe\nimport rego.v1\ndeny contains "z" if { 1 / input.n > 0 }\n',
        {"n": 0},
    ),
}


def _fastest_us(fn: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    return min(samples) / 1000


def _answer(fn: Any) -> str:
    try:
        return json.dumps(fn(), sort_keys=True)
    except BaseException as exc:  # a pyo3 panic is not an Exception
        return f"raises {type(exc).__name__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    import regorus

    spec = dataclasses.replace(load_spec(EXAMPLE / "spec.yaml"), packs=None)
    policy_set = load_policy_set(spec)
    backend = EmbeddedBackend()
    checker = Checker.for_spec(spec, policy_set, backend)
    engine = backend.engine
    names = sorted({(r.package, r.name) for r in policy_set.rules})
    entries = [f"data.{p}.{n}" for p, n in names]
    data_json = json.dumps({"govern": {"params": checker.params}})
    modules = [(m.path, m.engine_text or m.text) for m in policy_set.modules]
    all_query = "{\n" + ",\n".join(f'"{e}": {e}' for e in entries) + "\n}"
    program = regorus.Program.compile_from_modules(data_json, modules, entries)

    base = json.loads((EXAMPLE / "evidence.json").read_text(encoding="utf-8"))
    rows: dict[str, dict[str, Any]] = {}
    for stage in ("register", "deploy", "rollback"):
        doc = copy.deepcopy(base)
        doc["stage"] = stage
        doc["spec"] = spec.data
        text = json.dumps(doc)
        engine.set_input_json(text)
        vm = regorus.Rvm()
        vm.load_program(program)
        vm.set_data_json(data_json)
        vm.set_input_json(text)

        def interpreted() -> dict[str, Any]:
            # one query for every rule value, as govern asks it
            value = json.loads(engine.eval_query_as_json(all_query))["result"][0]["expressions"][0]["value"]
            return dict(value)

        def compiled(vm: Any = vm) -> dict[str, Any]:
            return {e: json.loads(vm.execute_entry_point(e)) for e in entries}

        same = interpreted() == compiled()
        t_interp = _fastest_us(interpreted, args.repeat)
        t_vm = _fastest_us(compiled, args.repeat)
        rows[stage] = {
            "interpreter_us": round(t_interp),
            "rvm_us": round(t_vm),
            "ratio": round(t_vm / t_interp, 3),
            "same_values": same,
        }

    probes: dict[str, dict[str, str]] = {}
    for name, (text, value) in PROBES.items():
        interp = regorus.Engine()
        interp.add_policy("probe.rego", text)
        interp.set_input_json(json.dumps(value))

        def run_vm(text: str = text, value: Any = value) -> Any:
            prog = regorus.Program.compile_from_modules("{}", [("probe.rego", text)], ["data.probe.deny"])
            vm = regorus.Rvm()
            vm.load_program(prog)
            vm.set_input_json(json.dumps(value))
            return json.loads(vm.execute_entry_point("data.probe.deny"))

        probes[name] = {
            "interpreter": _answer(lambda e=interp: e.eval_rule("data.probe.deny")),
            "rvm": _answer(run_vm),
        }
    extensions = hasattr(regorus.Rvm(), "add_extension") or hasattr(regorus.Program, "add_extension")
    fail_closed = all(p["rvm"].startswith("raises") for p in probes.values())

    print(f"built-in library: {len(entries)} rule values, fastest of {args.repeat}, µs per evaluation")
    print(f"  {'stage':<10}{'interpreter':>13}{'RVM':>8}{'RVM/interp':>12}  same values")
    for stage, row in rows.items():
        cells = f"{row['interpreter_us']:>13}{row['rvm_us']:>8}{row['ratio']:>12.3f}"
        print(f"  {stage:<10}{cells}  {row['same_values']}")
    print("where the interpreter raises (fails closed):")
    for name, answers in probes.items():
        print(f"  {name:<42} interpreter {answers['interpreter']:<16} RVM {answers['rvm']}")
    print(f"RVM can call extensions (govern's OPA arithmetic): {extensions}")
    verdict = "usable" if fail_closed and extensions else "NOT usable (fails open or lacks extensions)"
    print(f"RVM for govern: {verdict}")
    result = {
        "bench": "rvm_probe",
        "regorus": backend.version(),
        "library": rows,
        "probes": probes,
        "rvm_extensions": extensions,
        "rvm_fail_closed": fail_closed,
        "unit": "us",
    }
    print("RESULT " + json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
