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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import urlsplit

import requests  # type: ignore[import-untyped,unused-ignore]
from opa_client.errors import DeleteDataError, RegoParseError  # type: ignore[import-untyped]
from opa_client.opa import OpaClient  # type: ignore[import-untyped]

from ..errors import BackendError, ConfigError, Location, PolicyLoadError
from ..evidence.document import canonical_digest
from ..policyset import PolicyModule, PolicySet
from ..spec import RegoVersion
from .base import UNDEFINED, Backend, PackageValues, package_values

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "MARKER_KEY",
    "OpaBackend",
    "OpaEndpoint",
    "parse_opa_url",
    "policy_id",
]

T = TypeVar("T")

#: Seconds per request (connect + read); the client's own default is 1.5 s.
DEFAULT_TIMEOUT: Final = 5.0
#: Retries on connection errors (every request) and on HTTP 500/502/504 (idempotent requests).
DEFAULT_RETRIES: Final = 2
#: The key of the marker document under ``data.govern``.
MARKER_KEY: Final = "_backend"
_PREFIX: Final = "govern"
_STRICT: Final = {"strict-builtin-errors": "true"}
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._/-]")
_V0_MARKERS = ("`if` keyword is required", "`contains` keyword is required")
_LATER = "undefined function"


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


def _policy_ids(policy_set: PolicySet) -> dict[str, PolicyModule]:
    out: dict[str, PolicyModule] = {}
    for module in policy_set.modules:
        base = pid = policy_id(policy_set.digest, module.path)
        n = 1
        while pid in out:  # two paths that differ only in characters made safe
            n += 1
            pid = f"{base}.{n}"
        out[pid] = module
    return out


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

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = DEFAULT_RETRIES) -> None:
        self.url = url
        self.endpoint = parse_opa_url(url)
        self._timeout = timeout
        self._client: Any = OpaClient(
            host=self.endpoint.host,
            port=self.endpoint.port,
            ssl=self.endpoint.ssl,
            version=self.endpoint.version,
            timeout=timeout,
            retries=retries,
        )
        # The client wraps a requests.Session with retries; where the client's methods cannot
        # do what is needed (noted at each use), requests go through that same session.
        self._session: Any = self._client._session
        self._server_version: str | None = None
        self._paths: dict[str, str] = {}  # policy id → the module's path, for error locations
        self._v0: frozenset[str] = frozenset()
        self._roots: dict[str, list[str]] = {}
        self._marker: dict[str, Any] | None = None
        self._broken: str | None = None
        #: Whether the last ``load`` had to write to the server (False: it already held all).
        self.pushed = False

    # --- the Backend interface ---------------------------------------------------------------

    def version(self) -> str:
        try:
            client = metadata.version("opa-python-client")
        except metadata.PackageNotFoundError:  # pragma: no cover - installed some other way
            client = "unknown"
        return f"opa {self._server_version or '(version unknown)'} (opa-python-client {client})"

    def load(self, policy_set: PolicySet, data: Mapping[str, Any]) -> None:
        modules = _policy_ids(policy_set)
        self._paths = {pid: m.path for pid, m in modules.items()}
        self._v0 = frozenset(m.path for m in policy_set.modules if m.rego_version is RegoVersion.V0)
        documents = _documents(data)
        marker = {
            "state": "ready",
            "policy_digest": policy_set.digest,
            "data_digest": canonical_digest(dict(data)),
            "policies": sorted(modules),
            "data_paths": sorted(documents),
        }
        self._marker = None
        self._broken = None  # a new load is a new attempt, even after a connection failure
        previous = self._guard(self._read_marker)
        held = self._guard(self._govern_policies)
        stale = [pid for pid in held if pid not in modules]
        changed = [pid for pid, m in modules.items() if held.get(pid) != m.text]
        self.pushed = bool(stale or changed or previous != marker)
        if self.pushed:
            self._put_data(f"{_PREFIX}/{MARKER_KEY}", {**marker, "state": "loading"})
            try:
                self._in_rounds(list(reversed(stale)), self._delete_policy)
            except PolicyLoadError as exc:  # another module on the server still needs them
                raise BackendError(
                    f"cannot remove the previous govern policies from the OPA server: {exc}"
                ) from None
            self._in_rounds(changed, lambda pid: self._put_policy(pid, modules[pid]))
            old = previous.get("data_paths") if isinstance(previous, dict) else None
            for path in old if isinstance(old, list) else []:
                if isinstance(path, str) and path not in documents and path != f"{_PREFIX}/{MARKER_KEY}":
                    self._delete_data(path)
            for path, value in documents.items():
                self._put_data(path, value)
            self._put_data(f"{_PREFIX}/{MARKER_KEY}", marker)
        self._marker = marker
        roots: dict[str, list[str]] = {}
        for package in policy_set.packages:
            roots.setdefault(package.split(".")[0], []).append(package)
        self._roots = roots

    def evaluate(self, input_doc: Mapping[str, Any], packages: tuple[str, ...]) -> PackageValues:
        self._require()
        wanted = set(packages)
        out: PackageValues = {}
        for root, members in self._roots.items():
            if not wanted.intersection(members):
                continue
            tree = self._query(root, input_doc, "evaluation")
            if tree is UNDEFINED:
                tree = {}
            if root == _PREFIX:
                self._verify_marker(tree)
            out.update(package_values(tree, members, wanted))
        return out

    def evaluate_rule(self, input_doc: Mapping[str, Any] | None, path: str) -> Any:
        self._require()
        return self._query(path.removeprefix("data.").replace(".", "/"), input_doc, path)

    def close(self) -> None:
        self._client.close_connection()

    # --- queries -------------------------------------------------------------------------------

    def _require(self) -> None:
        if self._marker is None:
            raise BackendError("the opa backend was used before a policy set was loaded")
        if self._broken is not None:
            raise BackendError(self._broken)

    def _query(self, url_path: str, input_doc: Mapping[str, Any] | None, what: str) -> Any:
        """``POST /v1/data/<url_path>``: the value, or UNDEFINED when OPA returns no result."""

        def post() -> Any:
            try:
                if input_doc is not None:
                    return self._client.query_rule(dict(input_doc), url_path, query_params=_STRICT)
                # query_rule always sends {"input": ...}; a test rule is evaluated as `opa test`
                # evaluates it, with no input at all, so this request goes through the session.
                response = self._session.post(
                    f"{self.endpoint.root_url}/data/{url_path}",
                    params=_STRICT,
                    json={},
                    timeout=self._timeout,
                )
                response.raise_for_status()
                return response.json()
            except requests.HTTPError as exc:
                # query_rule raises on any status >= 400; OPA's errors[] (code, message,
                # location) are in the response body, which the HTTPError still carries.
                raise BackendError(f"{what} failed{self._describe(exc.response)}") from None

        body = self._guard(post)
        if not isinstance(body, dict):
            raise BackendError(f"{what} failed: the OPA server answered {body!r}")
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
                where = f" at {self._paths.get(pid, pid)}:{location.get('row', '?')}"
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            return f"{where}: {first.get('message', 'evaluation error')}{more}"
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

    def _put_policy(self, pid: str, module: PolicyModule) -> None:
        try:
            # rego_compat=False: on a v0 syntax error the client would rewrite the module into
            # v1 with regular expressions and push that instead of what the author wrote.
            self._client.update_policy_from_string(module.text, pid, rego_compat=False)
        except RegoParseError as exc:
            errors = [e for e in exc.errors or [] if isinstance(e, dict)]
            if not errors:
                raise BackendError(
                    f"the OPA server refused policy {module.path}: {exc.expression}: {exc.message}"
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
        if location.get("col"):
            message += f" (column {location['col']})"
        if len(errors) > 1:
            message += f"; {len(errors) - 1} more error(s)"
        hint = None
        if path in self._v0 and any(marker in message for marker in _V0_MARKERS):
            hint = "this OPA server reads Rego v1; serve Rego v0 policies from `opa run --v0-compatible`"
        return PolicyLoadError(message, Location(path, row if isinstance(row, int) else None), hint)

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
