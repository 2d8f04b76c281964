"""No batch skipped in silence: every file of the batch folder is a batch (under a safe
partition key), refused, a duplicate, or ignored with its reason; `governance monitor` prints
one line per batch and keeps Dagster's log in a file."""

import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, instance_for_test

from governance_assets.assets.monitoring import batch_partitions
from governance_assets.cli.output import output_to
from governance_assets.core.files import read_json
from governance_assets.core.monitor import batches, decision_log

from .conftest import REPO
from .signing import keys
from .test_monitoring import BATCHES, production, raw_german

__all__ = ["keys", "production"]  # fixtures, used by name

GOVERNANCE = REPO / ".venv" / "bin" / "governance"
ODD_NAMES = ["a,b;c d.csv", "two words.csv", "x...y.csv", "a b c d.csv", "-lead.csv"]


def touch(folder: Path, name: str, text: str = "x\n1\n") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_odd_names_get_safe_distinct_keys_that_dagster_accepts(tmp_path):
    # kills: dropping a name that fails PARTITION_NAME (the old list_batches did), a key that
    # depends on anything but the name, or two odd names sharing a key
    for name in [*ODD_NAMES, "upper.CSV", "plain-1.csv"]:
        touch(tmp_path, name)
    found = batches.scan(tmp_path)
    by_name = {b.name: key for key, b in found.batches.items()}
    assert set(by_name) == {*ODD_NAMES, "upper.CSV", "plain-1.csv"}
    assert by_name["upper.CSV"] == "upper" and by_name["plain-1.csv"] == "plain-1"
    mapped = [by_name[n] for n in ODD_NAMES]
    assert len(set(mapped)) == len(mapped), "a b c d and a,b;c d slug alike, keys differ"
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*~[0-9a-f]{12}", k) for k in mapped)
    assert by_name["a,b;c d.csv"].startswith("a-b-c-d~")
    assert {k: b.name for k, b in batches.scan(tmp_path).batches.items()} == {
        k: b.name for k, b in found.batches.items()}, "the same folder maps the same way"
    assert found.refused == [] and found.ignored == []
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(batch_partitions.name, sorted(found.batches))
        assert set(instance.get_dynamic_partitions(batch_partitions.name)) == set(found.batches)


def test_stray_pair_is_refused_and_everything_else_listed_with_its_reason(tmp_path):
    # kills: a stray pair raising for the whole folder (the old list_batches did), or an entry
    # of the folder that is neither a batch, refused nor ignored
    for name in ("x.csv", "x.csv.gz", "good.csv", ".hidden.csv", "notes.txt", "batches.json"):
        touch(tmp_path, name)
    (tmp_path / "older").mkdir()
    found = batches.scan(tmp_path)
    assert list(found.batches) == ["good"]
    assert [s.name for s in found.refused] == ["x.csv", "x.csv.gz"]
    assert all("rule one_file_per_batch: x.csv and x.csv.gz are 2 files for batch 'x'; keep "
               "one" in s.why for s in found.refused)
    ignored = {s.name: s.why for s in found.ignored}
    assert ignored == {
        ".hidden.csv": "a hidden file",
        "batches.json": "the manifest `governance batches` writes",
        "notes.txt": "not a batch file: its suffix is none of .csv, .csv.gz, .parquet, .pq "
                     "(any case)",
        "older": "a directory: batches are files in the folder itself"}
    with pytest.raises(batches.BatchError, match="x.csv and x.csv.gz"):
        batches.batch_file(tmp_path, "x")
    assert batches.batch_file(tmp_path, "good") == tmp_path / "good.csv"


def test_same_content_under_another_name_is_a_duplicate_now_and_later(tmp_path):
    # kills: judging duplicates by name, or only against earlier runs (not within this one)
    for name, text in (("a.csv", "x\n1\n"), ("b.csv", "x\n1\n"), ("c.csv", "x\n2\n")):
        touch(tmp_path, name, text)
    found = batches.scan(tmp_path)
    contents = {k: batches.content_key(b.path) for k, b in found.batches.items()}
    first = batches.triage(found.batches, contents, {})
    assert first.pending == {"a": contents["a"], "c": contents["c"]}
    assert first.duplicates == {"b": "a"}
    recorded = {"a": {"content": contents["a"], "status": "monitored"},
                "c": {"content": contents["c"], "status": "refused"}}
    later = batches.triage(found.batches, contents, recorded)
    assert later.pending == {} and later.duplicates == {"b": "a"}
    assert set(later.unchanged) == {"a", "c"}
    touch(tmp_path, "a.csv", "x\n3\n")      # a changed: b's content was still logged under a
    contents["a"] = batches.content_key(tmp_path / "a.csv")
    changed = batches.triage(found.batches, contents, recorded)
    assert changed.pending == {"a": contents["a"]} and changed.duplicates == {"b": "a"}


def test_output_to_sends_native_and_python_output_to_the_log(tmp_path, capfd):
    # kills: redirecting only sys.stdout (Dagster's handlers and native code write to the fds)
    # or only the fds (a caller that replaced sys.stdout would still see everything)
    log = tmp_path / "monitor.log"
    with output_to(log):
        print("from python")
        os.write(2, b"from a file descriptor\n")
    print("after the block")
    out, err = capfd.readouterr()
    assert out == "after the block\n" and err == ""
    assert log.read_text().splitlines() == ["from python", "from a file descriptor"]


def _german_sample(root: Path, rows: int, seed: int) -> pd.DataFrame:
    return raw_german(root).sample(rows, random_state=seed)


def _governance_monitor(root: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}  # the project's own
    return subprocess.run([str(GOVERNANCE), "--root", str(root), "monitor"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=900)


def _logged_rows(root: Path) -> int:
    folder = root / "registry/decision_log"
    return sum(len(decision_log.read_log(part)) for part in folder.glob("*/*") if part.is_dir())


@pytest.mark.slow
def test_governance_monitor_reports_every_file_and_logs_each_content_once(production, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(production[0], root)
    folder = root / BATCHES
    folder.mkdir(parents=True)
    odd, upper = _german_sample(root, 120, 1), _german_sample(root, 150, 2)
    odd.to_csv(folder / "a,b;c d.csv", index=False)
    upper.to_csv(folder / "upper.CSV", index=False)
    shutil.copy(folder / "upper.CSV", folder / "zz copy.csv")            # same bytes
    _german_sample(root, 60, 3).to_csv(folder / "x.csv", index=False)
    with gzip.open(folder / "x.csv.gz", "wt") as handle:                  # the stray pair
        handle.write(_german_sample(root, 60, 4).to_csv(index=False))
    touch(folder, ".hidden.csv")
    touch(folder, "notes.txt")

    done = _governance_monitor(root)
    lines = done.stdout.splitlines()
    assert done.returncode == 2, done.stdout + done.stderr     # the pair is a refusal
    assert "DEBUG" not in done.stdout + done.stderr, done.stdout
    odd_key = batches.partition_key("a,b;c d.csv")
    monitored = sorted(line for line in lines if re.search(r": \d+ rows, drift ", line))
    assert len(monitored) == 2, done.stdout
    assert monitored[0].startswith(f"a,b;c d.csv (partition {odd_key}): 120 rows, drift ")
    assert monitored[1].startswith("upper.CSV: 150 rows, drift ")
    [duplicate] = [line for line in lines if "DUPLICATE" in line]
    assert duplicate.startswith(f"zz copy.csv (partition {batches.partition_key('zz copy.csv')})"
                                ": DUPLICATE, same content") and "as batch 'upper'" in duplicate
    refused = [line for line in lines if "REFUSED" in line]
    assert [line.split(":")[0] for line in refused] == ["x.csv", "x.csv.gz"]
    assert {line.split(":")[0] for line in lines if ": ignored, " in line} == {
        ".hidden.csv", "notes.txt"}
    assert len(lines) == 1 + 2 + 1 + 2 + 2 + 1, "a header, one line per file, a summary"

    log = root / re.search(r"full log: (logs/monitor-\S+\.log)\)$", lines[0]).group(1)
    assert sum("DEBUG" in line for line in log.read_text().splitlines()) > 20
    summary_path = root / re.search(r"summary: (\S+),", lines[-1]).group(1)
    summary = read_json(summary_path)
    assert sorted(f["file"] for f in summary["files"]) == sorted(
        p.name for p in folder.iterdir())
    outcome = {f["file"]: f["outcome"] for f in summary["files"]}
    assert outcome["a,b;c d.csv"] == outcome["upper.CSV"] == "monitored"
    assert outcome["zz copy.csv"] == "duplicate"
    status = read_json(root / "reports/monitoring" / odd_key / "status.json")
    assert status["file"] == f"{BATCHES}/a,b;c d.csv" and status["status"] == "monitored"
    assert read_json(root / "reports/monitoring" / odd_key / "report.json")["file"] == \
        f"{BATCHES}/a,b;c d.csv"
    assert _logged_rows(root) == 2 * (120 + 150), "production and shadow, each row once"

    again = _governance_monitor(root)
    assert (root / re.search(r"full log: (\S+)\)$", again.stdout.splitlines()[0]).group(1)
            ).is_file(), "the log named exists even when no batch ran"
    assert _logged_rows(root) == 2 * (120 + 150), "a second run logs nothing again"
    assert "2 already monitored" in again.stdout.splitlines()[-1], again.stdout
    assert any(line.startswith("zz copy.csv") and "DUPLICATE" in line
               for line in again.stdout.splitlines())
    with DagsterInstance.from_config(str(root / ".dagster")) as instance:
        assert set(instance.get_dynamic_partitions(batch_partitions.name)) == {
            odd_key, "upper", batches.partition_key("zz copy.csv")}
