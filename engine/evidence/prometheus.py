"""The Prometheus collector: live metrics read with PromQL through Prometheus' HTTP API.

The spec names one PromQL query per live metric (``requirements.live.<name>.query``) and,
under ``monitoring``, the server, a window and a minimum sample count (itself a query)::

    monitoring:
      prometheus: {url: "http://prometheus:9090", timeout: 5}
      window: 10m
      min_samples: {query: 'sum(increase(labelled_total{version="$version"}[$window]))', min: 500}

Queries are templates: ``$model`` and ``$version`` are the judged version's labels
(escaped for a PromQL string), ``$window`` the window. A metric is read with an instant query
(``/api/v1/query``) by default, or over the whole window with ``/api/v1/query_range`` when its
``aggregate`` is ``min``, ``max`` or ``mean``. Every query is evaluated at one instant, and the
evidence records each query, its endpoint, the value, the window and the sample count.

The sample count is read first: below the minimum, the metric queries are not run at all and the
section says so (``judged: false``); the live rules then skip with that reason rather than roll
back on too little data.

Faults: an unreachable server, a query error, an empty result or a NaN/infinite sample is a
:class:`~govern.engine.errors.CollectionError` (exit 3, no decision) naming the query; a query
that returns several series is a :class:`~govern.engine.errors.ConfigError` (exit 2) naming
their labels. Nothing here decides: values go into the evidence, policies judge them.
"""

from __future__ import annotations

import json
import math
import re
import string
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import CollectionError, ConfigError
from ..spec import ModelSpec

__all__ = [
    "LiveQuery",
    "PrometheusClient",
    "PrometheusSettings",
    "Sample",
    "parse_duration",
    "prometheus_live_section",
    "settings_from_spec",
]

_DURATION_RE = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_AGGREGATES = ("instant", "min", "max", "mean")

#: ``opener(request, timeout)``: how a request is sent (urllib's, unless a test injects a fault).
Opener = Callable[..., Any]


def parse_duration(text: str) -> float:
    """A Prometheus duration (``90s``, ``10m``, ``1h30m``) in seconds."""
    pos = 0
    total = 0.0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text or total <= 0:
        raise ConfigError(f"{text!r} is not a Prometheus duration such as 90s, 10m or 1h30m")
    return total


@dataclass(frozen=True)
class LiveQuery:
    """One live metric and the PromQL that reads it."""

    name: str
    template: str
    aggregate: str = "instant"


@dataclass(frozen=True)
class PrometheusSettings:
    url: str
    timeout: float
    window: str
    step: str | None
    metrics: tuple[LiveQuery, ...]
    min_samples_query: str | None = None
    min_samples: float | None = None


def settings_from_spec(spec: ModelSpec) -> PrometheusSettings | None:
    """The spec's Prometheus settings, or None when it reads live metrics elsewhere."""
    monitoring = spec.monitoring or {}
    prometheus = monitoring.get("prometheus")
    if not prometheus:
        return None
    live = spec.requirements.live or {}
    metrics = tuple(
        LiveQuery(name=name, template=str(bound["query"]), aggregate=str(bound.get("aggregate", "instant")))
        for name, bound in sorted(live.items())
        if isinstance(bound, dict) and bound.get("query")
    )
    for query in metrics:
        if query.aggregate not in _AGGREGATES:  # the schema already says so; be sure
            raise ConfigError(f"requirements.live.{query.name}.aggregate must be one of {_AGGREGATES}")
    window = str(monitoring.get("window", "5m"))
    parse_duration(window)
    step = monitoring.get("step")
    if step is not None:
        parse_duration(str(step))
    samples = monitoring.get("min_samples") or {}
    return PrometheusSettings(
        url=str(prometheus["url"]).rstrip("/"),
        timeout=float(prometheus.get("timeout", 5)),
        window=window,
        step=str(step) if step is not None else None,
        metrics=metrics,
        min_samples_query=samples.get("query"),
        min_samples=samples.get("min"),
    )


@dataclass(frozen=True)
class Sample:
    """The one value a query returned (an instant value, or a window's aggregate)."""

    value: float
    labels: Mapping[str, str]
    points: int  # 1 for an instant query, the number of steps for a range query


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_query(template: str, variables: Mapping[str, str], field: str) -> str:
    """Fill ``$model``, ``$version`` (escaped) and ``$window`` into a query."""
    values = {k: (v if k == "window" else _escape(v)) for k, v in variables.items()}
    try:
        return string.Template(template).substitute(values)
    except KeyError as exc:
        raise ConfigError(
            f"{field}: unknown template variable ${exc.args[0]}",
            hint="queries may use $model, $version and $window",
        ) from None
    except ValueError as exc:
        raise ConfigError(f"{field}: {exc}", hint="write a literal $ as $$") from None


def _labels(series: Mapping[str, Any]) -> str:
    metric = series.get("metric") or {}
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items()))
    return "{" + inner + "}"


class PrometheusClient:
    """A small client for ``/api/v1/query`` and ``/api/v1/query_range``, counting its queries."""

    def __init__(self, url: str, timeout: float = 5.0, opener: Opener | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._open: Opener = opener or urllib.request.urlopen
        self.queries = 0
        self.seconds = 0.0

    def _call(self, endpoint: str, form: dict[str, str], query: str) -> dict[str, Any]:
        data = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v1/{endpoint}",
            data=data,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
        started = time.perf_counter()
        self.queries += 1
        try:
            with self._open(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            body = exc.read()
            detail = _error_detail(body) or f"HTTP {exc.code}"
            raise CollectionError(f"Prometheus rejected the query {query!r}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CollectionError(
                f"Prometheus at {self.url} could not be reached for the query {query!r}: {reason}"
            ) from None
        finally:
            self.seconds += time.perf_counter() - started
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CollectionError(
                f"Prometheus answered the query {query!r} with something not JSON"
            ) from None
        if not isinstance(payload, dict) or payload.get("status") != "success":
            detail = _error_detail(body) or "no status"
            raise CollectionError(f"Prometheus failed the query {query!r}: {detail}")
        result = payload.get("data")
        if not isinstance(result, dict):
            raise CollectionError(f"Prometheus answered the query {query!r} without data")
        return result

    def instant(self, query: str, at: float) -> Sample:
        data = self._call("query", {"query": query, "time": f"{at:.3f}"}, query)
        kind = data.get("resultType")
        result = data.get("result")
        if kind == "scalar" and isinstance(result, list) and len(result) == 2:
            return Sample(_number(result[1], query), {}, 1)
        if kind not in ("vector", "matrix"):
            raise CollectionError(f"the query {query!r} returned a {kind}, not a number")
        if kind == "matrix":
            raise ConfigError(
                f"the query {query!r} returns a range vector; aggregate it to one value "
                "(e.g. avg_over_time(...)) or set aggregate: min, max or mean"
            )
        series = _one_series(result, query)
        value = series.get("value")
        if not isinstance(value, list) or len(value) != 2:
            raise CollectionError(f"Prometheus answered the query {query!r} with a malformed sample")
        return Sample(_number(value[1], query), dict(series.get("metric") or {}), 1)

    def range(self, query: str, start: float, end: float, step: float, aggregate: str) -> Sample:
        form = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = self._call("query_range", form, query)
        series = _one_series(data.get("result"), query)
        points = series.get("values")
        if not isinstance(points, list) or not points:
            raise CollectionError(f"the query {query!r} returned no samples over the window")
        values = [_number(p[1], query) for p in points]
        if aggregate == "min":
            value = min(values)
        elif aggregate == "max":
            value = max(values)
        else:
            value = math.fsum(values) / len(values)
        return Sample(value, dict(series.get("metric") or {}), len(values))


def _error_detail(body: bytes) -> str | None:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(payload, dict) and payload.get("error"):
        return f"{payload.get('errorType', 'error')}: {payload['error']}"
    return None


def _one_series(result: Any, query: str) -> dict[str, Any]:
    if not isinstance(result, list):
        raise CollectionError(f"Prometheus answered the query {query!r} with a malformed result")
    if not result:
        raise CollectionError(
            f"the query {query!r} returned no series: no data for this version in Prometheus yet"
        )
    if len(result) > 1:
        shown = ", ".join(_labels(s) for s in result[:5])
        more = f" and {len(result) - 5} more" if len(result) > 5 else ""
        raise ConfigError(
            f"the query {query!r} returned {len(result)} series ({shown}{more}); it must return one",
            hint="select one series with label matchers, or aggregate (sum, avg, ...)",
        )
    series = result[0]
    if not isinstance(series, dict):
        raise CollectionError(f"Prometheus answered the query {query!r} with a malformed series")
    return series


def _number(raw: Any, query: str) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise CollectionError(f"the query {query!r} returned {raw!r}, not a number") from None
    if not math.isfinite(value):
        raise CollectionError(f"the query {query!r} returned {raw}: no usable value (NaN or infinite)")
    return value


def prometheus_live_section(
    spec: ModelSpec,
    settings: PrometheusSettings,
    variables: Mapping[str, str],
    client: PrometheusClient,
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """The ``live`` section for one model version, read from Prometheus at one instant."""
    at = time.time() if now is None else now
    window_s = parse_duration(settings.window)
    step_s = parse_duration(settings.step) if settings.step else max(window_s / 10, 1.0)
    filled = {**variables, "window": settings.window}
    records: list[dict[str, Any]] = []
    samples: float | None = None
    if settings.min_samples_query:
        query = render_query(settings.min_samples_query, filled, "monitoring.min_samples.query")
        sample = client.instant(query, at)
        samples = sample.value
        records.append(
            {"name": "samples", "query": query, "endpoint": "query", "value": sample.value, "points": 1}
        )
    judged = not (samples is not None and settings.min_samples is not None and samples < settings.min_samples)
    metrics: dict[str, float] = {}
    if judged:
        for item in settings.metrics:
            field = f"requirements.live.{item.name}.query"
            query = render_query(item.template, filled, field)
            if item.aggregate == "instant":
                sample = client.instant(query, at)
                endpoint = "query"
            else:
                sample = client.range(query, at - window_s, at, step_s, item.aggregate)
                endpoint = "query_range"
            metrics[item.name] = sample.value
            records.append(
                {
                    "name": item.name,
                    "query": query,
                    "endpoint": endpoint,
                    "aggregate": item.aggregate,
                    "value": sample.value,
                    "points": sample.points,
                }
            )
    return {
        "metrics": metrics,
        "source": f"prometheus {settings.url}",
        "window": settings.window,
        "samples": samples,
        "min_samples": settings.min_samples,
        "judged": judged,
        "at": dt_iso(at),
        "queries": records,
    }


def dt_iso(epoch: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
