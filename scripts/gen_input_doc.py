#!/usr/bin/env python3
"""Regenerate docs/input.md (the input document policies read) from the schemas.

Example values come from the example model (examples/adult-income): its evidence document and
the effective parameters of its spec. Run after changing a schema, then review the diff:

    python scripts/gen_input_doc.py          # rewrite docs/input.md
    python scripts/gen_input_doc.py --check  # exit 1 if docs/input.md is out of date
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from govern.engine.input_doc import render_input_doc
from govern.engine.params import build_params
from govern.engine.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "input.md"
EXAMPLE = ROOT / "examples" / "adult-income"


def page() -> str:
    evidence = json.loads((EXAMPLE / "evidence.json").read_text(encoding="utf-8"))
    params = build_params(load_spec(EXAMPLE / "spec.yaml"))
    return render_input_doc(evidence, params)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only report whether the page is stale")
    args = parser.parse_args()
    text = page()
    current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
    if args.check:
        if current != text:
            print(f"stale: {PAGE.relative_to(ROOT)} (run scripts/gen_input_doc.py)")
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
