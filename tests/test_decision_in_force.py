"""The record of the latest decision is the decision in force (issue 20, item 7).

A policy tightened and then restored leaves the candidate and every file DVC sees as they were
before the tightening: DVC restores `document` from its run cache and calls `promote` (no outs)
up to date, while the latest decision on record is the strict one. Through the real
`governance` CLI, DVC and the project's Dagster instance: after each run the decision record,
the ledger's last decision entry and the UI's latest `promotion_decision` materialization (and
its check) say the same as the console, and a run with nothing changed decides nothing. The
digest that tells is tested first, on a project's real standings.
"""

import os

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance

from governance_assets.core.decide import decisions
from governance_assets.core.decide.verdicts import standings
from governance_assets.core.layout import Layout
from governance_assets.core.record import ledger

from .conftest import make_project, params_of, set_params
from .signing import keys  # noqa: F401  (a fixture first_run uses)
from .test_dvc import DVC, _copy_of, _json, _run, first_run, governance  # noqa: F401

IN_ORDER = pytest.mark.xdist_group("decision_in_force")
DECISION = AssetKey("promotion_decision")
CHECK = AssetCheckKey(DECISION, "every_blocking_gate_passed")


def _rows(root) -> tuple[list[dict], str]:
    params = params_of(root)
    return [item.to_dict() for item in standings(params, Layout(root))], params.policy_hash


def test_the_digest_follows_each_gates_standing_not_when_it_was_judged(tmp_path):
    root = make_project(tmp_path)
    rows, policy_hash = _rows(root)
    record = {"verdicts": rows, "policy_hash": policy_hash,
              "standings_digest": decisions.standings_digest(rows, policy_hash)}
    assert decisions.in_force(record, rows, policy_hash)

    rejudged = [{**row, "judged_in_run": "another-run", "message": "judged again"}
                for row in rows]
    assert decisions.in_force(record, rejudged, policy_hash)

    failed = [{**rows[0], "outcome": "fail", "blocks_promotion": True}, *rows[1:]]
    assert not decisions.in_force(record, failed, policy_hash)
    assert decisions.changed_since(record, failed, policy_hash) == [rows[0]["name"]]

    set_params(root, policy__min_group_size=params_of(root).policy.min_group_size + 1)
    tightened, tightened_hash = _rows(root)
    assert not decisions.in_force(record, tightened, tightened_hash)
    changed = decisions.changed_since(record, tightened, tightened_hash)
    assert "sensitive_groups" in changed and changed[-1] == "policy"
    assert "schema" not in changed, "a gate that does not read the key keeps its standing"
    assert not decisions.in_force(None, rows, policy_hash)


@pytest.fixture(scope="module")
def project(first_run, tmp_path_factory):  # noqa: F811
    """A copy of the shared first run (promoted), changed by this module's tests in order."""
    root, first = _copy_of(first_run, tmp_path_factory, "decision-in-force")
    assert first.returncode == 0, first.stdout[-3000:]
    return root


def _decision_entries(root) -> list[dict]:
    return ledger.entries(root / "registry", ("decision",))


def _ui(root) -> dict:
    """What `dagster dev` shows for the promotion group: the latest materialization of the
    decision asset, its check's latest evaluation and the latest staging materialization."""
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(root / ".dagster")
    try:
        with DagsterInstance.get() as instance:
            decision = instance.get_latest_materialization_event(DECISION)
            check = instance.get_latest_asset_check_evaluation_record(CHECK)
            staging = instance.get_latest_materialization_event(AssetKey("staging_model"))
    finally:
        if previous is None:
            del os.environ["DAGSTER_HOME"]
        else:
            os.environ["DAGSTER_HOME"] = previous
    evaluation = check.event.dagster_event.event_specific_data
    return {"run_id": decision.run_id,
            "decision": decision.asset_materialization.metadata["decision"].value,
            "check_run_id": check.run_id, "check_passed": evaluation.passed,
            "staging_run_id": staging.run_id}


def _assert_everything_says(root, decision: str, headline: str) -> None:
    """decision.json, the ledger's last decision entry and the UI agree with each other."""
    record = _json(root, "reports/decision.json")
    ui = _ui(root)
    assert record["decision"] == decision
    assert _decision_entries(root)[-1]["data"]["decision"] == decision
    assert _decision_entries(root)[-1]["data"]["run_id"] == record["run_id"] == ui["run_id"]
    assert ui["decision"].startswith(headline), ui["decision"]
    assert (ui["check_run_id"], ui["check_passed"]) == (ui["run_id"], decision == "promote")


@pytest.mark.slow
@IN_ORDER
def test_a_policy_tightened_then_restored_records_each_decision_where_it_is_read(project):
    root = project
    set_params(root, policy__min_disparate_impact=0.99)
    strict = governance(root, "run")
    assert strict.returncode == 1, strict.stdout[-3000:]
    assert "BLOCKED: promotion refused by four_fifths_rule" in strict.stdout
    _assert_everything_says(root, "blocked", "BLOCKED by four_fifths_rule")
    assert _json(root, "reports/decision.json")["policy"]["min_disparate_impact"] == 0.99

    # DVC alone (the README's second driver) calls promote up to date: the console must not
    # print PROMOTED over a record that says blocked.
    set_params(root, policy__min_disparate_impact=0.8)
    repro = _run([str(DVC), "repro"], root)
    assert "Stage 'promote' didn't change, skipping" in repro.stdout, repro.stdout[-2000:]
    console = governance(root, "report")
    assert console.returncode == 1, console.stdout[-2000:]
    assert "\nPROMOTED:" not in console.stdout
    assert "NOT PROMOTED: every gate passes, but the decision in reports/decision.json " \
           "(blocked) was made on other standings (four_fifths_rule" in console.stdout

    restored = governance(root, "run")
    assert restored.returncode == 0, restored.stdout[-3000:]
    assert "PROMOTED: registry version" in restored.stdout
    assert "promote   the decision in reports/decision.json (blocked)" in restored.stdout
    _assert_everything_says(root, "promote", "PROMOTE")
    assert _json(root, "reports/decision.json")["policy"]["min_disparate_impact"] == 0.8
    assert _ui(root)["staging_run_id"] == _ui(root)["run_id"], "staging stays red in the UI"


@pytest.mark.slow
@IN_ORDER
def test_a_second_run_with_nothing_changed_decides_nothing(project):
    root = project
    entries, ui = len(_decision_entries(root)), _ui(root)
    again = governance(root, "run")
    assert again.returncode == 0, again.stdout[-3000:]
    assert again.stdout.count("unchanged, skipped") == 5 and "deciding again" not in again.stdout
    assert "PROMOTED: registry version" in again.stdout
    assert len(_decision_entries(root)) == entries
    assert _ui(root) == ui
