"""Reads DVC's own records as YAML (DVC is never imported: it lives in its own virtualenv)."""

from __future__ import annotations

from pathlib import Path

from .. import yaml_text


def dvc_lock_md5(root: Path, relative_path: str) -> str | None:
    """The md5 dvc.lock recorded for a dependency, or None before the first `dvc repro`."""
    lock = root / "dvc.lock"
    if not lock.exists():
        return None
    stages = (yaml_text.safe_load(lock.read_text()) or {}).get("stages", {})
    for stage in stages.values():
        for dep in stage.get("deps", []):
            if dep.get("path") == relative_path and "md5" in dep:
                return str(dep["md5"])
    return None
