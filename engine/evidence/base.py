"""The collector interface: each source of evidence fills sections of the document.

A collector returns the sections it owns; a section it cannot fill is ``None`` with the reason
in ``missing`` (never silently absent). Collectors wrap their library's errors in
:class:`~govern.engine.errors.CollectionError`.

Collectors that need the model itself (fairness, explanations, data quality and drift) receive
a :class:`ModelContext`: the loaded model and the evaluation data, loaded once and shared, so
the model predicts once per collection.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..spec import ModelSpec, Stage

if TYPE_CHECKING:  # heavy imports only for the type checker
    import numpy as np
    import pandas as pd

__all__ = ["Collected", "Collector", "ModelContext", "Progress"]

#: ``progress(step, completed, total)``: collectors report long steps through it.
Progress = Callable[[str, int, int], None]


def no_progress(_step: str, _completed: int, _total: int) -> None:
    """The default progress callback: silent."""


@dataclass
class Collected:
    """What one collector found: sections, reasons for missing ones, and inputs it read."""

    sections: dict[str, Any] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)  # name → sha256


@dataclass
class ModelContext:
    """The model and the data it is judged on, loaded once per collection."""

    model_uri: str
    flavor: str  # "sklearn", "python_function", ...
    native: Any  # the flavour's own model object (e.g. an sklearn Pipeline), or the pyfunc model
    predict: Callable[[pd.DataFrame], np.ndarray[Any, Any]]
    predict_proba: Callable[[pd.DataFrame], np.ndarray[Any, Any]] | None
    features: list[str]  # model input columns, in order
    target: str
    evaluation: pd.DataFrame  # features + target (+ sensitive columns)
    reference: pd.DataFrame | None = None
    positive_label: Any = None
    signature: dict[str, Any] | None = None
    seed: int = 0
    sample: int | None = None
    inputs: dict[str, str] = field(default_factory=dict)  # data files read: name → sha256
    # labels and the positive class's score from one pass, when the model allows it
    predict_with_scores: (
        Callable[[pd.DataFrame], tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] | None
    ) = None


class Collector(ABC):
    name: ClassVar[str]
    sections: ClassVar[tuple[str, ...]]

    @abstractmethod
    def collect(self, spec: ModelSpec, stage: Stage) -> Collected:
        """Gather this collector's sections for ``spec`` at ``stage``."""
