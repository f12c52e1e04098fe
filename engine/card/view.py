"""The one view-model the Markdown and HTML cards render, and the Jinja2 environments they use.

Both templates (``templates/card.md.j2`` and ``templates/card.html.j2``) receive the same
:class:`CardView`: the typed card plus the words, facts and summaries derived from it once here,
so the two formats cannot say different things. Neither template can emit text unescaped by
default: the HTML environment autoescapes for HTML, and the Markdown environment escapes every
interpolation for Markdown through its ``finalize`` hook unless the value is already
:class:`~markupsafe.Markup` (a macro's output, a code span from the ``code`` filter, the front
matter).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import jinja2
import yaml
from markupsafe import Markup

from .model import ControlStatus, ModelCard, RuleState, Status

__all__ = [
    "SECTIONS",
    "CardView",
    "card_view",
    "html_environment",
    "markdown_environment",
    "md_escape",
    "number",
    "percent",
]

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

_FRAMEWORKS = {"EU-AI-Act": "EU AI Act", "NIST-AI-RMF": "NIST AI RMF"}
_WORDS = {
    Status.NO_FINDING.value: "no finding",
    RuleState.EVIDENCE_MISSING.value: "evidence missing",
    RuleState.NOT_CONFIGURED.value: "not configured",
    ControlStatus.NOT_SATISFIED.value: "not satisfied",
    ControlStatus.PARTLY_ASSESSED.value: "partly assessed",
    ControlStatus.NOT_ASSESSED.value: "not assessed",
    "unknown_rule": "unknown rule",
    "not_this_stage": "not this stage",
}
#: The badge colour of each word (HTML class); anything unlisted is neutral.
_TONES = {
    "pass": "pass",
    "passed": "pass",
    "satisfied": "pass",
    "fail": "fail",
    "failed": "fail",
    "evidence_missing": "fail",
    "not_satisfied": "fail",
    "expired": "fail",
    "unknown_rule": "fail",
    "warn": "warn",
    "warned": "warn",
    "partly_assessed": "warn",
    "waived": "waived",
    "applied": "waived",
    "partial": "warn",
    "error": "error",
    "refused": "error",
}
#: What Markdown shows in bold: the words that need attention.
_LOUD = {"fail", "failed", "error", "evidence_missing", "not_satisfied"}


_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_escape(value: object) -> str:
    """Escape text for Markdown, inline and inside table cells: HTML, then Markdown syntax."""
    text = _SPECIAL.sub(r"\\\1", html.escape(str(value), quote=False))
    return " ".join(text.splitlines())


def _md_finalize(value: Any) -> Markup:
    """Every interpolation of the Markdown card: Markdown-escaped unless already Markup."""
    if isinstance(value, Markup):
        return value
    return Markup(md_escape("" if value is None else value))


def md_code(value: object, prefix: str = "") -> Markup:
    """A code span: shown literally (CommonMark), so only backticks, pipes and newlines change."""
    return Markup("`" + prefix + str(value).replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`")


def number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def word(value: object) -> str:
    """The reader's word for a status, a rule state or a control status."""
    text = str(value)
    return _WORDS.get(text, text.replace("_", " "))


def tone(value: object) -> str:
    """The badge class of a status word (``skip`` for anything neutral)."""
    return _TONES.get(str(value), "skip")


def loud(value: object) -> bool:
    return str(value) in _LOUD


def framework(name: str) -> str:
    return _FRAMEWORKS.get(name, name)


@dataclass(frozen=True)
class CardView:
    """What both templates render: the card and what is derived from it once."""

    card: ModelCard
    sections: tuple[tuple[str, str], ...]
    summary: str  # "2 waived, 28 passed, 4 skipped"
    front_matter: Markup  # the Hugging Face metadata block (YAML), for the Markdown card


def _summary(card: ModelCard) -> str:
    counts = card.governance.counts
    if counts is None:
        return ""
    listed = [
        (counts.errored, "errored"),
        (counts.failed, "failed"),
        (counts.warned, "warned"),
        (counts.waived, "waived"),
        (counts.passed, "passed"),
        (counts.skipped, "skipped"),
    ]
    return ", ".join(f"{n} {w}" for n, w in listed if n)


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


def card_view(card: ModelCard) -> CardView:
    meta = yaml.safe_dump(front_matter(card), sort_keys=False, allow_unicode=True, width=100)
    return CardView(
        card=card, sections=SECTIONS, summary=_summary(card), front_matter=Markup(meta.rstrip("\n"))
    )


_FILTERS: dict[str, Callable[..., Any]] = {
    "num": number,
    "pct": percent,
    "word": word,
    "tone": tone,
    "framework": framework,
}


def _environment(autoescape: bool, finalize: Callable[[Any], Any] | None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("govern.engine.card", "templates"),
        autoescape=autoescape,
        finalize=finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(_FILTERS)
    env.tests["loud"] = loud
    return env


@cache
def html_environment() -> jinja2.Environment:
    """HTML: autoescaping on for every template."""
    return _environment(autoescape=True, finalize=None)


@cache
def markdown_environment() -> jinja2.Environment:
    """Markdown: every interpolation escaped for Markdown unless it is already Markup.

    Autoescaping is on so that macros return Markup (escaped once, not twice); ``finalize``
    turns every other value into Markdown-escaped Markup before the HTML escaper sees it.
    """
    env = _environment(autoescape=True, finalize=_md_finalize)
    env.filters["code"] = md_code
    return env
