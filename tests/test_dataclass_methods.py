"""shared_methods gives a frozen dataclass the equality, hash and repr @dataclass would generate."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from govern.engine import decision, policyset, record, spec
from govern.engine.backends import bounded
from govern.engine.dataclass_methods import shared_methods
from govern.engine.formats import RenderOptions
from govern.engine.formats import locations as formats_locations

from .conftest import EVIDENCE, SPEC


def _pair(**options: Any) -> tuple[type, type]:
    """The same class twice: generated methods, and shared ones."""
    body: dict[str, Any] = {
        "__annotations__": {"a": "int", "b": "Any", "c": "str", "d": "Any"},
        "b": field(default=None, **options),
        "c": "x",
        "d": field(default=(), compare=False, repr=False),
    }
    generated = dataclass(frozen=True)(type("Row", (), dict(body)))
    shared = shared_methods(dataclass(frozen=True, eq=False, repr=False)(type("Row", (), dict(body))))
    return generated, shared


@pytest.mark.parametrize(
    "options", [{}, {"compare": False}, {"repr": False}, {"hash": False}, {"hash": True, "compare": False}]
)
def test_same_equality_hash_and_repr_as_generated(options: dict[str, Any]) -> None:
    generated, shared = _pair(**options)
    rng = random.Random(3)
    values: list[Any] = [None, 0, 1, "x", (1, 2), frozenset({1}), 2.5, True]
    for _ in range(300):
        args = (rng.choice([0, 1]), rng.choice(values), rng.choice(["x", "y"]), rng.choice(values))
        other = (rng.choice([0, 1]), rng.choice(values), rng.choice(["x", "y"]), rng.choice(values))
        g1, g2 = generated(*args), generated(*other)
        s1, s2 = shared(*args), shared(*other)
        assert repr(s1) == repr(g1)
        assert (s1 == s2) == (g1 == g2)
        assert (s1 != s2) == (g1 != g2)
        assert hash(s1) == hash(g1)
        assert (s1 == args) is False  # another class: not equal
        assert s1.__eq__(g1) is NotImplemented


def test_a_cycle_is_shown_as_dots() -> None:
    generated, shared = _pair()
    inner_g: list[Any] = []
    inner_s: list[Any] = []
    g, s = generated(1, inner_g), shared(1, inner_s)
    inner_g.append(g)
    inner_s.append(s)
    assert repr(s) == repr(g) == "Row(a=1, b=[...], c='x')"


def test_a_method_of_the_class_is_kept() -> None:
    @shared_methods
    @dataclass(frozen=True, eq=False, repr=False)
    class Own:
        a: int

        def __repr__(self) -> str:
            return "mine"

        def __hash__(self) -> int:
            return 7

    assert repr(Own(1)) == "mine"
    assert hash(Own(1)) == 7
    assert Own(1) == Own(1)


def test_only_frozen_classes_without_generated_methods() -> None:
    @dataclass(frozen=True)
    class Generated:
        a: int

    with pytest.raises(TypeError, match="eq=False, repr=False"):
        shared_methods(Generated)


ENGINE_CLASSES = [
    cls
    for module in (spec, decision, record, policyset, formats_locations, bounded)
    for cls in vars(module).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
] + [RenderOptions]


@pytest.mark.parametrize("cls", ENGINE_CLASSES, ids=lambda c: c.__qualname__)
def test_every_engine_record_keeps_its_dataclass_contract(cls: type) -> None:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen
    assert cls.__eq__.__qualname__ == f"{cls.__qualname__}.__eq__"
    assert cls.__hash__ is not None
    assert cls.__repr__.__qualname__ == f"{cls.__qualname__}.__repr__"


def test_a_decision_compares_hashes_and_shows_as_before() -> None:
    from govern.engine.backends.embedded import EmbeddedBackend
    from govern.engine.check import Checker
    from govern.engine.evidence import load_evidence
    from govern.engine.policyset import load_policy_set

    model = spec.load_spec(Path(SPEC))
    assert model == spec.load_spec(Path(SPEC))
    assert model.waivers
    assert hash(model.waivers[0]) == hash(spec.load_spec(Path(SPEC)).waivers[0])
    assert repr(model.metadata).startswith(f"Metadata(name={model.name!r}, ")
    with pytest.raises(TypeError, match="unhashable"):  # as with generated methods: a mapping inside
        hash(model.metadata)
    checker = Checker.for_spec(model, load_policy_set(model), EmbeddedBackend())
    found = checker.decide(load_evidence(Path(EVIDENCE)), None, dt.date(2026, 11, 27))
    again = dataclasses.replace(found)
    assert again == found
    assert again is not found
    assert found.results[0] == dataclasses.replace(found.results[0])
    assert repr(found.results[0]).startswith("RuleResult(")
