"""How numbers reach the engines: an integral float as an integer.

OPA keeps a number's text: ``1.0`` is a float to its ``sprintf`` (``%d`` of it writes
``%!d(float64=1)``), ``1`` an integer. regorus holds both as the integer 1, so no extension can
tell them apart. Where a team policy formats numbers, govern therefore hands both engines the
same input and data with every integral float written as an integer (``1.0`` → ``1``,
``1e+16`` → ``10000000000000000``): the values are equal in Rego (``1 == 1.0``), and only the
text ``sprintf`` writes for them changes, the same way on both engines. The evidence and the
record keep the numbers as given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .policyset import PolicySet

__all__ = ["engine_data", "formats_numbers", "integral_floats_as_integers", "rego_json"]

#: A token that may be an integral float (in a string too: that only costs the slow path).
_MAYBE_INTEGRAL: Final = re.compile(r"\d\.0(?![0-9]*[1-9])|\d[eE]\+?\d")
_LIMIT: Final = 2**63


def formats_numbers(policy_set: PolicySet) -> bool:
    """Whether a team policy of the set formats values (``sprintf``): then, and only then, the
    engines read integral floats as integers (the one place where 1.0 and 1 can read
    differently), so that a set of built-in packs alone costs nothing."""
    return any(not module.builtin and "sprintf" in module.text for module in policy_set.modules)


def engine_data(policy_set: PolicySet, data: Mapping[str, Any]) -> Any:
    """The data document the engines load for ``policy_set`` (the checker, and a bundle built
    for an OPA server, alike)."""
    return integral_floats_as_integers(dict(data)) if formats_numbers(policy_set) else data


def integral_floats_as_integers(value: Any) -> Any:
    """``value`` with every integral float (within 64 bits) an ``int``; the rest unchanged."""
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < _LIMIT else value
    if isinstance(value, dict):
        return {key: integral_floats_as_integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [integral_floats_as_integers(item) for item in value]
    return value


def rego_json(text: str) -> str:
    """JSON text as the engines read it: the same document, integral floats as integers
    (unchanged, without parsing, when no token of the text can be one)."""
    if _MAYBE_INTEGRAL.search(text) is None:
        return text
    return json.dumps(json.loads(text, parse_float=_number))


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < _LIMIT else value
