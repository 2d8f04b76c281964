"""The data domain (asset group `data`): reading and validating a raw file, the splits, and what
the pipeline may keep.

- `columns.py`: reserved columns the pipeline adds.
- `validation.py`: schema, label, group and poisoning rules on a raw file or a batch.
- `splits.py`: seeded train / validation / golden-test splits.
- `personal_data.py`: the personal-data screen.
- `retention.py`: rows older than the policy's maximum age.
- `text.py`: text tests on a column, once per distinct value.
- `sampling.py`: what every heavy step read: all rows or a seeded sample.
- `lineage.py`: DVC's own records (dvc.lock) read as YAML.
"""
