"""Data drift of the current batch against the training reference, with evidently's PSI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .params import DatasetSpec

PSI_BANDS = "PSI < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant (credit-scoring convention)"


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, spec: DatasetSpec,
                 max_psi: float, max_drifted_share: float, html_path: Path) -> dict:
    """PSI per model feature from evidently's DataDriftPreset; the HTML is the human report."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [c for c in spec.model_features if c in spec.numeric_columns]
    categorical = [c for c in spec.model_features if c in spec.categorical_columns]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    columns = numeric + categorical
    report = Report([DataDriftPreset(columns=columns, method="psi", threshold=max_psi,
                                     drift_share=max_drifted_share)])
    snapshot = report.run(Dataset.from_pandas(current[columns], data_definition=definition),
                          Dataset.from_pandas(reference[columns], data_definition=definition))
    html_path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(html_path))
    psi = _psi_by_column(snapshot.dict())
    drifted = sorted(c for c, value in psi.items() if value > max_psi)
    return {
        "method": "psi",
        "interpretation": PSI_BANDS,
        "reference_rows": len(reference),
        "current_rows": len(current),
        "psi": {c: round(psi[c], 6) for c in columns},
        "max_psi": round(max(psi.values()), 6),
        "max_psi_feature": max(psi, key=psi.get),
        "drifted_features": drifted,
        "drifted_share": round(len(drifted) / len(columns), 6),
    }


def _psi_by_column(snapshot: dict) -> dict[str, float]:
    psi = {}
    for metric in snapshot["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift"):
            psi[config["column"]] = float(metric["value"])
    return psi
