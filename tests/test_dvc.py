"""The DVC driver for real, in a throw-away git copy of the working tree.

The README's main command (`governance run`) end to end: quiet output and exit codes, a no-op
second run, a forced re-run that leaves dvc.lock byte-equal, a policy flip-flop that gives the
right verdict without --force, bad input that loses nothing, a dataset edited and a new one added
by params alone, a model swapped between evaluation and promotion, `governance ci`, and
`dagster dev` serving the same runs. Runs killed in each stage, many more bad inputs and
concurrent runs are in tests/test_reliability.py.

One first run of the README's command is shared: its tests fall in two halves, each on its own
copy of that run and each in file order, so that `make test`'s two workers run them side by
side (`xdist_group`; tests/conftest.py).
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
import yaml
from dagster import AssetKey, DagsterInstance

from governance_assets import stage_server
from governance_assets.core.decide.gate_catalog import GATES
from governance_assets.core.decide.gate_catalog import STAGES as CATALOG_STAGES
from governance_assets.core.decide.gate_table import short_fingerprint
from governance_assets.core.files import md5_of_file, sha256_of_file
from governance_assets.core.params import load_params
from governance_assets.core.record import registry, witness
from governance_assets.core.trust import signoff
from governance_assets.core.trust.signatures import SIGNING_KEY_ENV

from .conftest import REPO, WARNING_LINE, built_once, set_params
from .servers import free_port, graphql
from .signing import PIPELINE, keys
from .worktree import commit_all, git_copy_of_working_tree

pytestmark = pytest.mark.slow
FIRST_HALF = pytest.mark.xdist_group("dvc_first_half")
SECOND_HALF = pytest.mark.xdist_group("dvc_second_half")
DVC = REPO / ".venv-dvc" / "bin" / "dvc"
GOVERNANCE = REPO / ".venv" / "bin" / "governance"
STAGES = ("prepare", "train", "evaluate", "document", "promote")
HELD_ROWS = "the input check of this run, in this process"
# Whose test key each principal of the bundled params.yaml signs with (tests/signing.py).
ROLE_KEYS = {"model-risk-officer": "alice", "head-of-credit-risk": "bob", PIPELINE: PIPELINE}
__all__ = ["keys"]  # a fixture, used by name


def _env(root):
    return {**os.environ, "DAGSTER_HOME": str(root / ".dagster")}


def _run(command, cwd, check=True):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False,
                            env=_env(cwd))
    if check and result.returncode != 0:
        raise AssertionError(f"{command} exited {result.returncode}\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-3000:]}")
    return result


def governance(root, *arguments, check=False):
    return _run([str(GOVERNANCE), "--root", str(root), *arguments], root, check=check)


def _json(root, relative):
    return json.loads((root / relative).read_text())


def _gate(root, name):
    return next(g for g in _json(root, "reports/gates.json")["gates"] if g["name"] == name)


def _snapshot(root) -> dict[str, str]:
    """Every output DVC or the registry holds (verdict and decision history and the ledger
    may only grow)."""
    paths = [p for base in ("data/prepared", "models", "reports", "registry")
             for p in (root / base).rglob("*")
             if p.is_file() and not {"verdicts", "decisions", "runtime"} & set(p.parts)
             and p.name not in ("gates.json", ".lock", "ledger.jsonl", "ledger.head")]
    return {str(p.relative_to(root)): sha256_of_file(p) for p in paths}


@pytest.fixture(scope="module", autouse=True)
def runs_signed_by_ci(keys):
    """Every `governance run` and DVC stage here is CI's, signed by the pipeline key (a local
    run's version is refused for production under signoff.require_signed_run)."""
    with keys.signing(PIPELINE):
        yield


def _first_run(folder: Path, keys) -> None:
    """The tracked and untracked-but-not-ignored files, committed in a fresh git repo, without
    dvc.lock, with the reviewers' and CI's keys as its committed allowed signers, and the
    README's command run on it once, as CI runs it (signed by the pipeline key); its output is
    kept beside it."""
    root = git_copy_of_working_tree(REPO, folder / "repo")
    for generated in ("dvc.lock",):
        (root / generated).unlink(missing_ok=True)
    keys.install_as(root, ROLE_KEYS)
    for command in (["git", "add", "governance/allowed_signers"],
                    ["git", "-c", "user.name=governance-tests", "-c",
                     "user.email=t@example.invalid", "commit", "-qm", "the team's keys"]):
        subprocess.run(command, cwd=root, check=True)
    first = _run_with(root, ["run"], {SIGNING_KEY_ENV: str(keys.path(PIPELINE))})
    (folder / "first.json").write_text(json.dumps({
        "args": first.args, "returncode": first.returncode, "stdout": first.stdout,
        "stderr": first.stderr}))


@pytest.fixture(scope="session")
def first_run(tmp_path_factory, keys) -> tuple[Path, subprocess.CompletedProcess]:
    """The first run, made once per session (whichever half asks first) and never changed:
    each half copies it."""
    if not DVC.exists():
        pytest.fail("DVC is not installed in .venv-dvc: run `make setup`")
    folder = built_once(tmp_path_factory, "dvc-first-run",
                        lambda target: _first_run(target, keys))
    return folder / "repo", subprocess.CompletedProcess(
        **json.loads((folder / "first.json").read_text()))


def _copy_of(first_run, tmp_path_factory, name: str) -> tuple[Path, subprocess.CompletedProcess]:
    """A byte copy of the first run (git repo, DVC cache, Dagster instance, registry); the
    environments stay links into the checkout."""
    template, first = first_run
    root = tmp_path_factory.mktemp(name) / "repo"
    shutil.copytree(template, root, symlinks=True)
    return root, first


@pytest.fixture(scope="module")
def repo_copy(first_run, tmp_path_factory):
    """The first half's copy: its tests change it one after another and put it back."""
    return _copy_of(first_run, tmp_path_factory, "dvc")


@pytest.fixture(scope="module")
def second_copy(first_run, tmp_path_factory):
    """The second half's copy, the same first run, changed only by the second half."""
    return _copy_of(first_run, tmp_path_factory, "dvc-second")


@FIRST_HALF
def test_main_command_promotes_quietly_with_one_line_per_stage(repo_copy):
    root, first = repo_copy
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for stage in STAGES:
        assert f"stage {stage}: " in first.stdout and f"stage {stage}: " in first.stdout
    assert "PROMOTED: registry version" in first.stdout
    assert "DEBUG" not in first.stdout + first.stderr
    assert "Warning" not in first.stdout + first.stderr
    # 28 gates and 24 report paths, one line each, plus a line per gate that did not pass
    assert len(first.stdout.splitlines()) < 100
    log = (root / "logs/latest.log").read_text()
    assert "DEBUG" in log and "Running stage 'evaluate'" in log
    # no warning filter hides them: the stages' logs carry no Python or Dagster warning
    assert [line for line in log.splitlines() if WARNING_LINE.search(line)] == []
    served = re.findall(r"stage server (\d+): `governance stage (\w+)` ran in child \d+, exit 0",
                        log)
    assert [stage for _, stage in served] == list(STAGES), "each stage ran in the warm server"
    with pytest.raises(ProcessLookupError):      # and the server left with the run
        os.kill(int(served[0][0]), 0)
    gates = _json(root, "reports/gates.json")
    assert gates["promotable"] is True and len(gates["gates"]) == len(GATES)
    decision = _json(root, "reports/decision.json")
    assert decision["decision"] == "promote" and decision["trigger"] in ("dvc", "ci")
    assert decision["data_version"] == md5_of_file(root / "data/raw/german_credit.csv")
    staged = _json(root, "reports/staging.json")
    assert registry.get_alias(root / "registry", "staging") == staged["version"]


def _latest_materialization(root: Path, asset: str):
    os.environ["DAGSTER_HOME"] = str(root / ".dagster")
    try:
        with DagsterInstance.get() as instance:
            return instance.get_latest_materialization_event(AssetKey(asset)).asset_materialization
    finally:
        del os.environ["DAGSTER_HOME"]


@FIRST_HALF
def test_dagster_records_the_raw_file_md5_as_its_data_version(repo_copy):
    root, _ = repo_copy
    md5 = md5_of_file(root / "data/raw/german_credit.csv")
    assert _latest_materialization(root, "raw_dataset").tags["dagster/data_version"] == md5


@FIRST_HALF
def test_a_cold_run_validates_the_raw_file_once(repo_copy):
    """The first run's input check validated the file in the stage server's child, which
    became the prepare stage and wrote the rows it held (core/data/handover.py) instead of
    validating again. Mutation killed: a prepare that ignores the held rows says it validated
    them itself."""
    root, _ = repo_copy
    validated = _latest_materialization(root, "validated_dataset")
    assert validated.metadata["validated_by"].value == HELD_ROWS


@FIRST_HALF
def test_second_run_changes_nothing(repo_copy):
    root, _ = repo_copy
    lock_before = (root / "dvc.lock").read_text()
    again = governance(root, "run")
    assert again.returncode == 0 and again.stdout.count("unchanged, skipped") == len(STAGES)
    assert (root / "dvc.lock").read_text() == lock_before


def _run_log(root: Path, run: subprocess.CompletedProcess) -> str:
    return (root / re.search(r"full log: (\S+)\)", run.stdout)[1]).read_text()


@FIRST_HALF
def test_a_no_op_run_asks_dvc_only_after_a_file_it_reads_moved(repo_copy):
    """Mutations killed: the stat fingerprint skipped always (the deleted out would not come
    back), never (DVC asked on the quiet run), or blind to mtime (the touch)."""
    root, _ = repo_copy
    governance(root, "run", check=True)
    quiet = governance(root, "run", check=True)
    assert quiet.stdout.count("unchanged, skipped") == len(STAGES)
    assert "status --json" not in _run_log(root, quiet)
    assert "dvc status: not asked" in _run_log(root, quiet)

    params = root / "params.yaml"
    moved = params.stat().st_mtime_ns + 10**9
    os.utime(params, ns=(moved, moved))          # same bytes, a new mtime: DVC is asked again
    touched = governance(root, "run", check=True)
    assert "status --json" in _run_log(root, touched)
    assert touched.stdout.count("unchanged, skipped") == len(STAGES)

    out = root / "reports" / "robustness.json"
    kept = out.read_bytes()
    out.unlink()                                  # an out DVC tracks, gone: not a no-op
    restored = governance(root, "run", check=True)
    assert "status --json" in _run_log(root, restored)
    assert restored.stdout.count("unchanged, skipped") < len(STAGES)
    assert out.read_bytes() == kept


@FIRST_HALF
def test_a_forced_rerun_reproduces_every_output_byte_for_byte(repo_copy):
    """The first run's stages ran in the warm stage server; this one gives every stage its
    own interpreter, as a plain `dvc repro` does: the outputs must not tell them apart."""
    root, _ = repo_copy
    lock_before = (root / "dvc.lock").read_text()
    forced = _run_with(root, ["run", "--force"], {stage_server.ENV: "0"})
    assert forced.returncode == 0, forced.stdout[-2000:]
    assert (root / "dvc.lock").read_text() == lock_before
    assert "stage server" not in (root / "logs/latest.log").read_text()
    # The first run's prepare took the rows its input check validated; this one's check found
    # the file validated already and prepare validated it itself: the same bytes either way.
    validated = _latest_materialization(root, "validated_dataset")
    assert validated.metadata["validated_by"].value == "this stage"


@FIRST_HALF
def test_policy_flip_flop_gives_the_verdict_of_the_current_policy_without_force(repo_copy):
    root, _ = repo_copy
    lock_before = (root / "dvc.lock").read_text()
    staged = registry.get_alias(root / "registry", "staging")
    before = _gate(root, "four_fifths_rule")
    assert before["verdict"] in ("PASS", "INSUFFICIENT_EVIDENCE") and not before[
        "blocks_promotion"]   # German credit's small intersection cells: a disclosed warning
    set_params(root, policy__min_disparate_impact=0.95)
    strict = governance(root, "run")
    assert strict.returncode == 1, strict.stdout[-3000:]
    assert "BLOCKED: promotion refused by four_fifths_rule" in strict.stdout
    assert "unchanged, skipped" in strict.stdout and "stage train" not in strict.stdout
    assert _gate(root, "four_fifths_rule")["verdict"] == "FAIL"
    assert _json(root, "reports/model_card.json")["decision"]["refused_by"] == ["four_fifths_rule"]
    assert _json(root, "reports/decision.json")["decision"] == "blocked"
    assert registry.get_alias(root / "registry", "staging") == staged

    set_params(root, policy__min_disparate_impact=0.8)
    reverted = governance(root, "run")
    assert reverted.returncode == 0, reverted.stdout[-3000:]
    assert "evaluate  unchanged, skipped" in reverted.stdout, "a threshold re-judges only"
    assert "document  restored from DVC's run cache" in reverted.stdout
    after = _gate(root, "four_fifths_rule")
    assert (after["verdict"], after["value"], after["blocks_promotion"]) == (
        before["verdict"], before["value"], False)
    assert _json(root, "reports/model_card.json")["decision"]["status"] == "promotable"
    assert _json(root, "reports/decision.json")["decision"] == "promote", "the strict record"
    assert (root / "dvc.lock").read_text() == lock_before


def _stage_results(root) -> dict[str, dict]:
    return {path.stem: json.loads(path.read_text())
            for path in (root / "reports/runtime/stages").glob("*.json")}


@FIRST_HALF
def test_the_run_learns_a_refusal_from_the_stage_result_and_names_the_gate(repo_copy):
    """The refusing stage writes its result (gates judged, exit 1) bound to the run's token;
    the run prints that stage's line from it (the stage's own output goes to the log only).
    Mutation killed: a run that does not read the results (the line is missing)."""
    root, _ = repo_copy
    set_params(root, policy__min_disparate_impact=0.95)
    try:
        strict = governance(root, "run")
    finally:
        set_params(root, policy__min_disparate_impact=0.8)
    assert strict.returncode == 1, strict.stdout[-3000:]
    refused = [r for r in _stage_results(root).values() if r["exit_code"] == 1]
    assert len(refused) == 1, _stage_results(root)
    result = refused[0]
    assert result["outcome"] == "refused" and result["stage"] in STAGES
    assert result["token"] and result["started"] <= result["finished"]
    assert any(g["gate"] == "four_fifths_rule" and not g["passed"] for g in result["gates"]) \
        or "four_fifths_rule" in result["message"]
    line = next(line for line in strict.stdout.splitlines()
                if line.startswith(f"  stage {result['stage']}: "))
    assert "exit 1" in line and "four_fifths_rule" in line
    assert f"[governance] stage {result['stage']}: " not in strict.stdout
    assert governance(root, "run").returncode == 0


@FIRST_HALF
def test_a_refusal_left_by_another_run_is_not_this_runs(repo_copy):
    """A result of `governance stage` typed by hand (or of an earlier run) carries another
    token: the next run, which has nothing to re-run, neither prints nor counts it. Mutation
    killed: reading results without their token (exit 2 and the planted line)."""
    root, _ = repo_copy
    planted = root / "reports/runtime/stages/document.json"
    planted.write_text(json.dumps({**_stage_results(root)["document"], "token": "another-run",
                                   "exit_code": 2, "outcome": "input_error",
                                   "message": "planted by an earlier run"}))
    again = governance(root, "run")
    assert again.returncode == 0, again.stdout[-3000:]
    assert again.stdout.count("unchanged, skipped") == len(STAGES)
    assert "planted by an earlier run" not in again.stdout


@FIRST_HALF
@pytest.mark.parametrize(("key", "changed", "restored", "stages"), [
    # max_psi is drawn into evidently's report: the evidence itself changes
    ("max_psi", 0.3, 0.25, ("evaluate", "document", "promote")),
    # a gate threshold only: the same evidence judged again
    ("max_equalized_odds_difference", 0.19, 0.2, ("document", "promote")),
])
def test_policy_only_change_reruns_exactly_the_stages_that_read_it(repo_copy, key, changed,
                                                                   restored, stages):
    root, _ = repo_copy
    evidence = sha256_of_file(root / "reports/fairness.json")
    set_params(root, **{f"policy__{key}": changed})
    result = _run([str(DVC), "repro"], root)
    for stage in STAGES:
        assert (f"Running stage '{stage}'" in result.stdout) == (stage in stages), stage
    assert _json(root, "reports/model_card.json")["constraints"][key] == changed
    assert sha256_of_file(root / "reports/fairness.json") == evidence
    set_params(root, **{f"policy__{key}": restored})
    assert governance(root, "run").returncode == 0


@FIRST_HALF
def test_dvc_exp_run_with_a_set_param(repo_copy):
    root, _ = repo_copy
    commit_all(root, "after repro")
    result = _run([str(DVC), "exp", "run", "-S", "policy.max_psi=0.31"], root)
    assert "Running stage 'evaluate'" in result.stdout
    assert "Running stage 'train'" not in result.stdout
    assert "0.31" in _run([str(DVC), "exp", "show", "--json"], root).stdout
    set_params(root, policy__max_psi=0.25)
    assert governance(root, "run").returncode == 0


def _edit_raw(root, column, row, value):
    raw = root / "data/raw/german_credit.csv"
    frame = pd.read_csv(raw, dtype=str, keep_default_na=False)
    frame.loc[row, column] = value
    frame.to_csv(raw, index=False)


BAD_INPUTS = {
    "text in a numeric column": (lambda root: _edit_raw(root, "credit_amount", 10, "lots"),
                                 ["data/raw/german_credit.csv", "credit_amount", "'lots'",
                                  "line 12"]),
    "unknown params key": (lambda root: set_params(root, policy__min_aucc=0.7),
                           ["params.yaml", "policy.min_aucc", "unknown key"]),
    "dataset outside the project": (
        lambda root: set_params(root, datasets__german_credit__path="/etc/passwd"),
        ["datasets.german_credit.path", "/etc/passwd", "outside data/raw/"]),
    "duplicate params key": (
        lambda root: (root / "params.yaml").write_text(
            (root / "params.yaml").read_text() + "dataset: census_income\n"),
        ["key 'dataset' appears twice"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
@FIRST_HALF
def test_bad_input_stops_before_dvc_with_exit_2_and_loses_nothing(repo_copy, case):
    root, _ = repo_copy
    before = _snapshot(root)
    lock = (root / "dvc.lock").read_text()
    change, expected = BAD_INPUTS[case]
    change(root)
    result = governance(root, "run")
    try:
        assert result.returncode == 2, result.stdout[-2000:]
        paragraph = result.stdout.strip()
        assert paragraph.startswith("error: ") and "(exit 2)" in paragraph
        assert "Traceback" not in result.stdout + result.stderr
        assert len(paragraph.splitlines()) == 2
        for part in expected:
            assert part in paragraph
        assert _snapshot(root) == before
        assert (root / "dvc.lock").read_text() == lock
    finally:
        subprocess.run(["git", "checkout", "-q", "--", "params.yaml", "datasets",
                        "data/raw"], cwd=root,
                       check=True)
    assert governance(root, "run").returncode == 0


@SECOND_HALF
def test_a_new_dataset_by_one_file_then_edited_reruns_from_the_data(second_copy):
    root, _ = second_copy
    german = pd.read_csv(root / "data/raw/german_credit.csv", dtype=str, keep_default_na=False)
    german.iloc[:900].to_csv(root / "data/raw/german_subset.csv", index=False)
    german_spec = yaml.safe_load((root / "datasets/german_credit.yaml").read_text())
    (root / "datasets/german_subset.yaml").write_text(yaml.safe_dump(
        {**german_spec, "path": "data/raw/german_subset.csv"}, sort_keys=False))
    set_params(root, dataset="german_subset")
    first = governance(root, "run")
    assert first.returncode in (0, 1) and "stage prepare: " in first.stdout
    decision = _json(root, "reports/decision.json")
    assert decision["dataset"] == "german_subset"
    assert decision["data_version"] == md5_of_file(root / "data/raw/german_subset.csv")

    german.iloc[:850].to_csv(root / "data/raw/german_subset.csv", index=False)
    edited = governance(root, "run")
    assert "stage prepare: " in edited.stdout and "stage train: " in edited.stdout
    after = _json(root, "reports/decision.json")
    assert after["data_version"] == md5_of_file(root / "data/raw/german_subset.csv")
    assert after["data_version"] != decision["data_version"]
    assert _json(root, "reports/validation.json")["rows"] == 850

    subprocess.run(["git", "checkout", "-q", "--", "params.yaml"], cwd=root, check=True)
    (root / "data/raw/german_subset.csv").unlink()
    (root / "datasets/german_subset.yaml").unlink()
    back = governance(root, "run")
    assert back.returncode == 0 and "PROMOTED" in back.stdout


def _without_witness_refs(root: Path) -> None:
    """A clone fetches branches and tags, not refs/governance/*: without this, the witness
    of the copy's ledger head rightly calls the emptied registry a put-back copy."""
    listed = subprocess.run(["git", "for-each-ref", "--format=%(refname)", witness.REF_PREFIX],
                            cwd=root, capture_output=True, text=True, check=True).stdout.split()
    assert listed, "the first run (a git repository) witnessed its ledger head"
    for ref in listed:
        subprocess.run(["git", "update-ref", "-d", ref], cwd=root, check=True)


@SECOND_HALF
def test_a_fresh_clone_with_the_committed_lock_promotes(second_copy):
    """A clone has dvc.lock but no outputs, no DVC cache, no registry and no decision record:
    the plain command rebuilds, decides and stages; and when DVC calls promote (no outs) up to
    date with no decision recorded for the candidate, the plain command still decides."""
    root, _ = second_copy
    for generated in ("registry", "reports", "models", "data/prepared", ".dvc/cache"):
        subprocess.run(["rm", "-rf", str(root / generated)], check=True)
    _without_witness_refs(root)
    fresh = governance(root, "run")
    assert fresh.returncode == 0, fresh.stdout[-3000:]
    assert "PROMOTED: registry version" in fresh.stdout
    # The card quotes this machine's first energy measurement of the candidate, so a clone
    # writes a card of its own and DVC runs promote itself. The heal path for a promote stage
    # DVC calls up to date without a decision for the candidate:
    (root / "reports/decision.json").unlink()
    healed = governance(root, "run")
    assert healed.returncode == 0, healed.stdout[-3000:]
    assert "promote   no decision recorded for this candidate" in healed.stdout
    assert "PROMOTED: registry version" in healed.stdout
    again = governance(root, "run")
    assert again.returncode == 0 and "no decision recorded" not in again.stdout


@SECOND_HALF
def test_verdicts_lost_while_dvc_is_up_to_date_are_rebuilt_by_the_plain_command(second_copy):
    root, _ = second_copy
    subprocess.run(["rm", "-rf", str(root / "registry/verdicts/drift_psi")], check=True)
    healed = governance(root, "run")
    assert healed.returncode == 0, healed.stdout[-3000:]
    assert "document  verdicts missing for the current inputs" in healed.stdout
    assert _gate(root, "drift_psi")["verdict"] == "PASS"


@SECOND_HALF
def test_a_model_swapped_before_the_promote_stage_is_refused(second_copy):
    root, _ = second_copy
    staged = registry.get_alias(root / "registry", "staging")
    model = root / "models/candidate.skops"
    original = model.read_bytes()
    model.write_bytes(original + b"\0")
    try:
        refused = governance(root, "stage", "promote")
        assert refused.returncode == 1
        assert "does not match" in refused.stdout
        assert registry.get_alias(root / "registry", "staging") == staged
        assert _json(root, "reports/decision.json")["decision"] == "blocked"
        by_dvc = _run([str(DVC), "repro", "-s", "promote"], root, check=False)
        assert by_dvc.returncode != 0
        assert _json(root, "reports/staging.json")["version"] == staged, "record kept"
        assert registry.get_alias(root / "registry", "staging") == staged
    finally:
        model.write_bytes(original)


@SECOND_HALF
def test_plain_dvc_repro_prints_a_line_per_stage_the_gates_and_the_main_command(second_copy):
    """A stage run by `dvc repro` itself, without `governance run` around it. Mutations killed:
    the stage printing Dagster's log to the console again (94 DEBUG lines), no gate table or
    decision at promote, no hint; the log it names not holding Dagster's log."""
    root, _ = second_copy
    staged = registry.get_alias(root / "registry", "staging")
    plain = _run([str(DVC), "repro", "--force", "-s", "document", "promote"], root)
    lines = [line for line in plain.stdout.splitlines() if line.startswith("[governance] ")]
    assert [line.split(":")[0] for line in lines] == ["[governance] stage document",
                                                      "[governance] stage promote"]
    assert "DEBUG" not in plain.stdout + plain.stderr
    assert [line for line in (plain.stdout + plain.stderr).splitlines()
            if WARNING_LINE.search(line)] == []
    assert plain.stdout.count("\nGates (value against the policy threshold") == 1
    table = {line.split()[0] for line in plain.stdout.splitlines() if line.strip()}
    assert {gate.name for gate in GATES} <= table
    assert f"PROMOTED: registry version {staged} is `staging`" in plain.stdout
    assert plain.stdout.count("`governance run` (make run) is the main command") == 1
    log = re.search(r"\[governance\] stage promote: .* \(log: (logs/stage-promote-\S+\.log)\)",
                    plain.stdout).group(1)
    assert "RUN_SUCCESS" in (root / log).read_text() and "DEBUG - promote - " in (
        root / log).read_text()


@SECOND_HALF
@pytest.mark.parametrize("through_server", [False, True], ids=["own process", "stage server"])
def test_each_stage_reports_a_crash_as_exit_3_and_bad_params_as_exit_2(second_copy, tmp_path,
                                                                        through_server):
    """Both ways a stage command runs: in its own process (a plain `dvc repro`) and handed to
    the warm stage server (inside `governance run`), which must pass on output and exit code."""
    root, _ = second_copy
    log = tmp_path / "server.log"
    with contextlib.ExitStack() as stack:
        env = {stage_server.ENV: "0"}
        if through_server:
            server = stack.enter_context(stage_server.running(_env(root), log))
            server.start()
            env = server.env
        splits = root / "reports/splits.json"
        original = splits.read_text()
        splits.write_text("{not json")
        try:
            assert _run_with(root, ["stage", "train"], env).returncode == 3
        finally:
            splits.write_text(original)
        set_params(root, policy__min_auc=2)
        try:
            bad = _run_with(root, ["stage", "evaluate"], env)
            assert bad.returncode == 2 and "policy.min_auc" in bad.stdout
        finally:
            set_params(root, policy__min_auc=0.7)
    served = re.findall(r"`governance --root \S+ stage (\w+)` ran in child \d+, exit (\d)",
                        log.read_text() if log.exists() else "")
    assert served == ([("train", "3"), ("evaluate", "2")] if through_server else [])
    assert governance(root, "check").returncode == 0


def test_the_stage_server_knows_the_stages_in_dvc_order():
    assert stage_server.STAGE_ORDER == CATALOG_STAGES == STAGES
    assert set(stage_server.NEEDS) <= set(STAGES)


@SECOND_HALF
@pytest.mark.parametrize("asked", ["prepare", "train"])
def test_the_check_child_hands_its_rows_to_prepare_and_to_nothing_else(second_copy, tmp_path,
                                                                       asked):
    """The server's check child keeps the rows that pass and becomes the prepare stage DVC
    asks for (the same pid, and the asset says it wrote the held rows); asked for any other
    stage first, it lets them go and the stage is forked from the server as usual. The rows
    reach prepare through memory only: no file or variable a shell could plant. Mutations
    killed: a holder handed a stage other than prepare, a prepare that validates again."""
    root, _ = second_copy
    log = tmp_path / "server.log"
    lock_before = (root / "dvc.lock").read_text()
    with stage_server.running(_env(root), log) as server:
        assert server.check(root) == 0
        assert _run_with(root, ["stage", asked], server.env).returncode == 0
    served = log.read_text()
    checked = re.search(r"the input check ran in child (\d+), exit 0, holding", served)
    staged = re.search(rf"stage {asked}` ran in child (\d+), exit 0", served)
    assert checked and staged, served[-2000:]
    if asked == "prepare":
        assert checked[1] == staged[1]
        validated = _latest_materialization(root, "validated_dataset")
        assert validated.metadata["validated_by"].value == HELD_ROWS
    else:
        assert checked[1] != staged[1]
        assert f"child {checked[1]} let its rows go (train was asked for first)" in served
    assert _run([str(DVC), "status", "--json", "dvc.yaml"], root).stdout.strip() == "{}"
    assert (root / "dvc.lock").read_text() == lock_before


@pytest.fixture
def dagster_dev(second_copy):
    """`dg dev` on the copy's instance, in its own process group (it ignores SIGTERM)."""
    root, _ = second_copy
    port = free_port()
    server = subprocess.Popen(
        [str(root / ".venv/bin/dg"), "dev", "-w", "workspace.yaml", "-p", str(port)],
        cwd=root, env=_env(root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("dg dev did not answer within 120 s")
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


@SECOND_HALF
def test_dagster_dev_shows_the_dvc_runs_lineage_gates_and_the_decision(second_copy, dagster_dev):
    root, _ = second_copy
    os.environ["DAGSTER_HOME"] = str(root / ".dagster")
    try:
        with DagsterInstance.get() as instance:
            expected_runs = {run.run_id for run in instance.get_runs()}
    finally:
        del os.environ["DAGSTER_HOME"]
    runs = graphql(dagster_dev, "{ runsOrError { ... on Runs { results { runId pipelineName "
                                 "tags { key value } } } } }")["runsOrError"]["results"]
    assert {r["runId"] for r in runs} == expected_runs
    assert len(expected_runs) >= 5
    # the runs list names each DVC stage's run by its stage (its job), not __ephemeral_asset_job__
    named = [(r["pipelineName"], {t["key"]: t["value"] for t in r["tags"]}.get("governance/stage"))
             for r in runs]
    assert {job for job, _ in named} == set(STAGES)
    assert all(job == stage for job, stage in named)
    # each DVC stage's run says in the UI's run list what started it, on which data and policy
    policy = load_params(root).policy_hash[:12]
    tags = [{t["key"]: t["value"] for t in r["tags"]} for r in runs]
    staged = [t for t in tags if "governance/stage" in t]
    assert staged and all({"governance/trigger", "governance/dataset",
                           "governance/policy_hash"} <= t.keys() for t in staged)
    trigger = "ci" if os.environ.get("CI") else "dvc"
    assert (trigger, "german_credit", policy) in {
        (t["governance/trigger"], t["governance/dataset"], t["governance/policy_hash"])
        for t in staged}
    nodes = graphql(dagster_dev, """{ assetNodes { assetKey { path } groupName
        dependencyKeys { path } assetChecksOrError { ... on AssetChecks { checks { name blocking
        executionForLatestMaterialization { evaluation { success description } } } } } } }""")
    by_name = {n["assetKey"]["path"][0]: n for n in nodes["assetNodes"]}
    assert len(by_name) == 16 + 1 + 2 and by_name["fairness_report"]["groupName"] == "evaluation"
    assert by_name["production_model"]["groupName"] == "production"
    assert {n for n, node in by_name.items() if node["groupName"] == "monitoring"} == {
        "scored_batch", "batch_monitoring"}, "the monitoring group is served beside the graph"
    assert {"promotion_decision"} == {
        d["path"][0] for d in by_name["staging_model"]["dependencyKeys"]}
    checks = {c["name"]: c for c in by_name["fairness_report"]["assetChecksOrError"]["checks"]}
    assert "disparate impact ratio" in checks["four_fifths_rule"][
        "executionForLatestMaterialization"]["evaluation"]["description"]
    [decision] = by_name["promotion_decision"]["assetChecksOrError"]["checks"]
    assert decision["name"] == "every_blocking_gate_passed" and decision["blocking"] is True
    # a reviewer reads group rates, intervals and the chart on the asset's page, not a path
    fairness = graphql(dagster_dev, """{ assetOrError(assetKey: {path: ["fairness_report"]}) {
        ... on Asset { assetMaterializations(limit: 1) { metadataEntries { label
        ... on MarkdownMetadataEntry { mdStr } } } } } }""")
    [latest] = fairness["assetOrError"]["assetMaterializations"]
    markdown = {e["label"]: e.get("mdStr") for e in latest["metadataEntries"]}
    assert "| age_band | under_25 |" in markdown["groups"]
    assert markdown["selection_rates"].startswith("![selection rate by group](data:image/png;")
    assert "| sex × age_band |" in markdown["summary"]


def _junit_cases(path) -> dict[str, ET.Element]:
    suite = ET.parse(path).getroot()
    return {case.get("name"): case for case in suite.iter("testcase")}


@SECOND_HALF
def test_governance_ci_writes_one_junit_case_per_gate_and_fails_the_build_on_a_refusal(
        second_copy):
    root, _ = second_copy
    summary_file = root / "step_summary.md"
    env_summary = {"GITHUB_STEP_SUMMARY": str(summary_file)}
    passed = _run_with(root, ["ci", "--against", "HEAD"], env_summary)
    assert passed.returncode == 0, passed.stdout[-3000:]
    cases = _junit_cases(root / "reports/ci/junit.xml")
    assert set(cases) == {gate.name for gate in GATES}
    assert not [name for name, case in cases.items()
                if case.find("failure") is not None or case.find("error") is not None]
    assert "## Governance gates: PROMOTED" in summary_file.read_text()
    # every declared metric beside HEAD's, the unchanged gate evidence included
    auc = _json(root, "reports/metrics/performance.json")["auc"]
    summary = (root / "reports/ci/summary.md").read_text()
    assert f"| reports/metrics/performance.json | auc | {auc:.4g} | {auc:.4g} | 0 |" in summary
    assert "| reports/metrics/fairness.json | sex.disparate_impact_ratio_min |" in summary
    assert "cpu_model" not in summary

    set_params(root, policy__min_disparate_impact=0.95)
    refused = _run_with(root, ["ci", "--against", "HEAD"], env_summary)
    assert refused.returncode == 1, refused.stdout[-3000:]
    assert "CI fails (exit 1): BLOCKED, refused by four_fifths_rule\n" in refused.stdout
    failure = _junit_cases(root / "reports/ci/junit.xml")["four_fifths_rule"].find("failure")
    ratio = _gate(root, "four_fifths_rule")["value"]
    assert failure is not None
    assert f"FAIL: value {ratio:.4g}, threshold >= 0.95" in failure.get("message")
    summary = (root / "reports/ci/summary.md").read_text()
    assert "- `four_fifths_rule`: FAIL" in summary
    judged = short_fingerprint(_gate(root, "four_fifths_rule")["fingerprint"])
    assert "| four_fifths_rule | FAIL |" in summary and f"| {judged} |" in summary
    assert "policy.min_disparate_impact" in summary and "0.95" in summary   # dvc params diff
    assert summary_file.read_text().count("## Governance gates") == 2

    set_params(root, policy__min_disparate_impact=0.8)
    assert governance(root, "run").returncode == 0


def _run_with(root, arguments, extra_env):
    return subprocess.run([str(GOVERNANCE), "--root", str(root), *arguments], cwd=root,
                          capture_output=True, text=True, env={**_env(root), **extra_env})


@FIRST_HALF
def test_production_moves_through_dvc_only_on_a_valid_approval(repo_copy, keys):
    """Runs last in its half: moving production re-opens the evaluate stage's inputs (the
    second half has a copy of its own)."""
    root, first = repo_copy
    first_staged = re.search(r"PROMOTED: registry version (\w+)", first.stdout).group(1)
    assert (f"{first_staged} is not approved: no approval of version {first_staged}"
            in first.stdout)
    assert f"`governance approve {first_staged} --key KEY --reason ...`" in first.stdout
    staged = registry.get_alias(root / "registry", "staging")
    production = [str(DVC), "repro", "production/dvc.yaml"]
    refused = _run(production, root, check=False)
    assert refused.returncode != 0
    assert f"no approval of version {staged}" in refused.stdout + refused.stderr
    assert registry.get_alias(root / "registry", "production") is None
    typed = governance(root, "approve", "staging", "--by", "model-risk-officer",
                       "--reason", "a typed name")
    assert typed.returncode == 2 and "required: --key" in typed.stderr
    approved = governance(root, "approve", "staging", "--key", str(keys.path("alice")),
                          "--reason", "card, verdicts and evidence reviewed")
    assert approved.returncode == 0, approved.stdout
    assert f"approval of {staged} by model-risk-officer" in approved.stdout
    unrequested = _run(production, root, check=False)
    assert unrequested.returncode != 0
    assert "no signed promotion request" in unrequested.stdout + unrequested.stderr
    trust = signoff.Trust.of(root, load_params(root).signoff)
    signoff.request_promotion(root / "registry", staged, keys.signer("bob"), trust)
    _run(production, root)
    assert registry.get_alias(root / "registry", "production") == staged
    move = registry.alias_entry(root / "registry", "production")
    assert (move["data"]["approval"]["by"], move["data"]["request"]["by"]) == (
        "model-risk-officer", "head-of-credit-risk")
    assert _json(root, "registry/aliases/production.json")["version"] == staged
    verified = governance(root, "verify")
    assert verified.returncode == 0 and "ledger intact" in verified.stdout, verified.stdout


def _stages_changed_by(root, relative: str) -> set[str]:
    """The stages `dvc status` says changed because of the params file `relative`."""
    status = json.loads(_run([str(DVC), "status", "--json"], root).stdout or "{}")
    return {stage for stage, changes in status.items() if relative in json.dumps(changes)}


@SECOND_HALF
def test_the_active_dataset_file_alone_is_tracked_as_params(second_copy):
    root, _ = second_copy
    reading = {"prepare", "train", "evaluate", "document", "promote"}
    try:
        set_params(root, datasets__toronto_arrests__limitations=["an inactive dataset, edited"])
        assert _stages_changed_by(root, "datasets/toronto_arrests.yaml") == set()
        set_params(root, datasets__german_credit__limitations=["the active dataset, edited"])
        assert _stages_changed_by(root, "datasets/german_credit.yaml") == reading
    finally:
        subprocess.run(["git", "checkout", "-q", "--", "datasets"], cwd=root, check=True)
