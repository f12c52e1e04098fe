# ruff: noqa: E501 - the corpus is a table: one mutation, one line
"""Write the hostile-input corpus: inputs under spec/, evidence/ and policies/ (named ``h_*``)
and their cases in hostile.yaml.

Each input is the example spec or evidence with one thing changed; each case says what govern
must do with it (exit code, what stderr names, what it must never print). The expectations
are written here by hand, as the contract; nothing is recorded from a run. Re-run after
editing: ``python tests/corpus/make_hostile.py``; tests/test_corpus.py runs the cases.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SPEC_TEXT = (REPO / "examples" / "adult-income" / "spec.yaml").read_text(encoding="utf-8")
EVIDENCE = json.loads((REPO / "examples" / "adult-income" / "evidence.json").read_text(encoding="utf-8"))

CASES: list[dict[str, Any]] = []


def case(id: str, **fields: Any) -> None:
    CASES.append({"id": id, **fields})


def spec_file(name: str, old: str, new: str, *, count: int = 1) -> str:
    """The example spec with ``old`` replaced by ``new`` (which must occur), as spec/h_<name>.yaml."""
    assert old in SPEC_TEXT, old
    text = SPEC_TEXT.replace(old, new, count)
    path = HERE / "spec" / f"h_{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return f"spec/{path.name}"


def spec_bytes(name: str, data: bytes, suffix: str = "yaml") -> str:
    path = HERE / "spec" / f"h_{name}.{suffix}"
    path.write_bytes(data)
    return f"spec/{path.name}"


def evidence_file(name: str, change: Any) -> str:
    """The example evidence changed by ``change(value)``, as evidence/h_<name>.json."""
    value = json.loads(json.dumps(EVIDENCE))
    change(value)
    path = HERE / "evidence" / f"h_{name}.json"
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return f"evidence/{path.name}"


def evidence_bytes(name: str, data: bytes) -> str:
    path = HERE / "evidence" / f"h_{name}.json"
    path.write_bytes(data)
    return f"evidence/{path.name}"


def policy_dir(name: str, files: dict[str, str | bytes]) -> str:
    folder = HERE / "policies" / f"h_{name}"
    folder.mkdir(parents=True, exist_ok=True)
    for file, body in files.items():
        target = folder / file
        if isinstance(body, bytes):
            target.write_bytes(body)
        else:
            target.write_text(body, encoding="utf-8")
    return f"policies/{folder.name}"


def rule(body: str, *, rid: str = "TEAM-H-001", package: str = "team.h", extra: str = "") -> str:
    return (
        f"package {package}\n\n# METADATA\n# title: Hostile rule\n# custom:\n#   id: {rid}\n"
        f'#   severity: high\n{extra}deny contains msg if {{\n\t{body}\n\tmsg := "denied"\n}}\n'
    )


def clean_out() -> None:
    for kind in ("spec", "evidence"):
        for path in (HERE / kind).glob("h_*"):
            path.unlink()
    for path in (HERE / "policies").glob("h_*"):
        shutil.rmtree(path)


# ===================================================================== files: kinds and sizes

SPECS_ARG = "{spec}"


def files() -> None:
    for target, kind, what in (
        ("spec", "fifo", "named pipe"),
        ("spec", "socket", "socket"),
        ("spec", "dir", "directory"),
        ("evidence", "fifo", "named pipe"),
        ("evidence", "socket", "socket"),
        ("evidence", "dir", "directory"),
    ):
        path = f"{{tmp}}/{target}.in"
        argv = (
            ["validate", path]
            if target == "spec"
            else ["check", "{spec}", "--evidence", path, "--as-of", "2026-11-27"]
        )
        case(
            f"file-{target}-is-a-{kind}",
            command="raw",
            setup=[{"kind": kind, "path": f"{target}.in"}],
            argv=argv,
            expect_exit=2,
            expect_stderr=[f"{target}.in", what],
        )
    for device in ("/dev/zero", "/dev/urandom", "/dev/full"):
        case(
            f"file-spec-is-{device.rsplit('/', 1)[1]}",
            command="raw",
            argv=["validate", device],
            expect_exit=2,
            expect_stderr=[device, "character device"],
        )
        case(
            f"file-evidence-is-{device.rsplit('/', 1)[1]}",
            command="raw",
            argv=["check", "{spec}", "--evidence", device, "--as-of", "2026-11-27"],
            expect_exit=2,
            expect_stderr=[device, "character device"],
        )
        case(
            f"file-spec-symlink-to-{device.rsplit('/', 1)[1]}",
            command="raw",
            setup=[{"kind": "symlink", "path": "spec.yaml", "target": device}],
            argv=["validate", "{tmp}/spec.yaml"],
            expect_exit=2,
            expect_stderr=["spec.yaml", "character device"],
        )
    case(
        "file-policies-is-dev-zero",
        command="raw",
        argv=[
            "check",
            "{spec}",
            "--evidence",
            "{evidence}",
            "--as-of",
            "2026-11-27",
            "--policies",
            "/dev/zero",
        ],
        expect_exit=2,
        expect_stderr=["/dev/zero", "neither a regular file nor a folder"],
    )
    case(
        "file-policy-rego-is-a-fifo",
        command="raw",
        setup=[{"kind": "dir", "path": "pol"}, {"kind": "fifo", "path": "pol/team.rego"}],
        argv=[
            "check",
            "{spec}",
            "--evidence",
            "{evidence}",
            "--as-of",
            "2026-11-27",
            "--policies",
            "{tmp}/pol",
        ],
        expect_exit=2,
        expect_stderr=["pol"],
    )
    case(
        "file-policy-rego-symlink-to-dev-zero",
        command="raw",
        setup=[{"kind": "symlink", "path": "zero.rego", "target": "/dev/zero"}],
        argv=[
            "check",
            "{spec}",
            "--evidence",
            "{evidence}",
            "--as-of",
            "2026-11-27",
            "--policies",
            "{tmp}/zero.rego",
        ],
        expect_exit=2,
        expect_stderr=["neither a regular file nor a folder"],
    )
    for target, limit_word in (("spec", "validate"), ("evidence", "check")):
        argv = (
            ["validate", "{tmp}/big.in"]
            if limit_word == "validate"
            else ["check", "{spec}", "--evidence", "{tmp}/big.in", "--as-of", "2026-11-27"]
        )
        case(
            f"file-{target}-over-the-size-limit",
            command="raw",
            setup=[{"kind": "sparse", "path": "big.in", "size": 70_000_000}],
            argv=argv,
            expect_exit=2,
            expect_stderr=["big.in", "70,000,000 bytes", "limit"],
        )
    case(
        "file-policy-over-the-size-limit",
        command="raw",
        setup=[
            {"kind": "dir", "path": "pol"},
            {"kind": "sparse", "path": "pol/big.rego", "size": 70_000_000},
        ],
        argv=[
            "check",
            "{spec}",
            "--evidence",
            "{evidence}",
            "--as-of",
            "2026-11-27",
            "--policies",
            "{tmp}/pol",
        ],
        expect_exit=2,
        expect_stderr=["big.rego", "limit"],
    )
    case(
        "file-spec-symlink-loop",
        command="raw",
        setup=[{"kind": "symlink", "path": "loop.yaml", "target": "loop.yaml"}],
        argv=["validate", "{tmp}/loop.yaml"],
        expect_exit=2,
        expect_stderr=["loop.yaml", "cannot read"],
    )
    case(
        "file-spec-missing",
        command="raw",
        argv=["validate", "{tmp}/nope.yaml"],
        expect_exit=2,
        expect_stderr=["nope.yaml", "no such file"],
    )
    case(
        "file-evidence-missing",
        command="raw",
        argv=["check", "{spec}", "--evidence", "{tmp}/nope.json", "--as-of", "2026-11-27"],
        expect_exit=2,
        expect_stderr=["nope.json", "no such file"],
    )
    for name, data, words in (
        ("nul-bytes", SPEC_TEXT.replace("owner: ", "owner: \x00", 1).encode(), ["h_nul-bytes.yaml"]),
        ("random-bytes", bytes(range(256)) * 8, ["h_random-bytes.yaml", "UTF-8"]),
        ("latin1", SPEC_TEXT.replace("Apache", "Apach\u00e9").encode("latin-1"), ["h_latin1.yaml", "UTF-8"]),
        ("bom-then-garbage", b"\xef\xbb\xbf\xff\xfe", ["h_bom-then-garbage.yaml", "UTF-8"]),
        ("only-bom", b"\xef\xbb\xbf", ["h_only-bom.yaml", "empty"]),
        ("whitespace-only", b"   \n\n\t\n", ["h_whitespace-only.yaml"]),
    ):
        case(
            f"file-spec-{name}",
            command="validate",
            spec=spec_bytes(name, data),
            expect_exit=2,
            expect_stderr=words,
        )
    for name, data, words in (
        ("random-bytes", bytes(range(256)) * 8, ["h_random-bytes.json", "UTF-8"]),
        ("nul-in-json", b'{"stage": "deploy\x00"}', ["h_nul-in-json.json"]),
        ("empty-object", b"{}", ["h_empty-object.json"]),
        ("json-string-root", b'"evidence"', ["h_json-string-root.json", "object"]),
        ("json-number-root", b"42", ["h_json-number-root.json", "object"]),
        ("json-null-root", b"null", ["h_json-null-root.json"]),
        ("two-documents", b'{"a": 1}\n{"b": 2}\n', ["h_two-documents.json", "invalid JSON"]),
        ("deep-array", b"[" * 100_000 + b"]" * 100_000, ["h_deep-array.json"]),
    ):
        case(
            f"file-evidence-{name}",
            command="check",
            evidence=evidence_bytes(name, data),
            expect_exit=2,
            expect_stderr=words,
        )


# ===================================================================== paths confined to the spec


def paths() -> None:
    leaks = {
        "proc-environ": "/proc/self/environ",
        "etc-passwd": "/etc/passwd",
        "dotdot-passwd": "../../../../../../../../etc/passwd",
        "dotdot-repo-readme": "../../../README.md",
        "proc-cmdline": "/proc/self/cmdline",
        "dev-zero": "/dev/zero",
        "home-ssh": "~/.ssh/id_rsa",
    }
    for key in ("evaluation", "reference", "training"):
        for name, target in leaks.items():
            if key != "evaluation" and name not in ("proc-environ", "dotdot-passwd"):
                continue
            old = {
                "evaluation": "{path: data/adult_test.csv",
                "reference": "reference: {path: data/adult_train.csv",
                "training": "training: {path: data/adult_train.csv",
            }[key]
            new = old.replace(
                "data/adult_test.csv" if key == "evaluation" else "data/adult_train.csv", target
            )
            file = spec_file(f"path-{key}-{name}", old, new)
            words = [f"h_path-{key}-{name}.yaml:", f"data.{key}.path", "outside the spec's folder"]
            if name == "home-ssh":  # `~` is not expanded: a relative name inside the folder is fine
                case(f"path-{key}-{name}-is-relative", command="validate", spec=file, expect_exit=0)
                continue
            case(
                f"path-{key}-{name}",
                command="validate",
                spec=file,
                expect_exit=2,
                expect_stderr=words,
                forbid_stderr=["root:", "PATH=", "HOME="],
            )
    file = spec_file("path-uri-file-passwd", "{path: data/adult_test.csv", "{uri: 'file:///etc/passwd'")
    case(
        "path-uri-file-passwd",
        command="validate",
        spec=file,
        expect_exit=2,
        expect_stderr=["data.evaluation.uri", "outside the spec's folder"],
        forbid_stderr=["root:"],
    )
    for name, entry in (
        ("policy-dotdot", "'../../../../etc'"),
        ("policy-absolute", "/etc"),
        ("policy-object-absolute", "{path: /usr, rego_version: v1}"),
        ("policy-proc", "/proc/self"),
    ):
        file = spec_file(
            f"path-{name}",
            "  packs: [metrics,",
            f"  paths: [{entry}]\n  packs: [metrics,",
        )
        case(
            f"path-{name}",
            command="validate",
            spec=file,
            expect_exit=2,
            expect_stderr=[f"h_path-{name}.yaml:", "policies.paths[0]", "outside the spec's folder"],
        )
    # a symlink inside the spec's folder that leads out is followed, and refused
    case(
        "path-symlink-inside-leads-out",
        command="raw",
        setup=[
            {"kind": "spec", "path": "spec.yaml", "old": "data/adult_test.csv", "new": "data.csv"},
            {"kind": "symlink", "path": "data.csv", "target": "/etc/passwd"},
        ],
        argv=["validate", "{tmp}/spec.yaml"],
        expect_exit=2,
        expect_stderr=["spec.yaml:", "data.evaluation.path", "outside"],
        forbid_stderr=["root:"],
    )
    case(
        "path-allow-root-lets-a-folder-in",
        command="raw",
        setup=[{"kind": "spec", "path": "spec.yaml", "old": "data/adult_test.csv", "new": "/etc/passwd"}],
        argv=["validate", "{tmp}/spec.yaml", "--allow-root", "/etc"],
        expect_exit=0,
    )
    case(
        "path-allow-root-env",
        command="raw",
        setup=[{"kind": "spec", "path": "spec.yaml", "old": "data/adult_test.csv", "new": "/etc/passwd"}],
        argv=["validate", "{tmp}/spec.yaml"],
        env={"GOVERN_ALLOW_ROOT": "/etc"},
        expect_exit=0,
    )
    case(
        "path-allow-root-missing",
        command="raw",
        argv=["validate", "{spec}", "--allow-root", "{tmp}/nope"],
        expect_exit=2,
        expect_stderr=["--allow-root", "not an existing folder"],
    )
    case(
        "path-allow-root-other-folder-still-refused",
        command="raw",
        setup=[{"kind": "spec", "path": "spec.yaml", "old": "data/adult_test.csv", "new": "/etc/passwd"}],
        argv=["validate", "{tmp}/spec.yaml", "--allow-root", "/usr"],
        expect_exit=2,
        expect_stderr=["data.evaluation.path", "outside"],
        forbid_stderr=["root:"],
    )
    file = spec_file("path-nul-in-path", "{path: data/adult_test.csv", '{path: "data/a\\0b.csv"')
    case(
        "path-nul-in-path",
        command="validate",
        spec=file,
        expect_exit=2,
        expect_stderr=["data.evaluation.path", "NUL"],
    )


# ===================================================================== YAML and JSON


def yaml_json() -> None:
    mutations = [
        ("tab-indent", "  owner: credit", "\towner: credit", ["h_tab-indent.yaml:", "invalid YAML"]),
        (
            "unclosed-quote",
            'expires: "2027-06-30"',
            'expires: "2027-06-30',
            ["h_unclosed-quote.yaml", "invalid YAML"],
        ),
        (
            "unclosed-bracket",
            "sensitive_features: [sex, race]",
            "sensitive_features: [sex, race",
            ["invalid YAML"],
        ),
        ("python-object", "  licence: Apache-2.0", "  licence: !!python/object:os.system ls", ["tag"]),
        ("python-name", "  licence: Apache-2.0", "  licence: !!python/name:os.system", ["tag"]),
        (
            "binary-value",
            "  licence: Apache-2.0",
            "  licence: !!binary aGVsbG8=",
            ["h_binary-value.yaml", "unsupported YAML type"],
        ),
        ("set-value", "  licence: Apache-2.0", "  licence: !!set {a, b}", ["h_set-value.yaml", "tag"]),
        ("omap", "  licence: Apache-2.0", "  licence: !!omap [a: 1]", ["h_omap.yaml", "tag"]),
        ("custom-tag", "  licence: Apache-2.0", "  licence: !evil x", ["h_custom-tag.yaml"]),
        ("merge-key", "  model_type: binary classifier", "  <<: {model_type: x}", ["merge keys"]),
        ("list-as-key", "  licence: Apache-2.0", "  ? [a, b]\n  : x", ["h_list-as-key.yaml", "key"]),
        ("map-as-key", "  licence: Apache-2.0", "  ? {a: 1}\n  : x", ["h_map-as-key.yaml", "key"]),
        (
            "neg-inf",
            "max_feature_share: 0.5",
            "max_feature_share: -.inf",
            ["explainability.max_feature_share"],
        ),
        (
            "nan-upper",
            "max_feature_share: 0.5",
            "max_feature_share: .NaN",
            ["explainability.max_feature_share"],
        ),
        (
            "huge-exponent",
            "max_feature_share: 0.5",
            "max_feature_share: 1e999",
            ["explainability.max_feature_share"],
        ),
        (
            "int-2-64",
            "min_group_size: 30",
            "min_group_size: 18446744073709551616",
            ["min_group_size", "64 bits"],
        ),
        (
            "hex-huge",
            "min_group_size: 30",
            "min_group_size: 0xffffffffffffffffffff",
            ["min_group_size", "64 bits"],
        ),
        (
            "dup-nested",
            "    min_group_size: 30",
            "    min_group_size: 30\n    min_group_size: 31",
            ["duplicate key 'min_group_size'"],
        ),
        ("dup-top", "kind: ModelSpec", "kind: ModelSpec\nkind: ModelSpec", ["duplicate key 'kind'"]),
        (
            "multi-document",
            "kind: ModelSpec",
            "kind: ModelSpec\n---\nkind: Other",
            ["h_multi-document.yaml", "invalid YAML"],
        ),
        (
            "anchor-undefined",
            "  licence: Apache-2.0",
            "  licence: *nowhere",
            ["h_anchor-undefined.yaml", "invalid YAML"],
        ),
        ("directive", "apiVersion: govern/v1", "%YAML 9.9\n---\napiVersion: govern/v1", ["h_directive.yaml"]),
        (
            "timestamp-name",
            "  name: adult-income\n  owner",
            "  name: 2027-01-01 12:00:00\n  owner",
            ["metadata.name"],
        ),
        ("bool-owner", "  owner: credit-risk-ml@example.com", "  owner: yes", ["metadata.owner"]),
        ("null-owner", "  owner: credit-risk-ml@example.com", "  owner: ~", ["metadata.owner"]),
        ("list-owner", "  owner: credit-risk-ml@example.com", "  owner: [a, b]", ["metadata.owner"]),
        (
            "empty-packs",
            "  packs: [metrics, champion, fairness, explainability, lineage, documentation, data, live]",
            "  packs: []",
            ["policies.packs"],
        ),
        ("unknown-pack", "  packs: [metrics,", "  packs: [nope, metrics,", ["policies.packs"]),
        (
            "waivers-mapping",
            "waivers:\n  - rule: GOV-FAIR-001",
            "waivers:\n  x:\n    rule: GOV-FAIR-001",
            ["waivers"],
        ),
        ("api-version-number", "apiVersion: govern/v1", "apiVersion: 1", ["apiVersion"]),
        ("kind-wrong", "kind: ModelSpec", "kind: Evidence", ["kind"]),
        ("control-char-escape", "  licence: Apache-2.0", '  licence: "\\x1b[31mred"', []),
    ]
    for name, old, new, words in mutations:
        file = spec_file(name, old, new)
        if name == "control-char-escape":  # a string may hold anything; it must never reach a terminal raw
            case(f"yaml-{name}", command="validate", spec=file, expect_exit=0, clean_output=True)
            continue
        case(f"yaml-{name}", command="validate", spec=file, expect_exit=2, expect_stderr=words)
    # a string alias bomb: few nodes, a huge expansion
    bomb = "x-big: &s " + "x" * 2_000_000 + "\nx-uses: [" + ", ".join(["*s"] * 60) + "]\n"
    file = spec_bytes("string-alias-bomb", (SPEC_TEXT + bomb).encode())
    case(
        "yaml-string-alias-bomb",
        command="validate",
        spec=file,
        expect_exit=2,
        expect_stderr=["h_string-alias-bomb.yaml", "characters"],
    )
    deep = "x: " + "[" * 50_000 + "]" * 50_000 + "\n"
    file = spec_bytes("deep-flow", (SPEC_TEXT + deep).encode())
    case("yaml-deep-flow", command="validate", spec=file, expect_exit=2, expect_stderr=["h_deep-flow.yaml"])

    # evidence: one field wrong at a time
    def setter(path: tuple[Any, ...], value: Any) -> Any:
        def change(doc: Any) -> None:
            node = doc
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value

        return change

    def deleter(path: tuple[Any, ...]) -> Any:
        def change(doc: Any) -> None:
            node = doc
            for part in path[:-1]:
                node = node[part]
            del node[path[-1]]

        return change

    edits: list[tuple[str, Any, list[str]]] = [
        ("stage-unknown", setter(("stage",), "prod"), ["stage"]),
        ("stage-number", setter(("stage",), 3), ["stage"]),
        ("api-version", setter(("apiVersion",), "govern/v9"), ["apiVersion"]),
        ("kind", setter(("kind",), "ModelSpec"), ["kind"]),
        ("no-stage", deleter(("stage",)), ["'stage'"]),
        ("no-model", deleter(("model",)), ["'model'"]),
        ("model-string", setter(("model",), "adult-income"), ["model"]),
        ("model-list", setter(("model",), []), ["model"]),
        ("run-metrics-string", setter(("run", "metrics", "accuracy"), "0.9"), ["run.metrics.accuracy"]),
        ("run-metrics-bool", setter(("run", "metrics", "accuracy"), True), ["run.metrics.accuracy"]),
        ("run-metrics-null", setter(("run", "metrics", "accuracy"), None), ["run.metrics.accuracy"]),
        ("run-metrics-list", setter(("run", "metrics"), [0.9]), ["run.metrics"]),
        ("champion-version-obj", setter(("champion", "version"), {"v": 1}), ["champion.version"]),
        ("fairness-rows-string", setter(("fairness", "rows"), "many"), ["fairness.rows"]),
        ("fairness-features-list", setter(("fairness", "features"), ["sex"]), ["fairness.features"]),
        (
            "explanations-importance-obj",
            setter(("explanations", "global_importance"), {"a": 1}),
            ["explanations.global_importance"],
        ),
        (
            "explanations-share-string",
            setter(("explanations", "global_importance", 0, "share"), "lots"),
            ["explanations.global_importance[0].share"],
        ),
        (
            "explanations-feature-number",
            setter(("explanations", "global_importance", 1, "feature"), 7),
            ["explanations.global_importance[1].feature"],
        ),
        ("data-not-object", setter(("data",), "csv"), ["data"]),
        ("missing-not-object", setter(("missing",), ["live"]), ["missing"]),
        ("missing-reason-number", setter(("missing", "live"), 5), ["missing.live"]),
        ("provenance-list", setter(("provenance",), []), ["provenance"]),
        ("unknown-top-field", setter(("extra",), 1), ["extra"]),
        (
            "spec-name-other",
            setter(("spec", "metadata", "name"), "other-model"),
            ["other-model", "adult-income"],
        ),
        ("huge-int-nested", setter(("fairness", "rows"), 2**70), ["fairness.rows"]),
        ("live-without-reason", setter(("missing",), {}), ["live"]),
    ]
    for name, change, words in edits:
        file = evidence_file(name, change)
        case(
            f"json-evidence-{name}",
            command="check",
            evidence=file,
            expect_exit=2,
            expect_stderr=[f"h_{name}.json", *words],
        )
    text = json.dumps(EVIDENCE, indent=2)
    acc = f'"accuracy": {json.dumps(EVIDENCE["run"]["metrics"]["accuracy"])}'

    def edit(old: str, new: str) -> str:
        """``text`` with the first ``old`` replaced; an edit that finds nothing is a generator bug."""
        assert old in text, f"the example evidence has no {old!r} to edit"
        return text.replace(old, new, 1)

    raw_edits = [
        ("nan-token", edit(acc, '"accuracy": NaN'), ["NaN"]),
        ("infinity-token", edit(acc, '"accuracy": -Infinity'), ["Infinity"]),
        ("single-quotes", edit('"stage": "deploy"', "'stage': 'deploy'"), ["invalid JSON"]),
        ("comment", edit("{", "{ // comment\n"), ["invalid JSON"]),
        ("unterminated-string", text[: len(text) // 2] + '"abc', ["invalid JSON"]),
        ("bad-escape", edit('"stage": "deploy"', '"stage": "dep\\qloy"'), ["invalid JSON"]),
        ("lone-surrogate", edit('"stage": "deploy"', '"stage": "\\ud800"'), ["stage"]),
        ("dup-nested", edit(acc, acc + ', "accuracy": 0.9'), ["duplicate key 'accuracy'"]),
        ("leading-zero", edit(acc, acc.replace(": 0.", ": 00.")), ["invalid JSON"]),
        ("hex-number", edit(acc, '"accuracy": 0x1'), ["invalid JSON"]),
    ]
    for name, body, words in raw_edits:
        file = evidence_bytes(name, body.encode("utf-8", "surrogatepass"))
        case(
            f"json-evidence-{name}",
            command="check",
            evidence=file,
            expect_exit=2,
            expect_stderr=[f"h_{name}.json", *words],
        )


# ===================================================================== Rego


def rego() -> None:
    bombs = {
        "comprehension": "xs := [x | some x in numbers.range(1, 25000000)]\n\tcount(xs) > 0",
        "range": "xs := numbers.range(1, 2000000000)\n\tcount(xs) > 0",
        "sprintf-width": 's := sprintf("%999999999999d", [1])\n\tcount(s) > 0',
        "nested-loops": "some i in numbers.range(1, 100000)\n\tsome j in numbers.range(1, 100000)\n\ti == j + 100000",
        "string-growth": 's := concat("", [x | some i in numbers.range(1, 30000000); x := "abcdefghij"])\n\tcount(s) > 0',
    }
    for name, body in bombs.items():
        folder = policy_dir(f"bomb-{name}", {"team.rego": rule(body)})
        case(
            f"rego-bomb-{name}",
            command="check",
            policies=folder,
            env={"GOVERN_EVAL_TIMEOUT": "3", "GOVERN_EVAL_MEMORY": "512MiB"},
            expect_exit=3,
            expect_stderr=["TEAM-H-001", "team.h.deny"],
        )
    runtime = {
        "divide-by-zero": "x := 1 / (count(input.model.aliases) - count(input.model.aliases))\n\tx > 0",
        "to-number-bad": 'x := to_number("abc")\n\tx > 0',
        "conflict-complete": "input.stage == input.stage",
        "object-get-type": 'x := object.get("notobj", "k", 1)\n\tx > 0',
        "regex-bad": 'regex.match("(", "x")',
        "json-unmarshal-bad": 'x := json.unmarshal("{")\n\tx.a',
    }
    for name, body in runtime.items():
        extra = ""
        text = rule(body)
        if name == "conflict-complete":
            text = (
                "package team.h\n\n# METADATA\n# title: Conflict\n# custom:\n#   id: TEAM-H-001\n#   severity: high\n"
                'deny_one := "a"\n\ndeny_one := "b" if { input.stage }\n'
            )
        folder = policy_dir(f"runtime-{name}", {"team.rego": text + extra})
        case(
            f"rego-runtime-{name}",
            command="check",
            policies=folder,
            expect_exit=3,
            expect_stderr=["TEAM-H-001"],
        )
    load_errors = {
        "empty-file": ("", ["team.rego"]),
        "only-package": ("package team.h\n", None),
        "bad-package": ("package 9team\n", ["team.rego"]),
        "unknown-import": (  # data.nowhere is undefined, not an error: the rule is undefined too
            "package team.h\n\nimport data.nowhere.x\n\ndeny contains m if { x.y; m := 1 }\n",
            None,
        ),
        "unknown-builtin": (rule("x := not_a_builtin(1)\n\tx"), ["team.rego", "not_a_builtin"]),
        "unsafe-var": (rule("x > 1"), ["team.rego"]),
        "bad-metadata-yaml": (
            "package team.h\n\n# METADATA\n# custom: [unclosed\ndeny contains m if { m := 1 }\n",
            ["team.rego"],
        ),
        "metadata-id-missing": (  # the id defaults to <package>.<rule>: valid
            "package team.h\n\n# METADATA\n# title: x\n# custom:\n#   severity: high\n"
            "deny contains m if { m := input.run.metrics.x }\n",
            None,
        ),
        "non-utf8": (b"package team.h\n# \xff\xfe\n", ["team.rego", "UTF-8"]),
        "rego-v0-in-v1": ("package team.h\n\ndeny[msg] { msg := input.x }\n", ["team.rego"]),
    }
    for name, (body, words) in load_errors.items():
        folder = policy_dir(f"load-{name}", {"team.rego": body})
        if words is None:  # valid Rego that decides nothing: nothing broken, nothing to report
            case(f"rego-load-{name}", command="check", policies=folder, expect_exit=0)
            continue
        case(f"rego-load-{name}", command="check", policies=folder, expect_exit=2, expect_stderr=words)
    for name, (body, words) in {
        "test-parse-error": ("package team.h_test\n\ntest_x if {\n", ["team_test.rego"]),
    }.items():
        folder = policy_dir(f"test-{name}", {"team_test.rego": body})
        # `govern test` follows `opa test`: a load error is exit 1
        case(f"rego-test-{name}", command="test", policies=folder, expect_exit=1, expect_stderr=words)


# ===================================================================== waivers


def waivers() -> None:
    first = "  - rule: GOV-FAIR-001\n"
    mutations = [
        ("date-month-13", 'expires: "2027-06-30"', 'expires: "2027-13-01"', ["waivers[0].expires"]),
        ("date-feb-30", 'expires: "2027-06-30"', 'expires: "2027-02-30"', ["waivers[0].expires"]),
        ("date-with-time", 'expires: "2027-06-30"', 'expires: "2027-06-30T00:00:00"', ["waivers[0].expires"]),
        ("date-unquoted-list", 'expires: "2027-06-30"', "expires: [2027]", ["waivers[0].expires"]),
        ("date-number", 'expires: "2027-06-30"', "expires: 20270630", ["waivers[0].expires"]),
        ("date-year-0", 'expires: "2027-06-30"', 'expires: "0000-01-01"', ["waivers[0].expires"]),
        (
            "reason-short",
            "reason: >-\n      Selection-rate gaps",
            "reason: short\n    x-old: >-\n      Selection-rate gaps",
            ["waivers[0]"],
        ),
        (
            "reason-number",
            "  - rule: GOV-FAIR-001\n    reason: >-",
            "  - rule: GOV-FAIR-001\n    reason: 12345678901\n    x: >-",
            ["waivers[0]"],
        ),
        (
            "approver-empty",
            "    approver: jane.doe@example.com\n",
            '    approver: ""\n',
            ["waivers[0].approver"],
        ),
        (
            "approver-list",
            "    approver: jane.doe@example.com\n",
            "    approver: [jane]\n",
            ["waivers[0].approver"],
        ),
        ("rule-empty", first, '  - rule: ""\n', ["waivers[0].rule"]),
        ("rule-spaces", first, '  - rule: "GOV FAIR 001"\n', ["waivers[0].rule"]),
        ("rule-newline", first, '  - rule: "GOV-FAIR-001\\n::error::x"\n', ["waivers[0].rule"]),
        ("rule-list", first, "  - rule: [GOV-FAIR-001]\n", ["waivers[0].rule"]),
        (
            "stages-empty",
            "    stages: [register, deploy]\n    ticket: RISK-142",
            "    stages: []\n    ticket: RISK-142",
            ["waivers[0].stages"],
        ),
        (
            "stages-unknown",
            "    stages: [register, deploy]\n    ticket: RISK-142",
            "    stages: [prod]\n    ticket: RISK-142",
            ["waivers[0].stages"],
        ),
        (
            "stages-string",
            "    stages: [register, deploy]\n    ticket: RISK-142",
            "    stages: deploy\n    ticket: RISK-142",
            ["waivers[0].stages"],
        ),
        (
            "ticket-number",
            "    ticket: RISK-142\n  - rule: GOV-FAIR-002",
            "    ticket: 142\n  - rule: GOV-FAIR-002",
            ["waivers[0].ticket"],
        ),
        ("waiver-null", first, "  - null\n  - rule: GOV-FAIR-001\n", ["waivers[0]"]),
        ("waiver-string", first, "  - GOV-FAIR-001\n  - rule: GOV-FAIR-001\n", ["waivers[0]"]),
        ("waivers-null-item-list", "waivers:\n", "waivers: 5\nx-waivers:\n", ["waivers"]),
    ]
    for name, old, new, words in mutations:
        file = spec_file(f"waiver-{name}", old, new)
        case(
            f"waiver-{name}",
            command="validate",
            spec=file,
            expect_exit=2,
            expect_stderr=[f"h_waiver-{name}.yaml", *words],
        )


# ===================================================================== gates, options and faults


def options() -> None:
    check = ["check", "{spec}", "--evidence", "{evidence}", "--as-of", "2026-11-27"]
    bad = [
        ("output-is-dir", [*check, "--output", "{tmp}"], ["--output", "directory"], []),
        (
            "output-parent-is-file",
            [*check, "--output", "{tmp}/f/out.txt"],
            ["--output", "is a file"],
            [{"kind": "file", "path": "f"}],
        ),
        ("output-non-utf8", [*check, "--output", "{tmp}/{nonutf8}.txt"], ["--output", "UTF-8"], []),
        (
            "output-is-fifo",
            [*check, "--output", "{tmp}/p"],
            ["--output", "not a regular file"],
            [{"kind": "fifo", "path": "p"}],
        ),
        ("report-is-dir", [*check, "--report", "junit={tmp}"], ["--report junit", "directory"], []),
        (
            "report-non-utf8",
            [*check, "--report", "sarif={tmp}/{nonutf8}.sarif"],
            ["--report sarif", "UTF-8"],
            [],
        ),
        ("report-no-equals", [*check, "--report", "junit"], ["--report", "FORMAT=FILE"], []),
        ("report-unknown-format", [*check, "--report", "pdf={tmp}/x.pdf"], ["pdf"], []),
        (
            "report-twice",
            [*check, "--report", "junit={tmp}/a.xml", "--report", "sarif={tmp}/a.xml"],
            ["written twice"],
            [],
        ),
        (
            "as-of-bad",
            ["check", "{spec}", "--evidence", "{evidence}", "--as-of", "2026-02-30"],
            ["--as-of"],
            [],
        ),
        ("param-bad", [*check, "--param", "nonsense"], ["--param"], []),
        ("param-bad-json", [*check, "--param", "metrics.x={"], ["--param"], []),
        ("format-unknown", [*check, "--format", "pdf"], ["pdf"], []),
        ("backend-unknown", [*check, "--backend", "wasm"], ["wasm"], []),
        ("opa-without-url", [*check, "--backend", "opa"], ["--opa-url"], []),
        ("eval-timeout-zero", [*check, "--eval-timeout", "0"], ["--eval-timeout"], []),
        ("eval-timeout-word", [*check, "--eval-timeout", "soon"], ["--eval-timeout"], []),
        ("eval-memory-word", [*check, "--eval-memory", "lots"], ["--eval-memory"], []),
        ("eval-memory-tiny", [*check, "--eval-memory", "1MiB"], ["--eval-memory", "MiB"], []),
        ("decision-log-is-dir", [*check, "--decision-log", "{tmp}"], ["--decision-log", "directory"], []),
        (
            "decision-log-is-fifo",
            [*check, "--decision-log", "{tmp}/p"],
            ["--decision-log", "not a regular file"],
            [{"kind": "fifo", "path": "p"}],
        ),
        ("test-run-bad-regex", ["test", "--run", "("], ["--run"], []),
        ("stage-unknown", [*check, "--stage", "prod"], ["prod"], []),
    ]
    for name, argv, words, setup in bad:
        case(f"option-{name}", command="raw", argv=argv, setup=setup, expect_exit=2, expect_stderr=words)
    gate_opts = [
        ("alias-empty", ["--alias", ""], ["--alias", "empty"]),
        ("alias-blank", ["--alias", "   "], ["--alias", "empty"]),
        ("alias-space", ["--alias", "my champion"], ["--alias", "not a valid alias"]),
        ("alias-newline", ["--alias", "champion\n::error::x"], ["--alias", "not a valid alias"]),
        ("alias-latest", ["--alias", "latest"], ["--alias", "latest"]),
        ("alias-version-like", ["--alias", "v3"], ["--alias", "not a valid alias"]),
        ("alias-slash", ["--alias", "a/b"], ["--alias", "not a valid alias"]),
        ("alias-too-long", ["--alias", "a" * 300], ["--alias", "not a valid alias"]),
        ("version-word", ["--version", "two"], ["--version", "not a model version"]),
        ("version-zero", ["--version", "0"], ["--version", "not a model version"]),
        ("version-negative", ["--version", "-1"], ["--version", "not a model version"]),
        ("version-float", ["--version", "1.5"], ["--version", "not a model version"]),
        ("version-huge", ["--version", "9" * 40], ["--version", "not a model version"]),
        ("version-empty", ["--version", ""], ["--version", "not a model version"]),
    ]
    for name, extra, words in gate_opts:
        case(
            f"gate-promote-{name}",
            command="raw",
            argv=[
                "gate",
                "promote",
                "{spec}",
                *extra,
                "--tracking-uri",
                "sqlite:///{tmp}/mlflow.db",
                "--audit-log",
                "{tmp}/audit/log.jsonl",
            ],
            expect_exit=2,
            expect_stderr=words,
        )
    for name, extra, words in gate_opts[:4]:
        case(
            f"gate-rollback-{name}",
            command="raw",
            argv=[
                "gate",
                "rollback",
                "{spec}",
                *extra,
                "--tracking-uri",
                "sqlite:///{tmp}/mlflow.db",
                "--audit-log",
                "{tmp}/audit/log.jsonl",
            ],
            expect_exit=2,
            expect_stderr=words,
        )
    case(
        "collect-version-word",
        command="raw",
        argv=["collect", "{spec}", "--version", "two", "--tracking-uri", "sqlite:///{tmp}/mlflow.db"],
        expect_exit=2,
        expect_stderr=["--version"],
    )
    case(
        "collect-output-is-dir",
        command="raw",
        argv=["collect", "{spec}", "--output", "{tmp}", "--tracking-uri", "sqlite:///{tmp}/mlflow.db"],
        expect_exit=2,
        expect_stderr=["--output", "directory"],
    )
    for name, old, new, words in (
        (
            "name-newline",
            "  registered:\n    name: adult-income",
            '  registered:\n    name: "adult-income\\n::error::x"',
            ["model.registered.name"],
        ),
        (
            "name-escape",
            "  registered:\n    name: adult-income",
            '  registered:\n    name: "adult\\e[31m"',
            ["model.registered.name"],
        ),
        (
            "name-spaces",
            "  registered:\n    name: adult-income",
            '  registered:\n    name: " adult-income "',
            ["model.registered.name"],
        ),
        (
            "alias-in-spec-latest",
            "    alias: champion\n\nintended_use",
            "    alias: latest\n\nintended_use",
            ["model.registered.alias"],
        ),
        (
            "alias-in-spec-space",
            "    alias: champion\n\nintended_use",
            '    alias: "my champ"\n\nintended_use',
            ["model.registered.alias"],
        ),
        (
            "champion-alias-bad",
            "champion: {alias: champion,",
            "champion: {alias: 'v1',",
            ["requirements.champion.alias"],
        ),
        (
            "version-zero-in-spec",
            "    alias: champion\n\nintended_use",
            "    version: 0\n\nintended_use",
            ["model.registered"],
        ),
        (
            "version-word-in-spec",
            "    alias: champion\n\nintended_use",
            "    version: two\n\nintended_use",
            ["model.registered"],
        ),
    ):
        file = spec_file(f"ref-{name}", old, new)
        case(
            f"ref-{name}",
            command="validate",
            spec=file,
            expect_exit=2,
            expect_stderr=[f"h_ref-{name}.yaml", *words],
        )
    # audit logs that are not what they claim
    for name, content in (
        ("model-not-object", '{"seq": 1, "model": "adult-income", "action": "gate.promote"}\n'),
        ("model-list", '{"seq": 1, "model": [1, 2], "action": "gate.promote"}\n'),
        (
            "markup-in-record",
            '{"seq": 1, "model": {"name": "[link=https://x.example]x[/link] [/x]"}, "action": "gate.promote"}\n',
        ),
    ):
        case(
            f"audit-show-{name}",
            command="raw",
            setup=[{"kind": "file", "path": "log.jsonl", "content": content}],
            argv=["audit", "show", "--audit-log", "{tmp}/log.jsonl"],
            expect_exit=0,
            clean_output=True,
        )
    case(
        "audit-verify-garbage",
        command="raw",
        setup=[{"kind": "file", "path": "log.jsonl", "content": "not json\n"}],
        argv=["audit", "verify", "--audit-log", "{tmp}/log.jsonl"],
        expect_exit=1,
        expect_stderr=["log.jsonl", "not a valid JSON record"],
    )


# ===================================================================== output injection

INJECTIONS = {
    "workflow-command": "adult-income\n::error file=x::pwned",
    "stop-commands": "x\r\n::stop-commands::tok\n::error::after",
    "ansi-colour": "\x1b[31mred\x1b[0m",
    "osc-hyperlink": "\x1b]8;;https://evil.example\x07click\x1b]8;;\x07",
    "osc-title": "\x1b]0;owned\x07",
    "c1-csi": "\x9b31mred",
    "rich-close-tag": "[/x] [/]",
    "rich-link": "[link=https://evil.example]click[/link]",
    "bidi-override": "\u202eevil\u202c",
    "line-separator": "a\u2028::warning::x",
}


def injection() -> None:
    for name, payload in INJECTIONS.items():

        def change(doc: Any, payload: str = payload) -> None:
            doc["model"]["name"] = payload
            doc["model"]["tags"]["team"] = payload
            doc["run"]["tags"]["team"] = payload
            doc["explanations"]["global_importance"][0]["feature"] = payload

        file = evidence_file(f"inject-{name}", change)
        for fmt in ("text", "github", "markdown", "junit", "sarif"):
            case(
                f"inject-{name}-{fmt}",
                command="check",
                evidence=file,
                args=["--format", fmt],
                expect_exit=0,
                clean_output=True,
            )
    # an error message that quotes a hostile value goes to stderr neutralized
    file = evidence_file(
        "inject-stderr-name", lambda d: d["spec"]["metadata"].update(name="x\n::error::pwned\x1b[2J")
    )
    case(
        "inject-stderr-model-name",
        command="check",
        evidence=file,
        expect_exit=2,
        expect_stderr=["h_inject-stderr-name.json", "adult-income"],
        forbid_stderr=["\x1b", "\n::error"],
    )


def main() -> None:
    clean_out()
    files()
    paths()
    yaml_json()
    rego()
    waivers()
    options()
    injection()
    header = (
        "# Hostile-input corpus, written by tests/corpus/make_hostile.py (edit that, not this).\n"
        "# Same fields as cases.yaml, plus: argv (command raw: the govern arguments, with {tmp},\n"
        "# {spec}, {evidence}, {nonutf8}), setup (files to create in {tmp}), env, forbid_stderr,\n"
        "# clean_output (stdout and stderr hold no escape and no workflow command but govern's own).\n"
    )
    body = yaml.safe_dump(CASES, sort_keys=False, allow_unicode=False, width=200)
    (HERE / "hostile.yaml").write_text(header + body, encoding="utf-8")
    print(f"{len(CASES)} cases")


if __name__ == "__main__":
    main()
