"""Decisions per second on the built-in library: embedded regorus vs an OPA server over loopback.

Run:  python bench/opa_throughput.py [--quick] [--docs N] [--concurrency C] [--opa-url URL] [--seed S]

Generates N evidence documents (default 600, --quick 200) from examples/adult-income/evidence.json
by perturbing metrics, fairness and data values with a seeded random.Random, prepares each as the
Rego input once, then, in the same process and over the same documents:

  embedded  decide     Checker.decide with the embedded backend (regorus, in process)
  opa-sync  decide     Checker.decide with the opa backend (OpaClient: requests, keep-alive)
  embedded  evaluate   backend.evaluate only (the Rego part of a decision)
  opa-sync  evaluate   backend.evaluate only: one POST /v1/data/govern per document
  opa-async evaluate   AsyncOpaClient.query_rule (aiohttp), C requests in flight (default 8),
                       and with 1 in flight for reference

The OPA server is the one at --opa-url, else a fresh `opa run --server` on a free loopback port
from tools/opa/build.sh (stopped at the end). Every OPA result is checked against the embedded
one (same rule values for every document), so the figures are for identical decisions.

Prints a table and, last, one line ``RESULT {json}``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["RUST_LIB_BACKTRACE"] = "0"

from opa_client import AsyncOpaClient

from govern.engine.backends import Backend, create_backend
from govern.engine.backends.opa import parse_opa_url
from govern.engine.check import Checker
from govern.engine.evidence import EvidenceDocument, evidence_from_value
from govern.engine.policyset import load_policy_set
from govern.engine.spec import Stage, load_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "adult-income"
TODAY = dt.date(2026, 11, 27)
STAGES = (Stage.REGISTER, Stage.DEPLOY, Stage.DEPLOY)


def _jitter(rng: random.Random, value: float, spread: float = 0.08) -> float:
    return round(min(1.0, max(0.0, value * rng.uniform(1 - spread, 1 + spread))), 4)


def make_documents(n: int, seed: int) -> list[tuple[dict[str, Any], Stage]]:
    rng = random.Random(seed)
    base = json.loads((EXAMPLE / "evidence.json").read_text())
    docs = []
    for i in range(n):
        ev = copy.deepcopy(base)
        for name in ev["run"]["metrics"]:
            ev["run"]["metrics"][name] = _jitter(rng, ev["run"]["metrics"][name], 0.04)
        ev["champion"]["metrics"]["accuracy"] = _jitter(rng, ev["champion"]["metrics"]["accuracy"], 0.03)
        for feature in ev["fairness"]["features"].values():
            for key in (
                "demographic_parity_difference",
                "demographic_parity_ratio",
                "equalized_odds_difference",
            ):
                feature[key] = _jitter(rng, feature[key], 0.5)
            for group in feature["metrics"]["accuracy"]["by_group"]:
                feature["metrics"]["accuracy"]["by_group"][group] = _jitter(
                    rng, feature["metrics"]["accuracy"]["by_group"][group], 0.15
                )
        for stats in ev["data"]["drift"].values():
            stats["psi"] = round(rng.uniform(0, 0.3), 4)
        if rng.random() < 0.1:
            ev["explanations"] = None
            ev["missing"]["explanations"] = "SHAP failed"
        docs.append((ev, STAGES[i % len(STAGES)]))
    return docs


# --------------------------------------------------------------------------- the OPA server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_opa() -> tuple[str, subprocess.Popen[bytes]]:
    binary = (
        os.environ.get("GOVERN_OPA_BIN")
        or subprocess.run(
            ["bash", str(ROOT / "tools" / "opa" / "build.sh")], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "run",
            "--server",
            "--addr",
            f"127.0.0.1:{port}",
            "--log-level",
            "error",
            "--skip-version-check",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return url, process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("opa run did not become healthy")


# --------------------------------------------------------------------------- timing


def timed(per_item: Callable[[int], Any], n: int) -> tuple[float, list[float]]:
    """(wall seconds, per-item seconds) for per_item(0..n-1), one after another."""
    times = []
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        per_item(i)
        times.append(time.perf_counter() - t0)
    return time.perf_counter() - started, times


def row(label: str, n: int, runs: list[tuple[float, list[float]]]) -> dict[str, Any]:
    """Throughput: the median over rounds; latency percentiles: over every sample."""
    times = sorted(t for _, ts in runs for t in ts)
    return {
        "mode": label,
        "docs": n,
        "rounds": len(runs),
        "per_second": round(statistics.median(n / total for total, _ in runs), 1),
        "p50_ms": round(statistics.median(times) * 1000, 3),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1000, 3),
    }


async def async_run(
    url: str, inputs: list[dict[str, Any]], concurrency: int, results: list[Any]
) -> tuple[float, list[float]]:
    """AsyncOpaClient, ``concurrency`` queries in flight; fills ``results`` with data.govern."""
    endpoint = parse_opa_url(url)
    times: list[float] = [0.0] * len(inputs)
    gate = asyncio.Semaphore(concurrency)
    async with AsyncOpaClient(
        host=endpoint.host, port=endpoint.port, version=endpoint.version, timeout=10.0
    ) as client:

        async def one(i: int) -> None:
            async with gate:
                t0 = time.perf_counter()
                body = await client.query_rule(
                    inputs[i], "govern", query_params={"strict-builtin-errors": "true"}
                )
                times[i] = time.perf_counter() - t0
                results[i] = body.get("result")

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(len(inputs))))
        return time.perf_counter() - started, times


def packages_of(tree: Any, packages: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for package in packages:
        node = tree
        for part in package.split(".")[1:]:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        out[package] = node
    return out


def measure(
    url: str, n: int, seed: int, concurrency: int, rounds: int
) -> tuple[list[dict[str, Any]], int, str]:
    """(rows, disagreements, OPA version): every mode over the same n documents, ``rounds`` times."""
    spec = load_spec(EXAMPLE / "spec.yaml")
    policy_set = load_policy_set(spec)
    raw = make_documents(n, seed)
    documents: list[EvidenceDocument] = [evidence_from_value(ev) for ev, _ in raw]
    stages = [stage for _, stage in raw]
    backends: dict[str, Backend] = {
        "embedded": create_backend("embedded"),
        "opa-sync": create_backend("opa", url),
    }
    try:
        checkers = {name: Checker.for_spec(spec, policy_set, b) for name, b in backends.items()}
        packages = policy_set.packages
        inputs = [
            checkers["embedded"].prepare_input(d, s).value for d, s in zip(documents, stages, strict=True)
        ]
        for checker in checkers.values():  # warm up: connections, prepared queries
            for i in range(min(20, n)):
                checker.decide(documents[i], stages[i], TODAY)
        values: dict[str, list[Any]] = {name: [None] * n for name in (*backends, "async")}
        modes: dict[str, Callable[[], tuple[float, list[float]]]] = {}
        for name, checker in checkers.items():
            modes[f"{name} decide"] = lambda c=checker: timed(
                lambda i: c.decide(documents[i], stages[i], TODAY), n
            )
        for name, backend in backends.items():

            def evaluate(i: int, backend: Backend = backend, name: str = name) -> None:
                values[name][i] = backend.evaluate(inputs[i], packages)

            modes[f"{name} evaluate"] = lambda f=evaluate: timed(f, n)
        for c in sorted({1, concurrency}):
            modes[f"opa-async evaluate x{c}"] = lambda c=c: asyncio.run(
                async_run(url, inputs, c, values["async"])
            )
        samples: dict[str, list[tuple[float, list[float]]]] = {mode: [] for mode in modes}
        order = list(modes)
        for r in range(rounds):  # rotate the order so drifting machine load hits every mode alike
            for mode in order[r % len(order) :] + order[: r % len(order)]:
                samples[mode].append(modes[mode]())
        rows = [row(mode, n, runs) for mode, runs in samples.items()]
        disagreements = sum(1 for i in range(n) if values["opa-sync"][i] != values["embedded"][i])
        disagreements += sum(
            1 for i in range(n) if packages_of(values["async"][i], packages) != values["embedded"][i]
        )
        return rows, disagreements, backends["opa-sync"].version()
    finally:
        for backend in backends.values():
            backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--docs", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--opa-url", default=os.environ.get("GOVERN_OPA_URL"))
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args()
    n = args.docs or (200 if args.quick else 600)
    rounds = args.rounds or (1 if args.quick else 3)

    process = None
    url = args.opa_url
    if not url:
        url, process = start_opa()
    try:
        rows, disagreements, server = measure(url, n, args.seed, args.concurrency, rounds)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)

    by_mode = {r["mode"]: r for r in rows}
    width = max(len(r["mode"]) for r in rows)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"govern OPA throughput  {n} documents x {rounds} rounds  {os.cpu_count()} CPUs  "
        f"load {load:.1f}  python {platform.python_version()}  {server}"
    )
    print(f"{'mode':<{width}}  {'decisions/s':>11}  {'p50 ms':>8}  {'p99 ms':>8}")
    for r in rows:
        print(f"{r['mode']:<{width}}  {r['per_second']:>11.1f}  {r['p50_ms']:>8.3f}  {r['p99_ms']:>8.3f}")
    same = "yes" if disagreements == 0 else f"NO ({disagreements} differ)"
    print(f"OPA rule values identical to embedded for every document: {same}")
    result = {
        "docs": n,
        "rounds": rounds,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "load": round(load, 2),
        "opa_server": server,
        "rows": rows,
        "disagreements": disagreements,
        "embedded_decide_per_s": by_mode["embedded decide"]["per_second"],
        "opa_sync_decide_per_s": by_mode["opa-sync decide"]["per_second"],
        "opa_async_evaluate_per_s": by_mode[f"opa-async evaluate x{args.concurrency}"]["per_second"],
    }
    print("RESULT " + json.dumps(result, separators=(",", ":")))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
