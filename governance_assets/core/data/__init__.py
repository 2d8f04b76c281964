"""The data domain (asset group `data`): reading and validating a raw file, the splits, and what
the pipeline may keep.

- `columns.py`: reserved columns the pipeline adds.
- `raw_files.py`: reading a raw file (CSV, gzip, Parquet) as text, refusing a malformed one
  with a `DataError`.
- `validation.py`: every rule on a raw file, in order; the typed frame only when all pass.
  The one validator of the training data and of every production batch.
  Its rules: `column_rules.py` (schema, labels), `row_rules.py` (row filters, retention,
  personal data), `group_rules.py` (derived attributes, group minimums, periods),
  `poisoning.py` (extreme values, label-flipped near duplicates); findings go to a
  `validation_report.py` report.
- `splits.py`: seeded train / validation / golden-test splits.
- `personal_data.py`: the personal-data screen.
- `retention.py`: rows older than the policy's maximum age.
- `text.py`: text tests on a column, once per distinct value.
- `sampling.py`: what every heavy step read: all rows or a seeded sample.
- `lineage.py`: DVC's own records (dvc.lock) read as YAML.
"""
