"""Every engine module says what it exports, and exports what it says."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import govern.engine

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(govern.engine.__path__, prefix="govern.engine.")
)


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    if name == "govern.engine.evidence.spark":
        pytest.importorskip("pyspark", reason="the Spark collector needs the spark extra")
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    missing = [symbol for symbol in exported if not hasattr(module, symbol)]
    assert not missing, f"{name}.__all__ names {missing}, which it does not define"
