#!/usr/bin/env python3
"""Write the evidence schema in the form `opa check --schema` takes, for CI:

python scripts/opa_input_schema.py /tmp/govern-schema/input.json
opa check --strict --schema /tmp/govern-schema/input.json policies/
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from govern.engine.typecheck import opa_input_schema


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    target = Path(sys.argv[1])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(opa_input_schema(), indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
