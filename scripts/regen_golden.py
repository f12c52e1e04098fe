#!/usr/bin/env python3
"""Regenerate the golden files in tests/golden/ from the pinned decisions in tests/golden/cases.py.

Run after changing a formatter (or a rule's wording), then review the diff:

    python scripts/regen_golden.py          # rewrite every golden file
    python scripts/regen_golden.py --check  # exit 1 if any is out of date (what the tests check)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.golden.cases import golden_files  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args()
    stale = []
    for path, produce in sorted(golden_files().items()):
        text = produce()
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    verb = "stale" if args.check else "rewritten"
    for path in stale:
        print(f"{verb}: {path.relative_to(ROOT)}")
    print(f"{len(stale)} of {len(golden_files())} golden files {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
