"""HTML: one self-contained page (inline CSS, inline SVG charts, no script, no external file).

Rendered from the same view-model as the Markdown card (:mod:`.view`) through
``templates/card.html.j2``, with autoescaping on. A Content-Security-Policy forbids scripts and
any fetch, so a hostile string that slipped past escaping still could not run. The print
stylesheet lays the card out on A4 without the navigation, keeps tables and charts whole, and
prints colours. A chart's colours follow the decision: a bar is red only when a rule reported on
that value, blue when the rule reporting on it passed, grey when no rule did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from .model import FeatureAnalysis, Importance, Metrics, ModelCard, Status, Verdict
from .svg import Bar, Reference, Tone, bar_chart
from .view import SECTIONS, card_view, html_environment, number

__all__ = ["CSP", "SECTIONS", "render"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_SHORT = {
    "demographic_parity_difference": "parity difference",
    "demographic_parity_ratio": "parity ratio",
    "equalized_odds_difference": "equalized odds diff.",
    "equalized_odds_ratio": "equalized odds ratio",
}
_REPORTED = (("not-met", "a rule reported on it"), ("neutral", "no finding"))


@dataclass(frozen=True)
class Chart:
    caption: str
    detail: str
    svg: Markup  # built by :func:`~.svg.bar_chart`, which escapes every text
    legend: tuple[tuple[str, str], ...]


def _tone(status: Status) -> Tone:
    if status is Status.PASS:
        return Tone.MET
    if status in (Status.NO_FINDING, Status.SKIP):
        return Tone.NEUTRAL
    return Tone.NOT_MET


def _threshold(verdicts: Sequence[Verdict]) -> float | None:
    """The threshold a violation object carries, when one does."""
    return next((v.threshold for v in verdicts if v.threshold is not None), None)


def _metrics_chart(metrics: Metrics) -> Chart | None:
    rows = [r for r in metrics.rows if r.value is not None and 0 <= r.value <= 1]
    if not rows:
        return None
    bars = [Bar(r.name, r.value, _tone(r.status), threshold=_threshold(r.verdicts)) for r in rows]
    return Chart(
        "Performance metrics",
        "each bar is the run's metric; a tick is the threshold a rule reported",
        Markup(bar_chart(bars, chart_id="chart-metrics", title="Performance metrics")),
        (*_REPORTED, ("tick", "threshold")),
    )


def _feature_charts(f: FeatureAnalysis, index: int) -> list[Chart]:
    charts = []
    shown = [s for s in f.summaries if s.value is not None]
    if shown:
        bars = [
            Bar(
                _SHORT.get(s.metric, s.metric.replace("_", " ")),
                s.value,
                _tone(s.status),
                threshold=_threshold(s.verdicts),
                text=number(s.value) + (f" · {s.status.value}" if s.verdicts else ""),
            )
            for s in shown
        ]
        charts.append(
            Chart(
                f"{f.feature}: group fairness",
                "a bar a rule reported on is red, with the threshold it named as a tick",
                Markup(
                    bar_chart(bars, chart_id=f"chart-fair-{index}", title=f"Group fairness for {f.feature}")
                ),
                (*_REPORTED, ("tick", "threshold")),
            )
        )
    rate = next((m for m in f.metrics if m.metric == "selection_rate"), None)
    if rate is not None:
        bars = [Bar(v.group, v.value, Tone.NEUTRAL, text=number(v.value)) for v in rate.by_group]
        reference = (
            Reference(rate.overall, f"overall {number(rate.overall)}") if rate.overall is not None else None
        )
        charts.append(
            Chart(
                f"{f.feature}: selection rate by group",
                "demographic parity compares these rates",
                Markup(
                    bar_chart(
                        bars,
                        chart_id=f"chart-rate-{index}",
                        title=f"Selection rate by group of {f.feature}",
                        reference=reference,
                    )
                ),
                (("neutral", "selection rate"), ("ref", "overall rate")),
            )
        )
    return charts


def _shap_chart(imp: Importance) -> Chart | None:
    if imp.missing is not None or not imp.features:
        return None
    bars = [
        Bar(f.feature, f.share, Tone.FLAG if f.prohibited and not f.verdicts else _tone(f.status))
        for f in imp.features
    ]
    return Chart(
        "Global feature importance",
        f"{imp.method} explainer over {imp.sample_size:,} rows; share of the mean |SHAP| value",
        Markup(
            bar_chart(bars, chart_id="chart-shap", title="Global SHAP importance by feature", percent=True)
        ),
        (*_REPORTED, ("flag", "sensitive or prohibited feature")),
    )


def render(card: ModelCard) -> str:
    q = card.quantitative_analyses
    charts = {
        "metrics": _metrics_chart(card.metrics),
        "features": [_feature_charts(f, i) for i, f in enumerate(q.features)],
        "shap": _shap_chart(q.importance),
    }
    template = html_environment().get_template("card.html.j2")
    return template.render(view=card_view(card), charts=charts, csp=CSP)
