"""The notebook a team had before this project: the same library work, written plainly.

The yardstick `make bench` holds the governed graph to (issue 23: the whole graph within 2.5x
of it). It imports nothing from governance_assets, so speeding up an asset body cannot speed
it up too. On the bundled German credit file, in one process: a stratified train / validation
/ golden split; three model families (logistic regression, histogram gradient boosting, a
random forest) fitted and the best picked on validation AUC; golden-set AUC, balanced accuracy
and their bootstrap 95% intervals (1,000 resamples); fairlearn's selection rates, their
disparate-impact ratio and the equalized-odds difference by sex and by age band; SHAP values
of the champion on 200 golden rows; evidently's data-drift report of golden against training
rows, written as HTML. Prints the seconds of each step and the total as JSON.

    .venv/bin/python benchmarks/plain_library.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1] / "data" / "raw" / "german_credit.csv"
TARGET, FAVOURABLE = "credit_risk", "1"
EXCLUDED = ["personal_status_and_sex", "age_in_years", "foreign_worker", TARGET]
SEED, BOOTSTRAP_ROUNDS, SHAP_ROWS = 42, 1000, 200


def load() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """Inputs, label (1 = favourable) and the sensitive groups (sex, age band)."""
    frame = pd.read_csv(DATA, dtype={TARGET: str})
    label = (frame[TARGET] == FAVOURABLE).astype(int)
    groups = pd.DataFrame({
        "sex": frame["personal_status_and_sex"].map(
            {"A92": "female", "A95": "female"}).fillna("male"),
        "age_band": np.where(frame["age_in_years"] < 25, "under_25", "25_and_over")})
    return frame.drop(columns=EXCLUDED), label, groups


def split(inputs: pd.DataFrame, label: pd.Series) -> dict[str, np.ndarray]:
    """60 / 20 / 20, stratified by label, seeded."""
    from sklearn.model_selection import train_test_split

    rest, golden = train_test_split(np.arange(len(label)), test_size=0.2, stratify=label,
                                    random_state=SEED)
    train, validation = train_test_split(rest, test_size=0.25, stratify=label.iloc[rest],
                                         random_state=SEED)
    return {"train": train, "validation": validation, "golden": golden}


def families(inputs: pd.DataFrame) -> dict[str, object]:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [c for c in inputs.columns if inputs[c].dtype == object]
    numeric = [c for c in inputs.columns if c not in categorical]

    def encoded() -> ColumnTransformer:
        return ColumnTransformer([
            ("numeric", StandardScaler(), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
             categorical)])

    return {"logistic_regression": make_pipeline(encoded(), LogisticRegression(max_iter=1000)),
            "hist_gradient_boosting": make_pipeline(
                encoded(), HistGradientBoostingClassifier(random_state=SEED)),
            "random_forest": make_pipeline(
                encoded(), RandomForestClassifier(n_estimators=200, random_state=SEED))}


def pick_champion(inputs, label, rows) -> tuple[str, object]:
    """Every family fitted on train; the best validation AUC wins."""
    from sklearn.metrics import roc_auc_score

    scored = {}
    for name, model in families(inputs).items():
        model.fit(inputs.iloc[rows["train"]], label.iloc[rows["train"]])
        probability = model.predict_proba(inputs.iloc[rows["validation"]])[:, 1]
        scored[name] = (roc_auc_score(label.iloc[rows["validation"]], probability), model)
    best = max(scored, key=lambda name: scored[name][0])
    return best, scored[best][1]


def golden_metrics(model, inputs, label, rows) -> dict:
    """AUC and balanced accuracy with percentile bootstrap intervals."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    y = label.iloc[rows["golden"]].to_numpy()
    probability = model.predict_proba(inputs.iloc[rows["golden"]])[:, 1]
    decided = (probability >= 0.5).astype(int)
    rng = np.random.default_rng(SEED)
    aucs, accuracies = [], []
    for _ in range(BOOTSTRAP_ROUNDS):
        sample = rng.integers(0, len(y), len(y))
        if len(set(y[sample])) == 2:
            aucs.append(roc_auc_score(y[sample], probability[sample]))
            accuracies.append(balanced_accuracy_score(y[sample], decided[sample]))
    return {"auc": roc_auc_score(y, probability), "auc_ci95": np.percentile(aucs, [2.5, 97.5]),
            "balanced_accuracy": balanced_accuracy_score(y, decided),
            "balanced_accuracy_ci95": np.percentile(accuracies, [2.5, 97.5])}


def group_fairness(model, inputs, label, groups, rows) -> dict:
    """fairlearn's selection rate per group, the ratio, and equalized odds, per attribute."""
    from fairlearn.metrics import (
        MetricFrame,
        equalized_odds_difference,
        selection_rate,
    )

    golden = rows["golden"]
    y, decided = label.iloc[golden], model.predict(inputs.iloc[golden])
    found = {}
    for attribute in groups.columns:
        rates = MetricFrame(metrics=selection_rate, y_true=y, y_pred=decided,
                            sensitive_features=groups[attribute].iloc[golden]).by_group
        found[attribute] = {
            "selection_rates": rates.to_dict(),
            "disparate_impact_ratio": float(rates.min() / rates.max()),
            "equalized_odds_difference": equalized_odds_difference(
                y, decided, sensitive_features=groups[attribute].iloc[golden])}
    return found


def shap_values(model, inputs, rows) -> np.ndarray:
    """The champion's SHAP values on golden rows, against a training background."""
    import shap

    encoder, estimator = model[:-1], model[-1]
    background = encoder.transform(inputs.iloc[rows["train"][:100]])
    explained = encoder.transform(inputs.iloc[rows["golden"][:SHAP_ROWS]])
    if hasattr(estimator, "coef_"):
        explainer = shap.LinearExplainer(estimator, background)
    elif hasattr(estimator, "estimators_") or hasattr(estimator, "_predictors"):
        explainer = shap.TreeExplainer(estimator, background)
    else:
        explainer = shap.Explainer(estimator.predict_proba, background)
    return np.asarray(explainer(explained).values)


def drift_report(inputs, rows, out: Path) -> Path:
    """evidently's data-drift preset, golden rows against training rows."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset()]).run(
        current_data=inputs.iloc[rows["golden"]], reference_data=inputs.iloc[rows["train"]])
    path = out / "drift.html"
    snapshot.save_html(str(path))
    return path


def timed(steps: dict[str, float], name: str, work: Callable[[], object]) -> object:
    started = time.perf_counter()
    result = work()
    steps[name] = round(time.perf_counter() - started, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="where drift.html goes (a temp dir if unset)")
    out = parser.parse_args().out or Path(tempfile.mkdtemp(prefix="plain-library-"))
    out.mkdir(parents=True, exist_ok=True)
    steps: dict[str, float] = {}
    started = time.perf_counter()
    inputs, label, groups = timed(steps, "read", load)
    rows = timed(steps, "split", lambda: split(inputs, label))
    _, model = timed(steps, "train_and_pick", lambda: pick_champion(inputs, label, rows))
    timed(steps, "golden_metrics", lambda: golden_metrics(model, inputs, label, rows))
    timed(steps, "fairness", lambda: group_fairness(model, inputs, label, groups, rows))
    timed(steps, "shap", lambda: shap_values(model, inputs, rows))
    timed(steps, "drift_report", lambda: drift_report(inputs, rows, out))
    print(json.dumps({"steps": steps, "total": round(time.perf_counter() - started, 3)}))


if __name__ == "__main__":
    main()
