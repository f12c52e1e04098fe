"""Every built-in rule, with its evidence absent and with its check not configured, on both engines.

The cases are built from each rule's ``custom.requires`` / ``custom.configured_by``: the evidence
it requires is removed (a section set to null with a reason, a list or map emptied), or a
setting it depends on is unset. Absent evidence must give ``fail`` (never ``pass``); an unset
setting must give ``skip`` "not configured: …". Both engines must agree result for result.
"""

from __future__ import annotations

from typing import Any

import pytest

from govern.engine.backends import Backend
from govern.engine.decision import Result
from govern.engine.errors import EvidenceError
from govern.engine.policyset import RuleMeta
from govern.engine.spec import Stage

from .harness import (
    Case,
    Patch,
    all_packs,
    canonical,
    decide,
    example_evidence,
    materialize,
    per_rule,
    segments,
)

RULES = [r for r in all_packs().rules if r.requires]


def _stage(rule: RuleMeta) -> Stage:
    return next(s for s in (Stage.DEPLOY, Stage.REGISTER, Stage.ROLLBACK) if s in rule.stages)


def _value_at(document: Any, path: tuple[str | int, ...]) -> Any:
    node = document
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _emptied(value: Any) -> Any:
    return [] if isinstance(value, list) else {} if isinstance(value, dict) else None


def _section_null(section: str | int) -> Patch:
    return Patch((section,), None, "not collected for this case")


def _absent_case(rule: RuleMeta) -> Case | None:
    patches = []
    for path in rule.requires.evidence:
        parts = segments(path)
        if parts[0] == "spec":
            continue  # the spec is always there: a missing spec is a spec error, not evidence
        parent = _value_at(example_evidence(), parts[:-1])
        if len(parts) == 1 or parent is None:
            patches.append(_section_null(parts[0]))
            continue
        emptied = Patch(parts, _emptied(_value_at(example_evidence(), parts)))
        try:
            materialize((emptied,))
        except EvidenceError:  # an empty value the schema refuses: the section was not collected
            emptied = _section_null(parts[0])
        patches.append(emptied)
    if not patches:
        return None
    name = f"{rule.id}-absent"
    return Case(name, "test_requirements.py", tuple(patches), {rule.id: Result.FAIL}, _stage(rule))


#: How a setting is left unset, as a team would leave it: spec sections deleted (and the evidence
#: their collector would have gathered absent), or a parameter turned off with --param.
_UNSET: dict[str, tuple[tuple[Patch, ...], dict[str, Any]]] = {
    "params.metrics": ((Patch(("spec", "requirements", "metrics"), delete=True),), {}),
    "params.live": ((Patch(("spec", "requirements", "live"), delete=True),), {}),
    "params.champion": ((Patch(("spec", "requirements", "champion"), delete=True),), {}),
    "params.fairness.sensitive_features": (
        (Patch(("spec", "fairness"), delete=True), _section_null("fairness")),
        {},
    ),
    "params.explainability.required": ((), {"explainability": {"required": False}}),
    "params.lineage.params": ((), {"lineage": {"params": []}}),
    "params.lineage.tags": ((), {"lineage": {"tags": []}}),
    "params.lineage.git_commit": ((), {"lineage": {"git_commit": False}}),
    "params.lineage.training_dataset": ((), {"lineage": {"training_dataset": False}}),
}


def _unset(path: str) -> tuple[tuple[Patch, ...], dict[str, Any]]:
    if path in _UNSET:
        return _UNSET[path]
    root, _, rest = path.partition(".")
    if root == "spec":
        return (Patch(("spec", *segments(rest)), delete=True),), {}
    params: dict[str, Any] = {}
    node = params
    keys = rest.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = None  # a threshold set to null disables its check
    return (), params


def _not_configured_cases(rule: RuleMeta) -> list[Case]:
    out = []
    for path in rule.requires.configured_by:
        patches, params = _unset(path)
        name = f"{rule.id}-not-configured-{path}"
        out.append(Case(name, "test_requirements.py", patches, {rule.id: Result.SKIP}, _stage(rule), params))
    return out


ABSENT = [c for c in (_absent_case(r) for r in RULES) if c is not None]
NOT_CONFIGURED = [c for r in RULES for c in _not_configured_cases(r)]


def test_the_library_declares_requirements_for_every_rule() -> None:
    assert len(RULES) == len(all_packs().rules)
    covered = {c.name.split("-absent")[0] for c in ABSENT} | {
        c.name.split("-not-configured")[0] for c in NOT_CONFIGURED
    }
    only_spec = {r.id for r in RULES if all(p.startswith("spec") for p in r.requires.evidence)}
    unconfigurable = {r.id for r in RULES if not r.requires.configured_by}
    assert covered | (only_spec & unconfigurable) == {r.id for r in RULES}


def _check(case: Case, embedded_backend: Backend, opa_backend: Backend) -> None:
    embedded = decide(embedded_backend, case)
    opa = decide(opa_backend, case)
    (rule, want), *_ = case.expect.items()
    for decision in (embedded, opa):
        assert not decision.errors, f"{decision.backend}: {decision.errors}"
        got = {r.rule_id: r for r in decision.results}[rule]
        assert got.result is want, f"{case.name} on {decision.backend}: {got.result.value}: {got.message}"
        if want is Result.SKIP:
            assert got.message.startswith("not configured: "), got.message
    assert canonical(per_rule(embedded)) == canonical(per_rule(opa))


@pytest.mark.parametrize("case", ABSENT, ids=[c.name for c in ABSENT])
def test_evidence_absent_is_never_a_pass(case: Case, embedded_backend: Backend, opa_backend: Backend) -> None:
    _check(case, embedded_backend, opa_backend)


@pytest.mark.parametrize("case", NOT_CONFIGURED, ids=[c.name for c in NOT_CONFIGURED])
def test_not_configured_is_a_skip(case: Case, embedded_backend: Backend, opa_backend: Backend) -> None:
    _check(case, embedded_backend, opa_backend)
