"""The evidence domain (asset groups `evaluation` and `assurance`): every statistic a gate judges.

Each module computes one kind of evidence on the golden set or a batch; the gates that read it
are in `core/decide/gate_catalog.py`.

- `performance.py`: AUC and the decision-quality rates with bootstrap intervals, latency.
- `sklearn_speed.py`: fast metric loops for the bootstraps.
- `fairness.py`: group rates, ratios and gaps with fairlearn, with intervals.
- `fairness_view.py`: the fairness report as a reviewer reads it.
- `proxies.py`: which inputs carry a sensitive attribute.
- `counterfactual.py`: the counterfactual flip test.
- `explain.py`: SHAP values in the raw features' terms.
- `explain_local.py`: local explanations of chosen decisions (SHAP and LIME).
- `explain_plots.py`: the explanation PNGs.
- `explanations.py`: the whole explanation report of a candidate.
- `drift.py`: PSI per feature beside its noise floor, and evidently's report.
- `stable_html.py`: byte-reproducible evidently HTML.
- `robustness.py`: small input changes and the weakest slices.
- `reference_decisions.py`: agreement with experts' reference decisions.
"""
