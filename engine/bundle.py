"""OPA bundles: the policy set and its parameters as one ``.tar.gz`` that OPA loads as a whole.

A bundle holds every module under ``govern/`` (``govern/<its path>``), ``data.json`` with the
data document (the parameters under ``govern.params``) and a ``.manifest`` whose ``revision`` is
the policy digest; ``data.govern._bundle`` names the policy and data digests. An OPA server can
be asked which revision it holds (``data.system.bundles``), and govern refuses to decide on
anything else. The archive is
byte-for-byte reproducible: sorted entries, fixed timestamps and owners, gzip without a name or
time.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .errors import ConfigError
from .evidence.document import canonical_digest
from .policyset import PolicyModule, PolicySet
from .spec import RegoVersion

__all__ = [
    "BUNDLE_NAME",
    "DECISION_PACKAGE",
    "STAMP_KEY",
    "Bundle",
    "batched_tests",
    "build_bundle",
    "bundle_data",
    "bundle_path",
    "bundle_stamp",
    "decision_module",
    "sentinel_name",
    "write_bundle",
]

#: The name a bundle is served under by default (``opa run -b`` or a bundle service's key).
BUNDLE_NAME: Final = "govern"
#: The key, under ``data.govern``, of the document naming the policy and data digests.
STAMP_KEY: Final = "_bundle"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def bundle_path(module: PolicyModule) -> str:
    """Where a module sits in the bundle: ``govern/<its path, made safe>``."""
    segments = [_UNSAFE.sub("_", s) for s in module.path.replace("\\", "/").split("/")]
    segments = [s for s in segments if s not in ("", ".", "..")]
    if segments[:1] == ["govern"]:
        segments = segments[1:]
    return "/".join(("govern", *segments))


def bundle_stamp(policy_set: PolicySet, data: Mapping[str, Any]) -> dict[str, str]:
    """The document a bundle carries at ``data.govern._bundle``: what it was built from."""
    return {"policy_digest": policy_set.digest, "data_digest": canonical_digest(dict(data))}


def bundle_data(policy_set: PolicySet, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data.json``: the data, plus the stamp under ``govern._bundle``."""
    out: dict[str, Any] = json.loads(json.dumps(dict(data)))
    govern = out.setdefault("govern", {})
    if not isinstance(govern, dict):
        raise ConfigError("data.govern must be an object to be bundled")
    govern[STAMP_KEY] = bundle_stamp(policy_set, data)
    return out


@dataclass(frozen=True)
class Bundle:
    """A built bundle: its bytes, its revision and what it holds."""

    data: bytes
    revision: str
    roots: tuple[str, ...]
    files: tuple[str, ...]

    @property
    def sha256(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()


def _roots(policy_set: PolicySet, data: Mapping[str, Any]) -> tuple[str, ...]:
    """The first path segment of every package and data document: the bundle owns these."""
    roots = {package.split(".")[0] for package in (m.package for m in policy_set.modules)}
    roots.update(str(key) for key in data)
    return tuple(sorted(roots))


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(payload))


def build_bundle(policy_set: PolicySet, data: Mapping[str, Any], *, tests: bool = False) -> Bundle:
    """The bundle of ``policy_set`` with ``data`` as ``data.json``; with ``tests``, the decision
    module also answers each package's test rules in one query (see :func:`batched_tests`)."""
    files: dict[str, PolicyModule] = {}
    for module in policy_set.modules:
        name = bundle_path(module)
        if name in files:
            raise ConfigError(
                f"two policy files map to the same bundle path {name}: {files[name].path}, {module.path}"
            )
        files[name] = module
    revision = policy_set.digest
    roots = _roots(policy_set, {"govern": {}, **data})
    manifest: dict[str, Any] = {"revision": revision, "roots": list(roots), "rego_version": 1}
    v0 = {name: 0 for name, m in sorted(files.items()) if m.rego_version is RegoVersion.V0}
    if v0:
        manifest["file_rego_versions"] = v0
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, ".manifest", json.dumps(manifest, sort_keys=True, indent=2).encode())
        _add(tar, "data.json", json.dumps(bundle_data(policy_set, data), sort_keys=True, indent=2).encode())
        for name in sorted(files):
            _add(tar, name, files[name].text.encode("utf-8"))
        _add(tar, "govern/_decision.rego", decision_module(policy_set, tests=tests).encode("utf-8"))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as gz:
        gz.write(raw.getvalue())
    return Bundle(data=packed.getvalue(), revision=revision, roots=roots, files=tuple(sorted(files)))


def write_bundle(bundle: Bundle, output: Path) -> None:
    """Write the archive atomically."""
    import os
    import tempfile

    if output.exists() and not output.is_file():  # never rename over a device, FIFO or folder
        raise ConfigError(f"--output {output}: is not a regular file")
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(bundle.data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: The package of the generated module that answers a decision in one query.
DECISION_PACKAGE: Final = "govern._decision"


def _field(key: str, path: str) -> str:
    return f"{json.dumps(key)}: [__v | __v := {path}]"


def batched_tests(policy_set: PolicySet) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Package → (the decision module's rule answering its test rules, the test names).

    ``opa test`` evaluates each ``test_*`` rule on its own; over HTTP that is one request per
    test. A batch rule evaluates every test rule of one package in one request (each value a
    0- or 1-element array, so an undefined test stays visible), together with the proof that the
    server holds the policy set. Test functions (``test_f(x)``) are left out: they are errors."""
    names: dict[str, list[str]] = {}
    for module in policy_set.modules:
        own = names.setdefault(module.package, [])
        own.extend(n for n, _ in module.tests if n not in module.test_functions and n not in own)
    batched = sorted(p for p, tests in names.items() if tests)
    return {p: (f"tests_{i}", tuple(names[p])) for i, p in enumerate(batched)}


def decision_module(
    policy_set: PolicySet, held: Mapping[str, tuple[str, int]] | None = None, *, tests: bool = False
) -> str:
    """A module whose document holds, in one evaluation, every rule value govern reads and what
    proves the server holds this policy set: the bundle revisions and stamp (bundle mode) or,
    with ``held`` (push mode: policy id → (package, sentinel number)), each pushed module's
    sentinel and the marker. Each value is a 0- or 1-element array: undefined stays visible.
    With ``tests``, one rule per package answers its test rules with the same proof
    (:func:`batched_tests`), and ``proof`` answers the proof alone. Written so OPA reads it as
    Rego v0 and v1 alike."""
    rules = sorted({(r.package, r.name) for r in policy_set.rules})
    values = ",\n".join(_field(f"{p}.{n}", f"data.{p}.{n}") for p, n in rules)
    parts = [f"package {DECISION_PACKAGE}\n", f"values := {{\n{values}\n}}\n"]
    if held is None:
        parts.append("revisions := [__r | __r := data.system.bundles[_].manifest.revision]\n")
        parts.append(f"stamp := [__v | __v := data.govern.{STAMP_KEY}]\n")
    else:
        fields = ",\n".join(
            _field(pid, f"data.{package}.{sentinel_name(n)}") for pid, (package, n) in sorted(held.items())
        )
        parts.append(f"held := {{\n{fields}\n}}\n")
        parts.append("marker := [__v | __v := data.govern._backend]\n")
    proof = '"revisions": revisions, "stamp": stamp' if held is None else '"held": held, "marker": marker'
    batches = batched_tests(policy_set) if tests else {}
    if batches:  # what a run of tests proves after the tests evaluated one by one
        parts.append(f"proof := {{{proof}}}\n")
    for package, (rule, names) in batches.items():
        fields = ",\n".join(_field(name, f"data.{package}.{name}") for name in names)
        parts.append(f'{rule} := {{{proof}, "tests": {{\n{fields}\n}}}}\n')
    return "\n".join(parts)


def sentinel_name(number: int) -> str:
    """The rule appended to a pushed module so a decision can see that the module is still there."""
    return f"__govern_held_{number}__"
