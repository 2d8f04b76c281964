"""YAML read with PyYAML's C loader when it is built (libyaml), else its Python one.

The pure-Python loader takes about 0.1 s for dvc.lock, and a no-op `governance run` reads it
twice, dvc.yaml once and params.yaml's registry key once: most of what a run with nothing to
do spends after its imports. Same documents, same values; params.yaml's full check has its own
strict loader (core/params/loading.py, duplicate keys refused).
"""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
