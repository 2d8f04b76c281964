"""The new gates in the materialized graph: values on German credit, and each one blocking."""

import shutil

import pandas as pd
import pytest
from dagster import DagsterInstance

from governance_assets.cli import output
from governance_assets.cli.check import check
from governance_assets.core.files import read_json
from governance_assets.core.report import markdown

from .conftest import check_results, make_project, materialized, run_graph, set_params
from .test_graph import DOWNSTREAM_OF_VALIDATION, blocked_after

NEW_EVALUATION_GATES = ("perturbation_flips", "perturbation_auc_drop", "slice_performance",
                        "reference_agreement")


def test_german_credit_passes_the_new_gates_with_their_figures_in_the_ui(passing):
    root, _, result = passing
    checks = check_results(result)
    for name in ("personal_data", "retention", *NEW_EVALUATION_GATES):
        assert checks[name].passed, checks[name].description
    assert checks["perturbation_flips"].metadata["value"].value == pytest.approx(0.05, abs=0.03)
    assert checks["reference_agreement"].metadata["value"].value == 1.0
    assert "| flip rate |" in checks["perturbation_flips"].metadata["what was judged"].value
    assert "Weakest slices" in checks["slice_performance"].metadata["what was judged"].value
    assert "no collection-date column" in checks["retention"].description
    card = read_json(root / "reports/model_card.json")
    assert card["reference_decisions"]["cases"] == 10
    assert card["robustness"]["slices"]["slices_tested"] > 100
    markdown = (root / "reports/model_card.md").read_text()
    for heading in ("## Data minimisation (personal data)", "## Retention", "## Robustness",
                    "## Reference decisions"):
        assert heading in markdown
    compliance = {i["article"]: i for i in read_json(root / "reports/compliance.json")["items"]}
    assert "personal-data screen: no undeclared identifier" in compliance["Art. 10"]["finding"]
    assert "reports/robustness.json" in compliance["Art. 15"]["evidence"]
    assert compliance["Art. 15"]["status"] == "met"


def test_each_new_evaluation_gate_blocks_promotion_when_it_fails(tmp_path, instance):
    # A logistic regression: the bundled random forest's AUC does not drop under perturbation.
    root = make_project(tmp_path, policy__max_flip_rate=0.01,
                        policy__max_perturbation_auc_drop=0.001, policy__min_slice_accuracy=0.9,
                        model__candidates=["logistic_regression"],
                        model__search__constraints__min_disparate_impact=None)
    reference = root / "data/reference/german_credit_reference.csv"
    cases = pd.read_csv(reference, dtype=str, keep_default_na=False)
    cases.loc[cases["case_id"].isin(["G1", "G2"]), "expected_decision"] = "2"
    cases.to_csv(reference, index=False)
    result = run_graph(root, instance)
    for gate in NEW_EVALUATION_GATES:
        blocked_after(result, gate, root)
    agreement = read_json(root / "reports/reference_agreement.json")
    assert agreement["agreement_rate"] == 0.8
    assert [d["case_id"] for d in agreement["disagreements"]] == ["G1", "G2"]
    assert "| G1 | unfavourable | favourable |" in \
        check_results(result)["reference_agreement"].metadata["what was judged"].value


def test_a_planted_email_column_stops_the_run_and_the_check_names_it(passing, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(passing[0], root)
    raw = root / "data/raw/german_credit.csv"
    frame = pd.read_csv(raw, dtype=str)
    frame.insert(3, "email", [f"person{i}@mail.example" for i in range(len(frame))])
    frame.to_csv(raw, index=False)
    with DagsterInstance.ephemeral() as instance:
        result = run_graph(root, instance)
    evaluation = check_results(result)["personal_data"]
    assert not evaluation.passed and "column 'email' rule personal_data" in \
        evaluation.description
    assert markdown.text("pe****************le") in evaluation.metadata["what was judged"].value
    assert materialized(result).isdisjoint(DOWNSTREAM_OF_VALIDATION)
    assert check(root) == output.INPUT_ERROR


def test_rows_past_retention_stop_the_run_when_the_policy_says_block(tmp_path, instance):
    root = make_project(tmp_path, dataset="toronto_arrests", policy__max_record_age_days=1826,
                        policy__retention_action="block")
    set_params(root, datasets__toronto_arrests__retention={"column": "year",
                                                           "as_of": "2003-01-01"})
    result = run_graph(root, instance)
    evaluation = check_results(result)["retention"]
    assert not evaluation.passed and "policy.retention_action=block" in evaluation.description
    assert "| year | 2003-01-01 | 1826 | 1998-01-01 | block |" in \
        evaluation.metadata["what was judged"].value
    assert materialized(result).isdisjoint(DOWNSTREAM_OF_VALIDATION)
