"""Audit mode through the README's main command (`governance run`, the DVC driver): an
`external_scores` audit and an `external_model` audit each end PROMOTED or BLOCKED (exit 0 or
1, never 3) with every applicable gate judged, every stage writing exactly the outs dvc.yaml
declares, and the reports judging every row that passes the dataset's filters.

Each test runs in its own throw-away git copy of the working tree (tests/worktree.py), with a
`purpose_group` sensitive attribute whose smallest groups are below policy.min_group_size: the
score audit reports them as insufficient evidence (the audit default), the model audit merges
them (policy.small_groups: merge).
"""

import json
import os
import subprocess

import pandas as pd
import pytest
import yaml

from .conftest import REPO, declare_vendor_score, set_params
from .test_external import TREE_TYPE, synthetic_vendor_score, vendor_model
from .worktree import commit_all, git_copy_of_working_tree

pytestmark = pytest.mark.slow
DVC = REPO / ".venv-dvc" / "bin" / "dvc"
GOVERNANCE = REPO / ".venv" / "bin" / "governance"
SPEC = "datasets__german_credit__"
PURPOSES = {"A40": "car_new", "A41": "car_used", "A42": "furniture", "A43": "radio_tv",
            "A44": "appliances", "A45": "repairs", "A46": "education", "A48": "retraining",
            "A49": "business", "A410": "other_purpose"}
SMALL = {"appliances": 12, "other_purpose": 12, "retraining": 9}
# Gates an audit cannot have evidence for: not applicable, with the reason.
NEED_TRAINING = ("feasible_trial", "search_reproducible", "carbon_budget")


def _copy(tmp_path):
    if not DVC.exists():
        pytest.fail("DVC is not installed in .venv-dvc: run `make setup`")
    root = git_copy_of_working_tree(REPO, tmp_path / "repo")
    (root / "dvc.lock").unlink(missing_ok=True)
    block = yaml.safe_load((root / "datasets/german_credit.yaml").read_text())
    set_params(root, **{f"{SPEC}derived": {**block["derived"], "purpose_group": {
        "source": "purpose", "mapping": PURPOSES}},
        f"{SPEC}sensitive_features": [*block["sensitive_features"], "purpose_group"],
        f"{SPEC}reference_decisions": None})
    return root


def _run(root):
    result = subprocess.run([str(GOVERNANCE), "--root", str(root), "run"], cwd=root,
                            capture_output=True, text=True, check=False,
                            env={**os.environ, "DAGSTER_HOME": str(root / ".dagster")})
    assert result.returncode in (0, 1), (result.returncode, result.stdout[-4000:],
                                         result.stderr[-2000:])
    assert ("PROMOTED" if result.returncode == 0 else "BLOCKED") in result.stdout
    return result


def _json(root, relative):
    return json.loads((root / relative).read_text())


def _assert_audited(root) -> dict:
    """Every gate judged for the current inputs; those that need training not applicable;
    every declared out written; every report on every filtered row."""
    gates = {g["name"]: g for g in _json(root, "reports/gates.json")["gates"]}
    unjudged = [n for n, g in gates.items() if g["state"] != "current"]
    assert not unjudged, unjudged
    for name in NEED_TRAINING:
        assert gates[name]["outcome"] == "not_applicable", (name, gates[name]["message"])
        assert gates[name]["message"].startswith(("not applicable", "no search ran")), name
        assert not gates[name]["blocks_promotion"]
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        for out in stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", []):
            path = next(iter(out)) if isinstance(out, dict) else out
            assert (root / path).exists(), f"stage {name} declares {path}, not written"
    locked = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    for name in ("prepare", "train", "evaluate", "document"):   # DVC recorded each stage
        assert len(locked[name]["outs"]) == len(stages[name]["outs"]) + len(
            stages[name].get("metrics", [])) + len(stages[name].get("plots", [])), name
    validation = _json(root, "reports/validation.json")
    rows = validation["rows_used"]
    assert rows == len(pd.read_parquet(root / "data/prepared/validated.parquet")) == 1000
    fairness = _json(root, "reports/fairness.json")
    for feature, result in fairness["features"].items():
        assert sum(g["count"] for g in result["groups"].values()) == rows, feature
        for group in result["groups"].values():
            assert set(group["adverse_outcome"]) >= {"false_positive_rate",
                                                     "false_negative_rate", "flagged_rate"}
    for report in ("performance", "fairness", "explanation", "robustness"):
        assert _json(root, f"reports/{report}.json")["evaluation_rows"]["rows"] == rows, report
    card = _json(root, "reports/model_card.json")
    assert card["performance"]["evaluation_rows"]["rows"] == rows
    assert "Judged on 1,000 rows" in (root / "reports/model_card.md").read_text()
    assert _json(root, "reports/decision.json")["decision"] in ("promoted", "blocked")
    return {"gates": gates, "validation": validation, "fairness": fairness, "card": card}


def test_an_external_scores_audit_runs_through_governance_run(tmp_path):
    root = _copy(tmp_path)
    declare_vendor_score(root, synthetic_vendor_score, "vendor risk tool v1 (test)")
    commit_all(root, "an external score audit")
    _run(root)
    found = _assert_audited(root)
    for name in ("perturbation_flips", "perturbation_auc_drop"):
        assert found["gates"][name]["outcome"] == "not_applicable", name
    assert found["validation"]["small_groups"]["attributes"]["purpose_group"] == {
        "handled": "insufficient_evidence", "groups": SMALL}
    purpose = found["fairness"]["features"]["purpose_group"]
    assert sorted(purpose["insufficient_groups"]) == sorted(SMALL)
    assert purpose["disparate_impact_ratio_min"] is not None   # the other groups are judged
    assert "reported as insufficient evidence" in (root / "reports/model_card.md").read_text()


def test_an_external_model_audit_runs_through_governance_run(tmp_path):
    root = _copy(tmp_path)
    vendor_model(root)
    set_params(root, **{f"{SPEC}external_model": {
        "path": "data/external/vendor_model.skops", "trusted_types": [TREE_TYPE],
        "provenance": "credit team B (test)"}, "policy__small_groups": "merge"})
    commit_all(root, "an external model audit")
    _run(root)
    found = _assert_audited(root)
    merged = found["validation"]["small_groups"]["attributes"]["purpose_group"]
    assert merged["handled"] == "merge" and merged["groups"] == SMALL
    groups = found["fairness"]["features"]["purpose_group"]["groups"]
    assert groups["other"]["count"] == sum(SMALL.values())
    assert not set(SMALL) & set(groups)
    assert found["card"]["data_governance"]["small_groups"]["attributes"]["purpose_group"][
        "into"] == "other"
    assert "merged into one group `other`" in (root / "reports/model_card.md").read_text()
    assert found["card"]["model_origin"]["kind"] == "model_file"
