"""Markdown: a Hugging Face style model card (YAML front matter, then the sections).

The front matter carries what the Hub reads: ``license``, ``tags``, ``library_name``,
``datasets``, ``metrics`` and a ``model-index`` with the run's metrics on the evaluation data.
The body has the same ten sections as the HTML card, as tables and lists (no charts).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from .html import SECTIONS
from .model import Bound, DataSection, Governance, MetricRow, ModelCard, Note, Status

__all__ = ["front_matter", "render"]

_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_STATUS = {
    Status.MET: "met",
    Status.NOT_MET: "**not met**",
    Status.NO_THRESHOLD: "—",
    Status.UNKNOWN: "unknown",
}
_RESULT = {
    "fail": "**FAIL**",
    "error": "**ERROR**",
    "warn": "WARN",
    "waived": "WAIVED",
    "pass": "pass",
    "skip": "skip",
}


def t(value: object) -> str:
    """Escape text for Markdown, inline and inside table cells: HTML, then Markdown syntax."""
    text = _SPECIAL.sub(r"\\\1", html.escape(str(value), quote=False))
    return " ".join(text.splitlines())


def _code(value: object) -> str:
    return "`" + str(value).replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`"


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:.4g}"


def _bound(bound: Bound | None, threshold: float | None) -> str:
    if bound is None or threshold is None:
        return "—"
    return f"{'≥' if bound is Bound.MIN else '≤'} {_num(threshold)}"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(head))]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _missing(reason: str | None) -> list[str]:
    return [f"> **Evidence missing:** {t(reason)}", ""] if reason else []


def _bullets(items: Sequence[str], empty: str = "None documented.") -> list[str]:
    return [*(f"- {t(i)}" for i in items), ""] if items else [f"_{empty}_", ""]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def front_matter(card: ModelCard) -> dict[str, Any]:
    """The Hugging Face metadata block, as a plain mapping."""
    d = card.details
    meta: dict[str, Any] = {}
    if d.licence:
        meta["license"] = d.licence.lower()
    if d.flavor:
        meta["library_name"] = d.flavor
    tags = ["govern", "model-card", f"risk-tier-{d.risk_tier}"]
    if d.model_type:
        tags.append(_slug(d.model_type))
    tags += [f"sensitive-feature-{_slug(f)}" for f in card.factors.sensitive_features]
    meta["tags"] = tags
    datasets = [x.name for x in (*card.training_data.logged, *card.evaluation_data.logged) if x.name]
    if datasets:
        meta["datasets"] = list(dict.fromkeys(datasets))
    measured = [r for r in card.metrics.rows if r.value is not None]
    names = list(dict.fromkeys(r.name for r in measured))
    if names:
        meta["metrics"] = names
        kind = (d.model_type or "").lower()
        task = (
            "tabular-classification"
            if "classif" in kind
            else "tabular-regression"
            if "regress" in kind
            else None
        )
        evaluation = card.evaluation_data
        dataset = next((x.name for x in evaluation.logged if x.name), None) or (
            evaluation.profile.name if evaluation.profile else None
        )
        result: dict[str, Any] = {"task": {"type": task or "other", "name": d.model_type or "model"}}
        if dataset:
            result["dataset"] = {"name": dataset, "type": dataset}
        values = {r.name: r.value for r in measured}
        result["metrics"] = [
            {"type": name, "value": values[name], "name": name, "verified": False} for name in names
        ]
        meta["model-index"] = [{"name": d.name, "results": [result]}]
    return meta


def _details(card: ModelCard) -> list[str]:
    d = card.details
    rows = d.facts()
    out = [t(d.description), ""] if d.description else []
    out += _table(["", ""], ([f"**{k}**", t(v)] for k, v in rows if v))
    out += _missing(d.missing)
    if d.parameters:
        out += [
            "**Training parameters:** " + ", ".join(f"{_code(p.name)} = {t(p.value)}" for p in d.parameters),
            "",
        ]
    return out


def _metric_table(rows: Sequence[MetricRow], champion: bool) -> list[str]:
    head = ["Metric", "Value", "Threshold", *(["Champion"] if champion else []), "Status"]
    body = []
    for r in rows:
        cells = [_code(r.name), _num(r.value), _bound(r.bound, r.threshold)]
        if champion:
            cells.append(_num(r.champion))
        cells.append(_STATUS[r.status])
        body.append(cells)
    return _table(head, body, right=(1, 2, 3) if champion else (1, 2))


def _metrics(card: ModelCard) -> list[str]:
    m = card.metrics
    out = _missing(m.missing)
    if m.rows:
        out += _metric_table(m.rows, any(r.champion is not None for r in m.rows))
    c = m.champion
    if c is not None:
        out += [
            f"**Against the champion** ({_code('@' + c.alias)}{' v' + t(c.version) if c.version else ''}): "
            f"{t(c.metric)} {_num(c.value)} against {_num(c.champion)}, regression allowed up to "
            f"{_num(c.max_regression)}: {_STATUS[c.status]}.",
            "",
        ]
    if m.fairness_thresholds:
        out += ["**Fairness thresholds** (worst value over the sensitive features):", ""]
        out += _metric_table(m.fairness_thresholds, champion=False)
    return out


def _data(section: DataSection) -> list[str]:
    out = _missing(section.missing)
    if section.declared is not None:
        d = section.declared
        extra = ", ".join(
            x for x in (d.format and f"format {t(d.format)}", d.target and f"target {_code(d.target)}") if x
        )
        out += [f"Declared in the spec: {_code(d.path or '—')}" + (f" ({extra})" if extra else ""), ""]
    if section.logged:
        out += _table(
            ["Logged dataset", "Source", "Digest"],
            ([t(d.name or "—"), _code(d.path or "—"), _code(d.digest or "—")] for d in section.logged),
        )
    p = section.profile
    if p is not None:
        out += [
            f"Profile: {t(p.name or 'dataset')}, {p.rows:,} rows, {p.columns} columns, largest null share "
            f"{p.max_null_share:.1%}.",
            "",
        ]
    if section.drift:
        limit = f" (limit PSI ≤ {_num(section.max_psi)})" if section.max_psi is not None else ""
        out += [f"Drift against the reference data{limit}:", ""]
        out += _table(
            ["Feature", "Kind", "PSI", "KS / JS", "p-value", "Status"],
            (
                [_code(d.feature), d.kind, _num(d.psi), _num(d.statistic), _num(d.p_value), _STATUS[d.status]]
                for d in section.drift
            ),
            right=(2, 3, 4),
        )
    return out or ["_No dataset is declared or logged._", ""]


def _quantitative(card: ModelCard) -> list[str]:
    q = card.quantitative_analyses
    out = _missing(q.missing)
    if q.rows is not None:
        out += [f"Measured on {q.rows:,} evaluation rows.", ""]
    for f in q.features:
        out += [f"### {t(f.feature)}", ""]
        out += _table(
            ["Fairness metric", "Value", "Threshold", "Status", "Decision"],
            (
                [
                    t(c.metric.replace("_", " ")),
                    _num(c.value),
                    _bound(c.bound, c.threshold),
                    _STATUS[c.status],
                    _RESULT.get(c.rule_result or "", "—"),
                ]
                for c in f.checks
            ),
            right=(1, 2),
        )
        if f.metrics:
            sizes = {g.group: g.value for g in f.groups}
            head = ["Group", "Rows", *(t(m.metric.replace("_", " ")) for m in f.metrics)]
            rows = [
                [
                    t(g.group),
                    _num(sizes.get(g.group)),
                    *(_num({v.group: v.value for v in m.by_group}.get(g.group)) for m in f.metrics),
                ]
                for g in f.groups
            ]
            rows.append(["_overall_", "", *(_num(m.overall) for m in f.metrics)])
            rows.append(["_difference_", "", *(_num(m.difference) for m in f.metrics)])
            rows.append(["_ratio_", "", *(_num(m.ratio) for m in f.metrics)])
            out += _table(head, rows, right=tuple(range(1, len(head))))
            floors = [m for m in f.metrics if m.floor is not None]
            out += [f"Per-group floor: {t(m.metric)} ≥ {_num(m.floor)} for every group." for m in floors]
            out += [""] if floors else []
    imp = q.importance
    out += ["### Feature importance (SHAP)", ""]
    out += _missing(imp.missing)
    if imp.missing is None and imp.features:
        out += [
            f"{t(imp.method)} explainer over {imp.sample_size:,} rows; share of the mean |SHAP| value.",
            "",
        ]
        out += _table(
            ["Rank", "Feature", "Mean abs SHAP", "Share", ""],
            (
                [
                    str(x.rank),
                    _code(x.feature),
                    _num(x.mean_abs_shap),
                    f"{x.share:.1%}",
                    "sensitive or prohibited" if x.prohibited else "",
                ]
                for x in imp.features
            ),
            right=(0, 2, 3),
        )
        if imp.max_feature_share is not None:
            out += [f"No feature may carry more than {imp.max_feature_share:.0%} of the attribution.", ""]
    return out


def _notes(notes: Sequence[Note]) -> list[str]:
    return [*(f"- {t(n.text)} <sub>{t(n.source)}</sub>" for n in notes), ""]


def _governance(g: Governance) -> list[str]:
    if g.missing is not None:
        return [f"> **No decision:** {t(g.missing)}", ""]
    out = []
    if g.counts is not None:
        c = g.counts
        listed = [
            (c.errored, "errored"),
            (c.failed, "failed"),
            (c.warned, "warned"),
            (c.waived, "waived"),
            (c.passed, "passed"),
            (c.skipped, "skipped"),
        ]
        summary = ", ".join(f"{n} {w}" for n, w in listed if n)
        out += [
            f"**{t((g.outcome or 'error').upper())}** at stage {t(g.stage)}: {c.total} rules, {summary}; "
            f"waivers judged as of {t(g.as_of)}.",
            "",
        ]
    facts = [
        ("Decision", g.decision_id),
        ("Audit record", g.audit_record_id or "not recorded"),
        ("Decided at", g.timestamp),
        ("Policy engine", g.backend),
        ("Policy-set digest", g.policy_digest),
        ("Parameters digest", g.params_digest),
        ("Evidence digest", g.evidence_digest),
    ]
    out += _table(["", ""], ([f"**{k}**", _code(v)] for k, v in facts if v))
    if g.errors:
        out += ["**Errors:**", "", *(f"- {t(x)}" for x in g.errors), ""]
    out += ["### Rules", ""]
    out += _table(
        ["Result", "Rule", "Finding", "Severity", "Controls"],
        (
            [
                _RESULT.get(r.result, t(r.result)),
                _code(r.rule_id),
                t(r.message),
                t(r.severity),
                "<br>".join(t(c) for c in r.controls) or "—",
            ]
            for r in g.rules
        ),
    )
    if g.waivers:
        out += ["### Waivers", ""]
        out += _table(
            ["Rule", "Status", "Approver", "Expires", "Ticket", "Reason"],
            (
                [
                    _code(w.rule),
                    t(w.status.replace("_", " ")),
                    t(w.approver),
                    f"{t(w.expires)} ({w.days_left} days left)" if w.days_left >= 0 else t(w.expires),
                    t(w.ticket or "—"),
                    t(w.reason),
                ]
                for w in g.waivers
            ),
        )
    if g.controls:
        names = {"EU-AI-Act": "EU AI Act", "NIST-AI-RMF": "NIST AI RMF"}
        out += ["### Controls covered", ""]
        out += _table(
            ["Framework", "Control", "Rules", "Worst result"],
            (
                [
                    t(names.get(c.framework, c.framework)),
                    t(c.control),
                    ", ".join(_code(r) for r in c.rules),
                    _RESULT.get(c.worst, t(c.worst)),
                ]
                for c in g.controls
            ),
        )
    return out


def render(card: ModelCard) -> str:
    d = card.details
    meta = yaml.safe_dump(front_matter(card), sort_keys=False, allow_unicode=True, width=100)
    use = card.intended_use
    bodies = [
        _details(card),
        [
            "**Primary uses**",
            "",
            *_bullets(use.primary_uses),
            "**Primary users**",
            "",
            *_bullets(use.primary_users),
            "**Out of scope**",
            "",
            *_bullets(use.out_of_scope, "No out-of-scope uses are documented."),
        ],
        [
            "**Sensitive features:** " + (", ".join(map(_code, card.factors.sensitive_features)) or "none"),
            "",
            "**Prohibited as drivers:** "
            + (", ".join(map(_code, card.factors.prohibited_features)) or "none"),
            "",
            *_missing(card.factors.missing),
            *(
                line
                for g in card.factors.groups
                for line in (
                    f"- {_code(g.feature)}: "
                    + ", ".join(f"{t(v.group)} ({_num(v.value)})" for v in g.groups)
                    + (f"; small: {', '.join(t(s) for s in g.small_groups)}" if g.small_groups else ""),
                )
            ),
            "",
        ],
        _metrics(card),
        _data(card.training_data),
        _data(card.evaluation_data),
        _quantitative(card),
        _notes(card.ethical_considerations.notes),
        _notes(card.caveats),
        _governance(card.governance),
    ]
    version = f" v{t(d.version)}" if d.version else ""
    lines = ["---", meta.rstrip("\n"), "---", "", f"# Model card: {t(d.name)}{version}", ""]
    for (_, title), body in zip(SECTIONS, bodies, strict=True):
        lines += [f"## {title}", "", *body]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"
