"""The files shipped inside a package (schemas, the policy library), as importlib.resources gives them.

``importlib.resources.files`` costs a cold command several milliseconds of imports (its
machinery, tempfile, zipfile) to return, for a package installed as a folder, that folder's
``pathlib.Path``. :func:`package_files` returns that same path directly when the package was
loaded from a folder on disk, and asks importlib.resources otherwise (a zip or another loader).
"""

from __future__ import annotations

import importlib
import os
from importlib.machinery import SourceFileLoader, SourcelessFileLoader
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = ["package_files"]


def package_files(package: str) -> Traversable:
    """``importlib.resources.files(package)``, without importlib.resources for a folder package."""
    module = importlib.import_module(package)
    spec = module.__spec__
    origin = getattr(module, "__file__", None)
    if (
        spec is not None
        and spec.submodule_search_locations is not None
        and isinstance(spec.loader, SourceFileLoader | SourcelessFileLoader)
        and isinstance(origin, str)
        and os.path.isdir(os.path.dirname(origin))
    ):
        return Path(os.path.dirname(origin))  # what importlib.resources' FileReader returns
    from importlib import resources

    return resources.files(package)
