"""The text format without colour is drawn without Rich, character for character as Rich draws it.

Each decision is rendered twice: by the text format as ``govern check`` renders it (the plain
layout when it applies) and by Rich; the two must be equal, on the golden decisions and on
generated ones (long words, many lines, long rule ids, every width from narrow to wide).
"""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import replace

import pytest

from govern.engine.decision import Decision, Result, RuleResult, Violation
from govern.engine.formats import text, text_plain
from govern.engine.formats.sanitize import sanitize_decision
from govern.engine.policyset import Severity

from .conftest import EVIDENCE, ROOT, SPEC
from .golden import cases

_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789.:_-=/()[]{}<>|%,"


def _both(decision: Decision, width: int) -> tuple[str, str]:
    return text.render(decision, color=False, width=width), text._render_rich(
        decision, color=False, width=width
    )


def _plain_used(decision: Decision, width: int) -> bool:
    calls: list[object] = []
    real = text_plain.render

    def spy(*args: object, **kwargs: object) -> object:
        out = real(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(out)
        return out

    text_plain.render = spy  # type: ignore[assignment]
    try:
        text.render(decision, color=False, width=width)
    finally:
        text_plain.render = real
    return calls[0] is not None


def _words(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(0, 30)):
        size = rng.choice([1, 2, 3, 5, 8, 13, 21, 40, 90])
        out.append("".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, size))))
        out.append(rng.choice([" ", " ", " ", "  ", "\n", "   "]))
    return "".join(out).strip(" ") if rng.random() < 0.8 else "".join(out)


def _random_decision(rng: random.Random, base: Decision) -> Decision:
    results = []
    for i in range(rng.randint(1, 12)):
        violations = tuple(
            Violation(_words(rng), {_words(rng)[:12] or "k": _words(rng)[:60], "value": rng.random()})
            for _ in range(rng.randint(0, 6))
        )
        results.append(
            RuleResult(
                rule_id=(f"R-{i}-" + "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 50)))),
                package="team.generated",
                rule=f"deny_{i}",
                result=rng.choice(list(Result)),
                severity=rng.choice(list(Severity)),
                message=_words(rng),
                violations=violations,
            )
        )
    errors = tuple(_words(rng) for _ in range(rng.randint(0, 2)))
    return replace(base, results=tuple(results), errors=errors)


@pytest.mark.parametrize("case", sorted(cases.DECISIONS))
@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 160, 240])
def test_golden_decisions_match_rich(case: str, width: int) -> None:
    decision = sanitize_decision(cases.DECISIONS[case]())
    plain, rich = _both(decision, width)
    assert plain == rich
    if case == "pass" and width >= 60:
        assert _plain_used(decision, width)


@pytest.mark.parametrize("seed", range(60))
def test_generated_decisions_match_rich(seed: int) -> None:
    rng = random.Random(seed)
    base = sanitize_decision(cases.DECISIONS["pass"]())
    decision = sanitize_decision(_random_decision(rng, base))
    width = rng.choice([40, 41, 57, 80, 99, 120, 133, 200])
    plain, rich = _both(decision, width)
    assert plain == rich, f"seed {seed} width {width}"


def test_generated_decisions_mostly_take_the_plain_layout() -> None:
    used = 0
    base = sanitize_decision(cases.DECISIONS["pass"]())
    for seed in range(60):  # the same decisions and widths as above
        rng = random.Random(seed)
        decision = sanitize_decision(_random_decision(rng, base))
        used += _plain_used(decision, rng.choice([40, 41, 57, 80, 99, 120, 133, 200]))
    print(f"plain layout used for {used} of 60")
    assert used >= 30


def test_the_plain_layout_covers_what_it_claims() -> None:
    rng = random.Random(7)
    base = sanitize_decision(cases.DECISIONS["pass"]())
    used = sum(_plain_used(sanitize_decision(_random_decision(rng, base)), 120) for _ in range(20))
    assert used >= 18  # ASCII text at width 120: Rich is the exception, not the rule
    wide = replace(base, errors=("naïve 名前",))
    assert not _plain_used(wide, 120)  # a character Rich may draw two cells wide: Rich draws it
    assert text.render(wide, color=False, width=120) == text._render_rich(wide, color=False, width=120)
    assert not _plain_used(base, 39)


def test_check_to_a_pipe_does_not_import_rich() -> None:
    probe = (
        "import sys, contextlib, io\n"
        "from govern.cli.main import app\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        f"        app(['check', {str(SPEC)!r}, '--evidence', {str(EVIDENCE)!r}, '--as-of', '2026-11-27'],"
        " standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert 'GOV-FAIR-001' in out.getvalue(), out.getvalue()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True, cwd=ROOT
    )
    assert proc.stdout.strip() == "[]", proc.stdout
