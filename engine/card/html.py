"""HTML: one self-contained page (inline CSS, inline SVG charts, no script, no external file).

A Content-Security-Policy forbids scripts and any fetch, so a hostile string that slipped past
escaping still could not run; every piece of user text goes through :func:`html.escape` all the
same. The print stylesheet lays the card out on A4 without the navigation, keeps tables and
charts whole, and prints colours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from .model import (
    Bound,
    DataSection,
    FactorGroups,
    FeatureAnalysis,
    Governance,
    Importance,
    MetricRow,
    ModelCard,
    Note,
    Status,
)
from .svg import Bar, Reference, Tone, bar_chart

__all__ = ["SECTIONS", "render"]

#: (anchor, heading) of every section, in order: the card always has all of them.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("model-details", "Model details"),
    ("intended-use", "Intended use"),
    ("factors", "Factors"),
    ("metrics", "Metrics"),
    ("training-data", "Training data"),
    ("evaluation-data", "Evaluation data"),
    ("quantitative-analyses", "Quantitative analyses"),
    ("ethical-considerations", "Ethical considerations"),
    ("caveats", "Caveats and recommendations"),
    ("governance", "Governance"),
)

_CSS = """
:root{--ink:#1f2933;--muted:#616e7c;--line:#dde3ea;--soft:#f5f7fa;--accent:#1d3f6e;
--pass:#1e7b46;--fail:#b42318;--warn:#a15c07;--waived:#175cd3;--error:#7a1fa2;--skip:#7b8794}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;color:var(--ink);background:#fff;
font:14px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"DejaVu Sans",sans-serif}
.wrap{max-width:1000px;margin:0 auto;padding:0 40px}
.masthead{background:linear-gradient(135deg,#10243e,#1d3f6e);color:#fff;padding:30px 0 26px}
.eyebrow{margin:0 0 4px;font-size:12px;letter-spacing:.12em;text-transform:uppercase;opacity:.75}
.masthead h1{margin:0;font-size:30px;line-height:1.2;font-weight:700}
.masthead h1 .version{font-weight:400;opacity:.8}
.lede{margin:10px 0 16px;max-width:760px;opacity:.92}
.verdict{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:center;font-size:13px}
.verdict .sep{opacity:.5}
main{padding-bottom:56px}
nav.toc{margin:22px 0 6px;padding:12px 16px;background:var(--soft);border:1px solid var(--line);
border-radius:6px}
nav.toc ol{margin:0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:4px 18px;counter-reset:toc}
nav.toc li{counter-increment:toc;font-size:13px}
nav.toc li::before{content:counter(toc) ". ";color:var(--muted)}
nav.toc a{color:var(--accent);text-decoration:none}
section{margin-top:34px}
h2{font-size:20px;margin:0 0 12px;padding-bottom:6px;border-bottom:2px solid var(--line);color:var(--accent)}
h2 .num{color:var(--muted);font-weight:400;margin-right:6px}
h3{font-size:15px;margin:22px 0 8px}
p{margin:8px 0}
table{border-collapse:collapse;width:100%;margin:8px 0 14px;font-size:13px}
th,td{text-align:left;padding:6px 9px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--soft);font-weight:600;font-size:12px;color:#3e4c59;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:nth-child(even) td{background:#fbfcfd}
dl.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:10px 26px;
margin:10px 0 14px}
dl.facts div{min-width:0}
dl.facts dt{font-size:11px;letter-spacing:.06em;text-transform:uppercase;color:var(--muted)}
dl.facts dd{margin:1px 0 0;overflow-wrap:anywhere}
.nowrap{white-space:nowrap}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12px;
overflow-wrap:anywhere}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:11px;font-weight:700;
letter-spacing:.04em;text-transform:uppercase;white-space:nowrap;border:1px solid transparent}
.badge.pass,.badge.met{background:#e3f4ea;color:var(--pass);border-color:#b7e0c6}
.badge.fail,.badge.not_met{background:#fdecea;color:var(--fail);border-color:#f5c2bd}
.badge.warn{background:#fff4e0;color:var(--warn);border-color:#f3d29b}
.badge.waived{background:#e8f0fe;color:var(--waived);border-color:#bcd0f7}
.badge.error{background:#f5e8fa;color:var(--error);border-color:#dfc0ec}
.badge.skip,.badge.unknown,.badge.no_threshold{background:#eef1f4;color:var(--skip);border-color:#dde3ea}
.masthead .badge{font-size:13px;padding:3px 12px}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin:6px 0;padding:0;list-style:none}
.chips li{background:var(--soft);border:1px solid var(--line);border-radius:4px;padding:1px 8px;
font-size:13px}
.chips.flag li{background:#fff7e6;border-color:#f3d29b}
.missing{margin:10px 0;padding:10px 14px;border-left:4px solid #d69e2e;background:#fffaeb;
border-radius:0 4px 4px 0}
.missing strong{color:var(--warn)}
.note{color:var(--muted);font-size:13px}
ul.notes{padding-left:20px}
ul.notes li{margin:4px 0}
ul.notes .src{color:var(--muted);font-size:11px;margin-left:6px}
ul.oos li::marker{content:"✕  ";color:var(--fail)}
figure{margin:14px 0 20px;padding:12px 14px 8px;border:1px solid var(--line);border-radius:6px}
figcaption{font-size:12.5px;color:var(--muted);margin-bottom:6px}
figcaption strong{color:var(--ink);font-size:13px}
svg.chart{display:block;width:100%;max-width:720px;height:auto;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,"DejaVu Sans",sans-serif;font-size:12px}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:11.5px;color:var(--muted);margin-top:4px}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.sw.met{background:#3a6ea5}.sw.not-met{background:#c0392b}.sw.flag{background:#c77c0e}.sw.neutral{background:#8da2bf}
.sw.tick{background:#1f2933;width:3px}
.sw.ref{background:none;border-left:2px dashed #1f2933;width:6px;border-radius:0}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:0 24px}
footer{margin-top:40px;padding-top:12px;border-top:1px solid var(--line);color:var(--muted);font-size:12px}
@media (max-width:760px){.wrap{padding:0 16px}.grid2{grid-template-columns:1fr}}
@media print{
@page{size:A4;margin:15mm 13mm}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{font-size:10pt}
.wrap{max-width:none;padding:0}
.masthead{background:none;color:var(--ink);padding:0 0 10px;border-bottom:3px solid var(--accent)}
.masthead .eyebrow,.masthead .lede{opacity:1}
nav.toc{display:none}
section{margin-top:18px}
h2{break-after:avoid}
h3{break-after:avoid}
figure,tr,.missing,dl.facts div,.grid2{break-inside:avoid}
table{font-size:9pt}
th,td{padding:3px 6px}
a{color:inherit;text-decoration:none}
footer{break-inside:avoid}
}
"""

_SHORT = {
    "demographic_parity_difference": "parity difference",
    "demographic_parity_ratio": "parity ratio",
    "equalized_odds_difference": "equalized odds diff.",
}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_RESULT_WORD = {"not_met": "not met", "no_threshold": "no threshold"}


def e(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return escape(str(value), quote=True)


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _badge(word: str) -> str:
    return f'<span class="badge {e(word)}">{e(_RESULT_WORD.get(word, word))}</span>'


def _waiver_badge(status: str) -> str:
    cls = {"applied": "waived", "expired": "fail", "unknown_rule": "fail", "refused": "error"}.get(
        status, "skip"
    )
    return f'<span class="badge {cls}">{e(status.replace("_", " "))}</span>'


def _missing(reason: str | None) -> str:
    if reason is None:
        return ""
    return f'<p class="missing"><strong>Evidence missing.</strong> {e(reason)}</p>'


def _facts(pairs: Iterable[tuple[str, str | None]], *, mono: Sequence[str] = ()) -> str:
    items = []
    for label, value in pairs:
        if value is None or value == "":
            continue
        shown = f"<code>{e(value)}</code>" if label in mono else e(value)
        items.append(f"<div><dt>{e(label)}</dt><dd>{shown}</dd></div>")
    return '<dl class="facts">' + "".join(items) + "</dl>" if items else ""


def _list(items: Sequence[str], cls: str = "", empty: str = "None documented.") -> str:
    if not items:
        return f'<p class="note">{e(empty)}</p>'
    klass = f' class="{cls}"' if cls else ""
    return f"<ul{klass}>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>"


def _chips(items: Sequence[str], flag: bool = False) -> str:
    if not items:
        return '<p class="note">None.</p>'
    cls = "chips flag" if flag else "chips"
    return f'<ul class="{cls}">' + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """``rows`` hold HTML already escaped; ``numeric`` are the right-aligned column indexes."""
    th = "".join(
        f'<th class="num">{e(h)}</th>' if i in numeric else f"<th>{e(h)}</th>" for i, h in enumerate(head)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _tone(status: Status) -> Tone:
    return {Status.MET: Tone.MET, Status.NOT_MET: Tone.NOT_MET}.get(status, Tone.NEUTRAL)


def _bound(bound: Bound | None, threshold: float | None) -> str:
    if bound is None or threshold is None:
        return "—"
    return f"{'≥' if bound is Bound.MIN else '≤'} {_num(threshold)}"


def _legend(*items: tuple[str, str]) -> str:
    return (
        '<div class="legend">'
        + "".join(f'<span><i class="sw {c}"></i>{e(t)}</span>' for c, t in items)
        + "</div>"
    )


def _figure(caption: str, detail: str, svg: str, legend: str) -> str:
    return (
        f"<figure><figcaption><strong>{e(caption)}</strong>"
        f"{' · ' + e(detail) if detail else ''}</figcaption>{svg}{legend}</figure>"
    )


def _section(index: int, body: str) -> str:
    anchor, title = SECTIONS[index]
    return f'<section id="{anchor}"><h2><span class="num">{index + 1}.</span>{e(title)}</h2>{body}</section>'


# --------------------------------------------------------------------------- sections


def _details(card: ModelCard) -> str:
    d = card.details
    parts = [
        f"<p>{e(d.description)}</p>" if d.description else "",
        _facts(
            d.facts(),
            mono=("Run", "Source commit", "Artifact"),
        ),
        _missing(d.missing),
    ]
    if d.parameters:
        parts.append("<h3>Training parameters</h3>")
        parts.append(
            _table(["Parameter", "Value"], ([f"<code>{e(p.name)}</code>", e(p.value)] for p in d.parameters))
        )
    return "".join(parts)


def _intended_use(card: ModelCard) -> str:
    use = card.intended_use
    return (
        '<div class="grid2"><div><h3>Primary uses</h3>'
        + _list(use.primary_uses)
        + "</div><div><h3>Primary users</h3>"
        + _list(use.primary_users)
        + "</div></div><h3>Out of scope</h3>"
        + _list(use.out_of_scope, cls="oos", empty="No out-of-scope uses are documented.")
    )


def _group_table(groups: Sequence[FactorGroups], min_size: int | None) -> str:
    rows = []
    for g in groups:
        total = sum(v.value or 0 for v in g.groups)
        for i, group in enumerate(g.groups):
            small = " (small)" if group.group in g.small_groups else ""
            share = (group.value or 0) / total if total else None
            rows.append(
                [
                    f"<strong>{e(g.feature)}</strong>" if i == 0 else "",
                    e(group.group) + e(small),
                    _num(group.value),
                    _pct(share),
                ]
            )
    note = (
        f'<p class="note">Groups under {min_size} rows are flagged as too small to measure.</p>'
        if min_size
        else ""
    )
    return _table(["Feature", "Group", "Rows", "Share"], rows, numeric=(2, 3)) + note


def _factors(card: ModelCard) -> str:
    f = card.factors
    parts = [
        "<p>The groups whose outcomes are compared: each sensitive feature splits the evaluation data.</p>",
        '<div class="grid2"><div><h3>Sensitive features</h3>',
        _chips(f.sensitive_features, flag=True),
        "</div><div><h3>Prohibited as drivers</h3>",
        _chips(f.prohibited_features, flag=True),
        "</div></div>",
    ]
    if f.intersections:
        parts += ["<h3>Intersections</h3>", _chips(f.intersections)]
    parts.append(_missing(f.missing))
    if f.groups:
        parts += ["<h3>Groups in the evaluation data</h3>", _group_table(f.groups, f.min_group_size)]
    return "".join(parts)


def _metric_rows(rows: Sequence[MetricRow], with_champion: bool) -> str:
    head = ["Metric", "Value", "Threshold", *(["Champion"] if with_champion else []), "Status"]
    body = []
    for r in rows:
        cells = [f"<code>{e(r.name)}</code>", _num(r.value), e(_bound(r.bound, r.threshold))]
        if with_champion:
            cells.append(_num(r.champion))
        cells.append(
            _badge(r.status.value) if r.status is not Status.NO_THRESHOLD else '<span class="note">—</span>'
        )
        body.append(cells)
    return _table(head, body, numeric=(1, 2, 3) if with_champion else (1, 2))


def _metrics(card: ModelCard) -> str:
    m = card.metrics
    parts = [_missing(m.missing)]
    if m.rows:
        parts.append(_metric_rows(m.rows, with_champion=any(r.champion is not None for r in m.rows)))
    charted = [
        r
        for r in m.rows
        if r.threshold is not None and r.value is not None and 0 <= r.value <= 1 and 0 <= r.threshold <= 1
    ]
    if charted:
        bars = [
            Bar(f"{r.name} ({_bound(r.bound, r.threshold)})", r.value, _tone(r.status), threshold=r.threshold)
            for r in charted
        ]
        parts.append(
            _figure(
                "Performance against thresholds",
                "each bar is the run's metric; the dark tick is its threshold",
                bar_chart(
                    bars, chart_id="chart-metrics", title="Performance metrics against their thresholds"
                ),
                _legend(("met", "meets threshold"), ("not-met", "misses threshold"), ("tick", "threshold")),
            )
        )
    c = m.champion
    if c is not None:
        direction = "higher" if c.higher_is_better else "lower"
        parts.append(
            f"<h3>Against the champion</h3><p>{e(c.metric)}: {_num(c.value)} against {_num(c.champion)} for "
            f"<code>@{e(c.alias)}</code>{' (v' + e(c.version) + ')' if c.version else ''}; "
            f"{direction} is better, regression allowed up to {_num(c.max_regression)}. "
            f"{_badge(c.status.value)}</p>"
        )
    if m.fairness_thresholds:
        parts.append("<h3>Fairness thresholds</h3>")
        parts.append(
            '<p class="note">The worst value over the sensitive features; per-feature values are in the '
            "quantitative analyses.</p>"
        )
        parts.append(_metric_rows(m.fairness_thresholds, with_champion=False))
    return "".join(parts)


def _data(section: DataSection) -> str:
    parts = [_missing(section.missing)]
    if section.declared is not None:
        d = section.declared
        parts.append(_facts([("Declared in the spec", d.path), ("Format", d.format), ("Target", d.target)]))
    if section.logged:
        parts.append("<h3>Logged with the run</h3>")
        parts.append(
            _table(
                ["Dataset", "Source", "Digest"],
                (
                    [
                        e(d.name or "—"),
                        f"<code>{e(d.path or '—')}</code>",
                        f"<code>{e(d.digest or '—')}</code>",
                    ]
                    for d in section.logged
                ),
            )
        )
    p = section.profile
    if p is not None:
        parts.append("<h3>Profile</h3>")
        parts.append(
            _facts(
                [
                    ("Dataset", p.name),
                    ("Rows", f"{p.rows:,}"),
                    ("Columns", str(p.columns)),
                    ("Largest null share", _pct(p.max_null_share)),
                ]
            )
        )
    if section.drift:
        limit = f" (limit PSI ≤ {_num(section.max_psi)})" if section.max_psi is not None else ""
        parts.append(f"<h3>Drift against the reference data{e(limit)}</h3>")
        parts.append(
            _table(
                ["Feature", "Kind", "PSI", "KS / JS", "p-value", "Status"],
                (
                    [
                        f"<code>{e(d.feature)}</code>",
                        e(d.kind),
                        _num(d.psi),
                        _num(d.statistic),
                        _num(d.p_value),
                        _badge(d.status.value),
                    ]
                    for d in section.drift
                ),
                numeric=(2, 3, 4),
            )
        )
    if len(parts) == 1 and section.missing is None:
        parts.append('<p class="note">No dataset is declared or logged.</p>')
    return "".join(parts)


def _feature(f: FeatureAnalysis, index: int) -> str:
    parts = [f"<h3>{e(f.feature)}</h3>"]
    bars = [
        Bar(
            _SHORT.get(c.metric, c.metric.replace("_", " ")),
            c.value,
            _tone(c.status),
            threshold=c.threshold,
            text=f"{_num(c.value)} ({_bound(c.bound, c.threshold)})"
            + (f" · {c.rule_result}" if c.rule_result in ("waived", "fail", "warn") else "")
            if c.value is not None
            else None,
        )
        for c in f.checks
    ]
    parts.append(
        _figure(
            f"{f.feature}: group fairness against thresholds",
            "a bar past its tick breaches the threshold; the decision's verdict follows waived ones",
            bar_chart(bars, chart_id=f"chart-fair-{index}", title=f"Group fairness metrics for {f.feature}"),
            _legend(("met", "within threshold"), ("not-met", "breaches threshold"), ("tick", "threshold")),
        )
    )
    sizes = {g.group: g.value for g in f.groups}
    groups = [g.group for g in f.groups]
    metrics = list(f.metrics)
    if metrics:
        head = ["Group", "Rows", *(m.metric.replace("_", " ") for m in metrics)]
        rows = []
        for group in groups:
            values = [{v.group: v.value for v in m.by_group}.get(group) for m in metrics]
            rows.append([e(group), _num(sizes.get(group)), *(_num(v) for v in values)])
        rows.append(["<em>overall</em>", "", *(_num(m.overall) for m in metrics)])
        rows.append(["<em>difference</em>", "", *(_num(m.difference) for m in metrics)])
        rows.append(["<em>ratio</em>", "", *(_num(m.ratio) for m in metrics)])
        parts.append(_table(head, rows, numeric=tuple(range(1, len(head)))))
    for m in metrics:
        if m.floor is not None:
            bars = [
                Bar(v.group, v.value, _tone(_floor_status(v.value, m.floor)), text=_num(v.value))
                for v in m.by_group
            ]
            parts.append(
                _figure(
                    f"{f.feature}: {m.metric.replace('_', ' ')} by group",
                    f"every group must reach the floor of {_num(m.floor)}",
                    bar_chart(
                        bars,
                        chart_id=f"chart-floor-{index}",
                        title=f"{m.metric} by group of {f.feature} against the floor {m.floor}",
                        reference=Reference(m.floor, f"floor {_num(m.floor)}"),
                    ),
                    _legend(("met", "above the floor"), ("not-met", "below the floor"), ("ref", "floor")),
                )
            )
    rate = next((m for m in metrics if m.metric == "selection_rate"), None)
    if rate is not None:
        bars = [Bar(v.group, v.value, Tone.NEUTRAL, text=_num(v.value)) for v in rate.by_group]
        parts.append(
            _figure(
                f"{f.feature}: selection rate by group",
                "demographic parity compares these rates",
                bar_chart(
                    bars,
                    chart_id=f"chart-rate-{index}",
                    title=f"Selection rate by group of {f.feature}",
                    reference=Reference(rate.overall, f"overall {_num(rate.overall)}")
                    if rate.overall is not None
                    else None,
                ),
                _legend(("neutral", "selection rate"), ("ref", "overall rate")),
            )
        )
    return "".join(parts)


def _floor_status(value: float | None, floor: float) -> Status:
    if value is None:
        return Status.UNKNOWN
    return Status.MET if value >= floor - 1e-9 else Status.NOT_MET


def _importance(imp: Importance) -> str:
    parts = ["<h3>Feature importance (SHAP)</h3>", _missing(imp.missing)]
    if imp.missing is not None or not imp.features:
        return "".join(parts)
    limit = imp.max_feature_share
    bars = [
        Bar(
            f.feature,
            f.share,
            Tone.FLAG
            if f.prohibited
            else (Tone.NOT_MET if limit is not None and f.share > limit else Tone.MET),
        )
        for f in imp.features
    ]
    detail = f"{imp.method} explainer over {imp.sample_size:,} rows; share of the mean |SHAP| value"
    if imp.top_k:
        detail += f"; sensitive and prohibited features must rank below the top {imp.top_k}"
    parts.append(
        _figure(
            "Global feature importance",
            detail,
            bar_chart(
                bars,
                chart_id="chart-shap",
                title="Global SHAP importance by feature",
                reference=Reference(limit, f"max share {_pct(limit)}") if limit is not None else None,
                percent=True,
            ),
            _legend(
                ("met", "feature"),
                ("flag", "sensitive or prohibited feature"),
                *([("ref", "largest share allowed")] if limit is not None else []),
            ),
        )
    )
    return "".join(parts)


def _quantitative(card: ModelCard) -> str:
    q = card.quantitative_analyses
    parts = [_missing(q.missing)]
    if q.rows is not None:
        parts.append(f'<p class="note">Measured on {q.rows:,} evaluation rows.</p>')
    parts += [_feature(f, i) for i, f in enumerate(q.features)]
    parts.append(_importance(q.importance))
    return "".join(parts)


def _notes(notes: Sequence[Note]) -> str:
    return (
        '<ul class="notes">'
        + "".join(f'<li>{e(n.text)}<span class="src">{e(n.source)}</span></li>' for n in notes)
        + "</ul>"
    )


def _governance(g: Governance) -> str:
    if g.missing is not None:
        return f'<p class="missing"><strong>No decision.</strong> {e(g.missing)}</p>'
    parts = []
    counts = g.counts
    if counts is not None:
        listed = [
            (counts.errored, "errored"),
            (counts.failed, "failed"),
            (counts.warned, "warned"),
            (counts.waived, "waived"),
            (counts.passed, "passed"),
            (counts.skipped, "skipped"),
        ]
        summary = ", ".join(f"{n} {w}" for n, w in listed if n)
        parts.append(
            f"<p>{_badge(g.outcome or 'error')} at stage <strong>{e(g.stage)}</strong>: "
            f"{counts.total} rules, {e(summary)}; waivers judged as of {e(g.as_of)}.</p>"
        )
    parts.append(
        _facts(
            [
                ("Decision", g.decision_id),
                ("Audit record", g.audit_record_id or "not recorded"),
                ("Decided at", g.timestamp),
                ("Policy engine", g.backend),
                ("govern", g.engine_version),
                ("Policy-set digest", g.policy_digest),
                ("Parameters digest", g.params_digest),
                ("Evidence digest", g.evidence_digest),
            ],
            mono=("Decision", "Audit record", "Policy-set digest", "Parameters digest", "Evidence digest"),
        )
    )
    if g.errors:
        parts.append("<h3>Errors</h3>" + _list(g.errors))
    parts.append("<h3>Rules</h3>")
    parts.append(
        _table(
            ["Result", "Rule", "Finding", "Severity", "Controls"],
            (
                [
                    _badge(r.result),
                    f'<code class="nowrap">{e(r.rule_id)}</code>',
                    (f"<strong>{e(r.title)}</strong><br>" if r.title and r.title != r.message else "")
                    + e(r.message),
                    e(r.severity),
                    "<br>".join(f'<span class="nowrap">{e(c)}</span>' for c in r.controls) or "—",
                ]
                for r in g.rules
            ),
        )
    )
    if g.waivers:
        parts.append("<h3>Waivers</h3>")
        parts.append(
            _table(
                ["Rule", "Status", "Approver", "Expires", "Ticket", "Reason"],
                (
                    [
                        f"<code>{e(w.rule)}</code>",
                        _waiver_badge(w.status),
                        e(w.approver),
                        f"{e(w.expires)}<br><span class='note'>{w.days_left} days left</span>"
                        if w.days_left >= 0
                        else e(w.expires),
                        e(w.ticket or "—"),
                        e(w.reason),
                    ]
                    for w in g.waivers
                ),
            )
        )
    if g.controls:
        parts.append("<h3>Controls covered</h3>")
        names = {"EU-AI-Act": "EU AI Act", "NIST-AI-RMF": "NIST AI RMF"}
        parts.append(
            _table(
                ["Framework", "Control", "Rules", "Worst result"],
                (
                    [
                        e(names.get(c.framework, c.framework)),
                        e(c.control),
                        ", ".join(f"<code>{e(r)}</code>" for r in c.rules),
                        _badge(c.worst),
                    ]
                    for c in g.controls
                ),
            )
        )
    return "".join(parts)


def render(card: ModelCard) -> str:
    d, g = card.details, card.governance
    version = f' <span class="version">v{e(d.version)}</span>' if d.version else ""
    verdict = [
        f"{_badge(g.outcome)} at stage {e(g.stage)}" if g.outcome else _badge("unknown") + " no decision"
    ]
    if g.counts is not None:
        verdict.append(f"{g.counts.total} rules")
    if g.timestamp:
        verdict.append(f"decided {e(g.timestamp)}")
    verdict.append(f"owner {e(d.owner)}")
    verdict.append(f"risk tier {e(d.risk_tier)}")
    toc = "".join(f'<li><a href="#{a}">{e(t)}</a></li>' for a, t in SECTIONS)
    bodies = [
        _details(card),
        _intended_use(card),
        _factors(card),
        _metrics(card),
        _data(card.training_data),
        _data(card.evaluation_data),
        _quantitative(card),
        _notes(card.ethical_considerations.notes),
        _notes(card.caveats),
        _governance(g),
    ]
    sections = "\n".join(_section(i, body) for i, body in enumerate(bodies))
    footer = (
        f"Generated by govern {e(g.engine_version or '')} from the spec"
        + (f", decision <code>{e(g.decision_id)}</code>" if g.decision_id else "")
        + (f" and evidence <code>{e(g.evidence_digest)}</code>" if g.evidence_digest else "")
        + "."
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="generator" content="govern">
<title>Model card: {e(d.name)}{" v" + e(d.version) if d.version else ""}</title>
<style>{_CSS}</style>
</head>
<body>
<header class="masthead"><div class="wrap">
<p class="eyebrow">Model card</p>
<h1>{e(d.name)}{version}</h1>
<p class="lede">{e(d.description)}</p>
<div class="verdict">{'<span class="sep">·</span>'.join(verdict)}</div>
</div></header>
<main class="wrap">
<nav class="toc" aria-label="Contents"><ol>{toc}</ol></nav>
{sections}
<footer>{footer}</footer>
</main>
</body>
</html>
"""
