"""Whether DVC would call every stage unchanged, without starting DVC: a stat fingerprint.

`dvc status` costs a Python start and DVC's imports (0.65 s on 2 cores), most of what a
`governance run` with nothing to do spends after its own imports. DVC itself trusts a file
unchanged while its size, mtime and inode are (its state database); so does this. When
`dvc status` has just found nothing changed, the run records the size, mtime_ns and inode of
dvc.yaml, dvc.lock, .dvc/config and every dep, out and params file dvc.lock names
(directories walked, so a new or removed file counts); the next run whose fingerprint is
equal skips `dvc status`. Any edit, touch, new file, deletion or checkout changes it, and DVC
is asked again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..core import yaml_text
from ..core.layout import Layout

RECORD = ".dvc-unchanged.json"
ALWAYS = ("dvc.yaml", "dvc.lock", ".dvc/config")


def record_path(root: Path) -> Path:
    return Layout(root).logs / RECORD


def fingerprint(root: Path) -> dict[str, list[int]]:
    """(size, mtime_ns, inode) of every file DVC's status reads, by path; [-1] if missing."""
    lock = root / "dvc.lock"
    stages = ((yaml_text.safe_load(lock.read_text()) or {}).get("stages", {})
              if lock.is_file() else {})
    paths = set(ALWAYS)
    for stage in stages.values():
        paths.update(entry["path"] for entry in [*stage.get("deps", []), *stage.get("outs", [])])
        paths.update(stage.get("params", {}))
    stats: dict[str, list[int]] = {}
    for relative in sorted(paths):
        _stat_into(root, root / relative, stats)
    return stats


def unchanged_since_recorded(root: Path, current: dict[str, list[int]]) -> bool:
    path = record_path(root)
    try:
        return json.loads(path.read_text()) == current
    except (OSError, ValueError):
        return False


def record(root: Path, current: dict[str, list[int]]) -> None:
    """Keep `current`, taken before a `dvc status` that found nothing changed, if nothing
    moved while DVC looked."""
    if fingerprint(root) != current:
        return
    path = record_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(current, separators=(",", ":")))
    partial.replace(path)


def _stat_into(root: Path, path: Path, stats: dict[str, list[int]]) -> None:
    try:
        found = path.lstat()
    except OSError:
        stats[str(path.relative_to(root))] = [-1]
        return
    if path.is_dir():
        for entry in sorted(os.scandir(path), key=lambda e: e.name):
            _stat_into(root, Path(entry.path), stats)
        return
    stats[str(path.relative_to(root))] = [found.st_size, found.st_mtime_ns, found.st_ino]
