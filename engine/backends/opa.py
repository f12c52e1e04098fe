"""The OPA backend: a real OPA server over its REST API, through ``opa-python-client``.

``load`` pushes the policy set and its data under a govern prefix; every ``evaluate`` is one
``POST /v1/data/<root>`` per root package, mapped exactly as the embedded backend maps
``data.<root>``:

* Policy ids are ``govern/<digest12>/<path>``. The push is idempotent: when the server already
  holds exactly these modules (same ids, same text) and the same data, nothing is written.
  Modules of another policy set under ``govern/`` are deleted first: two copies of a package
  would merge into one.
* Data is written one second-level key at a time (``PUT /v1/data/govern/params``), so writing
  the parameters never replaces other documents under ``data.govern``.
* A marker document, ``data.govern._backend``, records which policy set and data the server
  holds. It is written as ``loading`` before anything changes and ``ready`` after, and every
  query of ``data.govern`` returns it in the same transaction as the decision: if another govern
  process has since loaded other policies or parameters into the server, the decision is an
  error, never a decision taken under someone else's thresholds.
* Queries ask for ``strict-builtin-errors``: a failing builtin is an error, as in the embedded
  engine, and never a silently undefined expression.

Every failure is wrapped here: a compile error reported on push (HTTP 400 with ``errors[]``) is
a :class:`PolicyLoadError` naming the file and line; anything else (connection refused, timeout,
HTTP 5xx, an evaluation error) is a :class:`BackendError` (exit 3). After a connection failure
the backend fails fast instead of waiting out the timeouts again for every rule.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from importlib import metadata
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import urlsplit

import requests  # type: ignore[import-untyped,unused-ignore]
from opa_client.errors import DeleteDataError, RegoParseError  # type: ignore[import-untyped]
from opa_client.opa import OpaClient  # type: ignore[import-untyped]

from ..bundle import (
    DECISION_PACKAGE,
    STAMP_KEY,
    batched_tests,
    build_bundle,
    bundle_path,
    bundle_stamp,
    decision_module,
    sentinel_name,
)
from ..errors import BackendError, ConfigError, Location, PolicyLoadError
from ..evidence.document import canonical_digest
from ..policyset import PolicyModule, PolicySet
from ..spec import RegoVersion
from .base import UNDEFINED, Backend, PackageValues
from .opa_local import LocalOpa, free_port

__all__ = [
    "DEFAULT_DECISION_TIMEOUT",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "MARKER_KEY",
    "OpaBackend",
    "OpaEndpoint",
    "OpaMode",
    "merge_modules",
    "parse_opa_url",
    "policy_id",
    "push_order",
    "pushed_text",
]

T = TypeVar("T")

#: Seconds per request (connect + read); the client's own default is 1.5 s.
DEFAULT_TIMEOUT: Final = 5.0
#: Retries on connection errors (every request) and on HTTP 500/502/504 (idempotent requests).
DEFAULT_RETRIES: Final = 2
#: Seconds for one decision, across all its retries.
DEFAULT_DECISION_TIMEOUT: Final = 10.0
#: The key of the marker document under ``data.govern``.
MARKER_KEY: Final = "_backend"
_PREFIX: Final = "govern"
_STRICT: Final = {"strict-builtin-errors": "true"}
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._/-]")
_V0_MARKERS = ("`if` keyword is required", "`contains` keyword is required")
_LATER = "undefined function"
_RETRY_STATUS = (500, 502, 503, 504)
_IMPORT_RE = re.compile(r"^\s*import\s+(?P<path>[A-Za-z0-9_.\[\]\"]+)(?:\s+as\s+(?P<alias>\w+))?\s*(?:#.*)?$")
_PACKAGE_RE = re.compile(r"^\s*package\s+")


class OpaMode(StrEnum):
    """How the OPA backend gets its policies: pushed over the REST API, or served as a bundle."""

    PUSH = "push"
    BUNDLE = "bundle"


@dataclass(frozen=True)
class _Pushed:
    """One module as pushed: the files of one package merged, with a sentinel rule at the end."""

    pid: str
    text: str
    package: str
    sentinel: int
    rows: tuple[tuple[str, int], ...]  # line in the pushed text (1-based, index + 1) → file, line


def _split_module(text: str) -> tuple[list[str], list[str]] | None:
    """A module's import lines and the lines after them; None when it cannot be merged safely."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _PACKAGE_RE.match(line)), None)
    if start is None:
        return None
    imports: list[str] = []
    i = start + 1
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("import "):
            if _IMPORT_RE.match(lines[i]) is None:
                return None
            imports.append(stripped)
        elif stripped and not stripped.startswith("#"):
            break
        i += 1
    return imports, lines[i:]


def _alias(line: str) -> str | None:
    match = _IMPORT_RE.match(line)
    if match is None:
        return None
    path = match.group("path")
    if path in ("rego.v1",) or path.startswith("future."):
        return None
    return match.group("alias") or path.rsplit(".", 1)[-1]


def merge_modules(policy_set: PolicySet) -> list[_Pushed]:
    """The policy set as few modules as OPA needs: one per package and Rego version.

    OPA recompiles every module on every upload, so pushing a 200-file library file by file
    costs 200 compilations. Files of one package are merged (package line once, imports once,
    the rest verbatim, line by line); a file whose imports clash with the group's stays alone.
    """
    groups: dict[tuple[str, RegoVersion], list[tuple[PolicyModule, list[str], list[str]]]] = {}
    alone: list[PolicyModule] = []
    for module in policy_set.modules:
        split = _split_module(module.text)
        if split is None:
            alone.append(module)
            continue
        groups.setdefault((module.package, module.rego_version), []).append((module, *split))
    pushed: list[_Pushed] = []
    counter = 0
    digest = policy_set.digest

    def emit(members: list[tuple[PolicyModule, list[str], list[str]]], name: str, package: str) -> None:
        nonlocal counter
        imports: list[str] = []
        for _, own, _ in members:
            imports.extend(line for line in own if line not in imports)
        if members[0][0].rego_version is RegoVersion.V1 and "import rego.v1" not in imports:
            imports.append("import rego.v1")  # reads as v1 on a server started with --v0-compatible too
        out = [f"package {package}", *imports]
        rows: list[tuple[str, int]] = [(members[0][0].path, 1)] * len(out)
        for module, _, body in members:
            first = len(module.text.splitlines()) - len(body) + 1
            for offset, line in enumerate(body):
                out.append(line)
                rows.append((module.path, first + offset))
        sentinel = counter
        counter += 1
        out.append(f'{sentinel_name(sentinel)} := "{digest}"')
        rows.append((members[0][0].path, len(members[0][0].text.splitlines())))
        pid = policy_id(digest, name)
        pushed.append(_Pushed(pid, "\n".join(out) + "\n", package, sentinel, tuple(rows)))

    for (package, version), members in groups.items():
        group: list[tuple[PolicyModule, list[str], list[str]]] = []
        aliases: dict[str, str] = {}
        for member in members:
            own = {a: line for line in member[1] if (a := _alias(line)) is not None}
            if any(aliases.get(a, line) != line for a, line in own.items()):
                emit([member], member[0].path, package)
                continue
            aliases.update(own)
            group.append(member)
        suffix = "" if version is RegoVersion.V1 else ".v0"
        emit(group, f"{package.replace('.', '/')}{suffix}.rego", package)
    for module in alone:
        text = pushed_text(module).rstrip("\n") + "\n"
        rows = tuple((module.path, n + 1) for n in range(len(text.splitlines())))
        sentinel = counter
        counter += 1
        text += f'{sentinel_name(sentinel)} := "{digest}"\n'
        pushed.append(
            _Pushed(policy_id(digest, module.path), text, module.package, sentinel, (*rows, rows[-1]))
        )
    return pushed


_DATA_REF = re.compile(r"\bdata((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def push_order(pushed: list[_Pushed]) -> list[_Pushed]:
    """The order to push modules in: a module after the packages it refers to (``data.<pkg>``,
    an import of the package or of a prefix of it), and otherwise the smallest first.

    OPA compiles its whole module set on every upload, so each upload costs about as much as
    everything already pushed: small modules first keep the early compilations small, and
    dependencies first avoid uploads refused for an undefined function (each one a compilation
    too). A cycle is pushed smallest first; ``_in_rounds`` retries what is refused.
    """
    import heapq

    by_package: dict[str, list[int]] = {}
    for index, module in enumerate(pushed):
        by_package.setdefault(module.package, []).append(index)
    needs: list[set[int]] = []
    for module in pushed:
        refs = {m.group(1)[1:] for m in _DATA_REF.finditer(module.text)}
        own: set[int] = set()
        for package, indexes in by_package.items():
            if package != module.package and any(
                r == package or package.startswith(f"{r}.") or r.startswith(f"{package}.") for r in refs
            ):
                own.update(indexes)
        needs.append(own)
    waiting = [len(n) for n in needs]
    users: list[list[int]] = [[] for _ in pushed]
    for index, own in enumerate(needs):
        for other in own:
            users[other].append(index)
    ready = [(len(pushed[i].text), i) for i in range(len(pushed)) if not waiting[i]]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        _, index = heapq.heappop(ready)
        order.append(index)
        for user in users[index]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (len(pushed[user].text), user))
    placed = set(order)
    order += sorted((i for i in range(len(pushed)) if i not in placed), key=lambda i: len(pushed[i].text))
    return [pushed[i] for i in order]


_REGO_V1_IMPORT = re.compile(r"^\s*import\s+rego\.v1\b", re.MULTILINE)
_PACKAGE_LINE = re.compile(r"^package\s", re.MULTILINE)


def pushed_text(module: PolicyModule) -> str:
    """The module's text as pushed: a v1 module gets ``import rego.v1`` on its package line, so it
    reads as v1 on a server started with ``--v0-compatible`` too (where the v0 files of a mixed
    policy set can live). Same line, so every row OPA reports stays the author's."""
    if module.rego_version is RegoVersion.V0 or _REGO_V1_IMPORT.search(module.text):
        return module.text
    match = _PACKAGE_LINE.search(module.text)
    if match is None:
        return module.text
    end = module.text.find("\n", match.start())
    end = len(module.text) if end < 0 else end
    line = module.text[match.start() : end]
    code, hash_, comment = line.partition("#")
    patched = f"{code.rstrip()} import rego.v1" + (f" {hash_}{comment}" if hash_ else "")
    return module.text[: match.start()] + patched + module.text[end:]


@dataclass(frozen=True)
class OpaEndpoint:
    """Where the server is, in the terms ``OpaClient`` takes."""

    host: str
    port: int
    ssl: bool
    version: str  # "v1", or "<path prefix>/v1" behind a reverse proxy

    @property
    def root_url(self) -> str:
        scheme = "https" if self.ssl else "http"
        return f"{scheme}://{self.host}:{self.port}/{self.version}"


def parse_opa_url(url: str) -> OpaEndpoint:
    """``http://127.0.0.1:8181`` → an endpoint; only ``http(s)://host[:port][/prefix]`` is taken."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"--opa-url {url!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--opa-url {url!r} must look like http://HOST:PORT (or https://)")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"--opa-url {url!r} must not carry a query, a fragment or credentials")
    prefix = parts.path.strip("/")
    if prefix == "v1" or prefix.endswith("/v1"):
        prefix = prefix[: -len("v1")].rstrip("/")
    ssl = parts.scheme == "https"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return OpaEndpoint(
        host=host,
        port=port or (443 if ssl else 80),
        ssl=ssl,
        version=f"{prefix}/v1" if prefix else "v1",
    )


def policy_id(digest: str, path: str) -> str:
    """``govern/<first 12 hex digits of the policy digest>/<path, made URL-safe>``."""
    clean = _UNSAFE_ID_CHARS.sub("_", path.replace("\\", "/"))
    segments = [s for s in clean.split("/") if s not in ("", ".", "..")]
    return "/".join((_PREFIX, digest.removeprefix("sha256:")[:12], *segments))


def _documents(data: Mapping[str, Any]) -> dict[str, Any]:
    """The data documents to PUT: each ``data[root][key]``, or ``data[root]`` if not an object."""
    out: dict[str, Any] = {}
    for root, value in data.items():
        if isinstance(value, Mapping):
            for key, item in value.items():  # an empty mapping writes nothing
                out[f"{root}/{key}"] = item
        else:
            out[str(root)] = value
    return out


def _json(response: Any) -> dict[str, Any] | None:
    """The response's JSON object, or None when the body is not one (e.g. a proxy's HTML page)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class _CompileFailure(Exception):
    """OPA refused a change to its module set (HTTP 400 with ``errors[]``)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @property
    def retryable(self) -> bool:
        """Only "undefined function": the module needs one that is not pushed (or deleted) yet."""
        return all(_LATER in str(e.get("message", "")) for e in self.errors)


class OpaBackend(Backend):
    """A running OPA server reached over HTTP. One govern policy set per server at a time."""

    name: ClassVar[str] = "opa"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        mode: OpaMode = OpaMode.PUSH,
        decision_timeout: float = DEFAULT_DECISION_TIMEOUT,
    ) -> None:
        self.url = url
        self.mode = mode
        self._retries = retries
        self._decision_timeout = decision_timeout
        # Decisions go through a session without the client's retry adapter: their retries are
        # counted here, against one deadline per decision.
        self._plain: Any = requests.Session()
        self._timeout = timeout
        self._connect(url)
        self._server_version: str | None = None
        self._paths: dict[str, str] = {}  # policy id → the module's path, for error locations
        self._rows: dict[str, tuple[tuple[str, int], ...]] = {}  # policy id → line → file, line
        self._held: dict[str, tuple[str, int]] = {}  # policy id → (package, sentinel number)
        self._batches: dict[str, tuple[str, tuple[str, ...]]] = {}  # package → (rule, test names)
        self._stamp: dict[str, str] | None = None
        self._policy_digest: str | None = None
        self._v0: frozenset[str] = frozenset()
        self._marker: dict[str, Any] | None = None
        self._broken: str | None = None
        self._local: LocalOpa | None = None
        #: Whether the last ``load`` had to write to the server (False: it already held all).
        self.pushed = False
        #: Decisions: a failing built-in is an error. ``govern test`` turns this off for its run,
        #: as ``opa test`` evaluates built-ins non-strictly.
        self.strict_builtin_errors = True

    @classmethod
    def local(
        cls, binary: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES
    ) -> OpaBackend:
        """A backend on a private OPA server started from ``binary`` at each ``load``, serving the
        policy set as a bundle (see :mod:`.opa_local`); ``close`` stops it."""
        server = LocalOpa(binary, free_port())
        backend = cls(server.url, timeout=timeout, retries=retries, mode=OpaMode.BUNDLE)
        backend._local = server
        return backend

    def _connect(self, url: str) -> None:
        """Point the backend at ``url`` (at construction, and when a private server moved port)."""
        self.url = url
        self.endpoint = parse_opa_url(url)
        self._client: Any = OpaClient(
            host=self.endpoint.host,
            port=self.endpoint.port,
            ssl=self.endpoint.ssl,
            version=self.endpoint.version,
            timeout=self._timeout,
            retries=self._retries,
        )
        # The client wraps a requests.Session with retries; where the client's methods cannot
        # do what is needed (noted at each use), requests go through that same session.
        self._session: Any = self._client._session

    # --- the Backend interface ---------------------------------------------------------------

    def version(self) -> str:
        try:
            client = metadata.version("opa-python-client")
        except metadata.PackageNotFoundError:  # pragma: no cover - installed some other way
            client = "unknown"
        return f"opa {self._server_version or '(version unknown)'} (opa-python-client {client})"

    def load(self, policy_set: PolicySet, data: Mapping[str, Any]) -> None:
        self._marker = None
        self._broken = None  # a new load is a new attempt, even after a connection failure
        self._policy_digest = policy_set.digest
        self._v0 = frozenset(m.path for m in policy_set.modules if m.rego_version is RegoVersion.V0)
        self._batches = batched_tests(policy_set)
        if self._local is not None:
            names = {bundle_path(m): m.path for m in policy_set.modules}
            self._paths = {**names, **{f"/{name}": path for name, path in names.items()}}
            bundle = build_bundle(policy_set, data, tests=True)
            self._local.start(bundle.data, v0=bool(self._v0), paths=names)
            if self._local.url != self.url:  # the port was taken meanwhile: the server moved
                self._client.close_connection()
                self._connect(self._local.url)
        if self.mode is OpaMode.BUNDLE:
            self._load_bundle(policy_set, data)
            return
        merged = push_order(merge_modules(policy_set))
        texts = {p.pid: p.text for p in merged}
        decision_pid = policy_id(policy_set.digest, "_decision.rego")
        self._held = {p.pid: (p.package, p.sentinel) for p in merged}
        texts[decision_pid] = decision_module(policy_set, self._held, tests=True)
        self._rows = {p.pid: p.rows for p in merged}
        self._paths = {p.pid: p.rows[-1][0] for p in merged}
        self._paths[decision_pid] = "(govern's decision module)"
        documents = _documents(data)
        marker = {
            "state": "ready",
            "policy_digest": policy_set.digest,
            "data_digest": canonical_digest(dict(data)),
            "policies": sorted(texts),
            "data_paths": sorted(documents),
        }
        previous = self._guard(self._read_marker)
        held = self._guard(self._govern_policies)
        stale = [pid for pid in held if pid not in texts]
        changed = [pid for pid, text in texts.items() if held.get(pid) != text]
        self.pushed = bool(stale or changed or previous != marker)
        if self.pushed:
            self._put_data(f"{_PREFIX}/{MARKER_KEY}", {**marker, "state": "loading"})
            try:
                self._in_rounds(list(reversed(stale)), self._delete_policy)
            except PolicyLoadError as exc:  # another module on the server still needs them
                raise BackendError(
                    f"cannot remove the previous govern policies from the OPA server: {exc}"
                ) from None
            self._in_rounds(changed, lambda pid: self._put_policy(pid, texts[pid]))
            old = previous.get("data_paths") if isinstance(previous, dict) else None
            for path in old if isinstance(old, list) else []:
                if isinstance(path, str) and path not in documents and path != f"{_PREFIX}/{MARKER_KEY}":
                    self._delete_data(path)
            for path, value in documents.items():
                self._put_data(path, value)
            self._put_data(f"{_PREFIX}/{MARKER_KEY}", marker)
        self._marker = marker

    def _load_bundle(self, policy_set: PolicySet, data: Mapping[str, Any]) -> None:
        """Bundle mode: push nothing; the server must already hold this revision and data."""
        self._stamp = bundle_stamp(policy_set, data)
        revisions = self._guard(self._bundle_revisions)
        stamp = self._guard(lambda: self._read_data(f"{_PREFIX}/{STAMP_KEY}"))
        if policy_set.digest not in revisions:
            held = ", ".join(sorted(revisions)) or "no bundle"
            raise BackendError(
                f"the OPA server at {self.url} holds {held}, not bundle revision {policy_set.digest}; "
                "build it with `govern bundle build` and serve it (bundle mode never pushes)"
            )
        if stamp != self._stamp:
            raise BackendError(
                f"the OPA server at {self.url} holds bundle revision {policy_set.digest} with other "
                "parameters or data than this decision needs; rebuild the bundle with them"
            )
        self._marker = {"bundle": policy_set.digest}

    def _bundle_revisions(self) -> list[str]:
        body = self._checked(
            self._session.get(f"{self.endpoint.root_url}/data/system/bundles", timeout=self._timeout),
            "reading the server's bundles",
        )
        bundles = body.get("result")
        out: list[str] = []
        if isinstance(bundles, dict):
            for item in bundles.values():
                manifest = item.get("manifest") if isinstance(item, dict) else None
                revision = manifest.get("revision") if isinstance(manifest, dict) else None
                if isinstance(revision, str):
                    out.append(revision)
        return out

    def _read_data(self, path: str) -> Any:
        body = self._checked(
            self._session.get(f"{self.endpoint.root_url}/data/{path}", timeout=self._timeout),
            f"reading data {path}",
        )
        return body.get("result")

    def evaluate(self, input_doc: Mapping[str, Any], packages: tuple[str, ...]) -> PackageValues:
        """One request: the rule values and, in the same transaction, the proof that the server
        still holds what was loaded (every pushed module's sentinel and the marker, or the bundle
        revision and stamp). A module lost since the load makes the decision an error."""
        self._require()
        answer = self._query(DECISION_PACKAGE.replace(".", "/"), input_doc, "evaluation")
        if not isinstance(answer, dict) or not isinstance(answer.get("values"), dict):
            raise BackendError(
                f"the OPA server at {self.url} does not hold govern's decision module for policy set "
                f"{self._policy_digest}; no decision was made"
            )
        self._verify_held(answer)
        out: PackageValues = {package: {} for package in packages}
        for key, found in answer["values"].items():
            package, _, name = str(key).rpartition(".")
            if package in out and isinstance(found, list) and found:
                out[package][name] = found[0]
        return out

    def _verify_held(self, answer: dict[str, Any]) -> None:
        if self.mode is OpaMode.BUNDLE:
            revisions = answer.get("revisions") or []
            if self._policy_digest not in revisions or answer.get("stamp") != [self._stamp]:
                raise BackendError(
                    f"the OPA server at {self.url} no longer holds bundle revision {self._policy_digest} "
                    f"with this decision's data (it holds {', '.join(map(str, revisions)) or 'none'}); "
                    "no decision was made"
                )
            return
        held = answer.get("held")
        held = held if isinstance(held, dict) else {}
        digest = self._policy_digest
        lost = sorted(pid for pid in self._held if held.get(pid) != [digest])
        if lost:
            files = sorted({self._paths.get(pid, pid) for pid in lost})
            raise BackendError(
                f"the OPA server at {self.url} no longer holds {len(lost)} of the {len(self._held)} "
                f"modules govern pushed (e.g. {files[0]}); another process changed its policies. "
                "No decision was made"
            )
        marker = answer.get("marker")
        self._verify_marker({MARKER_KEY: marker[0] if isinstance(marker, list) and marker else None})

    def evaluate_rule(self, input_doc: Mapping[str, Any] | None, path: str) -> Any:
        self._require()
        return self._query(path.removeprefix("data.").replace(".", "/"), input_doc, path)

    def evaluate_rules(self, paths: Sequence[str]) -> dict[str, Any]:
        """Rules without input (test rules): each path's value, ``UNDEFINED``, or the
        :class:`BackendError` evaluating it alone raised.

        The test rules of one package are evaluated in one request, through the decision
        module's batch rule, which also proves in the same transaction that the server still
        holds every module pushed (or the bundle revision). When that request fails (one test
        raising an error would fail them all), or the server has no batch rule (a bundle built
        without one), each test of the package is evaluated on its own, so one error never
        masks another test's outcome. A lost connection or a server no longer holding the
        policy set raises.
        """
        self._require()
        wanted: dict[str, list[str]] = {}
        for path in paths:
            package, _, name = path.removeprefix("data.").rpartition(".")
            wanted.setdefault(package, []).append(name)
        out: dict[str, Any] = {}
        unproven = False  # tests evaluated alone since the last proof
        for package, names in wanted.items():
            batch = self._batches.get(package)
            values = self._batch(package, batch[0]) if batch and set(names) <= set(batch[1]) else None
            if values is not None:
                unproven = False
            for name in names:
                path = f"data.{package}.{name}"
                found = values.get(name) if values is not None else None
                if isinstance(found, list) and len(found) <= 1:
                    out[path] = found[0] if found else UNDEFINED
                    continue
                unproven = True
                try:
                    out[path] = self.evaluate_rule(None, path)
                except BackendError as exc:
                    if self._broken is not None:
                        raise
                    out[path] = exc
        if unproven and self._batches:
            self._prove()
        return out

    def _prove(self) -> None:
        """After tests evaluated one by one: the server still holds what was loaded."""
        answer = self._query(
            f"{DECISION_PACKAGE.replace('.', '/')}/proof", None, "the proof of the policy set"
        )
        if answer is UNDEFINED and self.mode is OpaMode.BUNDLE:
            return  # a bundle built without batch rules: its revision was checked at load
        if not isinstance(answer, dict):
            raise BackendError(
                f"the OPA server at {self.url} does not hold govern's decision module for policy set "
                f"{self._policy_digest}; the test results cannot be trusted"
            )
        self._verify_held(answer)

    def _batch(self, package: str, rule: str) -> dict[str, Any] | None:
        """The values of a package's test rules in one request, or None to evaluate them one by one."""
        try:
            answer = self._query(
                f"{DECISION_PACKAGE.replace('.', '/')}/{rule}", None, f"the tests of {package}"
            )
        except BackendError:
            if self._broken is not None:
                raise
            return None
        if answer is UNDEFINED and self.mode is OpaMode.BUNDLE:
            return None  # a bundle built without batch rules
        if not isinstance(answer, dict) or not isinstance(answer.get("tests"), dict):
            raise BackendError(
                f"the OPA server at {self.url} does not hold govern's decision module for policy set "
                f"{self._policy_digest}; no test was run"
            )
        self._verify_held(answer)
        tests: dict[str, Any] = answer["tests"]
        return tests

    def close(self) -> None:
        self._client.close_connection()
        self._plain.close()
        if self._local is not None:
            self._local.stop()

    # --- queries -------------------------------------------------------------------------------

    def _require(self) -> None:
        if self._marker is None:
            raise BackendError("the opa backend was used before a policy set was loaded")
        if self._broken is not None:
            raise BackendError(self._broken)

    def _query(self, url_path: str, input_doc: Mapping[str, Any] | None, what: str) -> Any:
        """``POST /v1/data/<url_path>``: the value, or UNDEFINED when OPA returns no result.

        A test rule is evaluated as ``opa test`` evaluates it, with no input at all. Retries (on a
        refused connection, a timeout, HTTP 500/502/503/504) all count against one deadline.
        """
        payload: dict[str, Any] = {} if input_doc is None else {"input": dict(input_doc)}
        url = f"{self.endpoint.root_url}/data/{url_path}"
        deadline = time.monotonic() + self._decision_timeout
        attempt = 0
        while True:
            if self._broken is not None:
                raise BackendError(self._broken)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BackendError(
                    f"{what} failed: the OPA server at {self.url} gave no answer within the "
                    f"{self._decision_timeout:g} s decision deadline (across {attempt} attempts)"
                )
            try:
                response = self._plain.post(
                    url,
                    params=_STRICT if self.strict_builtin_errors else None,
                    json=payload,
                    timeout=min(self._timeout, remaining),
                )
            except requests.Timeout:
                if attempt < self._retries and deadline - time.monotonic() > 0:
                    attempt += 1
                    continue
                if deadline - time.monotonic() <= 0:
                    raise BackendError(
                        f"{what} failed: the OPA server at {self.url} gave no answer within the "
                        f"{self._decision_timeout:g} s decision deadline (across {attempt + 1} attempts)"
                    ) from None
                self._broken = f"{what} failed: the OPA server at {self.url} timed out; no decision was made"
                raise BackendError(self._broken) from None
            except requests.ConnectionError as exc:
                if attempt < self._retries and deadline - time.monotonic() > 0.1:
                    attempt += 1
                    time.sleep(0.05)
                    continue
                self._broken = (
                    f"the OPA server at {self.url} is unreachable ({_reason(exc)}); no decision was made"
                )
                raise BackendError(self._broken) from None
            except requests.RequestException as exc:
                raise BackendError(f"the OPA server at {self.url} failed: {_reason(exc)}") from None
            if (
                response.status_code in _RETRY_STATUS
                and attempt < self._retries
                and deadline - time.monotonic() > 0.1
                and not _evaluation_error(response)
            ):
                attempt += 1
                time.sleep(0.05)
                continue
            if response.status_code >= 400:
                raise BackendError(f"{what} failed{self._describe(response)}")
            body = _json(response)
            if body is None:
                raise BackendError(f"{what} failed: the OPA server's answer is not a JSON object")
            return body.get("result", UNDEFINED)

    def _describe(self, response: Any) -> str:
        """`` at file:line: message`` from OPA's error body, like the embedded backend's."""
        body = (_json(response) if response is not None else None) or {}
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            location = first.get("location")
            where = ""
            if isinstance(location, dict) and location.get("file"):
                pid = str(location["file"])
                path, row = self._paths.get(pid, pid), location.get("row", "?")
                rows = self._rows.get(pid)
                if rows and isinstance(row, int) and 1 <= row <= len(rows):
                    path, row = rows[row - 1]
                where = f" at {path}:{row}"
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            text = str(first.get("message", "evaluation error"))
            if self._local is not None:  # the bundle's file names, in OPA's text, back to the author's
                for name in sorted((n for n in self._paths if n in text), key=len, reverse=True):
                    text = text.replace(name, self._paths[name])
            return f"{where}: {text}{more}"
        status = getattr(response, "status_code", "?")
        message = body.get("message") or getattr(response, "reason", None) or "no detail"
        return f": the OPA server answered HTTP {status}: {message}"

    def _verify_marker(self, tree: Any) -> None:
        found = tree.get(MARKER_KEY) if isinstance(tree, dict) else None
        if found == self._marker:
            return
        digest = found.get("policy_digest") if isinstance(found, dict) else None
        state = found.get("state") if isinstance(found, dict) else None
        if self._marker is not None and digest == self._marker["policy_digest"] and state == "ready":
            holds = "these policies with other parameters or data"
        elif digest is None:
            holds = "no govern policy set"
        else:
            holds = f"policy set {digest} ({state})"
        raise BackendError(
            f"the OPA server at {self.url} now holds {holds}, not what this process loaded; another "
            "govern process is using the same server with other policies or parameters"
        )

    # --- pushing -------------------------------------------------------------------------------

    def _read_marker(self) -> Any:
        # Through the session: client.get_data cannot ask for ?provenance, which gives the
        # server's version in the same request.
        response = self._session.get(
            f"{self.endpoint.root_url}/data/{_PREFIX}/{MARKER_KEY}",
            params={"provenance": "true"},
            timeout=self._timeout,
        )
        body = self._checked(response, "reading the govern marker document")
        provenance = body.get("provenance")
        if isinstance(provenance, dict) and isinstance(provenance.get("version"), str):
            self._server_version = provenance["version"]
        return body.get("result")

    def _govern_policies(self) -> dict[str, str]:
        """The text of each policy on the server whose id starts with ``govern/``."""
        # Through the session: client.get_policies_list returns ids without their text.
        response = self._session.get(f"{self.endpoint.root_url}/policies", timeout=self._timeout)
        body = self._checked(response, "listing the server's policies")
        out: dict[str, str] = {}
        for item in body.get("result") or []:
            pid = item.get("id") if isinstance(item, dict) else None
            if isinstance(pid, str) and pid.startswith(f"{_PREFIX}/"):
                out[pid] = str(item.get("raw", ""))
        return out

    def _put_policy(self, pid: str, text: str) -> None:
        try:
            # rego_compat=False: on a v0 syntax error the client would rewrite the module into
            # v1 with regular expressions and push that instead of what the author wrote.
            self._client.update_policy_from_string(text, pid, rego_compat=False)
        except RegoParseError as exc:
            errors = [e for e in exc.errors or [] if isinstance(e, dict)]
            if not errors:
                raise BackendError(
                    f"the OPA server refused policy {self._paths.get(pid, pid)}: "
                    f"{exc.expression}: {exc.message}"
                ) from None
            raise _CompileFailure(errors) from None

    def _delete_policy(self, pid: str) -> None:
        # Through the session: client.delete_policy drops OPA's errors[], which say which module
        # still needs this one (then it is deleted in a later round).
        response = self._session.delete(f"{self.endpoint.root_url}/policies/{pid}", timeout=self._timeout)
        if response.status_code in (200, 404):
            return
        errors = (_json(response) or {}).get("errors")
        if response.status_code == 400 and isinstance(errors, list) and errors:
            raise _CompileFailure([e for e in errors if isinstance(e, dict)])
        self._checked(response, f"deleting policy {pid}")

    def _put_data(self, path: str, value: Any) -> None:
        def put() -> None:
            if isinstance(value, dict):
                self._client.update_or_create_data(value, path)
                return
            # update_or_create_data takes only objects; another JSON value goes through the session.
            response = self._session.put(
                f"{self.endpoint.root_url}/data/{path}", json=value, timeout=self._timeout
            )
            if response.status_code != 204:
                self._checked(response, f"writing data {path}")

        try:
            self._guard(put)
        except RegoParseError as exc:
            raise BackendError(f"the OPA server refused data {path}: {exc.message}") from None

    def _delete_data(self, path: str) -> None:
        try:
            self._guard(lambda: self._client.delete_data(path))
        except DeleteDataError as exc:
            if exc.expression != "resource_not_found":
                raise BackendError(f"the OPA server refused to delete data {path}: {exc.message}") from None

    def _in_rounds(self, pending: list[str], operation: Callable[[str], None]) -> None:
        """Apply ``operation`` to each id; retry those refused only for want of another module.

        OPA compiles its whole module set on every change, so a module calling a function of a
        package not pushed yet (or deleting a module another still calls) is refused with
        "undefined function" and goes through in a later round. A round without progress
        reports the most telling error.
        """
        while pending:
            failures: dict[str, _CompileFailure] = {}
            for pid in pending:
                try:
                    self._guard(partial(operation, pid))
                except _CompileFailure as exc:
                    failures[pid] = exc
            if len(failures) == len(pending):
                worst = next((f for f in failures.values() if not f.retryable), next(iter(failures.values())))
                raise self._load_error(worst.errors)
            pending = list(failures)

    def _load_error(self, errors: list[dict[str, Any]]) -> PolicyLoadError:
        first = next((e for e in errors if _LATER not in str(e.get("message", ""))), errors[0])
        message = str(first.get("message") or "the OPA server refused the policy").strip()
        location = first.get("location")
        location = location if isinstance(location, dict) else {}
        pid = str(location.get("file") or "")
        path = self._paths.get(pid, pid or None)
        row = location.get("row")
        rows = self._rows.get(pid)
        if rows and isinstance(row, int) and 1 <= row <= len(rows):
            path, row = rows[row - 1]
        if location.get("col"):
            message += f" (column {location['col']})"
        others = [self._located(e) for e in errors if e is not first]
        located = [o for o in others if o[0]]
        if located:  # every located error, as the embedded backend shows them (not "error limit")
            message += "; also " + "; ".join(f"{where}: {text}" for where, text in located)
        elif others:
            message += f"; {len(others)} more error(s)"
        hint = None
        if path in self._v0 and any(marker in message for marker in _V0_MARKERS):
            hint = "this OPA server reads Rego v1; serve Rego v0 policies from `opa run --v0-compatible`"
        return PolicyLoadError(message, Location(path, row if isinstance(row, int) else None), hint)

    def _located(self, error: dict[str, Any]) -> tuple[str, str]:
        """(``file:row:col`` or "", message) of one of OPA's errors."""
        text = str(error.get("message") or "").strip()
        location = error.get("location")
        if not isinstance(location, dict) or not location.get("file"):
            return "", text
        pid = str(location["file"])
        path: str = str(self._paths.get(pid, pid))
        row = location.get("row")
        rows = self._rows.get(pid)
        if rows and isinstance(row, int) and 1 <= row <= len(rows):
            path, row = rows[row - 1]  # the merged module's row, back to the author's file and line
        where = str(path)
        if isinstance(row, int):
            where += f":{row}"
        if isinstance(location.get("col"), int):
            where += f":{location['col']}"
        return where, text

    # --- error wrapping ------------------------------------------------------------------------

    def _checked(self, response: Any, doing: str) -> dict[str, Any]:
        body = _json(response)
        if response.status_code >= 400:
            detail = (body or {}).get("message") or response.reason or "no detail"
            raise BackendError(f"{doing}: the OPA server answered HTTP {response.status_code}: {detail}")
        if response.status_code == 204:
            return {}
        if body is None:
            raise BackendError(f"{doing}: the OPA server's answer is not a JSON object")
        return body

    def _guard(self, call: Callable[[], T]) -> T:
        """One exchange with the server: network and library errors become BackendError.

        ``RegoParseError`` and ``DeleteDataError`` pass through for the caller, which knows what
        the request meant.
        """
        if self._broken is not None:
            raise BackendError(self._broken)
        try:
            return call()
        except (RegoParseError, DeleteDataError, _CompileFailure, BackendError):
            raise
        except (requests.ConnectionError, requests.Timeout) as exc:
            reason = _reason(exc)
            state = "did not answer in time" if reason.startswith("timed out") else "is unreachable"
            self._broken = f"the OPA server at {self.url} {state} ({reason}); no decision was made"
            raise BackendError(self._broken) from None
        except (requests.RequestException, ValueError) as exc:
            raise BackendError(f"the OPA server at {self.url} failed: {_reason(exc)}") from None


def _evaluation_error(response: Any) -> bool:
    """Whether OPA answered that evaluating the query failed (a conflict, a failing built-in):
    the same query would fail the same way, so it is not retried."""
    errors = (_json(response) or {}).get("errors") if response.status_code == 500 else None
    return (
        isinstance(errors, list)
        and bool(errors)
        and all(isinstance(e, dict) and str(e.get("code", "")).startswith("eval_") for e in errors)
    )


def _reason(exc: BaseException) -> str:
    text = str(exc)
    # urllib3's retries wrap a read timeout in a ConnectionError: the server was reached, and slow
    if isinstance(exc, requests.Timeout) or "Read timed out" in text or "ReadTimeoutError" in text:
        return "timed out waiting for an answer" if "Read timed out" in text else "timed out"
    if isinstance(exc, requests.ConnectionError):
        if "Connection refused" in text:
            return "connection refused"
        if "Name or service not known" in text or "Temporary failure in name resolution" in text:
            return "unknown host"
        return "connection failed"
    return f"{type(exc).__name__}: {exc}"
