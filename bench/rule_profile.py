"""Per-rule cost of the built-in policy library on the embedded engine, each rule queried alone.

Run:  python bench/rule_profile.py [--repeat R] [--top N] [--library DIR]

Loads the whole built-in library (every pack) into one in-process embedded engine, exactly as
``govern check`` loads it, sets the input once per document, then times, per rule, the query
govern uses for a rule value (``[v | v := data.<package>.<rule>]``) alone, ``R`` times, and
reports the fastest in µs (CPU cost, without
the preemptions of a shared machine). Each rule alone re-evaluates the package-level values it needs, so a
helper shared by many rules is charged to each of them; the "all rules" line is the single query
govern asks per decision. Documents: the example evidence at each stage (register, deploy,
rollback) and the example at deploy with 10,000 extra run metrics. Also timed: setting the input
alone, and a query that touches no policy (the engine's fixed cost per query).

``--library DIR`` profiles another copy of the packs instead (one folder per pack), e.g. the
frozen libraries the current one replaced: tests/reference_policies (36 rules, before native
comparisons) or tests/reference_policies_45 (45 rules, before the speed rewrite). Each package's
rules are also timed together in one query (shared values computed once, as in a decision).
Prints tables and, last, one line ``RESULT {json}``.
"""

# ruff: noqa: PLR0915  (linear main() reads best as a script)

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import random
import time
from pathlib import Path
from typing import Any

os.environ["RUST_LIB_BACKTRACE"] = "0"

from govern.engine.backends.embedded import EmbeddedBackend
from govern.engine.check import Checker
from govern.engine.policyset import RegoVersion, load_policy_set, make_policy_set, parse_module
from govern.engine.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "adult-income"


def _fastest_us(fn: Any, repeat: int) -> float:
    """The fastest of ``repeat`` calls, µs: on a shared machine a call preempted by another process
    takes a whole scheduler tick (4 ms) longer, which a median over a few calls does not hide."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        samples.append(clock() - t0)
    return min(samples) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--library", type=Path, help="a folder of packs to profile instead of policies/")
    args = parser.parse_args()

    spec = dataclasses.replace(load_spec(EXAMPLE / "spec.yaml"), packs=None)
    policy_set = load_policy_set(spec)
    if args.library:
        root = args.library.resolve()
        modules = [
            parse_module(
                f"{root.name}/{p.relative_to(root)}",
                p.read_text(encoding="utf-8"),
                RegoVersion.V1,
                builtin=True,
            )
            for p in sorted(root.glob("*/*.rego"))
            if not p.name.endswith("_test.rego")
        ]
        policy_set = make_policy_set(modules)
    backend = EmbeddedBackend()
    checker = Checker.for_spec(spec, policy_set, backend)
    engine = backend.engine
    rules = [(r.package, r.name, r.id) for r in policy_set.rules]
    names = sorted({(p, n) for p, n, _ in rules})
    ids: dict[tuple[str, str], list[str]] = {}
    for p, n, i in rules:
        ids.setdefault((p, n), []).append(i)

    base = json.loads((EXAMPLE / "evidence.json").read_text(encoding="utf-8"))
    docs: dict[str, dict[str, Any]] = {}
    for stage in ("register", "deploy", "rollback"):
        doc = copy.deepcopy(base)
        doc["stage"] = stage
        if stage == "rollback":
            doc["live"] = {
                "metrics": {"accuracy": 0.8, "roc_auc": 0.9},
                "source": "prometheus",
                "window": "7d",
            }
        docs[stage] = doc
    big = copy.deepcopy(base)
    rng = random.Random(10_000)
    big["run"]["metrics"].update({f"extra_metric_{i:05d}": round(rng.random(), 6) for i in range(10_000)})
    docs["deploy, 10k metrics"] = big

    all_query = "{\n" + ",\n".join(f'"{p}.{n}": data.{p}.{n}' for p, n in names) + "\n}"
    table: dict[str, dict[str, float]] = {}
    per_package: dict[str, dict[str, float]] = {}
    fixed: dict[str, dict[str, float]] = {}
    for label, doc in docs.items():
        value = dict(doc)
        value["spec"] = spec.data
        text = json.dumps(value)
        engine.set_input_json(text)
        per_rule = {}
        for package, name in names:
            query = f"data.{package}.{name}"
            engine.eval_query_as_json(query)  # warm
            per_rule[f"{package}.{name}"] = _fastest_us(
                lambda q=query: engine.eval_query_as_json(q), args.repeat
            )
        engine.eval_query_as_json(all_query)
        for package in policy_set.packages:
            mine = [(p, n) for p, n in names if p == package]
            if mine:
                query = "{\n" + ",\n".join(f'"{p}.{n}": data.{p}.{n}' for p, n in mine) + "\n}"
                per_package.setdefault(package, {})[label] = _fastest_us(
                    lambda q=query: engine.eval_query_as_json(q), args.repeat
                )
        fixed[label] = {
            "set_input_json": _fastest_us(lambda t=text: engine.set_input_json(t), args.repeat),
            "empty query (true)": _fastest_us(lambda: engine.eval_query_as_json("true"), args.repeat),
            "input.stage": _fastest_us(lambda: engine.eval_query_as_json("x := input.stage"), args.repeat),
            "all rules, one query": _fastest_us(lambda: engine.eval_query_as_json(all_query), args.repeat),
            "backend.evaluate (dumps, set input, govern's query, loads)": _fastest_us(
                lambda v=value: backend.evaluate(v, policy_set.packages), args.repeat
            ),
            "sum of rules alone": sum(per_rule.values()),
        }
        table[label] = per_rule
        checker.decide  # noqa: B018  (the checker loaded the engine; keep it alive)

    labels = list(docs)
    print(
        f"{args.library or 'policies'}: {len(rules)} rules in "
        f"{len(policy_set.packages)} packages; fastest of {args.repeat} per cell, µs"
    )
    head = "".join(f"{label:>22}" for label in labels)
    print(f"{'':<58}{head}")
    for key in fixed[labels[0]]:
        print(f"{key:<58}" + "".join(f"{fixed[label][key]:>22.0f}" for label in labels))
    print()
    print("each package's rules together, one query:")
    for package, cells in sorted(per_package.items(), key=lambda kv: -kv[1]["deploy"]):
        print(f"  {package:<56}" + "".join(f"{cells[label]:>22.0f}" for label in labels))
    print()
    order = sorted(table["deploy"], key=lambda k: -table["deploy"][k])
    print(f"top {args.top} rules by cost at deploy (each queried alone):")
    for key in order[: args.top]:
        rid = ",".join(ids[tuple(key.rsplit(".", 1))])  # type: ignore[index]
        print(f"  {key + ' ' + rid:<56}" + "".join(f"{table[label][key]:>22.0f}" for label in labels))
    result = {
        "bench": "rule_profile",
        "library": str(args.library or "policies"),
        "per_package": per_package,
        "unit": "us",
        "fixed": fixed,
        "per_rule": table,
    }
    print("RESULT " + json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
