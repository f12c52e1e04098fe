"""Packaging glue: the package list, with every policy pack folder found on disk.

The rest of the configuration is in pyproject.toml. A pack is a folder under ``policies/``
holding ``.rego`` files (declared in ``policies/packs.yaml``); each ships as package data of
its own package, so adding one needs no change here.
"""

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
PACKS = sorted(
    f"govern.policies.{folder.name}"
    for folder in (ROOT / "policies").iterdir()
    if folder.is_dir() and any(folder.glob("*.rego"))
)

setup(
    packages=[
        "govern.engine",
        "govern.engine.backends",
        "govern.engine.evidence",
        "govern.engine.formats",
        "govern.engine.registry",
        "govern.engine.card",
        "govern.engine.card.templates",
        "govern.cli",
        "govern.policies",
        "govern.schemas",
        *PACKS,
    ],
    package_data={
        "govern.policies": ["*.yaml"],
        "govern.schemas": ["*.json"],
        "govern.engine": ["py.typed"],
        "govern.engine.card.templates": ["*.j2", "*.css"],
        "govern.cli": ["py.typed"],
        **{pack: ["*.rego", "*.yaml", "*.json"] for pack in PACKS},
    },
)
