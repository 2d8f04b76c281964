"""Agreement with approved reference decisions: cases domain experts decided, and why.

The file (CSV under data/, declared by the dataset's `reference_decisions`) holds the model's
raw input columns, `expected_decision` (a raw label of the target, e.g. "1" = good credit) and
optionally `case_id` and `rationale`. The candidate decides each case; every disagreement is
listed with the expected and the model's decision, its score and the rationale, so a reviewer
can tell a wrong model from a wrong reference.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..data.group_rules import derived_column
from ..data.raw_files import DataError
from ..params import DatasetSpec

EXPECTED = "expected_decision"


def read_reference(path: Path, spec: DatasetSpec) -> pd.DataFrame:
    """The approved cases, typed like the training data; a missing column or label names it."""
    if not path.is_file():
        raise DataError(f"{path}: reference decisions file not found")
    cases = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in [*spec.model_features, EXPECTED] if c not in cases.columns]
    if missing:
        raise DataError(f"{path}: column(s) {missing} missing: the reference file needs every "
                        f"model input and {EXPECTED!r}")
    unknown = cases[~cases[EXPECTED].isin(spec.known_labels)]
    if len(unknown):
        raise DataError(f"{path}: column {EXPECTED!r} rule known_label: "
                        f"{unknown[EXPECTED].iloc[0]!r} at line {unknown.index[0] + 2} is not "
                        f"one of {spec.known_labels}")
    for column in spec.model_features:
        if column in spec.numeric_columns:
            numbers = pd.to_numeric(cases[column], errors="coerce")
            if numbers.isna().any():
                line = int(numbers.isna().idxmax()) + 2
                raise DataError(f"{path}: column {column!r} rule numeric: "
                                f"{cases.loc[line - 2, column]!r} at line {line}")
            cases[column] = numbers.astype(float)
    if "case_id" not in cases.columns:
        cases["case_id"] = [str(i + 1) for i in range(len(cases))]
    for name, rule in spec.derived.items():  # a mitigated model may read e.g. sex
        if name not in cases.columns and rule.source in cases.columns:
            cases[name] = derived_column(cases[rule.source], rule)
    return cases


def agreement(cases: pd.DataFrame, scores, spec: DatasetSpec, threshold: float) -> dict:
    """Share of cases where the candidate's decision equals the approved one, and each miss."""
    expected = cases[EXPECTED].isin(spec.favourable_values).to_numpy()
    decided = scores >= threshold
    agree = expected == decided
    words = {True: "favourable", False: "unfavourable"}
    disagreements = [
        {"case_id": str(cases["case_id"].iloc[i]), "expected": words[bool(expected[i])],
         "model": words[bool(decided[i])], "score": round(float(scores[i]), 6),
         "rationale": str(cases["rationale"].iloc[i]) if "rationale" in cases.columns else ""}
        for i in range(len(cases)) if not agree[i]]
    return {"cases": len(cases), "agreed": int(agree.sum()),
            "agreement_rate": round(float(agree.mean()), 6) if len(cases) else None,
            "decision_threshold": threshold, "disagreements": disagreements}
