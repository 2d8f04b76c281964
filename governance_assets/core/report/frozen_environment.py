"""What the card records so the environment can be rebuilt exactly: lock files and image.

The `Containerfile` installs both environments from the committed lock files and runs
`make run`; the card keeps those lock files' sha256, and, inside the image, the image digest
the engine was asked to pass in (`GOVERNANCE_IMAGE_DIGEST`: an image cannot know its own
digest, which is computed after it is built).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..files import sha256_of_file

LOCK_FILES = ("requirements.lock", "requirements-dvc.lock", "Containerfile")
DIGEST_VARIABLE = "GOVERNANCE_IMAGE_DIGEST"
# Files container engines create in every container they run (podman, docker).
CONTAINER_MARKERS = ("/run/.containerenv", "/.dockerenv")


def lock_file_hashes(root: Path) -> dict[str, str | None]:
    """sha256 of each file the image is built from; None when the file is absent."""
    return {name: sha256_of_file(root / name) if (root / name).is_file() else None
            for name in LOCK_FILES}


def container() -> dict:
    """Whether this run is inside a container, and the image digest it was given."""
    inside = any(Path(marker).exists() for marker in CONTAINER_MARKERS)
    return {"inside_container": inside, "image_digest": os.environ.get(DIGEST_VARIABLE)}


def frozen_environment(root: Path) -> dict:
    return {"lock_files": lock_file_hashes(root), "container": container()}
