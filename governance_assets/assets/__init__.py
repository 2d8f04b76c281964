"""The Dagster layer: one module per group of the asset graph; each asset wraps core functions.

Core modules that pull in pandas, scikit-learn, fairlearn, shap or evidently are imported
inside the asset bodies, so loading the definitions (dagster dev, every DVC stage) stays fast.
"""

from .assurance import reference_agreement_report, robustness_report
from .data import dataset_splits, raw_dataset, validated_dataset
from .documentation import compliance_report, model_card
from .evaluation import (
    drift_report,
    explanation_report,
    fairness_report,
    performance_report,
    proxy_report,
)
from .production import production_approval, production_model
from .promotion import every_blocking_gate_passed, promotion_decision, staging_model
from .training import candidate_model, model_search

GRAPH_ASSETS = [
    raw_dataset, validated_dataset, dataset_splits,
    model_search, candidate_model,
    performance_report, proxy_report, fairness_report, explanation_report, drift_report,
    robustness_report, reference_agreement_report,
    model_card, compliance_report,
    promotion_decision, staging_model,
    production_model,
]
PROMOTION_CHECKS = [every_blocking_gate_passed, production_approval]
