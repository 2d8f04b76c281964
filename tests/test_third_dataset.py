"""The third bundled dataset (Toronto arrests, criminal justice) through the whole graph,
configured by params alone."""

import pandas as pd
import pytest
from dagster import DagsterInstance

from governance_assets.core.data.columns import FAVOURABLE
from governance_assets.core.evidence import fairness
from governance_assets.core.files import read_json
from governance_assets.core.params import load_params

from .conftest import check_results, make_project, materialized, run_graph, set_params

# One worker builds the module's graph run and runs all three tests on it.
pytestmark = pytest.mark.xdist_group("third_dataset")


@pytest.fixture(scope="module")
def arrests_run(tmp_path_factory):
    """min_auc 0.65: three coarse inputs reach a golden AUC of about 0.69 (see the datasheet),
    so the bundled 0.7 refuses the search. Insufficient evidence warns, so the card is
    built and records it (women's FPR rests on few negatives: see the last test). The
    perturbation swaps 10 % of the binary inputs `employed` and `citizen` to the other value,
    which costs this three-input model 0.022 AUC, above the bundled 0.02: lifted to 0.03 here
    (tests/test_assurance_graph.py shows the gate blocking)."""
    root = make_project(tmp_path_factory.mktemp("arrests"))
    set_params(root, dataset="toronto_arrests", policy__min_auc=0.65,
               policy__insufficient_evidence="warn",
               policy__max_perturbation_auc_drop=0.03,
               model__search__constraints__max_perturbation_auc_drop=None)
    with DagsterInstance.ephemeral() as instance:
        yield root, run_graph(root, instance)


def test_every_data_fairness_and_drift_gate_runs_on_real_time_split(arrests_run):
    root, result = arrests_run
    checks = check_results(result)
    for gate in ("schema", "label_sanity", "sensitive_groups", "outlier_screen",
                 "golden_test_disjoint", "feasible_trial", "performance_floor",
                 "protected_influence", "drift_psi", "drifted_share"):
        assert checks[gate].passed, (gate, checks[gate].description)
    # single attributes pass; intersection cells such as Black women are too small to judge,
    # which is disclosed and, by the bundled policy, a warning
    four_fifths = checks["four_fifths_rule"]
    assert four_fifths.metadata["value"].value >= 0.8
    assert not four_fifths.metadata["blocks_promotion"].value
    assert "intersection cell(s) colour × sex=" in four_fifths.description
    splits = read_json(root / "reports/splits.json")
    assert splits["rows"]["current"] == 1488 and splits["current"]["simulated"] is False
    assert abs(splits["achieved_fractions"]["golden_test"] - 0.2) <= 0.01
    fairness = read_json(root / "reports/fairness.json")["features"]
    assert set(fairness) == {"colour", "sex", "age_band"}
    assert fairness["colour"]["reference_group"] == "White"
    drift = read_json(root / "reports/drift.json")
    assert drift["current_rows"] == 1488 and drift["psi_noise_floor"]["checks"] < 0.05
    validation = read_json(root / "reports/validation.json")
    assert validation["poisoning"]["exact_duplicate_rows"] == 2347
    assert validation["poisoning"]["flagged_rows"] == 0


def test_card_states_outcomes_and_group_construction(arrests_run):
    root, result = arrests_run
    # The card is written whatever the decision (this champion's equalized-odds gap by age
    # band, 0.23, is above the bundled 0.2: the card says so).
    assert "model_card" in materialized(result)
    card = read_json(root / "reports/model_card.json")
    data = card["data_description"]
    assert data["target"] == "released" and data["favourable_labels"] == ["Yes"]
    assert data["groups"]["age_band"] == ("from column 'age' by bands: under_25: < 25; "
                                          "25_and_over: >= 25")
    assert "TPR = P(predicted favourable | truly favourable)" in data["rate_orientation"]
    assert "## Data and outcomes" in (root / "reports/model_card.md").read_text()


def test_womens_false_positive_rate_rests_on_too_few_negatives(arrests_run):
    """7 women in the golden set were not released: below policy.min_rate_denominator (10),
    their FPR is undefined, so equalized odds by sex cannot be measured."""
    root, _ = arrests_run
    params = load_params(root)
    golden = pd.read_parquet(root / "data/prepared/splits/golden_test.parquet")
    women = golden[golden["sex"] == "Female"]
    assert (women[FAVOURABLE] == 0).sum() == 7
    # whether a rate is defined depends on the true outcomes only, not on the predictions
    result = fairness.feature_fairness(golden[FAVOURABLE], golden[FAVOURABLE], golden["sex"],
                                       params.policy.min_group_size,
                                       params.policy.min_rate_denominator)
    assert result["groups"]["Female"]["false_positive_rate"] is None
    assert result["groups"]["Female"]["undefined"]["false_positive_rate"] == (
        "7 negatives < minimum 10")
    assert result["equalized_odds_difference"] is None
    assert result["left_out"]["equalized_odds_difference"] == ["Female"]
