"""package_files gives what importlib.resources.files gives, without importing it for a folder."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import pytest

from govern.engine.package_files import package_files


@pytest.mark.parametrize("package", ["govern.schemas", "govern.policies"])
def test_the_same_folder_as_importlib_resources(package: str) -> None:
    ours = package_files(package)
    theirs = resources.files(package)
    assert type(ours) is type(theirs)
    assert ours == theirs
    assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())


def test_a_zipped_package_goes_through_importlib_resources(tmp_path: Path) -> None:
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zpkg/__init__.py", "")
        zf.writestr("zpkg/data.txt", "hello")
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(archive)!r})\n"
        "from govern.engine.package_files import package_files\n"
        "print(package_files('zpkg').joinpath('data.txt').read_text())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "hello"


def test_a_folder_package_does_not_import_importlib_resources() -> None:
    code = (
        "import sys\n"
        "from govern.engine.package_files import package_files\n"
        "package_files('govern.schemas').joinpath('evidence.schema.json').read_text()\n"
        "print('importlib.resources' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
