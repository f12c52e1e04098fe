"""Prometheus query cost of one rollback decision, against a real Prometheus.

Run:  python bench/live_prometheus.py [--repeat N]

Starts a `prometheus_client` exporter and Debian's `prometheus` on loopback (scraping every
second), then reads the live section of examples/live-rollback/spec.yaml (one sample-count
query, an instant AUC query and a windowed error-rate query over /api/v1/query_range) N times
and prints, per decision: queries sent, wall time of the HTTP round trips (median, p95), and
the same with too few samples (the metric queries are then not sent). Last line: ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from govern.engine.evidence.prometheus import (  # noqa: E402
    PrometheusClient,
    prometheus_live_section,
    settings_from_spec,
)
from govern.engine.spec import load_spec  # noqa: E402
from tests.prometheus_helpers import exporter, prometheus  # noqa: E402


def measure(spec_path: Path, url: str, version: str, repeat: int) -> dict[str, float]:
    text = spec_path.read_text().replace("http://127.0.0.1:9090", url)
    tmp = spec_path.parent / ".bench-spec.yaml"
    tmp.write_text(text)
    try:
        spec = load_spec(tmp)
    finally:
        tmp.unlink()
    settings = settings_from_spec(spec)
    assert settings is not None
    times: list[float] = []
    queries = 0
    for _ in range(repeat):
        client = PrometheusClient(settings.url, settings.timeout)
        started = time.perf_counter()
        prometheus_live_section(spec, settings, {"model": "live-demo", "version": version}, client)
        times.append((time.perf_counter() - started) * 1000)
        queries = client.queries
    times.sort()
    return {
        "queries": queries,
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    spec = ROOT / "examples" / "live-rollback" / "spec.yaml"
    with (
        exporter() as exp,
        prometheus(Path("/tmp") / f"govern-bench-prom-{time.time_ns()}", exp.port) as prom,
    ):
        exp.serve("live-demo", "2", auc=0.9, error_rate=0.002, labelled=2000)
        prom.wait_for('model_live_labelled{version="2"}')
        time.sleep(6)  # a few scrapes inside the window, so query_range has points
        judged = measure(spec, prom.url, "2", args.repeat)
        short = measure(spec, prom.url, "9", args.repeat)  # no traffic: 0 samples, metrics not queried
    for label, row in (("judged decision", judged), ("too few samples", short)):
        print(f"{label:<17} {row['queries']} queries, median {row['median_ms']} ms, p95 {row['p95_ms']} ms")
    print("RESULT " + json.dumps({"judged": judged, "too_few_samples": short, "repeat": args.repeat}))


if __name__ == "__main__":
    main()
