"""Time the explanation report alone on the full KDD census (both files in ../shared/data,
~300k rows) at three sizes, to check that it grows no faster than linearly with the rows.

The model is fitted once (HistGradientBoosting, the tree explainer); the same model wrapped so
that it is no longer a pre/est Pipeline times the model-agnostic (permutation) path, which a
fairness-mitigated candidate takes. Default `explain:` params; median of RUNS runs.
Run: .venv/bin/python benchmarks/explanations.py  (reads ../shared/data: a benchmark may).
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
FILES = ("census_income_kdd_train.csv.gz", "census_income_kdd_test.csv.gz")
FRACTIONS = (0.25, 0.5, 1.0)
RUNS = 2
sys.path.insert(0, str(REPO))
from governance_assets.core import explanations, splits, training, validation  # noqa: E402
from governance_assets.core.columns import FAVOURABLE  # noqa: E402
from governance_assets.core.params import load_params  # noqa: E402


class Wrapped:
    """A fitted model behind predict_proba only, as a mitigated candidate presents itself."""

    def __init__(self, model) -> None:
        self.model, self.feature_names_in_ = model, model.feature_names_in_

    def predict_proba(self, frame: pd.DataFrame):
        return self.model.predict_proba(frame)


def _census(params) -> pd.DataFrame:
    spec = params.datasets["census_income"]
    raw = pd.concat([validation.read_raw(SHARED / name) for name in FILES], ignore_index=True)
    frame, report = validation.validate(raw, spec, params.policy, "census (both files)")
    if frame is None:
        sys.exit(f"census did not validate: {report.to_dict()}")
    return frame


def _timed(model, params, train, golden) -> tuple[float, int]:
    """Median seconds of the whole report (PNGs included) and how many decisions it explained
    locally (each with LIME and a waterfall): more groups show both outcomes in more rows."""
    spec, seconds = params.datasets["census_income"], []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            report = explanations.explanation_report(
                model, spec, params.explain, train, golden, params.model.decision_threshold,
                params.split.seed, Path(folder), Path(folder) / "explanations")
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), len(report["local_explanations"])


def main() -> None:
    params = load_params(REPO)
    spec = params.datasets["census_income"]
    census = _census(params)
    parts = splits.split_dataset(census, spec, params.split).frames
    train, golden = parts["train"], parts["golden_test"]
    model = training.build_pipeline("hist_gradient_boosting", spec, params.model,
                                    params.split.seed)
    model.fit(train[spec.model_features], train[FAVOURABLE])
    print(f"census rows {len(census)}, train {len(train)}, golden {len(golden)}; "
          f"explain params {params.explain.model_dump()}")
    print("| census rows (share) | golden rows | local decisions | tree explainer s | "
          "permutation explainer s |")
    print("|---|---|---|---|---|")
    for fraction in FRACTIONS:
        rows = int(len(census) * fraction)
        train_part = train.head(int(len(train) * fraction))
        golden_part = golden.head(int(len(golden) * fraction))
        tree, decisions = _timed(model, params, train_part, golden_part)
        agnostic, _ = _timed(Wrapped(model), params, train_part, golden_part)
        print(f"| {rows} ({fraction:.0%}) | {len(golden_part)} | {decisions} | {tree:.1f} | "
              f"{agnostic:.1f} |", flush=True)


if __name__ == "__main__":
    main()
