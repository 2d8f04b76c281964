"""The decision domain (asset group `promotion`): which gates exist, what each rule decides, whether
a verdict is valid for the candidate, and the decision record.

- `gate_catalog.py`: every gate: its asset, stage, inputs, whether it blocks, the function that
  computes its statistic and the rule that judges it.
- `blocking.py`: the one owner of what an outcome does: whether a verdict blocks, how thin
  evidence counts under the policy, whether a failure stops the run, the check's severity.
- `rule_verdict.py`: the verdict every rule returns and the shapes rules share.
- `data_gates.py`, `model_gates.py`, `fairness_gates.py`, `assurance_gates.py`: one pure
  function per policy rule, by what it judges.
- `verdicts.py`: a verdict bound to the exact inputs it judged; standings.
- `decisions.py`: the decision record.
- `gate_table.py`: the run-level gate table.
- `ci_report.py`: verdicts as JUnit XML and a Markdown job summary.
"""
