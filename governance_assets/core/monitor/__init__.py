"""The monitoring domain (asset group `monitoring`): production batches scored and judged against
the production version, the decision log, alerts and automatic rollback.

- `batches.py`: one file per batch, one partition per file.
- `batch_validation.py`: a batch checked against the training schema (core/data's rules).
- `monitoring.py`: one batch's drift, performance and fairness levels.
  (Its `monitoring:` params block is core/params/monitoring.py.)
- `decision_log.py`: the Art. 12 decision log.
- `alerts.py`: webhook alerts with retries.
- `rollback.py`: automatic rollback on a fairness breach.
"""
