"""A real Prometheus (Debian's `prometheus`) scraping a small exporter, for the live-evidence tests."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRAPE_SECONDS = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


@dataclass
class Exporter:
    """What a serving team exposes: a model version's live AUC, error rate and labelled samples."""

    port: int
    registry: Any
    auc: Any
    error_rate: Any
    labelled: Any

    def serve(self, model: str, version: str, *, auc: float, error_rate: float, labelled: float) -> None:
        self.auc.labels(model=model, version=version).set(auc)
        self.error_rate.labels(model=model, version=version).set(error_rate)
        self.labelled.labels(model=model, version=version).set(labelled)


@contextmanager
def exporter() -> Iterator[Exporter]:
    from prometheus_client import CollectorRegistry, Gauge, start_http_server

    registry = CollectorRegistry()
    labels = ["model", "version"]
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield Exporter(
            port=port,
            registry=registry,
            auc=Gauge("model_live_auc", "Live AUC on labelled outcomes", labels, registry=registry),
            error_rate=Gauge(
                "model_live_error_rate", "Share of failed predictions", labels, registry=registry
            ),
            labelled=Gauge(
                "model_live_labelled", "Labelled outcomes in the window", labels, registry=registry
            ),
        )
    finally:
        server.shutdown()
        thread.join(timeout=5)


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]

    def query(self, promql: str) -> list[Any]:
        data = urllib.parse.urlencode({"query": promql}).encode()
        with urllib.request.urlopen(f"{self.url}/api/v1/query", data=data, timeout=5) as response:
            return list(json.load(response)["data"]["result"])

    def wait_for(self, promql: str, check: Any = None, timeout: float = 30.0) -> list[Any]:
        """Poll until ``promql`` returns series (for which ``check`` holds, when given)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(promql)
            if result and (check is None or check(result)):
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"Prometheus never answered {promql!r} as expected: {result}")
            time.sleep(0.2)


@contextmanager
def prometheus(tmp: Path, target_port: int) -> Iterator[Prometheus]:
    binary = prometheus_binary()
    assert binary, "prometheus is not installed (apt-get install -y prometheus)"
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "prometheus.yml"
    config.write_text(
        f"global: {{scrape_interval: {SCRAPE_SECONDS}s, evaluation_interval: {SCRAPE_SECONDS}s}}\n"
        "scrape_configs:\n"
        "  - job_name: model\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
    )
    port = free_port()
    log = (tmp / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (tmp / "prometheus.log").read_text()[-2000:]
                raise RuntimeError(f"prometheus did not start: {tail}")
            time.sleep(0.2)
        yield Prometheus(url=url, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
