"""The one option every command shares: which project it acts on, and its Dagster instance."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .output import INPUT_ERROR


def add_root_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=Path.cwd(),
                        help="project root (default: the current directory)")


def project_root(args: argparse.Namespace) -> Path:
    """The project's root, with Dagster pointed at its instance, as dvc.yaml's stages are."""
    root = args.root.resolve()
    if not root.is_dir():
        print(f"error: project root {root} is not a folder (--root, or the current directory)")
        raise SystemExit(INPUT_ERROR)
    home = root / ".dagster"
    home.mkdir(exist_ok=True)
    os.environ.setdefault("DAGSTER_HOME", str(home))
    return root
