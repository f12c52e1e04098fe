"""``__eq__``, ``__hash__`` and ``__repr__`` for frozen dataclasses, shared instead of generated.

``@dataclass`` writes the source of each method it adds and compiles it (``exec``) for every
class: for a frozen class, its equality, hash and repr are more than half of the ~0.6 ms the
class costs to define, and a cold ``govern check`` defines about thirty of them.
:func:`shared_methods` gives a class declared ``@dataclass(frozen=True, eq=False, repr=False)``
the three methods ``@dataclass(frozen=True)`` would have generated, with the same behaviour:

* ``==`` compares the ``compare`` fields, as a tuple, of two instances of the very same class
  (``NotImplemented`` otherwise);
* ``hash`` is the hash of the tuple of the fields that take part in it (``compare`` fields,
  unless ``hash=`` says otherwise), unless the class defines its own;
* ``repr`` is ``QualifiedName(field=value, ...)`` over the ``repr`` fields, ``...`` for an
  instance already being shown (a cycle).

A method the class body defines itself is kept, as dataclasses keep it.
"""

from __future__ import annotations

import _thread
from collections.abc import Callable
from dataclasses import MISSING, fields
from operator import attrgetter
from typing import Any, TypeVar

__all__ = ["shared_methods"]

_C = TypeVar("_C", bound=type)


def _tuple_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The values of ``names`` of an object, always as a tuple (``attrgetter`` in C)."""
    if len(names) >= 2:
        return attrgetter(*names)
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def shared_methods(cls: _C) -> _C:
    """Add the shared ``__eq__``, ``__hash__`` and ``__repr__`` to a frozen dataclass declared
    with ``eq=False, repr=False`` (anything else is a programming error)."""
    params = cls.__dict__.get("__dataclass_params__")
    if params is None or not params.frozen or params.eq or params.repr or params.order:
        raise TypeError(f"{cls.__qualname__}: declare it @dataclass(frozen=True, eq=False, repr=False)")
    all_fields = fields(cls)
    compared = _tuple_getter(tuple(f.name for f in all_fields if f.compare))
    hashed = _tuple_getter(tuple(f.name for f in all_fields if (f.compare if f.hash is None else f.hash)))
    shown = tuple(f.name for f in all_fields if f.repr)
    qualname = cls.__qualname__
    # what dataclasses counts as a hash of the class's own (it keeps it)
    class_hash = cls.__dict__.get("__hash__", MISSING)
    explicit_hash = not (class_hash is MISSING or (class_hash is None and "__eq__" in cls.__dict__))

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(hashed(self))

    running: set[tuple[int, int]] = set()

    def __repr__(self: Any) -> str:
        key = id(self), _thread.get_ident()
        if key in running:
            return "..."
        running.add(key)
        try:
            body = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
            return f"{self.__class__.__qualname__}({body})"
        finally:
            running.discard(key)

    for name, method in (("__eq__", __eq__), ("__hash__", __hash__), ("__repr__", __repr__)):
        if name in cls.__dict__ and not (name == "__hash__" and not explicit_hash):
            continue
        method.__qualname__ = f"{qualname}.{name}"
        setattr(cls, name, method)
    return cls
