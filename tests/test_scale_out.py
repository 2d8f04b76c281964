"""The same definitions on real engines: PostgreSQL storage and two Celery workers (Redis broker).

PostgreSQL and Redis come from Debian packages (installed here when missing and apt can), run on
localhost ports in a temp dir. The governed graph runs with `GOVERNANCE_EXECUTOR=celery` and the
instance from deploy/postgres-celery/; its verdicts and model hash must equal the in-process
run's on the same data and policy.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance

from governance_assets.core.decide.verdicts import standings
from governance_assets.core.files import read_json
from governance_assets.core.layout import Layout
from governance_assets.core.params import load_params

from .conftest import REPO, make_project, run_graph
from .servers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.scale_out]
BIN = REPO / ".venv" / "bin"
DEPLOY = REPO / "deploy" / "postgres-celery"


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    return found[-1].parent if found else None


def _servers_or_skip() -> Path:
    """The PostgreSQL bin folder, with redis-server on PATH; installed from Debian if need be."""
    if (_postgres_bin() is None or shutil.which("redis-server") is None) and \
            os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql", "redis-server"],
                       capture_output=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if _postgres_bin() is None or shutil.which("redis-server") is None:
        pytest.skip("PostgreSQL or Redis is not installed and apt-get could not install them")
    return _postgres_bin()


def _as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the package's `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _wait_for(probe, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.5)
    pytest.fail(f"{what} did not start within {timeout:.0f} s")


def _accepts(port: int) -> bool:
    with socket.socket() as client:
        return client.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def engines():
    """PostgreSQL and Redis on free localhost ports; every process stopped afterwards."""
    postgres = _servers_or_skip()
    # pytest's tmp dirs are private to root; the postgres user needs a folder of its own
    scratch = Path(tempfile.mkdtemp(prefix="governance-postgres-"))
    data, sockets = scratch / "data", scratch / "sockets"
    for folder in (data, sockets):
        folder.mkdir()
    if os.geteuid() == 0:
        for folder in (scratch, data, sockets):
            shutil.chown(folder, "postgres")
    subprocess.run(_as_postgres_user([str(postgres / "initdb"), "-D", str(data), "-A", "trust",
                                      "-U", "governance"]), check=True, capture_output=True)
    pg_port, redis_port = free_port(), free_port()
    started = [
        subprocess.Popen(_as_postgres_user([str(postgres / "postgres"), "-D", str(data),
                                            "-p", str(pg_port), "-k", str(sockets),
                                            "-h", "127.0.0.1"]),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "",
                          "--appendonly", "no"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        _wait_for(lambda: _accepts(pg_port) and _accepts(redis_port), "PostgreSQL and Redis")
        _wait_for(lambda: subprocess.run(
            [str(postgres / "psql"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "governance",
             "-d", "postgres", "-c", "create database dagster"],
            capture_output=True).returncode == 0, "the dagster database")
        yield {"GOVERNANCE_POSTGRES_URL":
               f"postgresql+psycopg2://governance@127.0.0.1:{pg_port}/dagster",
               "GOVERNANCE_EXECUTOR": "celery",
               "GOVERNANCE_CELERY_BROKER": f"redis://127.0.0.1:{redis_port}/0",
               "GOVERNANCE_CELERY_BACKEND": f"redis://127.0.0.1:{redis_port}/1"}
    finally:
        for process in started:
            process.terminate()
            process.wait(timeout=60)
        shutil.rmtree(scratch, ignore_errors=True)


def _start_workers(root: Path, env: dict, logs: Path) -> list[subprocess.Popen]:
    """The instance's schema first, as docs/scale-out.md says: two workers that start on an
    empty database race to create it, and the loser exits (DuplicateObject: job_ticks)."""
    subprocess.run([str(BIN / "dagster"), "instance", "migrate"], cwd=root, env=env,
                   capture_output=True, check=True)
    workers = []
    for name in ("worker1", "worker2"):
        log = (logs / f"{name}.log").open("w")
        workers.append(subprocess.Popen(
            [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
             "-y", str(DEPLOY / "celery.yaml"), "-n", name],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    _wait_for(lambda: all(" ready." in (logs / f"{n}.log").read_text()
                          for n in ("worker1", "worker2")), "two Celery workers", 120)
    return workers


def _verdicts(root: Path) -> dict[str, tuple]:
    """Each gate's verdict and value; a volatile gate's value measures the machine (latency)."""
    return {item.gate.name: (item.label, None if item.gate.volatile else item.to_dict()["value"])
            for item in standings(load_params(root), Layout(root))}


def test_postgres_and_two_celery_workers_reach_the_local_runs_verdicts_and_model(
        engines, instance, tmp_path):
    local_root = make_project(tmp_path / "local")
    assert run_graph(local_root, instance).success
    root = make_project(tmp_path / "project")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, **engines, "DAGSTER_HOME": str(home),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    workers = _start_workers(root, env, tmp_path)
    try:
        run = subprocess.run([str(BIN / "dagster"), "job", "execute", "-m", "governance_assets",
                              "-j", "governed_graph"], cwd=root, env=env, capture_output=True,
                             text=True, timeout=1200)
    finally:
        for worker in workers:
            os.killpg(worker.pid, 15)
            worker.wait(timeout=60)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    assert _verdicts(root) == _verdicts(local_root)
    assert read_json(Layout(root).model_meta)["sha256"] == read_json(
        Layout(local_root).model_meta)["sha256"]
    tasks = {name: (tmp_path / f"{name}.log").read_text().count("succeeded in")
             for name in ("worker1", "worker2")}
    # every asset and check step ran as a Celery task on one of the two workers
    assert sum(tasks.values()) >= len(_verdicts(root)) and min(tasks.values()) > 0, tasks
    os.environ.update({"DAGSTER_HOME": str(home), **engines})
    try:
        with DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            [stored] = instance.get_runs()
            assert stored.is_success
            for asset in ("candidate_model", "staging_model"):
                event = instance.get_latest_materialization_event(AssetKey(asset))
                assert event is not None and event.run_id == stored.run_id
    finally:
        for key in ("DAGSTER_HOME", *engines):
            os.environ.pop(key, None)
