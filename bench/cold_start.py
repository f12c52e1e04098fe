"""Cold-start wall time of `govern check` on the adult-income example, against `python -c pass`.

Run:  python bench/cold_start.py [--quick] [--runs N] [--baseline CHECKOUT]

Times, as fresh subprocesses with this interpreter (sys.executable), N times each (default 15,
--quick 5), alternating the two commands so machine load hits both alike:

  python -c pass
  govern check examples/adult-income/spec.yaml --evidence examples/adult-income/evidence.json
         --as-of 2026-11-27                     (stdout and stderr to /dev/null)

twice: once in the environment as inherited (if PYTHONDONTWRITEBYTECODE is set and the source
tree has no __pycache__, govern's own modules are compiled from source on every start), and
once with a bytecode cache under a temporary PYTHONPYCACHEPREFIX (what an installed wheel,
whose .pyc files are written at install time, gets). Nothing is written to the source tree.

Then, in one more subprocess running the console script's main() under ``-X importtime``, it checks
that none of mlflow, shap, fairlearn, pandas is imported *or even looked for* (a meta-path
finder records every attempt, so the check means something when they are not installed),
lists the top 10 modules by cumulative import time, and splits the in-process time into
phases (imports, spec, evidence, policy set, engine load, decide, render).

Also timed, in the same alternation: the same check with the policy cache off
(``GOVERN_CACHE_DIR=off``: what the first run after an upgrade or a policy edit pays), and, with
``--baseline CHECKOUT`` (another checkout of govern, e.g. ``git worktree add /tmp/base <commit>``),
that checkout's ``govern check`` run by this interpreter, with its phases next to this tree's:
a before/after from one run, under one machine load.

Prints tables and, last, one line ``RESULT {json}``. The targets are reported, not asserted.
"""

# ruff: noqa: E501, PLR0915  (wide report lines; linear main() reads best as a script)

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC = "examples/adult-income/spec.yaml"
EVIDENCE = "examples/adult-income/evidence.json"
AS_OF = "2026-11-27"
CHECK_ARGS = ["check", SPEC, "--evidence", EVIDENCE, "--as-of", AS_OF]
FORBIDDEN = ("mlflow", "shap", "fairlearn", "pandas")
ALSO_WATCHED = ("numpy", "scipy", "sklearn")  # reported, not part of the check
#: not needed to decide on valid evidence (typer and click: the check fast path; yaml and
#: jsonschema_rs: a spec and evidence read before come from the policy cache)
NOT_NEEDED = ("pydantic", "rich", "jsonschema", "typer", "click", "yaml", "jsonschema_rs")
TARGET_S = 0.5
TARGET_RATIO = 5.0  # govern check / python -c pass, medians of the same run


def govern_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m govern.cli.main``."""
    script = Path(sys.executable).parent / "govern"
    if script.is_file():
        return [sys.executable, str(script)]  # same interpreter as the baseline, whatever the shebang says
    found = shutil.which("govern")
    if found:
        return [sys.executable, found]
    return [sys.executable, "-m", "govern.cli.main"]


RUNNER = "import sys; from govern.cli.main import main; sys.argv[0] = 'govern'; sys.exit(main())"


def shim(checkout: Path) -> str:
    """A folder whose ``govern`` is ``checkout``: on PYTHONPATH, it wins over the installed one."""
    folder = Path(tempfile.mkdtemp(prefix="govern-bench-baseline-"))
    (folder / "govern").symlink_to(checkout.resolve(), target_is_directory=True)
    return str(folder)


Command = tuple[list[str], dict[str, str]]  # argv, environment added to the run's


def time_runs(
    commands: dict[str, Command], runs: int, env: dict[str, str]
) -> tuple[dict[str, list[float]], dict[str, set[int]], list[str]]:
    """Alternate the commands ``runs`` times; stdout to /dev/null, stderr kept for diagnostics."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    codes: dict[str, set[int]] = {name: set() for name in commands}
    problems: list[str] = []
    names = list(commands)
    for name in names:  # warm-up: page cache, and the bytecode cache when a prefix is set
        subprocess.run(
            commands[name][0],
            cwd=ROOT,
            env={**env, **commands[name][1]},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    for i in range(runs):
        for name in names if i % 2 == 0 else reversed(names):
            t0 = time.perf_counter_ns()
            proc = subprocess.run(
                commands[name][0],
                cwd=ROOT,
                env={**env, **commands[name][1]},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                check=False,
            )
            times[name].append((time.perf_counter_ns() - t0) / 1e9)
            codes[name].add(proc.returncode)
            if proc.returncode != 0:
                tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [
                    "(no stderr: denied?)"
                ]
                problems.append(f"{name} run {i + 1}: exit {proc.returncode}: {tail[0][:160]}")
    return times, codes, problems


def summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "mean": statistics.fmean(values)}


# Runs in a fresh interpreter under -X importtime. Argument: path for the JSON report.
PROBE = r"""
import json, sys, time
t_start = time.perf_counter()
WATCH = set(sys.argv[2].split(","))
attempts = []

class Watcher:  # a meta-path finder (importlib.abc would import importlib.resources, tempfile, ...)
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in WATCH:
            attempts.append(name)
        return None

sys.meta_path.insert(0, Watcher())
phases = {}
def mark(name, t0):
    now = time.perf_counter()
    phases[name] = now - t0
    return now

import contextlib, datetime, io, os
from pathlib import Path
t = time.perf_counter()
from govern.cli import main as cli_main
t = mark("import govern.cli.main", t)
out = io.StringIO()
code = None
probe_argv = sys.argv
sys.argv = ["govern", *probe_argv[6:]]
with contextlib.redirect_stdout(out):
    try:
        cli_main.main()  # what the console script runs
    except SystemExit as exc:
        code = exc.code
sys.argv = probe_argv
t = mark("govern check in process (incl. its lazy imports)", t)
after_cli = set(sys.modules)

# The same work again, split into phases (imports are warm now except what check imported lazily;
# the first pass above already paid for those, so time them from a list of modules it loaded).
from govern.engine.backends import create_backend
from govern.engine.check import Checker
from govern.engine.evidence import load_evidence
from govern.engine.formats import Format, RenderOptions, render
from govern.engine.policyset import load_policy_set
from govern.engine.spec import load_spec
t = time.perf_counter()
spec = load_spec(Path(sys.argv[3]))
t = mark("load_spec (YAML + schema)", t)
evidence = load_evidence(Path(sys.argv[4]))
t = mark("load_evidence (JSON + schema)", t)
policy_set = load_policy_set(spec)
t = mark("load_policy_set (read + parse METADATA)", t)
backend = create_backend("embedded")
checker = Checker.for_spec(spec, policy_set, backend)
t = mark("Checker.for_spec (params, compile check, add_policy)", t)
decision = checker.decide(evidence, None, datetime.date.fromisoformat(sys.argv[5]))
t = mark("decide", t)
render(Format("text"), decision, RenderOptions(color=False, width=120))
t = mark("render text", t)
with open(sys.argv[1], "w") as fh:
    json.dump({"modules": sorted(after_cli), "attempts": attempts, "phases": phases, "code": code,
               "out_chars": len(out.getvalue())}, fh)
"""


def parse_importtime(stderr: str) -> list[tuple[str, int, int, int]]:
    """(module, depth, self µs, cumulative µs) for every ``import time:`` line."""
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2  # one space after '|', two more per level
        rows.append((name.strip(), depth, int(self_us), int(cum_us)))
    return rows


def probe(env: dict[str, str], repeats: int) -> dict[str, Any]:
    """Run the CLI in process under -X importtime ``repeats`` times; median import times."""
    reports = []
    imports: dict[str, list[int]] = {}
    depth: dict[str, int] = {}
    top_level_totals: list[int] = []
    for _ in range(repeats):
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
            report_path = fh.name
        try:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-X",
                    "importtime",
                    "-c",
                    PROBE,
                    report_path,
                    ",".join(FORBIDDEN + ALSO_WATCHED),
                    SPEC,
                    EVIDENCE,
                    AS_OF,
                    *CHECK_ARGS,
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise SystemExit(f"probe failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
            reports.append(json.loads(Path(report_path).read_text()))
        finally:
            os.unlink(report_path)
        parsed = parse_importtime(proc.stderr)
        top_level_totals.append(sum(cum for _n, d, _s, cum in parsed if d == 0))
        for name, d, _self, cum in parsed:
            imports.setdefault(name, []).append(cum)
            depth.setdefault(name, d)
    top = sorted(((n, depth[n], statistics.median(v)) for n, v in imports.items()), key=lambda r: -r[2])[:10]
    phases = {k: statistics.median(r["phases"][k] for r in reports) for k in reports[0]["phases"]}
    return {
        "report": reports[0],
        "top": top,
        "phases": phases,
        "n_imported": len(imports),
        "import_total_ms": statistics.median(top_level_totals) / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 runs instead of 15")
    parser.add_argument("--runs", type=int, help="runs per command")
    parser.add_argument("--baseline", type=Path, help="another checkout of govern, timed alongside")
    args = parser.parse_args()
    runs = args.runs or (5 if args.quick else 15)

    commands: dict[str, Command] = {
        "python -c pass": ([sys.executable, "-c", "pass"], {}),
        "govern check": ([*govern_command(), *CHECK_ARGS], {}),
        "govern check, no policy cache": ([*govern_command(), *CHECK_ARGS], {"GOVERN_CACHE_DIR": "off"}),
    }
    baseline_env: dict[str, str] = {}
    if args.baseline is not None:
        if not (args.baseline / "cli" / "main.py").is_file():
            raise SystemExit(f"--baseline {args.baseline}: not a checkout of govern (no cli/main.py)")
        baseline_env = {"PYTHONPATH": shim(args.baseline)}
        commands["baseline govern check"] = ([sys.executable, "-c", RUNNER, *CHECK_ARGS], baseline_env)
    inherited = dict(os.environ)
    cache_dir = tempfile.mkdtemp(prefix="govern-bench-pycache-")
    cached = dict(os.environ)
    cached.pop("PYTHONDONTWRITEBYTECODE", None)
    cached["PYTHONPYCACHEPREFIX"] = cache_dir
    pycache_in_tree = (ROOT / "engine" / "__pycache__").is_dir()

    print(f"govern cold start: {' '.join(commands['govern check'][0][1:])}")
    print(
        f"python {platform.python_version()} ({sys.executable}), {os.cpu_count()} CPUs, {runs} runs each, alternating; "
        f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}, engine/__pycache__ "
        f"{'present' if pycache_in_tree else 'absent'}"
    )
    results: dict[str, Any] = {}
    all_problems: list[str] = []
    try:
        for label, env in (("as inherited", inherited), ("bytecode cached", cached)):
            times, codes, problems = time_runs(commands, runs, env)
            results[label] = {name: summary(v) for name, v in times.items()}
            results[label]["exit codes"] = {name: sorted(c) for name, c in codes.items()}
            all_problems.extend(f"{label}: {p}" for p in problems)
        print()
        print(f"{'wall time (s)':<52}{'min':>8}{'median':>8}{'mean':>8}  exit  ratio")
        for label, res in results.items():
            p = res["python -c pass"]
            for name in commands:
                s = res[name]
                print(
                    f"{label + ': ' + name:<52}{s['min']:>8.3f}{s['median']:>8.3f}{s['mean']:>8.3f}  {res['exit codes'][name]}"
                    f"  {s['median'] / p['median']:.1f}x"
                )
            g = res["govern check"]
            verdict = "within" if g["median"] <= TARGET_S else "ABOVE"
            ratio = g["median"] / p["median"] if p["median"] else float("inf")
            res["ratio"] = ratio
            print(
                f"{'':<4}govern − interpreter: {g['median'] - p['median']:.3f} s (median); {verdict} the {TARGET_S} s target",
                flush=True,
            )
            print(
                f"{'':<4}govern / interpreter: {ratio:.1f}x (median); "
                f"{'within' if ratio <= TARGET_RATIO else 'ABOVE'} the {TARGET_RATIO:.0f}x target",
                flush=True,
            )

        for problem in all_problems[:5]:
            print(f"  WARNING (timings include this run; the tree may have changed under us): {problem}")
        info = probe(cached, 1 if args.quick else 3)
        before = probe({**cached, **baseline_env}, 1 if args.quick else 3) if baseline_env else None
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
        if baseline_env:
            shutil.rmtree(baseline_env["PYTHONPATH"], ignore_errors=True)

    report = info["report"]
    loaded = [m for m in report["modules"] if m.split(".")[0] in FORBIDDEN]
    tried = sorted({a for a in report["attempts"] if a.split(".")[0] in FORBIDDEN})
    heavy = sorted(
        {m.split(".")[0] for m in report["modules"] if m.split(".")[0] in ALSO_WATCHED}
        | {a.split(".")[0] for a in report["attempts"] if a.split(".")[0] in ALSO_WATCHED}
    )
    installed = [name for name in FORBIDDEN if _installed(name)]
    ok = not loaded and not tried
    print()
    print(
        f"heavy imports on this path ({len(report['modules'])} modules in sys.modules; exit {report['code']}):"
    )
    for name in FORBIDDEN:
        state = (
            "IMPORTED"
            if any(m.split(".")[0] == name for m in loaded)
            else "looked for"
            if any(a.split(".")[0] == name for a in tried)
            else "not imported"
        )
        print(f"  {name:<10} {state:<13} ({'installed' if name in installed else 'not installed here'})")
    print(
        f"  → {'OK: none of ' + ', '.join(FORBIDDEN) + ' imported or looked for' if ok else 'FAIL: heavy dependency on the cold path'}"
        f"; also watched ({', '.join(ALSO_WATCHED)}): {', '.join(heavy) or 'none'}"
    )

    not_needed = sorted({m.split(".")[0] for m in report["modules"] if m.split(".")[0] in NOT_NEEDED})
    print(f"  not needed on this path ({', '.join(NOT_NEEDED)}): {', '.join(not_needed) or 'none'} imported")

    print()
    print(
        f"top 10 modules by cumulative import time (-X importtime, median of {1 if args.quick else 3}; indent = nesting); "
        f"all imports {info['import_total_ms']:.0f} ms (includes importtime's own overhead):"
    )
    for name, depth, cum in info["top"]:
        print(f"  {'  ' * max(depth - 1, 0) + name:<48}{cum / 1000:>8.1f} ms")

    print()
    if before is None:
        print("in-process phases (bytecode cached, median):")
        for name, seconds in info["phases"].items():
            print(f"  {name:<56}{seconds * 1000:>8.1f} ms")
    else:
        print(f"in-process phases (bytecode cached, median): {'baseline':>10}{'this tree':>11}")
        for name, seconds in info["phases"].items():
            old = before["phases"].get(name)
            print(f"  {name:<56}{'' if old is None else f'{old * 1000:.1f} ms':>10}{seconds * 1000:>8.1f} ms")
        print(
            f"  {'all imports (-X importtime)':<56}{before['import_total_ms']:>7.1f} ms{info['import_total_ms']:>8.1f} ms"
        )

    g = results["as inherited"]["govern check"]
    gc_ = results["bytecode cached"]["govern check"]
    out = {
        "bench": "cold_start",
        "runs": runs,
        "unit": "s",
        "target_s": TARGET_S,
        "inherited": {
            k: {m: round(x, 4) for m, x in v.items()}
            for k, v in results["as inherited"].items()
            if k not in ("exit codes", "ratio")
        },
        "bytecode_cached": {
            k: {m: round(x, 4) for m, x in v.items()}
            for k, v in results["bytecode cached"].items()
            if k not in ("exit codes", "ratio")
        },
        "govern_exit_codes": sorted(
            set(results["as inherited"]["exit codes"]["govern check"])
            | set(results["bytecode cached"]["exit codes"]["govern check"])
        ),
        "nonzero_exit_runs": len(all_problems),
        "within_target_inherited": g["median"] <= TARGET_S,
        "within_target_cached": gc_["median"] <= TARGET_S,
        "forbidden_imported": loaded,
        "forbidden_looked_for": tried,
        "forbidden_ok": ok,
        "not_needed_imported": not_needed,
        "ratio_inherited": round(results["as inherited"]["ratio"], 2),
        "ratio_cached": round(results["bytecode cached"]["ratio"], 2),
        "target_ratio": TARGET_RATIO,
        "top_imports_ms": [[n, round(c / 1000, 1)] for n, _d, c in info["top"]],
        "phases_ms": {k: round(v * 1000, 1) for k, v in info["phases"].items()},
        "import_total_ms": round(info["import_total_ms"], 1),
    }
    for label, key in (("as inherited", "inherited"), ("bytecode cached", "bytecode_cached")):
        res = results[label]
        base = res["python -c pass"]["median"]
        out[f"ratios_{key}"] = {
            name: round(res[name]["median"] / base, 2) for name in commands if name != "python -c pass"
        }
    if before is not None:
        out["baseline_phases_ms"] = {k: round(v * 1000, 1) for k, v in before["phases"].items()}
        out["baseline_import_total_ms"] = round(before["import_total_ms"], 1)
    print("RESULT " + json.dumps(out, sort_keys=True))


def _installed(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(name) is not None


if __name__ == "__main__":
    main()
