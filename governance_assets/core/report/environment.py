"""What the card records about where a run happened: interpreter, platform, exact packages."""

from __future__ import annotations

import platform
import subprocess
from email.message import Message
from email.parser import HeaderParser
from importlib import metadata
from pathlib import Path

RECORDED_PACKAGES = ("dagster", "pandas", "numpy", "scikit-learn", "fairlearn", "evidently",
                     "shap", "pydantic", "jsonschema")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit(root: Path) -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def environment() -> dict:
    return {"python": platform.python_version(), "platform": platform.platform(),
            "packages": package_versions()}


def installed_distributions() -> dict[str, str]:
    """Every installed distribution and its exact version, sorted: the environment as run,
    beside the lock files' hashes (which say what it was built from)."""
    versions = {}
    for dist in metadata.distributions():
        headers = _metadata_headers(dist)
        if headers.get("Name"):
            versions[headers["Name"].lower()] = headers.get("Version")
    return dict(sorted(versions.items()))


def _metadata_headers(dist: metadata.Distribution) -> Message:
    """The distribution's core metadata headers, without its long description: what
    `dist.metadata` would parse whole (0.35 s over this environment's 280 packages)."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    return HeaderParser().parsestr(text.split("\n\n", 1)[0])
