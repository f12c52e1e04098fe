"""Rendering time of every model-card format and every ``govern check`` output format.

Run:  python bench/card_render.py [--quick] [--repeat N]

On the shipped example (examples/adult-income): decides once with the built-in policies, then
times, in the same process and interleaved so that machine load hits all formats alike:

  card md|html|json   build_card (spec + evidence + decision → typed card, including the
                      evidence-digest check) + render (Markdown and HTML through Jinja2)
  check <format>      render(format, decision) for text, json, junit, sarif, github, markdown

Each row gives the median, the 95th percentile and the output size. Prints the table and,
last, one line ``RESULT {json}``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

os.environ.setdefault("RUST_LIB_BACKTRACE", "0")

from govern.engine.backends import create_backend
from govern.engine.card import CardFormat, build_card, render_card
from govern.engine.check import Checker
from govern.engine.documents import load_document
from govern.engine.errors import SpecError
from govern.engine.evidence import load_evidence
from govern.engine.formats import Format, RenderOptions, render
from govern.engine.formats.locations import spec_locations
from govern.engine.policyset import load_policy_set
from govern.engine.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "adult-income"
TODAY = dt.date(2026, 11, 27)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (50 instead of 300)")
    parser.add_argument("--repeat", type=int, default=None, help="timed renders per format")
    args = parser.parse_args()
    repeat = args.repeat or (50 if args.quick else 300)

    spec = load_spec(EXAMPLE / "spec.yaml")
    evidence = load_evidence(EXAMPLE / "evidence.json")
    policy_set = load_policy_set(spec, [], builtin=True)
    with create_backend("embedded") as engine:
        checker = Checker.for_spec(spec, policy_set, engine)
        decision = checker.decide(evidence, None, TODAY)
    params = checker.params
    decision_doc = decision.to_dict()
    doc, _ = load_document(EXAMPLE / "spec.yaml", SpecError)
    options = RenderOptions(locations=spec_locations(doc))

    def card(fmt: CardFormat) -> str:
        return render_card(fmt, build_card(spec, params, evidence, decision_doc))

    jobs: dict[str, Callable[[], str]] = {}
    for card_fmt in CardFormat:
        jobs[f"card {card_fmt.value}"] = partial(card, card_fmt)
    for fmt in Format:
        jobs[f"check {fmt.value}"] = partial(render, fmt, decision, options)

    sizes = {name: len(job().encode("utf-8")) for name, job in jobs.items()}  # warm-up: imports, caches
    timings: dict[str, list[float]] = {name: [] for name in jobs}
    names = list(jobs)
    gc.collect()
    for i in range(repeat):
        for name in names[i % len(names) :] + names[: i % len(names)]:  # rotate the order
            start = time.perf_counter()
            jobs[name]()
            timings[name].append((time.perf_counter() - start) * 1000)

    print(
        f"govern card_render: {repeat} renders per format, examples/adult-income, "
        f"{len(decision.results)} rules"
    )
    print(f"python {sys.version.split()[0]}, {platform.machine()}, {os.cpu_count()} cores\n")
    print(f"{'format':<16}{'median ms':>11}{'p95 ms':>9}{'bytes':>10}")
    print("-" * 46)
    result: dict[str, dict[str, float]] = {}
    for name in names:
        median = statistics.median(timings[name])
        p95 = _percentile(timings[name], 0.95)
        print(f"{name:<16}{median:>11.3f}{p95:>9.3f}{sizes[name]:>10,}")
        result[name] = {"median_ms": round(median, 4), "p95_ms": round(p95, 4), "bytes": sizes[name]}
    print()
    summary = {
        "benchmark": "card_render",
        "repeat": repeat,
        "rules": len(decision.results),
        "formats": result,
    }
    print("RESULT " + json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
