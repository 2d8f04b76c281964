"""The decision domain (asset group `promotion`): which gates exist, what each rule decides, whether
a verdict is valid for the candidate, and the decision record.

- `gate_catalog.py`: every gate: its asset, stage, inputs, whether it blocks.
- `gates.py`: one pure function per policy rule.
- `verdicts.py`: a verdict bound to the exact inputs it judged; standings.
- `decisions.py`: the decision record.
- `gate_table.py`: the run-level gate table.
- `ci_report.py`: verdicts as JUnit XML and a Markdown job summary.
"""
