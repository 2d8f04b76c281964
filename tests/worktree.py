"""A throw-away git repository holding the working tree, for real DVC runs away from the repo."""

import shutil
import subprocess
from pathlib import Path

from .latency_budget import with_test_latency_budget

ENVIRONMENTS = (".venv", ".venv-dvc")


def git_copy_of_working_tree(source: Path, target: Path, skip_prefix: str | None = None) -> Path:
    """Tracked and untracked-but-not-ignored files, committed, judged by the test latency
    budget (tests/latency_budget.py); the environments linked in."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=source,
                            capture_output=True, text=True, check=True).stdout.split()
    for relative in listed:
        if (source / relative).is_file() and not (skip_prefix and
                                                  relative.startswith(skip_prefix)):
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / relative, target / relative)
    for environment in ENVIRONMENTS:
        (target / environment).symlink_to(source / environment)
    with_test_latency_budget(target)
    commit_all(target, "copy of the working tree", init=True)
    return target


def commit_all(root: Path, message: str, init: bool = False) -> None:
    commands = [["git", "add", "-A"],
                ["git", "-c", "user.name=governance-tests", "-c", "user.email=t@example.invalid",
                 "commit", "-qm", message]]
    for command in ([["git", "init", "-q"]] if init else []) + commands:
        subprocess.run(command, cwd=root, check=True)
