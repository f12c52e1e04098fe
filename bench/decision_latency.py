"""Per-decision latency of govern's whole built-in policy library against bare regorus.

Run:  python bench/decision_latency.py [--quick] [--docs N] [--rounds R] [--seed S]

Generates N evidence documents (default 1500, --quick 1000) from
examples/adult-income/evidence.json by perturbing numbers with a seeded random.Random, then
times, per document and in the same process:

  decide       Checker.decide on a pre-validated EvidenceDocument (govern's full decision)
  validate+    evidence_from_value (schema validation) followed by Checker.decide
  bare         one regorus.Engine with the same modules and data: set_input_json(json.dumps(doc))
               + eval_query_as_json("data.govern") + json.loads, i.e. what any caller pays to
               get every rule value out

The three modes are interleaved per document (the order rotates from one document to the
next) and the whole pass is repeated R times (default 3, --quick 1) over a reshuffled order,
so drift in machine load hits all three alike. Then cProfile over a few hundred decisions
shows where govern's time goes beyond the bare evaluation, and an un-profiled component
breakdown times each step of Checker.decide on its own.

Then, before / after in the same run: Checker.decide with the current library against a Checker
over the frozen library it replaced (tests/reference_policies/; target <= 0.35x), validation
alone against decide (target <= 0.1x), and decide on the example with 10,000 extra run metrics
against decide on the example (target <= 3x). Both libraries are also timed in process (no
evaluation worker), and so is the 45-rule library as it was before its speed rewrite
(tests/reference_policies_45/). Skipped with a note when this checkout has no reference copy.

Prints tables and, last, one line ``RESULT {json}``. Nothing is asserted: the target
(govern/bare <= 1.3x) is reported, not enforced.
"""

# ruff: noqa: E501, PLR0915  (wide report lines; linear main() reads best as a script)

from __future__ import annotations

import argparse
import copy
import cProfile
import dataclasses
import datetime as dt
import gc
import json
import os
import platform
import pstats
import random
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ["RUST_LIB_BACKTRACE"] = "0"  # before regorus is imported, by us or by the engine

import regorus

from govern.engine.backends import create_backend
from govern.engine.check import Checker, rule_results
from govern.engine.evidence import evidence_from_value
from govern.engine.evidence.document import canonical_digest
from govern.engine.policyset import RegoVersion, load_policy_set, make_policy_set, parse_module
from govern.engine.schemas import Schema, _validator, is_valid
from govern.engine.spec import Stage, load_spec
from govern.engine.waivers import apply_waivers

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "adult-income"
TODAY = dt.date(2026, 11, 27)
TARGET_RATIO = 1.3
REFERENCE = ROOT / "tests" / "reference_policies"  # the library before native comparisons
REFERENCE_45 = ROOT / "tests" / "reference_policies_45"  # the 45 rules before the speed rewrite
TARGET_VS_REFERENCE = 0.35  # decide now / decide with the reference library
TARGET_VALIDATION = 0.1  # validation / decide
TARGET_10K = 3.0  # decide at 10k metrics / decide on the example
STAGES = ("register", "deploy", "rollback")
NULLABLE = ("model", "run", "champion", "fairness", "explanations", "data")


# --------------------------------------------------------------------------- document generation


def _jitter(rng: random.Random, value: float, spread: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return round(min(hi, max(lo, value * rng.uniform(1 - spread, 1 + spread))), 4)


def _perturb_fairness(rng: random.Random, fairness: dict[str, Any], min_group: int) -> None:
    rows = None
    for feature in fairness["features"].values():
        sizes = feature["group_sizes"]
        for group in sizes:
            # mostly realistic sizes, sometimes a group below min_group_size
            sizes[group] = (
                rng.randint(3, min_group - 1)
                if rng.random() < 0.1
                else int(sizes[group] * rng.uniform(0.3, 2.0))
            )
        feature["small_groups"] = sorted(g for g, n in sizes.items() if n < min_group)
        rows = rows or sum(sizes.values())
        for metric in feature["metrics"].values():
            metric["overall"] = _jitter(rng, metric["overall"], 0.15)
            by_group = metric["by_group"]
            for group in by_group:
                by_group[group] = _jitter(rng, by_group[group], 0.3)
            if rng.random() < 0.03:  # a group with no value (e.g. no positives)
                by_group[rng.choice(list(by_group))] = None
            values = [v for v in by_group.values() if v is not None]
            hi, lo = max(values), min(values)
            metric["difference"] = round(hi - lo, 4)
            metric["ratio"] = round(lo / hi, 4) if hi > 0 else None
            overall = metric["overall"]
            metric["difference_to_overall"] = round(max(abs(v - overall) for v in values), 4)
            metric["ratio_to_overall"] = (
                round(min(min(v, overall) / max(v, overall) for v in values), 4)
                if overall > 0 and lo > 0
                else None
            )
        sr = feature["metrics"]["selection_rate"]
        tpr = feature["metrics"]["true_positive_rate"]
        fpr = feature["metrics"]["false_positive_rate"]
        feature["demographic_parity_difference"] = sr["difference"]
        feature["demographic_parity_ratio"] = sr["ratio"]
        feature["equalized_odds_difference"] = max(tpr["difference"], fpr["difference"])
        ratios = [r for r in (tpr["ratio"], fpr["ratio"]) if r is not None]
        feature["equalized_odds_ratio"] = min(ratios) if ratios else None
    fairness["rows"] = rows


def _perturb_explanations(rng: random.Random, explanations: dict[str, Any]) -> None:
    items = explanations["global_importance"]
    for item in items:
        item["mean_abs_shap"] = _jitter(rng, item["mean_abs_shap"], 0.5, 0.0, 10.0)
    if rng.random() < 0.15:  # a prohibited feature climbs into the top k
        rng.choice([i for i in items if i["feature"] in ("sex", "race")])["mean_abs_shap"] = round(
            rng.uniform(0.2, 0.5), 4
        )
    if rng.random() < 0.1:  # one feature dominates
        rng.choice(items)["mean_abs_shap"] = round(rng.uniform(2.0, 4.0), 4)
    total = sum(i["mean_abs_shap"] for i in items) or 1.0
    for item in items:
        item["share"] = round(item["mean_abs_shap"] / total, 4)
    items.sort(key=lambda i: -i["mean_abs_shap"])
    explanations["sample_size"] = rng.choice((200, 500, 1000, 2000))
    explanations["seed"] = rng.randint(0, 10_000)


def _perturb_data(rng: random.Random, data: dict[str, Any]) -> None:
    for profile in (data["evaluation"], data["reference"]):
        profile["rows"] = int(profile["rows"] * rng.uniform(0.2, 1.5))
        for column in profile["columns"].values():
            roll = rng.random()
            column["null_share"] = (
                round(rng.uniform(0.05, 0.3), 4)
                if roll < 0.04
                else round(rng.uniform(0.0, 0.02), 4)
                if roll < 0.3
                else 0.0
            )
    for drift in data["drift"].values():
        big = rng.random() < 0.05
        drift["psi"] = round(rng.uniform(0.2, 0.6), 4) if big else _jitter(rng, drift["psi"], 1.0)
        drift["p_value"] = _jitter(rng, drift["p_value"], 0.5)
        if drift["kind"] == "numeric":
            drift["ks_statistic"] = (
                round(rng.uniform(0.1, 0.3), 4) if big else _jitter(rng, drift["ks_statistic"], 1.0)
            )
        else:
            drift["chi2_statistic"] = _jitter(rng, drift["chi2_statistic"], 0.5, 0.0, 1e6)
            drift["js_distance"] = _jitter(rng, drift["js_distance"], 0.5)
    if rng.random() < 0.03:
        data["schema_violations"] = ["unexpected column 'zip'"]
    if rng.random() < 0.03:
        data["range_violations"] = {"age": rng.randint(1, 50)}


def generate_documents(base: dict[str, Any], count: int, seed: int, min_group: int) -> list[dict[str, Any]]:
    """``count`` schema-valid evidence documents, varied in numbers, stage and missing sections."""
    rng = random.Random(seed)
    docs = []
    for i in range(count):
        doc = copy.deepcopy(base)
        stage = rng.choice(STAGES)
        doc["stage"] = stage
        doc["missing"] = {}
        doc["model"]["version"] = str(rng.randint(1, 40))
        metrics = doc["run"]["metrics"]
        metrics["accuracy"] = _jitter(rng, metrics["accuracy"], 0.05)
        metrics["roc_auc"] = _jitter(rng, metrics["roc_auc"], 0.05)
        metrics["log_loss"] = _jitter(rng, metrics["log_loss"], 0.3, 0.0, 10.0)
        if rng.random() < 0.05:
            del metrics["roc_auc"]  # a metric with a threshold was not logged
        if rng.random() < 0.05:
            del doc["run"]["params"]["max_depth"]
        if rng.random() < 0.05:
            doc["run"]["git_commit"] = None
            del doc["run"]["tags"]["mlflow.source.git.commit"]
        champ = doc["champion"]["metrics"]
        for name in champ:
            champ[name] = _jitter(rng, champ[name], 0.05, 0.0, 10.0)
        _perturb_fairness(rng, doc["fairness"], min_group)
        _perturb_explanations(rng, doc["explanations"])
        _perturb_data(rng, doc["data"])
        if stage == "rollback" and rng.random() < 0.8:
            doc["live"] = {
                "metrics": {
                    "accuracy": round(rng.uniform(0.72, 0.9), 4),
                    "roc_auc": round(rng.uniform(0.8, 0.95), 4),
                },
                "source": "prometheus",
                "window": rng.choice(("7d", "14d", "30d")),
            }
        else:
            doc["live"] = None
            doc["missing"]["live"] = f"stage is {stage}; live metrics are read at rollback"
        for section in NULLABLE:
            if rng.random() < 0.06:
                doc[section] = None
                doc["missing"][section] = rng.choice(
                    (
                        f"{section}: MLflow was unreachable",
                        f"{section}: collector disabled",
                        f"{section}: no data configured",
                    )
                )
        doc["provenance"]["collected_at"] = (
            f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T10:05:{i % 60:02d}Z"
        )
        docs.append(doc)
    return docs


# --------------------------------------------------------------------------- measurement


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of an already sorted list (q in 0..100)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(samples_ns: list[int]) -> dict[str, float]:
    us = sorted(s / 1000 for s in samples_ns)
    return {
        "n": len(us),
        "mean": statistics.fmean(us),
        "p50": percentile(us, 50),
        "p95": percentile(us, 95),
        "p99": percentile(us, 99),
        "min": us[0],
        "max": us[-1],
    }


class Bare:
    """Bare regorus: the same modules and data, one query for every rule value."""

    def __init__(
        self, modules: list[tuple[str, str]], params: dict[str, Any], spec_data: dict[str, Any]
    ) -> None:
        self.engine = regorus.Engine()
        for path, text in modules:
            self.engine.add_policy(path, text)
        self.engine.add_data_json(json.dumps({"govern": {"params": params}}))
        self.spec_data = spec_data

    def input_for(self, raw: dict[str, Any]) -> dict[str, Any]:
        doc = dict(raw)
        doc["spec"] = self.spec_data  # stage is the evidence's own (decide(stage=None) does the same)
        return doc

    def evaluate(self, doc: dict[str, Any]) -> Any:
        self.engine.set_input_json(json.dumps(doc))
        return json.loads(self.engine.eval_query_as_json("data.govern"))


def run_rounds(
    checker: Checker, bare: Bare, raws: list[dict[str, Any]], validated: list[Any], rounds: int, seed: int
) -> tuple[dict[str, list[int]], list[dict[str, float]]]:
    clock = time.perf_counter_ns
    samples: dict[str, list[int]] = {"decide": [], "validate+decide": [], "bare": []}
    per_round: list[dict[str, float]] = []
    bare_inputs = [bare.input_for(r) for r in raws]  # built outside the clock, like a caller's own input

    def t_decide(i: int) -> int:
        t0 = clock()
        checker.decide(validated[i], None, TODAY)
        return clock() - t0

    def t_validate(i: int) -> int:
        t0 = clock()
        checker.decide(evidence_from_value(raws[i]), None, TODAY)
        return clock() - t0

    def t_bare(i: int) -> int:
        t0 = clock()
        bare.evaluate(bare_inputs[i])
        return clock() - t0

    modes = (("decide", t_decide), ("validate+decide", t_validate), ("bare", t_bare))
    rng = random.Random(seed + 1)
    for r in range(rounds):
        order = list(range(len(raws)))
        rng.shuffle(order)
        gc.collect()
        this_round: dict[str, list[int]] = {m: [] for m, _ in modes}
        for k, i in enumerate(order):
            for j in range(3):
                name, fn = modes[(k + j) % 3]
                this_round[name].append(fn(i))
        for name, values in this_round.items():
            samples[name].extend(values)
        means = {name: statistics.fmean(v) / 1000 for name, v in this_round.items()}
        per_round.append(means)
        print(
            f"  round {r + 1}/{rounds}: mean decide {means['decide']:.0f} µs, validate+decide "
            f"{means['validate+decide']:.0f} µs, bare {means['bare']:.0f} µs, "
            f"ratio {means['decide'] / means['bare']:.3f}x",
            flush=True,
        )
    return samples, per_round


# --------------------------------------------------------------------------- before / after


def reference_checker(
    spec: Any, params: dict[str, Any], *, bounded: bool = True, root: Path = REFERENCE
) -> Checker:
    """A Checker over the frozen reference library: today's packs as they were before."""
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
    return Checker(spec, make_policy_set(modules), create_backend("embedded", bounded=bounded), params)


def _interleaved(fns: dict[str, Any], count: int, seed: int) -> dict[str, float]:
    """Mean µs per call of each fn(i), i over range(count), the modes interleaved per i."""
    return {name: statistics.fmean(v) for name, v in _interleaved_samples(fns, count, seed).items()}


def _interleaved_samples(fns: dict[str, Any], count: int, seed: int) -> dict[str, list[float]]:
    """µs of each call of each fn(i), i over range(count), the modes interleaved per i."""
    clock = time.perf_counter_ns
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    order = list(range(count))
    random.Random(seed).shuffle(order)
    for k, i in enumerate(order):
        for j in range(len(names)):
            name = names[(k + j) % len(names)]
            t0 = clock()
            fns[name](i)
            samples[name].append((clock() - t0) / 1000)
    return samples


def with_many_metrics(base: dict[str, Any], count: int) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    rng = random.Random(count)
    doc["run"]["metrics"].update({f"extra_metric_{i:05d}": round(rng.random(), 6) for i in range(count)})
    return doc


def before_after(
    checker: Checker,
    spec: Any,
    base: dict[str, Any],
    raws: list[dict[str, Any]],
    validated: list[Any],
    rounds: int,
    seed: int,
) -> dict[str, float]:
    """Same run: decide now vs with the reference library, validation vs decide, 10k metrics.

    Both libraries are also timed in process (no evaluation worker): the worker exchange costs
    both the same absolute time (two process wake-ups per decision, long on a loaded machine),
    so the in-process ratio is the one the libraries and the decision path alone set; and in
    CPU time of the process (``[CPU]``), which waiting for a core on a shared machine leaves out. Medians
    are kept beside the means (``<mode> [p50]``): a decision preempted by another process is
    a whole scheduler tick longer, which moves a mean on a shared machine, not a median.
    """
    reference = reference_checker(spec, checker.params)
    inproc = Checker(
        checker.spec, checker.policy_set, create_backend("embedded", bounded=False), checker.params
    )
    reference_inproc = reference_checker(spec, checker.params, bounded=False)
    before_inproc = reference_checker(spec, checker.params, bounded=False, root=REFERENCE_45)
    big_raw = with_many_metrics(base, 10_000)
    big = evidence_from_value(big_raw, "<10k metrics>")
    example = evidence_from_value(base, "<example>")
    n = min(len(raws), 500)
    for i in range(min(n, 50)):
        reference.decide(validated[i], None, TODAY)
        inproc.decide(validated[i], None, TODAY)
        reference_inproc.decide(validated[i], None, TODAY)
        before_inproc.decide(validated[i], None, TODAY)
    fns = {
        "decide": lambda i: checker.decide(validated[i], None, TODAY),
        "decide (reference library)": lambda i: reference.decide(validated[i], None, TODAY),
        "decide, in process": lambda i: inproc.decide(validated[i], None, TODAY),
        "decide (reference library), in process": lambda i: reference_inproc.decide(
            validated[i], None, TODAY
        ),
        "decide (45 rules before the speed rewrite), in process": lambda i: before_inproc.decide(
            validated[i], None, TODAY
        ),
        "validate": lambda i: evidence_from_value(raws[i]),
        "schema check (jsonschema-rs)": lambda i: is_valid(raws[i], Schema.EVIDENCE, remember=False),
        "schema check (jsonschema, before)": lambda i: (
            not any(True for _ in _validator(Schema.EVIDENCE).iter_errors(raws[i]))
        ),
    }
    runs = [_interleaved_samples(fns, n, seed + r) for r in range(rounds)]
    out = {name: statistics.fmean(x for run in runs for x in run[name]) for name in fns}
    for name in (
        "decide",
        "decide (reference library)",
        "decide, in process",
        "decide (reference library), in process",
        "decide (45 rules before the speed rewrite), in process",
    ):
        out[f"{name} [p50]"] = statistics.median(x for run in runs for x in run[name])
    # CPU time of the process (no wait for the CPU, no preemption): the in-process checkers over
    # the same documents, one after the other, the best of a few passes.
    cpu = {
        "decide, in process": inproc,
        "decide (reference library), in process": reference_inproc,
        "decide (45 rules before the speed rewrite), in process": before_inproc,
    }
    for name, each in cpu.items():
        best = float("inf")
        for _ in range(max(3, rounds)):
            t0 = time.process_time_ns()
            for i in range(n):
                each.decide(validated[i], None, TODAY)
            best = min(best, (time.process_time_ns() - t0) / n / 1000)
        out[f"{name} [CPU]"] = best
    scale = {
        "decide (example)": lambda i: checker.decide(example, None, TODAY),
        "decide (10k metrics)": lambda i: checker.decide(big, None, TODAY),
        "decide (10k metrics, reference library)": lambda i: reference.decide(big, None, TODAY),
        "validate (10k metrics)": lambda i: evidence_from_value(big_raw),
    }
    scaled = _interleaved_samples(scale, 20, seed)
    out.update({name: statistics.fmean(v) for name, v in scaled.items()})
    for name in ("decide (example)", "decide (10k metrics)"):
        out[f"{name} [p50]"] = statistics.median(scaled[name])
    return out


def report_before_after(ba: dict[str, float]) -> dict[str, Any]:
    """Print the same-run ratios against their targets; return them (empty without a reference)."""
    if not ba:
        return {}
    vs_reference = ba["decide"] / ba["decide (reference library)"]
    vs_reference_p50 = ba["decide [p50]"] / ba["decide (reference library) [p50]"]
    inproc = ba["decide, in process"] / ba["decide (reference library), in process"]
    inproc_p50 = ba["decide, in process [p50]"] / ba["decide (reference library), in process [p50]"]
    scale_10k_p50 = ba["decide (10k metrics) [p50]"] / ba["decide (example) [p50]"]
    cpu_vs_reference = ba["decide, in process [CPU]"] / ba["decide (reference library), in process [CPU]"]
    cpu_vs_before = (
        ba["decide, in process [CPU]"] / ba["decide (45 rules before the speed rewrite), in process [CPU]"]
    )
    rewrite_p50 = (
        ba["decide, in process [p50]"] / ba["decide (45 rules before the speed rewrite), in process [p50]"]
    )
    validation_share = ba["validate"] / ba["decide"]
    schema_share = ba["schema check (jsonschema-rs)"] / ba["decide"]
    schema_before = ba["schema check (jsonschema, before)"] / ba["decide"]
    scale_10k = ba["decide (10k metrics)"] / ba["decide (example)"]
    scale_10k_ref = ba["decide (10k metrics, reference library)"] / ba["decide (example)"]
    print()
    print("before / after, same run (µs per call, mean unless [p50]; modes interleaved per document):")
    for name, value in ba.items():
        print(f"  {name:<44}{value:>10.0f}")

    def _verdict(value: float, target: float) -> str:
        return "within" if value <= target else "ABOVE"

    print(
        f"  decide now / decide with the reference library = {vs_reference:.3f}x "
        f"({_verdict(vs_reference, TARGET_VS_REFERENCE)} the {TARGET_VS_REFERENCE}x target); "
        f"medians {vs_reference_p50:.3f}x"
    )
    print(
        f"  the same in process (no evaluation worker) = {inproc:.3f}x, medians {inproc_p50:.3f}x "
        f"({_verdict(inproc_p50, TARGET_VS_REFERENCE)} the {TARGET_VS_REFERENCE}x target); the same 45 rules "
        f"as before the speed rewrite, in process: {rewrite_p50:.3f}x (medians)"
    )
    print(
        f"  CPU time in process (no waiting for a core): {cpu_vs_reference:.3f}x the reference library "
        f"({_verdict(cpu_vs_reference, TARGET_VS_REFERENCE)} the {TARGET_VS_REFERENCE}x target), "
        f"{cpu_vs_before:.3f}x the 45 rules before the speed rewrite"
    )
    print(
        f"  schema check / decide = {schema_share:.3f}x ({_verdict(schema_share, TARGET_VALIDATION)} the "
        f"{TARGET_VALIDATION}x target; {schema_before:.3f}x with jsonschema)"
    )
    print(
        f"  whole evidence_from_value (parse, number checks, schema) / decide = {validation_share:.3f}x ({_verdict(validation_share, TARGET_VALIDATION)} "
        f"the {TARGET_VALIDATION}x target)"
    )
    print(
        f"  decide at 10k metrics / on the example = {scale_10k:.2f}x ({_verdict(scale_10k, TARGET_10K)} the "
        f"{TARGET_10K}x target; {scale_10k_ref:.2f}x with the reference library); medians {scale_10k_p50:.2f}x"
    )

    return {
        "before_after_us": {k: round(v, 1) for k, v in ba.items()},
        "decide_vs_reference": round(vs_reference, 4),
        "decide_vs_reference_p50": round(vs_reference_p50, 4),
        "decide_vs_reference_in_process": round(inproc, 4),
        "decide_vs_reference_in_process_p50": round(inproc_p50, 4),
        "decide_10k_vs_example_p50": round(scale_10k_p50, 3),
        "decide_vs_before_rewrite_in_process_p50": round(rewrite_p50, 4),
        "decide_cpu_vs_reference_in_process": round(cpu_vs_reference, 4),
        "decide_cpu_vs_before_rewrite_in_process": round(cpu_vs_before, 4),
        "validation_vs_decide": round(validation_share, 4),
        "schema_check_vs_decide": round(schema_share, 4),
        "schema_check_vs_decide_jsonschema": round(schema_before, 4),
        "decide_10k_vs_example": round(scale_10k, 3),
        "decide_10k_vs_example_reference": round(scale_10k_ref, 3),
    }


# --------------------------------------------------------------------------- attribution


def components(
    checker: Checker, bare: Bare, raws: list[dict[str, Any]], validated: list[Any], repeat: int
) -> dict[str, float]:
    """Each step of Checker.decide timed on its own (no profiler), µs per decision.

    The whole decide and the bare evaluation are timed in the same loop, so the steps can be
    compared with both under the same machine load.
    """
    clock = time.perf_counter_ns
    packages = checker.policy_set.packages
    rules = checker.policy_set.rules
    totals: Counter[str] = Counter()
    n = min(repeat, len(validated))
    for ev, raw in zip(validated[:n], raws[:n], strict=True):
        bare_input = bare.input_for(raw)
        t0 = clock()
        checker.decide(ev, None, TODAY)
        t1 = clock()
        bare.evaluate(bare_input)
        t2 = clock()
        prepared = checker.prepare_input(ev, None)  # dict copy, digest, the input's JSON text
        t3 = clock()
        canonical_digest(prepared.value)
        t4 = clock()
        stage = Stage(prepared.value["stage"])
        values = checker.backend.evaluate_json(prepared.json, stage.value, packages, prepared.value)
        t5 = clock()
        results = rule_results(
            rules, values, stage, input_doc=prepared.value, params=checker.params, sources=checker.sources
        )
        results, _ = apply_waivers(results, checker.spec.waivers, stage, TODAY)
        t6 = clock()
        checker.backend.version()
        t7 = clock()
        totals["Checker.decide (whole)"] += t1 - t0
        totals["bare regorus (same documents)"] += t2 - t1
        totals["prepare_input (dict copy, digest, input JSON text)"] += t3 - t2
        totals["  (not in decide) canonical_digest of the input"] += t4 - t3
        totals["backend.evaluate_json (worker exchange, regorus, loads)"] += t5 - t4
        totals["rule_results + apply_waivers"] += t6 - t5
        totals["backend.version() (importlib.metadata.version)"] += t7 - t6
    out = {k: v / n / 1000 for k, v in totals.items()}
    steps = (
        "prepare_input (dict copy, digest, input JSON text)",
        "backend.evaluate_json (worker exchange, regorus, loads)",
        "rule_results + apply_waivers",
        "backend.version() (importlib.metadata.version)",
    )
    out["rest (Decision, uuid4, timestamp; ± noise)"] = out["Checker.decide (whole)"] - sum(
        out[k] for k in steps
    )
    return out


def profile_decide(
    checker: Checker, validated: list[Any], count: int
) -> tuple[list[tuple[str, int, float, float]], float, dict[str, float]]:
    profiler = cProfile.Profile()
    docs = validated[:count]
    profiler.enable()
    for ev in docs:
        checker.decide(ev, None, TODAY)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    engine_dir = str(ROOT / "engine")
    total = 0.0
    rows = []
    natives: dict[str, float] = {}
    for (filename, line, func), (_cc, nc, _tt, ct, _callers) in stats.items():
        if func.endswith("decide") and filename.startswith(engine_dir) and "check.py" in filename:
            total = ct
        if filename.startswith(engine_dir):
            rel = os.path.relpath(filename, ROOT)
            rows.append((f"{rel}:{line}({func})", nc, ct))
        elif filename == "~" and any(s in func for s in ("set_input_json", "eval_query_as_json")):
            natives[func] = natives.get(func, 0.0) + ct
    rows.sort(key=lambda r: -r[2])
    n = len(docs)
    top = [
        (name, nc // n if nc >= n else nc, ct / n * 1e6, 100 * ct / total if total else 0.0)
        for name, nc, ct in rows[:8]
    ]
    return top, total / n * 1e6, {k: v / n * 1e6 for k, v in natives.items()}


def profile_validation(
    raws: list[dict[str, Any]], count: int
) -> tuple[list[tuple[str, int, float, float]], float, float]:
    """Where evidence_from_value spends its time: govern.engine entries, and jsonschema's share."""
    profiler = cProfile.Profile()
    docs = raws[:count]
    profiler.enable()
    for raw in docs:
        evidence_from_value(raw)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    engine_dir = str(ROOT / "engine")
    n = len(docs)
    total = 0.0
    jsonschema_own = 0.0
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _c) in stats.items():
        if func == "evidence_from_value":
            total = ct
        if filename.startswith(engine_dir):
            rows.append((f"{os.path.relpath(filename, ROOT)}:{line}({func})", nc, ct))
        if "site-packages/jsonschema" in filename or "site-packages/referencing" in filename:
            jsonschema_own += tt
    rows.sort(key=lambda r: -r[2])
    top = [
        (name, nc // n if nc >= n else nc, ct / n * 1e6, 100 * ct / total if total else 0.0)
        for name, nc, ct in rows[:6]
    ]
    return top, total / n * 1e6, 100 * jsonschema_own / total if total else 0.0


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1000 documents, 1 round, smaller profile")
    parser.add_argument(
        "--docs", type=int, help="number of generated evidence documents (min 1000 by default)"
    )
    parser.add_argument("--rounds", type=int, help="timed passes over all documents")
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument(
        "--spec-packs",
        action="store_true",
        help="use only the packs the spec selects (default: the whole library)",
    )
    args = parser.parse_args()
    n_docs = args.docs or (1000 if args.quick else 1500)
    rounds = args.rounds or (1 if args.quick else 3)
    n_profile = 200 if args.quick else 400

    spec = load_spec(EXAMPLE / "spec.yaml")
    if not args.spec_packs:
        spec = dataclasses.replace(spec, packs=None)  # None = every built-in pack (live included)
    policy_set = load_policy_set(spec)
    checker = Checker.for_spec(spec, policy_set, create_backend("embedded"))
    bare = Bare([(m.path, m.text) for m in policy_set.modules], checker.params, spec.data)

    base = json.loads((EXAMPLE / "evidence.json").read_text(encoding="utf-8"))
    min_group = int(checker.params["fairness"]["min_group_size"])
    t0 = time.perf_counter()
    raws = generate_documents(base, n_docs, args.seed, min_group)
    validated = [evidence_from_value(r, f"<generated {i}>") for i, r in enumerate(raws)]
    gen_s = time.perf_counter() - t0

    # What the documents exercise (and a check that govern and bare see the same rule values).
    stages = Counter(r["stage"] for r in raws)
    nulls = Counter(s for r in raws for s in NULLABLE if r[s] is None)
    outcomes: Counter[str] = Counter()
    results: Counter[str] = Counter()
    mismatches = 0
    for raw, ev in zip(raws, validated, strict=True):
        decision = checker.decide(ev, None, TODAY)
        outcomes[decision.outcome.value] += 1
        results.update(r.result.value for r in decision.results)
        tree = bare.evaluate(bare.input_for(raw))["result"][0]["expressions"][0]["value"]
        govern_values = checker.backend.evaluate(checker.prepare_input(ev, None).value, policy_set.packages)
        for package, values in govern_values.items():
            # govern queries only the rule values; bare evaluates the whole package (helpers too)
            whole = tree.get(package.split(".", 1)[1]) or {}
            if {name: whole.get(name) for name in values} != values:
                mismatches += 1

    print(
        f"govern decision latency: {len(policy_set.rules)} rules in {len(policy_set.packages)} packages "
        f"({', '.join(p.split('.', 1)[1] for p in policy_set.packages)})"
    )
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; regorus "
        f"{checker.backend.version().split()[-1]}; as-of {TODAY}"
    )
    print(
        f"{n_docs} documents (seed {args.seed}) generated+validated in {gen_s:.1f} s; stages "
        f"{dict(sorted(stages.items()))}; null sections {dict(sorted(nulls.items()))}"
    )
    print(
        f"outcomes {dict(sorted(outcomes.items()))}; rule results {dict(sorted(results.items()))}; "
        f"govern/bare value mismatches: {mismatches}"
    )

    # Warm-up: every mode over a slice of the documents.
    for i in range(min(150, n_docs)):
        checker.decide(validated[i], None, TODAY)
        checker.decide(evidence_from_value(raws[i]), None, TODAY)
        bare.evaluate(bare.input_for(raws[i]))

    print(f"timing {rounds} round(s) x {n_docs} documents, modes interleaved per document:", flush=True)
    samples, per_round = run_rounds(checker, bare, raws, validated, rounds, args.seed)
    stats = {name: summarize(values) for name, values in samples.items()}
    b = stats["bare"]

    print()
    print(
        f"{'per decision (µs)':<18}{'mean':>9}{'p50':>9}{'p95':>9}{'p99':>9}{'x bare (mean)':>15}{'x bare (p50)':>14}"
    )
    for name in ("decide", "validate+decide", "bare"):
        s = stats[name]
        print(
            f"{name:<18}{s['mean']:>9.0f}{s['p50']:>9.0f}{s['p95']:>9.0f}{s['p99']:>9.0f}"
            f"{s['mean'] / b['mean']:>14.3f}x{s['p50'] / b['p50']:>13.3f}x"
        )
    ratio = stats["decide"]["mean"] / b["mean"]
    round_ratios = [r["decide"] / r["bare"] for r in per_round]
    verdict = "within" if ratio <= TARGET_RATIO else "ABOVE"
    print(
        f"govern decide / bare = {ratio:.3f}x (mean; per round {', '.join(f'{x:.3f}' for x in round_ratios)}) — "
        f"{verdict} the {TARGET_RATIO}x target; validation alone ≈ "
        f"{stats['validate+decide']['mean'] - stats['decide']['mean']:.0f} µs/document"
    )

    if REFERENCE.is_dir():
        ba = before_after(checker, spec, base, raws, validated, rounds, args.seed)
    else:
        print(f"\nno {REFERENCE} in this checkout: before / after skipped")
        ba = {}
    ratios = report_before_after(ba)

    comp = components(checker, bare, raws, validated, 200 if args.quick else 500)
    whole = comp["Checker.decide (whole)"]
    print()
    print("Checker.decide step by step, same documents, un-profiled (µs per decision, % of decide):")
    for name, value in comp.items():
        print(f"  {name:<56}{value:>8.0f}{100 * value / whole:>7.1f}%")

    top, decide_us, natives = profile_decide(checker, validated, n_profile)
    print()
    print(
        f"cProfile, {n_profile} decisions: top 8 cumulative in govern.engine (profiled decide = {decide_us:.0f} µs)"
    )
    print(f"  {'function':<52}{'calls/dec':>10}{'cum µs':>9}{'% decide':>10}")
    for name, calls, cum, share in top:
        print(f"  {name:<52}{calls:>10}{cum:>9.0f}{share:>9.1f}%")
    native_us = sum(natives.values())
    print(
        f"  regorus native calls (set_input_json + eval_query_as_json): {native_us:.0f} µs = "
        f"{100 * native_us / decide_us:.1f}% of profiled decide"
    )

    vtop, v_us, v_jsonschema = profile_validation(raws, n_profile)
    print()
    print(
        f"cProfile, {n_profile} validations: top 6 cumulative in govern.engine "
        f"(profiled evidence_from_value = {v_us:.0f} µs)"
    )
    for name, calls, cum, share in vtop:
        print(f"  {name:<52}{calls:>10}{cum:>9.0f}{share:>9.1f}%")
    print(f"  own time inside jsonschema/referencing: {v_jsonschema:.1f}% of profiled validation")

    result = {
        "bench": "decision_latency",
        "docs": n_docs,
        "rounds": rounds,
        "seed": args.seed,
        "rules": len(policy_set.rules),
        "packages": len(policy_set.packages),
        "unit": "us",
        "decide": {k: round(v, 1) for k, v in stats["decide"].items()},
        "validate_decide": {k: round(v, 1) for k, v in stats["validate+decide"].items()},
        "bare": {k: round(v, 1) for k, v in stats["bare"].items()},
        "ratio_mean": round(ratio, 4),
        "ratio_p50": round(stats["decide"]["p50"] / b["p50"], 4),
        "ratio_per_round": [round(x, 4) for x in round_ratios],
        "target_ratio": TARGET_RATIO,
        "within_target": ratio <= TARGET_RATIO,
        "components_us": {k.strip(): round(v, 1) for k, v in comp.items()},
        "validation_jsonschema_share_pct": round(v_jsonschema, 1),
        "outcomes": dict(outcomes),
        "value_mismatches": mismatches,
        **ratios,
    }
    print("RESULT " + json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
