"""The one pipeline every command runs: spec + options → policy set + params → decision record.

``govern check``, every gate, ``govern card`` (when it decides) and ``govern replay`` call
:class:`Pipeline`, so the same options mean the same thing everywhere: the backend (embedded or
a real OPA), extra policy folders and their Rego version, whether the built-in library applies,
``--param`` overrides, the day waivers are judged, and the OPA-shaped decision log.

    options = PipelineOptions(backend=BackendName.OPA, opa_url="http://127.0.0.1:8181")
    with Pipeline(spec, options) as pipeline:
        record = pipeline.decide(evidence, Stage.DEPLOY)

The policies are loaded (and a broken one reported) when the pipeline is built, before any slow
evidence collection; the backend is started on ``__enter__`` and holds the policies for every
decision the pipeline takes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from .backends import Backend, BackendName, create_backend
from .backends.bounded import EvalLimits
from .check import Checker
from .decision_log import decision_log_record
from .errors import ConfigError, Location
from .evidence.document import EvidenceDocument, canonical_digest
from .params import build_params, param_sources, parse_param_override
from .policyset import PolicySet, load_policy_set
from .record import DecisionRecord, EvidenceRef, PolicyRef, SpecRef
from .spec import ModelSpec, PolicySource, Stage

__all__ = ["Pipeline", "PipelineOptions"]


@dataclass(frozen=True)
class PipelineOptions:
    """What a command may change about how a decision is taken. The defaults are the common case."""

    backend: BackendName = BackendName.EMBEDDED
    opa_url: str | None = None
    policies: tuple[PolicySource, ...] = ()  # beyond the spec's own policies.paths
    builtin: bool = True
    params: tuple[str, ...] = ()  # --param key.path=value, in order
    decision_log: Path | None = None
    as_of: dt.date | None = None  # judge waivers as of this day (check and replay only)
    labels: Mapping[str, str] = field(default_factory=dict)
    allow_empty: bool = False  # accept a policy set with no deny/warn rule for the stage
    limits: EvalLimits | None = None  # the embedded engine's deadline and memory (None: env or defaults)


class Pipeline:
    """A spec's policies and parameters, and a backend holding them, ready to decide."""

    def __init__(
        self,
        spec: ModelSpec,
        options: PipelineOptions | None = None,
        *,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        """``params`` replaces the computed parameters (a replay judges with the recorded ones)."""
        self.spec = spec
        self.options = options or PipelineOptions()
        overrides = [parse_param_override(p) for p in self.options.params]
        # Policies first: a broken policy is reported before any slow collection.
        self.policy_set: PolicySet = load_policy_set(
            spec, self.options.policies, builtin=self.options.builtin
        )
        self.params: dict[str, Any] = dict(params) if params is not None else build_params(spec, overrides)
        self.param_sources = param_sources(spec, overrides)  # where each threshold came from
        self._backend: Backend | None = None
        self._checker: Checker | None = None

    def __enter__(self) -> Pipeline:
        backend = create_backend(self.options.backend.value, self.options.opa_url, limits=self.options.limits)
        try:
            self._checker = Checker(
                self.spec,
                self.policy_set,
                backend,
                self.params,
                allow_empty=self.options.allow_empty,
                sources=self.param_sources,
            )
        except BaseException:
            backend.close()
            raise
        self._backend = backend
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
        self._backend = None
        self._checker = None

    @property
    def checker(self) -> Checker:
        if self._checker is None:
            raise RuntimeError("use the pipeline inside `with Pipeline(...) as pipeline:`")
        return self._checker

    def policy_ref(self) -> PolicyRef:
        return PolicyRef(
            digest=self.policy_set.digest,
            builtin=self.options.builtin,
            packs=self.spec.packs,
            sources=tuple(
                {"path": str(s.path), "rego_version": s.rego_version.value} for s in self.options.policies
            ),
            modules=tuple(
                {"path": m.path, "rego_version": m.rego_version.value, "sha256": m.sha256}
                for m in self.policy_set.modules
            ),
        )

    def decide(
        self, evidence: EvidenceDocument, stage: Stage | None, as_of: dt.date | None = None
    ) -> DecisionRecord:
        """Judge ``evidence`` at ``stage``; the record carries the evidence inline."""
        checker = self.checker
        decision = checker.decide(evidence, stage, as_of or self.options.as_of)
        canonical = canonical_digest(evidence.value)
        record = DecisionRecord(
            decision=decision,
            params=self.params,
            spec=SpecRef(self.spec.name, self.spec.source, self.spec.sha256, self.spec.text),
            evidence_ref=EvidenceRef(
                sha256=evidence.sha256 or canonical, canonical=canonical, source=evidence.source
            ),
            policy=self.policy_ref(),
            evidence=evidence.value,
            labels=dict(self.options.labels),
            overrides=self.options.params,
        )
        if self.options.decision_log is not None:
            append_decision_log(
                self.options.decision_log, record, checker.prepare_input(evidence, decision.stage).value
            )
        return record


def append_decision_log(path: Path, record: DecisionRecord, input_doc: Mapping[str, Any]) -> None:
    """Append one OPA-shaped decision-log event (a JSON line) for ``record`` to ``path``."""
    line = json.dumps(decision_log_record(record.decision, input_doc), sort_keys=True) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigError(
            f"cannot append to the decision log: {exc.strerror}", Location(str(path), None, "--decision-log")
        ) from None
