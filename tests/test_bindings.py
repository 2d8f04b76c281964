"""A verdict counts only for the inputs it judged (Dagster driver): change one input, revert it.

Each test copies a project the whole graph already ran on, changes one thing (a threshold, the
model file, a report), and materializes `staging_model` alone, as a user could from the UI:
the guard must refuse with STALE or an integrity error, and find the verdict again on revert.
"""

import shutil

import pytest
import yaml
from sklearn.dummy import DummyClassifier

from governance_assets.assets import staging_model
from governance_assets.cli import output
from governance_assets.cli.report import report
from governance_assets.core.decide.gate_catalog import GATES, STAGE_GROUPS
from governance_assets.core.decide.verdicts import STALE, standings
from governance_assets.core.files import read_json, sha256_of_file, write_json_atomic
from governance_assets.core.layout import Layout
from governance_assets.core.model import model_files
from governance_assets.core.params import ACTIVE_DATASET, dataset_file
from governance_assets.core.record import registry

from .conftest import REPO, materialized, params_of, run_graph, set_params


@pytest.fixture
def judged(passing, tmp_path):
    """A copy of a project whose every gate passed and whose candidate is `staging`."""
    root = tmp_path / "project"
    shutil.copytree(passing[0], root)
    return root


def _refusal(result) -> str:
    [failure] = result.get_step_failure_events()
    return failure.step_failure_data.error.message


def _staging(root) -> str | None:
    return registry.get_alias(root / "registry", "staging")


def test_a_tightened_policy_makes_the_pass_stale_and_reverting_finds_it_again(judged, instance):
    root = judged
    staged = _staging(root)
    set_params(root, policy__min_disparate_impact=0.99)
    refused = run_graph(root, instance, selection=[staging_model])
    assert not refused.success and "staging_model" not in materialized(refused)
    message = _refusal(refused)
    assert "four_fifths_rule on fairness_report: STALE" in message
    assert "policy.min_disparate_impact was 0.8, now 0.99" in message
    assert "equalized_odds" not in message, "gates that do not read the key stay current"
    assert _staging(root) == staged
    assert report(root) == output.REFUSED
    row = next(g for g in read_json(root / "reports/gates.json")["gates"]
               if g["name"] == "four_fifths_rule")
    assert row["verdict"] == "STALE" and row["blocks_promotion"] is True

    set_params(root, policy__min_disparate_impact=0.8)
    again = run_graph(root, instance, selection=[staging_model])
    assert again.success
    assert _staging(root) == staged, "the same candidate on the same evidence: the same version"
    restaged = registry.manifest(root / "registry", _staging(root))
    assert restaged["model_sha256"] == read_json(root / "models/candidate.json")["sha256"]
    assert report(root) == output.DONE


def test_a_model_swapped_after_evaluation_is_never_loaded_or_promoted(judged, instance):
    root = judged
    staged = _staging(root)
    swapped = DummyClassifier(strategy="most_frequent").fit([[0], [1]], [1, 1])
    (root / "models/candidate.skops").write_bytes(model_files.dumps(swapped))
    refused = run_graph(root, instance, selection=[staging_model])
    assert "does not match" in _refusal(refused) and "recorded at training" in _refusal(refused)
    assert _staging(root) == staged

    meta = read_json(root / "models/candidate.json")  # the swap also rewrites the record
    write_json_atomic(root / "models/candidate.json",
                      {**meta, "sha256": sha256_of_file(root / "models/candidate.skops")})
    refused = run_graph(root, instance, selection=[staging_model])
    assert "performance_floor on performance_report: STALE" in _refusal(refused)
    assert "candidate changed" in _refusal(refused)
    assert _staging(root) == staged


def test_a_report_edited_after_its_gate_is_refused(judged, instance):
    root = judged
    staged = _staging(root)
    fairness = read_json(root / "reports/fairness.json")
    for feature in fairness["features"].values():
        if feature["disparate_impact_ratio_min"] is not None:
            feature["disparate_impact_ratio_min"] = 0.99
    write_json_atomic(root / "reports/fairness.json", fairness)
    refused = run_graph(root, instance, selection=[staging_model])
    message = _refusal(refused)
    assert "four_fifths_rule on fairness_report: STALE" in message
    assert "evidence file changed" in message
    assert _staging(root) == staged


def test_a_gate_records_the_exact_inputs_it_judged(passing):
    root = passing[0]
    params = params_of(root)
    items = {item.gate.name: item for item in standings(params, Layout(root))}
    assert all(item.state == "current" for item in items.values())
    four_fifths = items["four_fifths_rule"].record
    assert four_fifths["bound_values"]["policy.min_disparate_impact"] == 0.8
    assert "policy.max_psi" not in four_fifths["bound_values"]
    candidate = read_json(root / "models/candidate.json")["sha256"]
    assert four_fifths["fingerprint"]["candidate_sha256"] == candidate
    assert four_fifths["fingerprint"]["evidence_sha256"] == sha256_of_file(
        root / "reports/fairness.json")
    assert items["schema"].record["fingerprint"]["candidate_sha256"] is None
    card = read_json(root / "reports/model_card.json")
    assert card["decision"]["status"] == "promotable"


# The active dataset's spec is a params file of its own; DVC fills ${dataset} from params.yaml.
ACTIVE_DATASET_FILE = dataset_file("${dataset}")


def _covered(key: str, params: list[str | dict]) -> bool:
    if key == ACTIVE_DATASET:
        return any(isinstance(p, dict) and p.get(ACTIVE_DATASET_FILE, "") is None
                   for p in params)
    return any(key == p or key.startswith(p + ".") for p in params if isinstance(p, str))


def test_dvc_stages_declare_every_key_their_gates_read():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for gate in GATES:
        for stage in (gate.stage, "document", "promote"):
            missing = [k for k in gate.keys if not _covered(k, stages[stage]["params"])]
            assert not missing, f"dvc.yaml stage {stage} lacks {missing} read by {gate.name}"
    for name, stage in stages.items():
        assert "governance_assets" in stage["deps"], f"{name} does not depend on the code"
        assert stage["cmd"].endswith(f"governance stage {name}")
        assert name in STAGE_GROUPS
    for stage in ("evaluate", "document", "promote"):
        assert "registry/aliases/production.json" in stages[stage]["deps"]
    for gate in GATES:   # the stage that judges a gate re-runs when its evidence changes
        stage = stages[gate.stage]
        tracked = [path for path in gate.evidence if not path.startswith("reports/runtime/")]
        known = stage["deps"] + _outs(stage)
        missing = [path for path in tracked
                   if not any(path == k or path.startswith(k + "/") for k in known)]
        assert not missing, f"dvc.yaml stage {gate.stage} lacks {missing} judged by {gate.name}"
    assert "data/raw" in stages["prepare"]["deps"]


def _outs(stage: dict) -> list[str]:
    return [next(iter(out)) if isinstance(out, dict) else out
            for out in stage.get("outs", []) + stage.get("metrics", [])]


def test_stale_is_what_the_guard_reports_for_another_policy(judged):
    set_params(judged, policy__max_psi=0.3)
    items = {i.gate.name: i for i in standings(params_of(judged), Layout(judged))}
    assert items["drift_psi"].state == STALE and items["drifted_share"].state == STALE
    assert items["four_fifths_rule"].state == "current"
