"""govern's engine: model specs, evidence, Rego policy backends, decisions and gates.

The command line (``govern.cli``) is a thin front over this package; the engine never imports
it. Heavy libraries (mlflow, shap, fairlearn, pandas) are imported only by the collectors that
need them, so checking a saved evidence document stays fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
