"""The frozen container: built from the committed lock files, it runs `make run` and promotes.

Building needs a container engine that works here (podman or docker, both Debian packages)
and the base image; without them the build test is skipped and says which was missing.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from governance_assets.core.files import read_json, sha256_of_file
from governance_assets.core.report.frozen_environment import DIGEST_VARIABLE, LOCK_FILES

from .conftest import REPO
from .worktree import git_copy_of_working_tree

DEFAULT_BASE = "docker.io/library/python:3.11.7-slim-bookworm"
INSTALL = {"podman": "apt-get install podman", "docker": "apt-get install docker.io"}


def _engine() -> tuple[str | None, str]:
    """The first engine that can run containers here, or why none can."""
    reasons = []
    for name in ("podman", "docker"):
        if shutil.which(name) is None:
            reasons.append(f"{name} is not installed ({INSTALL[name]})")
            continue
        info = subprocess.run([name, "info"], capture_output=True, text=True, timeout=120,
                              check=False)
        if info.returncode == 0:
            return name, ""
        reasons.append(f"{name} cannot run containers here: "
                       f"{(info.stderr.strip().splitlines() or ['no output'])[-1]}")
    return None, "; ".join(reasons)


def _base_image(engine: str) -> tuple[str | None, str]:
    """GOVERNANCE_BASE_IMAGE if set (a local image), else the Containerfile's default, pulled."""
    base = os.environ.get("GOVERNANCE_BASE_IMAGE", DEFAULT_BASE)
    present = subprocess.run([engine, "image", "inspect", base], capture_output=True,
                             check=False).returncode == 0
    if present:
        return base, ""
    pulled = subprocess.run([engine, "pull", base], capture_output=True, text=True,
                            timeout=600, check=False)
    if pulled.returncode == 0:
        return base, ""
    last = (pulled.stderr.strip().splitlines() or ["no output"])[-1]
    return None, (f"base image {base} cannot be pulled ({last}); set GOVERNANCE_BASE_IMAGE to "
                  "a local Debian-based image with python3-venv")


def test_the_containerfile_installs_from_the_lock_files_and_runs_make_run():
    text = (REPO / "Containerfile").read_text()
    assert re.search(r"^RUN make setup$", text, re.MULTILINE)
    assert re.search(r'^CMD \["make", "run"\]$', text, re.MULTILINE)
    makefile = (REPO / "Makefile").read_text()
    assert "-r requirements.lock" in makefile and "-r requirements-dvc.lock" in makefile
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv/", ".venv-dvc/", "reports/", "registry/"} <= set(ignored)


def test_the_card_records_the_lock_files_hashes(passing):
    root = passing[0]
    environment = read_json(root / "reports/model_card.json")["environment"]
    for name in ("requirements.lock", "requirements-dvc.lock"):
        assert environment["lock_files"][name] == sha256_of_file(REPO / name)
    assert set(environment["lock_files"]) == set(LOCK_FILES)
    assert "Rebuild: `Containerfile`" in (root / "reports/model_card.md").read_text()


def _runs_containers(engine: str, base: str) -> str:
    """Empty when the engine can start a container of the base image, else why not."""
    probe = subprocess.run([engine, "run", "--rm", "--network", "host", base, "true"],
                           capture_output=True, text=True, timeout=300, check=False)
    if probe.returncode == 0:
        return ""
    last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
    return f"{engine} is installed but cannot start a container here: {last}"


@pytest.mark.slow
def test_the_image_builds_runs_make_run_and_records_its_digest(tmp_path):
    engine, reason = _engine()
    if engine is None:
        pytest.skip(f"no container engine: {reason}")
    base, reason = _base_image(engine)
    if base is None:
        pytest.skip(reason)
    reason = _runs_containers(engine, base)
    if reason:
        pytest.skip(reason)
    context = git_copy_of_working_tree(REPO, tmp_path / "context")
    for environment in (".venv", ".venv-dvc"):   # links to the host's; never in the image
        (context / environment).unlink()
    tag = "localhost/governed-pipeline:test"
    build = subprocess.run([engine, "build", "--network", "host", "--build-arg",
                            f"BASE_IMAGE={base}", "-t", tag, "-f", "Containerfile", "."],
                           cwd=context, capture_output=True, text=True, timeout=3600,
                           check=False)
    assert build.returncode == 0, build.stderr[-3000:]
    digest = subprocess.run([engine, "image", "inspect", "-f", "{{.Id}}", tag],
                            capture_output=True, text=True, check=True).stdout.strip()
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.run([engine, "run", "--rm", "--network", "host", "-e",
                          f"{DIGEST_VARIABLE}={digest}", "-v", f"{out}:/out", tag, "sh", "-c",
                          "make run && cp reports/model_card.json /out/"],
                         capture_output=True, text=True, timeout=3600, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "PROMOTED" in run.stdout
    card = json.loads(Path(out / "model_card.json").read_text())
    assert card["environment"]["container"] == {"inside_container": True,
                                                "image_digest": digest}
    assert card["environment"]["lock_files"]["requirements.lock"] == \
        sha256_of_file(REPO / "requirements.lock")
