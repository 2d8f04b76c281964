"""The monitoring domain (asset group `monitoring`): production batches scored and judged against
the production version, the decision log, alerts and automatic rollback.

- `batches.py`: what the batch folder holds: one partition per batch file (a safe key for
  an odd name), and the files refused or ignored, each with its reason.
- `monitoring.py`: one batch's drift, performance and fairness levels, each beside its noise
  floor (`levels.py`: the levels and how they rank).
- `batch_fairness.py`: the batch disparate-impact ratio with its interval and sufficiency.
  (Its `monitoring:` params block is core/params/monitoring.py.)
- `batch_stream.py`: a batch validated, scored and logged in pieces (never whole in memory).
- `batch_sql.py`: a scored batch's drift bin counts by SQL over its Parquet file (DuckDB).
- `decision_log.py`: the Art. 12 decision log.
- `log_queries.py`: the log's audit questions, SQL over its Parquet parts (`governance log`).
- `alerts.py`: one alert's delivery: a deadline per attempt, retries only when they can help.
- `outbox.py`: every alert written before delivery, re-sent oldest first until a 2xx.
- `rollback.py`: automatic rollback on a fairness breach.
"""
