"""Collection from Parquet data larger than memory: the model sections computed batch by batch.

When the evaluation data is Parquet (a file or a folder of files, read with
``pyarrow.dataset``) and ``data.evaluation.streaming`` asks for it (``true``, or absent / an
object and the data take more than ``threshold_bytes`` on disk, 1 GiB by default, or hold more
than ``threshold_rows`` rows, 2,000,000 by default), the
performance, fairness, explanations and data sections are computed without holding the rows:

- **pass 1** reads the batches once for the target's labels (the positive label is decided as
  in memory) and the seeded samples: the rows SHAP explains and its background, drawn with the
  same generator as ``DataFrame.sample`` (the same rows as the in-memory path), and the
  ``sample_rows`` rows (default 200,000; every row when fewer) the proxy check runs on;
- **pass 2** scores each batch once (the in-memory rules of :func:`.model.predictions`) and
  adds up, per sensitive feature and intersection, the ``(group, y_true, y_pred)`` confusion
  cells (a classifier's fairness figures depend on these counts alone:
  :func:`.fairness.classification_from_cells`, shared with the in-memory path); labels,
  predictions and scores are kept as compact arrays (int8, int8, float64: 10 bytes a row) for
  the performance metrics, which are then exact (ROC AUC included). A regressor keeps its
  labels, predictions and group codes and runs the in-memory functions on them.
- **data**: per column its null count; per model feature its exact value counts (numeric:
  the distinct values and how many times each occurs; categorical: category counts), for the
  evaluation and the reference data. Numeric drift runs ``ks_2samp`` and the PSI on the values
  rebuilt from those counts (the same sorted values as the rows: identical figures);
  categorical drift runs on the category counts (chi-square, Jensen-Shannon, PSI: equal to the
  in-memory figures up to floating-point summation order, about 1e-12 relative).

The evidence equals the in-memory path's on data that fit in memory (tests/test_evidence_streaming.py):
counts, group sizes, performance and fairness figures exactly, drift to 1e-12, explanations
exactly (the same rows), proxies exactly when the data have at most ``sample_rows`` rows (else
they are measured on the sample). Batches that differ from the whole file are not an excuse to
pass: a batch the model cannot score, a column of the wrong type, a sensitive feature with one
group are errors as in memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CollectionError, SpecError
from ..spec import ModelSpec
from .base import Collected, ModelContext, Progress, no_progress
from .model import (
    Predictions,
    _check_columns,
    _dataset_spec,
    _evaluation_target,
    _load_error,
    _load_model,
    _named_inputs,
    _positive_label,
    _positive_labelled,
    _positive_proba,
    _signature_dict,
    _spec_error,
    context_of,
    is_classifier,
    predictions,
    signature_violations,
    spec_location,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as pads

    from .fairness import FairnessSettings

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_SAMPLE_ROWS",
    "DEFAULT_THRESHOLD_BYTES",
    "DEFAULT_THRESHOLD_ROWS",
    "StreamSettings",
    "should_stream",
    "stream_settings",
    "streamed_model_sections",
]

DEFAULT_THRESHOLD_BYTES = 1 << 30
DEFAULT_THRESHOLD_ROWS = 2_000_000
DEFAULT_BATCH_ROWS = 1 << 18
DEFAULT_SAMPLE_ROWS = 200_000


@dataclass(frozen=True)
class StreamSettings:
    mode: bool | None  # True: always, False: never, None: by size
    threshold_bytes: int = DEFAULT_THRESHOLD_BYTES
    threshold_rows: int = DEFAULT_THRESHOLD_ROWS
    batch_rows: int = DEFAULT_BATCH_ROWS
    sample_rows: int = DEFAULT_SAMPLE_ROWS


def stream_settings(spec: ModelSpec, threshold_bytes: int | None = None) -> StreamSettings:
    """``data.evaluation.streaming`` read; ``threshold_bytes`` (a CLI option) wins over the spec's."""
    ds = _dataset_spec(spec, "evaluation") or {}
    raw = ds.get("streaming")
    if isinstance(raw, bool):
        mode: bool | None = raw
        options: Mapping[str, Any] = {}
    else:
        mode = None
        options = raw if isinstance(raw, Mapping) else {}
    threshold = threshold_bytes if threshold_bytes is not None else options.get("threshold_bytes")
    return StreamSettings(
        mode,
        int(threshold) if threshold is not None else DEFAULT_THRESHOLD_BYTES,
        int(options.get("threshold_rows", DEFAULT_THRESHOLD_ROWS)),
        int(options.get("batch_rows", DEFAULT_BATCH_ROWS)),
        int(options.get("sample_rows", DEFAULT_SAMPLE_ROWS)),
    )


def _parquet_path(spec: ModelSpec, key: str, base_dir: Path) -> Path | None:
    """The local Parquet file or folder of dataset ``key``, or None when it is not one."""
    ds = _dataset_spec(spec, key)
    if ds is None or ("path" not in ds and not str(ds.get("uri", "")).startswith("file://")):
        return None
    raw = str(ds["path"]) if "path" in ds else str(ds["uri"]).removeprefix("file://")
    path = Path(raw) if Path(raw).is_absolute() else base_dir / raw
    declared = ds.get("format")
    suffixes = [s.lower() for s in path.suffixes]
    parquet = declared == "parquet" or (declared is None and (".parquet" in suffixes or ".pq" in suffixes))
    if not parquet:
        return None
    if not path.exists():
        field_name = "path" if "path" in ds else "uri"
        raise _spec_error(spec, ("data", key, field_name), f"no such data file or folder: {path}")
    return path


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in _files(path))


def should_stream(spec: ModelSpec, base_dir: Path, threshold_bytes: int | None = None) -> bool:
    """Whether the evaluation data is collected in batches (see the module's docstring)."""
    settings = stream_settings(spec, threshold_bytes)
    if settings.mode is False:
        return False
    path = _parquet_path(spec, "evaluation", base_dir)
    if path is None:
        if settings.mode:
            raise _spec_error(
                spec,
                ("data", "evaluation", "streaming"),
                "streaming reads Parquet only; the evaluation data is not a local Parquet file or folder",
            )
        return False
    ds = _dataset_spec(spec, "evaluation") or {}
    if ds.get("sample") is not None:
        if settings.mode:
            raise _spec_error(
                spec,
                ("data", "evaluation", "sample"),
                "a sampled dataset is read in memory; drop either 'sample' or 'streaming: true'",
            )
        return False
    if settings.mode or _size(path) > settings.threshold_bytes:
        return True
    return _rows(path) > settings.threshold_rows


def _rows(path: Path) -> int:
    """The row count from the Parquet footers (no data read); unreadable: 0 (the reader reports it)."""
    import pyarrow.dataset as ds_mod

    try:
        return int(ds_mod.dataset(str(path), format="parquet").count_rows())
    except Exception:
        return 0


def _digest(path: Path) -> str:
    """sha256 of a file; of a folder, of its files' relative names and sha256 in order."""
    from .model import _sha256

    if path.is_file():
        return _sha256(path)
    digest = hashlib.sha256()
    for file in _files(path):
        digest.update(f"{file.relative_to(path).as_posix()}\0{_sha256(file)}\n".encode())
    return digest.hexdigest()


# --------------------------------------------------------------------------- reading


@dataclass
class _Source:
    """A dataset read in batches: a Parquet dataset, or a frame already in memory (one batch)."""

    name: str
    digest: str
    dataset: pads.Dataset | None
    frame: pd.DataFrame | None
    columns: list[str]
    rows: int
    batch_rows: int

    def batches(self) -> Iterator[tuple[int, pd.DataFrame]]:
        """(offset of the first row, rows as pandas) per batch, in file order."""
        offset = 0
        if self.frame is not None:
            yield 0, self.frame
            return
        assert self.dataset is not None
        batches = self.dataset.to_batches(
            columns=self.columns, batch_size=self.batch_rows, batch_readahead=1, fragment_readahead=1
        )
        for batch in batches:
            if batch.num_rows == 0:
                continue
            frame = batch.to_pandas()
            frame.index = range(offset, offset + batch.num_rows)
            yield offset, frame
            offset += batch.num_rows

    def empty(self) -> pd.DataFrame:
        """No rows, the whole data's dtypes (as ``pd.read_parquet`` gives them when no nulls)."""
        if self.frame is not None:
            return self.frame.iloc[:0]
        assert self.dataset is not None
        return self.dataset.schema.empty_table().select(self.columns).to_pandas()

    def arrow_types(self) -> dict[str, pa.DataType]:
        if self.dataset is None:
            return {}
        return {name: self.dataset.schema.field(name).type for name in self.columns}


def _open(spec: ModelSpec, key: str, base_dir: Path, batch_rows: int) -> _Source:
    import pyarrow.dataset as ds_mod

    from .model import read_dataset

    ds = _dataset_spec(spec, key) or {}
    path = _parquet_path(spec, key, base_dir)
    if path is None:  # a CSV (or remote) dataset: read whole, handled as one batch
        frame, name, digest, _ = read_dataset(spec, key, base_dir, sample=None, seed=0)
        return _Source(name, digest, None, frame, [str(c) for c in frame.columns], len(frame), batch_rows)
    name = str(ds.get("path") or ds.get("uri"))
    try:
        dataset = ds_mod.dataset(str(path), format="parquet")
    except Exception as exc:
        raise CollectionError(f"cannot read the {key} data {name} as parquet: {exc}") from exc
    available = list(dataset.schema.names)
    wanted = ds.get("columns")
    if wanted is not None:
        missing = [c for c in wanted if c not in available]
        if missing:
            raise _spec_error(
                spec, ("data", key, "columns"), f"cannot read the columns named: {missing} are not in {name}"
            )
        columns = [str(c) for c in wanted]
    else:
        columns = [str(c) for c in available]
    return _Source(name, _digest(path), dataset, None, columns, int(dataset.count_rows()), batch_rows)


# --------------------------------------------------------------------------- samples


def _pandas_sample(rows: int, size: int, seed: int) -> np.ndarray[Any, Any] | None:
    """The row positions ``DataFrame.sample(n=size, random_state=seed)`` picks, in its order."""
    import numpy as np

    if size >= rows:
        return None  # every row, in order
    picked: np.ndarray[Any, Any] = np.random.RandomState(seed).choice(rows, size=size, replace=False)
    return picked.astype(np.intp, copy=False)


@dataclass
class _Gather:
    """Rows picked by position while the batches go by, returned in the order asked."""

    wanted: np.ndarray[Any, Any] | None  # None: every row
    parts: list[pd.DataFrame] = field(default_factory=list)
    ordered: np.ndarray[Any, Any] | None = None

    def add(self, offset: int, frame: pd.DataFrame) -> None:
        import numpy as np

        if self.wanted is None:
            self.parts.append(frame)
            return
        if self.ordered is None:
            self.ordered = np.sort(self.wanted)
        ordered = self.ordered
        low, high = np.searchsorted(ordered, [offset, offset + len(frame)])
        if high > low:
            self.parts.append(frame.iloc[ordered[low:high] - offset])

    def frame(self, empty: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        if not self.parts:
            return empty
        whole = pd.concat(self.parts) if len(self.parts) > 1 else self.parts[0]
        if self.wanted is not None:
            whole = whole.loc[self.wanted]
        return whole


# --------------------------------------------------------------------------- groups


class _Groups:
    """Group keys of one feature or intersection, numbered in order of first appearance."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.ids: dict[tuple[Any, ...], int] = {}

    def codes(self, frame: pd.DataFrame, values: dict[str, _Values]) -> np.ndarray[Any, Any]:
        import numpy as np

        parts = [values[c].codes(frame[c]) for c in self.columns]
        if len(parts) == 1:
            flat, inverse = np.unique(parts[0], return_inverse=True)
            keys = flat[:, None]
        else:
            keys, inverse = np.unique(np.stack(parts, axis=1), axis=0, return_inverse=True)
        local = np.asarray(
            [self.ids.setdefault(tuple(k), len(self.ids)) for k in keys.tolist()], dtype=np.int64
        )
        out: np.ndarray[Any, Any] = local[np.asarray(inverse).ravel()]
        return out

    def order(self, values: dict[str, _Values]) -> tuple[np.ndarray[Any, Any], list[str]]:
        """(new position of each id, group names), groups sorted as :func:`.fairness.group_codes` sorts."""
        import numpy as np

        from .fairness import group_name

        ranks = [values[c].ranks() for c in self.columns]
        keys = list(self.ids)
        order = sorted(
            range(len(keys)), key=lambda i: tuple(r[k] for r, k in zip(ranks, keys[i], strict=True))
        )
        position = np.empty(len(keys), dtype=np.int64)
        position[order] = np.arange(len(keys))
        names = [
            "&".join(group_name(values[c].values[k]) for c, k in zip(self.columns, keys[i], strict=True))
            for i in order
        ]
        return position, names


class _Values:
    """The distinct values of one column (missing values are one value), numbered as they appear."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.values: list[Any] = []
        self.has_null = False
        self.null_id = -1

    def codes(self, series: pd.Series) -> np.ndarray[Any, Any]:
        import numpy as np
        import pandas as pd

        local, uniques = pd.factorize(series, use_na_sentinel=True)
        mapping = np.empty(len(uniques) + 1, dtype=np.int64)
        for i, value in enumerate(uniques.tolist()):
            if value not in self.index:
                self.index[value] = len(self.values)
                self.values.append(value)
            mapping[i] = self.index[value]
        if (local < 0).any():
            if self.null_id < 0:
                self.null_id = len(self.values)
                self.values.append(None)
            mapping[-1] = self.null_id
        else:
            mapping[-1] = -1
        out: np.ndarray[Any, Any] = mapping[np.asarray(local)]
        return out

    def ranks(self) -> list[int]:
        """Each value's rank in ``pd.factorize(sort=True)`` order (missing last)."""
        import pandas as pd

        codes, _ = pd.factorize(
            pd.Series(self.values, dtype=object if self.null_id >= 0 else None),
            sort=True,
            use_na_sentinel=False,
        )
        return [int(c) for c in codes]


# --------------------------------------------------------------------------- data evidence


@dataclass
class _Profile:
    """Per column: null count; per model feature: exact value counts."""

    features: list[str]
    rows: int = 0
    nulls: dict[str, int] = field(default_factory=dict)
    numeric: dict[str, list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]]] = field(default_factory=dict)
    categories: dict[str, dict[Any, int]] = field(default_factory=dict)
    type_violations: dict[str, str] = field(default_factory=dict)  # column → first message
    dtypes: dict[str, Any] = field(default_factory=dict)  # column → the whole data's dtype

    def add(self, frame: pd.DataFrame, signature: dict[str, Any] | None) -> None:
        import numpy as np

        from .quality import _values

        self.rows += len(frame)
        for column, count in frame.isna().sum().items():
            self.nulls[str(column)] = self.nulls.get(str(column), 0) + int(count)
        for violation in signature_violations(frame, signature, null_counts={}):
            if violation.blocking and violation.column in frame.columns:
                self.type_violations.setdefault(violation.column, violation.message)
        for column in self.features:
            if column not in frame.columns:
                continue
            if _is_numeric_dtype(self.dtypes[column]):
                values, counts = np.unique(_values(frame[column]), return_counts=True)
                parts = self.numeric.setdefault(column, [])
                parts.append((values, counts))
                if len(parts) > 16:
                    self.numeric[column] = [_merge(parts)]
            else:
                table = self.categories.setdefault(column, {})
                for value, count in frame[column].value_counts(dropna=True, sort=False).items():
                    table[value] = table.get(value, 0) + int(count)

    def sorted_values(self, column: str) -> np.ndarray[Any, Any]:
        import numpy as np

        parts = self.numeric.get(column)
        if not parts:
            return np.empty(0, dtype=np.float64)
        values, counts = _merge(parts)
        out: np.ndarray[Any, Any] = np.repeat(values, counts)
        return out

    def counts(self, column: str) -> pd.Series:
        import pandas as pd

        table = self.categories.get(column, {})
        return pd.Series(list(table.values()), index=list(table.keys()), dtype="int64")


def _merge(
    parts: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]],
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    import numpy as np

    values = np.concatenate([v for v, _ in parts])
    counts = np.concatenate([c for _, c in parts])
    merged, inverse = np.unique(values, return_inverse=True)
    return merged, np.bincount(np.asarray(inverse).ravel(), weights=counts, minlength=len(merged)).astype(
        np.int64
    )


def _is_numeric_dtype(dtype: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


def _whole_dtypes(source: _Source, nulls: Mapping[str, int]) -> dict[str, Any]:
    """The dtypes ``pd.read_parquet`` gives the whole data: an integer column with nulls is float64."""
    import numpy as np
    import pyarrow as pa

    empty = source.empty()
    out: dict[str, Any] = {str(c): empty[c].dtype for c in empty.columns}
    for name, kind in source.arrow_types().items():
        if nulls.get(name, 0) and pa.types.is_integer(kind):
            out[name] = np.dtype("float64")
        elif nulls.get(name, 0) and pa.types.is_boolean(kind):
            out[name] = np.dtype("object")
    return out


def _profile_doc(
    source_columns: list[str], profile: _Profile, dtypes: Mapping[str, Any], name: str | None
) -> dict[str, Any]:
    rows = profile.rows
    return {
        "name": name,
        "rows": rows,
        "columns": {
            column: {
                "dtype": str(dtypes[column]),
                "null_share": float(profile.nulls.get(column, 0)) / rows if rows else 0.0,
            }
            for column in source_columns
        },
    }


def _violations(
    source: _Source, profile: _Profile, signature: dict[str, Any] | None, dtypes: Mapping[str, Any]
) -> list[str]:
    """:func:`.model.signature_violations` of the whole data, from the batches' findings."""
    found = {
        v.column: v.message
        for v in signature_violations(source.empty(), signature, null_counts=profile.nulls)
    }
    found.update(profile.type_violations)
    order = [str(item["name"]) for item in _named_inputs(signature) or []]
    return [found[c] for c in order if c in found]


# --------------------------------------------------------------------------- the collection


@dataclass
class _Scores:
    """Labels, predictions and scores of every row, in compact arrays."""

    y_true: list[np.ndarray[Any, Any]] = field(default_factory=list)
    y_pred: list[np.ndarray[Any, Any]] = field(default_factory=list)
    y_score: list[np.ndarray[Any, Any]] = field(default_factory=list)

    def add(self, pred: Predictions, classifier: bool) -> None:
        import numpy as np

        if classifier:
            self.y_true.append(pred.y_true.astype(np.int8))
            self.y_pred.append(pred.y_pred.astype(np.int8))
        else:
            self.y_true.append(pred.y_true)
            self.y_pred.append(pred.y_pred)
        if pred.y_score is not None:
            self.y_score.append(pred.y_score.astype(np.float64))

    def predictions(self, classifier: bool) -> Predictions:
        import numpy as np

        kind = np.int64 if classifier else np.float64
        y_true = np.concatenate(self.y_true).astype(kind) if self.y_true else np.empty(0, dtype=kind)
        y_pred = np.concatenate(self.y_pred).astype(kind) if self.y_pred else np.empty(0, dtype=kind)
        complete = self.y_score and sum(len(s) for s in self.y_score) == len(y_true)
        return Predictions(y_true, y_pred, np.concatenate(self.y_score) if complete else None)


@dataclass
class _Inputs:
    """What the collection reads: the data sources, the signature and the loaded model."""

    model_uri: str
    spec: ModelSpec
    target: str
    signature: dict[str, Any] | None
    features: list[str]
    evaluation: _Source
    reference: _Source | None
    loaded: Any


def _inputs(
    model_uri: str, spec: ModelSpec, base_dir: Path, settings: StreamSettings, out: Collected
) -> _Inputs:
    import mlflow.models

    _, target = _evaluation_target(spec)
    try:
        info = mlflow.models.get_model_info(model_uri)
    except Exception as exc:
        raise _load_error(model_uri, exc) from exc
    signature = _signature_dict(info.signature)
    evaluation = _open(spec, "evaluation", base_dir, settings.batch_rows)
    out.inputs[f"evaluation:{evaluation.name}"] = evaluation.digest
    reference = None
    if _dataset_spec(spec, "reference") is not None:
        reference = _open(spec, "reference", base_dir, settings.batch_rows)
        out.inputs[f"reference:{reference.name}"] = reference.digest
    empty = evaluation.empty()
    _check_names(spec, empty, target)
    blocking = [v.message for v in signature_violations(empty, signature) if v.blocking]
    if blocking:
        raise CollectionError("the evaluation data do not match the model signature: " + "; ".join(blocking))
    named = _named_inputs(signature)
    features = (
        [str(item["name"]) for item in named] if named else [c for c in evaluation.columns if c != target]
    )
    loaded = _load_model(model_uri, list(info.flavors), features)
    return _Inputs(model_uri, spec, target, signature, features, evaluation, reference, loaded)


@dataclass
class _Samples:
    proxy: pd.DataFrame  # the proxy check's rows
    explain: pd.DataFrame  # the rows SHAP explains
    background: pd.DataFrame  # SHAP's background rows


def _first_pass(inp: _Inputs, settings: StreamSettings, seed: int) -> tuple[pd.Series, _Samples]:
    """The target's distinct labels and the seeded samples, in one read of the data."""
    import pandas as pd

    from .explain import DEFAULT_BACKGROUND_SIZE, DEFAULT_SAMPLE_SIZE

    spec, evaluation, reference, target = inp.spec, inp.evaluation, inp.reference, inp.target
    explain = spec.explainability.raw if spec.explainability else {}
    explain_size = int(explain.get("sample_size", DEFAULT_SAMPLE_SIZE))
    explain_seed = int(explain.get("seed", seed))
    background_size = int(explain.get("background_size", DEFAULT_BACKGROUND_SIZE))
    gathers = {
        "proxy": _Gather(_sorted(_pandas_sample(evaluation.rows, settings.sample_rows, seed))),
        "explain": _Gather(_pandas_sample(evaluation.rows, explain_size, explain_seed)),
    }
    use_reference = reference is not None and all(f in reference.columns for f in inp.features)
    if not use_reference:  # as in memory: SHAP's background comes from the evaluation data
        gathers["background"] = _Gather(_pandas_sample(evaluation.rows, background_size, explain_seed))
    labels: list[pd.Series] = []
    nulls = 0
    for offset, frame in evaluation.batches():
        nulls += int(frame[target].isna().sum())
        labels.append(pd.Series(frame[target].dropna().unique()))
        for gather in gathers.values():
            gather.add(offset, frame)
    if nulls:
        raise CollectionError(
            f"the target column '{target}' has {nulls} missing values in the evaluation data"
        )
    empty = evaluation.empty()
    if use_reference and reference is not None:
        back = _Gather(_pandas_sample(reference.rows, background_size, explain_seed))
        for offset, frame in reference.batches():
            back.add(offset, frame)
        background = back.frame(reference.empty())
    else:
        background = gathers["background"].frame(empty)
    distinct = pd.concat(labels, ignore_index=True).drop_duplicates() if labels else empty[target]
    if len(distinct):
        distinct = distinct.astype(empty[target].dtype)
    return distinct, _Samples(gathers["proxy"].frame(empty), gathers["explain"].frame(empty), background)


@dataclass
class _Counts:
    """What the second pass adds up."""

    scores: _Scores
    champion: _Scores
    values: dict[str, _Values]
    groups: dict[str, _Groups]
    cells: dict[str, np.ndarray[Any, Any]]  # classifier: confusion cells per group id
    codes: dict[str, list[np.ndarray[Any, Any]]]  # regressor: group ids of the rows
    evaluation: _Profile
    reference: _Profile | None
    ranges: dict[str, int]


def _second_pass(
    inp: _Inputs,
    ctx: ModelContext,
    other: ModelContext | None,
    fair: FairnessSettings | None,
    progress: Progress,
) -> _Counts:
    """Score every batch once and add up the counts."""
    import numpy as np

    from .quality import _values, outside_range

    classifier = is_classifier(ctx)
    evaluation, empty = inp.evaluation, inp.evaluation.empty()
    ds = _dataset_spec(inp.spec, "evaluation") or {}
    bounds = dict(ds.get("ranges") or {})
    _check_ranges(inp.spec, empty, bounds)
    counts = _Counts(
        _Scores(),
        _Scores(),
        {},
        {},
        {},
        {},
        _Profile([f for f in inp.features if f in evaluation.columns], dtypes=dict(empty.dtypes)),
        None,
        dict.fromkeys((str(c) for c in bounds), 0),
    )
    for label, columns in fair.features if fair is not None else ():
        counts.groups[label] = _Groups(columns)
        counts.cells[label] = np.zeros(0, dtype=np.int64)
        counts.codes[label] = []
        for column in columns:
            counts.values.setdefault(column, _Values())
    done = 0
    for _offset, frame in evaluation.batches():
        counts.evaluation.add(frame, inp.signature)
        if counts.evaluation.type_violations:
            raise CollectionError(
                "the evaluation data do not match the model signature: "
                + "; ".join(counts.evaluation.type_violations.values())
            )
        pred = predictions(dataclasses.replace(ctx, evaluation=frame))
        counts.scores.add(pred, classifier)
        if other is not None:
            counts.champion.add(predictions(dataclasses.replace(other, evaluation=frame)), classifier)
        for label, grouping in counts.groups.items():
            ids = grouping.codes(frame, counts.values)
            if classifier:
                size = len(grouping.ids)
                grown = np.zeros(size * 4, dtype=np.int64)
                grown[: len(counts.cells[label])] = counts.cells[label]
                counts.cells[label] = grown + np.bincount(
                    ids * 4 + pred.y_true * 2 + pred.y_pred, minlength=size * 4
                )
            else:
                counts.codes[label].append(ids.astype(np.int32))
        for column, bound in bounds.items():
            counts.ranges[str(column)] += outside_range(_values(frame[column]), bound)
        done += len(frame)
        progress(f"stream: score and count ({done} of {evaluation.rows} rows)", 1, 3)
    if inp.reference is not None:
        reference = inp.reference
        counts.reference = _Profile(
            [f for f in inp.features if f in reference.columns], dtypes=dict(reference.empty().dtypes)
        )
        for _offset, frame in reference.batches():
            counts.reference.add(frame, inp.signature)
    return counts


def _fairness(
    ctx: ModelContext, spec: ModelSpec, fair: FairnessSettings, counts: _Counts, pred: Predictions
) -> dict[str, Any]:
    import numpy as np

    from .fairness import feature_from_cells, feature_from_rows
    from .proxy import proxy_section

    out: dict[str, Any] = {}
    for label, grouping in counts.groups.items():
        position, names = grouping.order(counts.values)
        if len(grouping.columns) == 1 and len(names) < 2:
            only = names[0] if names else None
            raise CollectionError(
                f"every evaluation row has the same value of the sensitive feature '{label}' ({only!r}); "
                "fairness between groups cannot be measured"
            )
        if fair.classifier:
            ordered = np.zeros((len(names), 4), dtype=np.int64)
            ordered[position] = counts.cells[label].reshape(-1, 4)
            out[label] = feature_from_cells(fair, ordered.ravel(), names)
        else:
            rows = position[np.concatenate(counts.codes[label]).astype(np.int64)]
            out[label] = feature_from_rows(fair, pred.y_true, pred.y_pred, rows, names)
    return {"rows": len(pred.y_true), "features": out, "proxies": proxy_section(ctx, spec)}


def _data(inp: _Inputs, counts: _Counts) -> dict[str, Any]:
    """The ``data`` section from the profiles, as :func:`.quality.data_section` computes it."""
    from .quality import _dataset_name, categorical_drift_counts, numeric_drift

    spec, evaluation, reference = inp.spec, inp.evaluation, inp.reference
    eval_dtypes = _whole_dtypes(evaluation, counts.evaluation.nulls)
    violations = _violations(evaluation, counts.evaluation, inp.signature, eval_dtypes)
    data: dict[str, Any] = {
        "evaluation": _profile_doc(
            evaluation.columns, counts.evaluation, eval_dtypes, _dataset_name(spec, "evaluation")
        ),
        "reference": None,
        "drift": None,
        "schema_violations": violations,
        "range_violations": counts.ranges,
    }
    if reference is None or counts.reference is None:
        return data
    ref = counts.reference
    ref_dtypes = _whole_dtypes(reference, ref.nulls)
    data["reference"] = _profile_doc(reference.columns, ref, ref_dtypes, _dataset_name(spec, "reference"))
    violations += [f"reference data: {m}" for m in _violations(reference, ref, inp.signature, ref_dtypes)]
    drift: dict[str, Any] = {}
    for column in [f for f in inp.features if f in evaluation.columns]:
        if column not in reference.columns:
            if not any(f"'{column}'" in v for v in violations if v.startswith("reference data:")):
                violations.append(f"reference data: column '{column}' is missing")
            continue
        numeric = _is_numeric_dtype(ref_dtypes[column]), _is_numeric_dtype(eval_dtypes[column])
        if numeric[0] != numeric[1]:
            kinds = ["numeric" if k else "categorical" for k in numeric]
            violations.append(
                f"column '{column}' is {kinds[1]} in the evaluation data but {kinds[0]} in the reference data"
            )
            continue
        drift[column] = (
            numeric_drift(ref.sorted_values(column), counts.evaluation.sorted_values(column))
            if numeric[0]
            else categorical_drift_counts(ref.counts(column), counts.evaluation.counts(column))
        )
    data["drift"] = drift
    return data


def streamed_model_sections(
    model_uri: str,
    spec: ModelSpec,
    base_dir: Path,
    out: Collected,
    *,
    seed: int = 0,
    champion_uri: str | None = None,
    champion: Mapping[str, Any] | None = None,
    logged: Mapping[str, Any] | None = None,
    artifact_dir: Path | None = None,
    threshold_bytes: int | None = None,
    progress: Progress = no_progress,
) -> None:
    """Fill ``out`` with the performance, fairness, explanations and data sections, streaming.

    ``champion_uri`` (with ``champion``, the ``champion`` section's alias and version): the
    champion is scored on the same batches and compared as in memory (``performance.champion``).
    """
    from .explain import explanations_section
    from .fairness import fairness_settings
    from .performance import champion_comparison, performance_section

    settings = stream_settings(spec, threshold_bytes)
    inp = _inputs(model_uri, spec, base_dir, settings, out)
    progress("stream: labels and samples", 0, 3)
    labels, samples = _first_pass(inp, settings, seed)
    ds = _dataset_spec(spec, "evaluation") or {}
    positive = _positive_label(spec, ds, labels, inp.target, inp.loaded)
    ctx = ModelContext(
        model_uri=model_uri,
        flavor=inp.loaded.flavor,
        native=inp.loaded.native,
        predict=inp.loaded.predict,
        predict_proba=_positive_proba(inp.loaded, positive),
        predict_with_scores=_positive_labelled(inp.loaded, positive),
        features=inp.features,
        target=inp.target,
        evaluation=samples.proxy,
        reference=samples.background,
        positive_label=positive,
        signature=inp.signature,
        seed=seed,
        sample=None,
        inputs=dict(out.inputs),
    )
    classifier = is_classifier(ctx)
    fair = fairness_settings(ctx, spec) if spec.fairness is not None else None
    other = None
    if champion_uri is not None:
        other = context_of(champion_uri, dataclasses.replace(ctx, evaluation=inp.evaluation.empty()))

    progress("stream: score and count", 1, 3)
    counts = _second_pass(inp, ctx, other, fair, progress)

    progress("stream: sections", 2, 3)
    pred = counts.scores.predictions(classifier)
    section = performance_section(ctx, spec, logged=logged or {}, progress=progress, given=pred)
    if other is not None and champion is not None:
        section["champion"] = champion_comparison(
            ctx,
            spec,
            str(champion_uri),
            counts.champion.predictions(classifier),
            alias=str(champion.get("alias")),
            version=str(champion["version"]),
            given=pred,
        )
    out.sections["performance"] = section
    if fair is not None:
        out.sections["fairness"] = _fairness(ctx, spec, fair, counts, pred)
    else:
        out.sections["fairness"] = None
        out.missing["fairness"] = "the spec declares no sensitive features"
    if spec.explainability is not None:
        explain_ctx = dataclasses.replace(ctx, evaluation=samples.explain)
        out.sections["explanations"] = explanations_section(
            explain_ctx, spec, progress=progress, artifact_dir=artifact_dir
        )
    else:
        out.sections["explanations"] = None
        out.missing["explanations"] = "the spec asks for no explanations (explainability)"
    out.sections["data"] = _data(inp, counts)
    progress("stream", 3, 3)


def _sorted(index: np.ndarray[Any, Any] | None) -> np.ndarray[Any, Any] | None:
    import numpy as np

    return None if index is None else np.sort(index)


def _check_names(spec: ModelSpec, empty: pd.DataFrame, target: str) -> None:
    """The target and sensitive columns exist (the group counts are checked after the pass)."""
    import pandas as pd

    two_groups = pd.DataFrame({c: pd.Series(["a", "b"]) for c in empty.columns})
    _check_columns(spec, two_groups, target)


def _check_ranges(spec: ModelSpec, empty: pd.DataFrame, ranges: Mapping[str, Any]) -> None:
    for column in ranges:
        where = ("data", "evaluation", "ranges", column)
        if column not in empty.columns:
            raise SpecError(
                f"a range is declared for '{column}', which is not a column of the evaluation data",
                spec_location(spec, where),
            )
        if not _is_numeric_dtype(empty[column].dtype):
            raise SpecError(
                f"a range is declared for '{column}', whose values are not numbers ({empty[column].dtype})",
                spec_location(spec, where),
            )
