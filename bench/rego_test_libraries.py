"""`govern test` against `opa test` on public Rego libraries: counts, per-test agreement, speed.

Run:  python bench/rego_test_libraries.py LIBRARY[:v0] [LIBRARY[:v0] ...] [--opa-backend] [--runs N]

Each LIBRARY is a folder of Rego policies with their tests (nothing is downloaded; libraries that
are absent are skipped with a note). Append ``:v0`` for Rego v0 libraries (for example the OPA
Gatekeeper library's ``src`` folder). For each library, in the same run:

  opa test      LIBRARY --format json      (the OPA binary: $GOVERN_OPA_BIN or tools/opa/build.sh)
  govern test   LIBRARY --format json --no-builtin                       (embedded regorus)
  govern test   ... --backend opa   (with --opa-backend: govern starts OPA, policies as a bundle)
  govern test   ... --backend opa --opa-url URL   (push mode, against a fresh `opa run --server`)

and prints, per tool, PASS/FAIL/ERROR/SKIPPED, the number of tests whose outcome differs from
`opa test` (by file, line and name: each definition of a duplicated test name is its own test),
and the median wall time of N runs (default 3) with the ratio to `opa test`. Last line:
``RESULT {json}``. Nothing is asserted.

Libraries measured so far (extract a snapshot with ``git archive``; keep only ``.rego`` files
where the repository also holds YAML/JSON that ``opa test`` would load as conflicting data):
the OPA Gatekeeper library's ``src`` (``:v0``), raspbernetes/k8s-security-policies (``:v0``),
plexsystems/konstraint. Figures: docs/fidelity.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def opa_binary() -> str:
    given = os.environ.get("GOVERN_OPA_BIN")
    if given:
        return given
    proc = subprocess.run(
        ["bash", str(ROOT / "tools/opa/build.sh")], capture_output=True, text=True, check=True
    )
    return proc.stdout.strip().splitlines()[-1]


def govern_bin() -> str:
    candidate = Path(sys.executable).parent / "govern"
    return str(candidate) if candidate.exists() else "govern"


def outcome(result: dict[str, Any]) -> str:
    if result.get("fail"):
        return "FAIL"
    if result.get("error"):
        return "ERROR"
    if result.get("skip"):
        return "SKIPPED"
    return "PASS"


def timed(
    command: list[str], env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False, env=env, timeout=1800)
    return time.perf_counter() - started, proc


def results(proc: subprocess.CompletedProcess[str], root: Path) -> dict[tuple[str, int, str], str]:
    """Each test's outcome by (file, line, name): every definition of a duplicated test name is
    its own test (``test_x#01``); OPA numbers duplicates across files in no fixed order, so the
    key is the definition's place, not its suffix."""
    try:
        items = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {}
    out = {}
    for item in items:
        file = str(Path(item["location"]["file"]).resolve().relative_to(root.resolve().parent))
        out[(file, int(item["location"]["row"]), item["name"].split("#")[0])] = outcome(item)
    return out


def start_opa(binary: str, v0: bool) -> tuple[subprocess.Popen[bytes], str]:
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = [binary, "run", "--server", "--addr", f"127.0.0.1:{port}", "--log-level", "error"]
    if v0:
        command.append("--v0-compatible")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("opa run did not start")


def bench(library: Path, v0: bool, runs: int, opa_backend: bool, binary: str) -> dict[str, Any]:
    v0_flag = ["--v0-compatible"] if v0 else []
    tools: dict[str, list[str]] = {
        "opa test": [binary, "test", *v0_flag, str(library), "--format", "json"],
        "govern test": [govern_bin(), "test", *v0_flag, "--no-builtin", str(library), "--format", "json"],
    }
    env = None
    push = "... --opa-url (push)"
    if opa_backend:
        # no --opa-url: govern starts its own server from the binary, the policies as a bundle
        tools["govern test --backend opa"] = [*tools["govern test"], "--backend", "opa"]
        env = {**os.environ, "GOVERN_OPA_BIN": binary}
        env.pop("GOVERN_OPA_URL", None)
        # --opa-url: push mode, each run against a fresh `opa run --server` (a server that already
        # holds the policy set is not written to again, so a reused one would time no push at all)
        tools[push] = [*tools["govern test"], "--backend", "opa", "--opa-url"]
    out: dict[str, Any] = {"library": str(library), "v0": v0, "tools": {}}
    reference: dict[tuple[str, int, str], str] | None = None
    for name, command in tools.items():
        times = []
        proc = None
        for _ in range(runs):
            if name == push:
                server, url = start_opa(binary, v0)
                try:
                    seconds, proc = timed([*command, url], env)
                finally:
                    server.terminate()
                    server.wait(timeout=10)
            else:
                seconds, proc = timed(command, env)
            times.append(seconds)
        assert proc is not None
        found = results(proc, library)
        tally = collections.Counter(found.values())
        row: dict[str, Any] = {
            "exit": proc.returncode,
            "tests": len(found),
            **{k: tally.get(k, 0) for k in ("PASS", "FAIL", "ERROR", "SKIPPED")},
            "median_s": round(statistics.median(times), 3),
        }
        if not found:
            row["stderr"] = proc.stderr.strip().splitlines()[-1:] or [""]
        if reference is None:
            reference = found
        else:
            row["differ"] = sum(1 for k, v in reference.items() if found.get(k) != v)
            row["missing"] = sum(1 for k in reference if k not in found)
            row["extra"] = sum(1 for k in found if k not in reference)
            base = out["tools"]["opa test"]["median_s"]
            row["ratio_to_opa_test"] = round(row["median_s"] / base, 2) if base else None
        out["tools"][name] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("libraries", nargs="+", help="LIBRARY or LIBRARY:v0")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--opa-backend", action="store_true", help="also govern test --backend opa")
    args = parser.parse_args()
    binary = opa_binary()
    report = []
    for spec in args.libraries:
        path, _, flag = spec.partition(":")
        library = Path(path)
        if not library.is_dir():
            print(f"skipped {library}: not present (fetch it first; it is never committed)")
            continue
        row = bench(library, flag == "v0", args.runs, args.opa_backend, binary)
        report.append(row)
        print(f"\n{library} ({'v0' if row['v0'] else 'v1'})")
        header = ("tests", "PASS", "FAIL", "ERROR", "SKIP")
        print(
            f"{'tool':<28}" + "".join(f"{h:>6}" for h in header) + f"{'differ':>8}{'time s':>9}{'ratio':>7}"
        )
        for name, r in row["tools"].items():
            print(
                f"{name:<28}{r['tests']:>6}{r['PASS']:>6}{r['FAIL']:>6}{r['ERROR']:>6}{r['SKIPPED']:>6}"
                f"{r.get('differ', ''):>8}{r['median_s']:>9}{r.get('ratio_to_opa_test', ''):>7}"
            )
    print("RESULT " + json.dumps(report))


if __name__ == "__main__":
    main()
