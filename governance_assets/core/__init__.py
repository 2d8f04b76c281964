"""The pure governance library: no Dagster import anywhere below this package.

Laid out as the asset graph is; each domain's `__init__` lists its modules:

- `data/`: reading and validating raw files, splits, personal data, retention (group `data`).
- `model/`: the constraint-aware search, families, threshold, mitigation, external models,
  carbon, safe model files (group `training`).
- `evidence/`: every statistic a gate judges: performance, fairness, proxies, counterfactual,
  explanations, drift, robustness, reference decisions (groups `evaluation`, `assurance`).
- `decide/`: the gate catalogue, the rules, verdicts bound to their inputs, the decision record
  (group `promotion`).
- `record/`: the ledger, the registry, its storage and `governance verify`.
- `trust/`: signatures, the allowed signers and roles, sign-off and production moves
  (group `production`).
- `report/`: the model card, the compliance report, Markdown/HTML/PNG helpers (group
  `documentation`).
- `monitor/`: production batches, the decision log, alerts, rollback (group `monitoring`).

Shared by all: `params/` (typed params.yaml and datasets/<name>.yaml), `layout.py` (every
output path), `files.py` (atomic writes and hashes).
"""
