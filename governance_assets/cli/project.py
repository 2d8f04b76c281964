"""The one option every command shares: which project it acts on, and its Dagster instance."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_root_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=Path.cwd(),
                        help="project root (default: the current directory)")


def project_root(args: argparse.Namespace) -> Path:
    """The project's root, with Dagster pointed at its instance, as dvc.yaml's stages are."""
    root = args.root.resolve()
    home = root / ".dagster"
    home.mkdir(exist_ok=True)
    os.environ.setdefault("DAGSTER_HOME", str(home))
    return root
