#!/usr/bin/env python3
"""Filter OPA's capabilities document down to what govern allows a policy to call:

    opa capabilities --current | python scripts/opa_capabilities.py > govern-capabilities.json
    opa check --capabilities govern-capabilities.json policies/

Names given as arguments are kept (a spec's policies.allow_builtins).
"""

from __future__ import annotations

import json
import sys

from govern.engine.capabilities import opa_capabilities


def main() -> int:
    current = json.load(sys.stdin)
    json.dump(opa_capabilities(current, sys.argv[1:]), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
