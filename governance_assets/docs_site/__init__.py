"""The documentation site's reference pages, generated from the code they describe.

Each page module renders one page from the object that owns its facts: the gate catalogue
(`core.decide.gate_catalog.GATES`), the params models (`core.params.Params`), the command's
parser (`cli.build_parser`), the output paths (`core.layout.Layout` and `dvc.yaml`) and the
asset graph (`definitions.defs`). `python -m governance_assets.docs_site` writes them under
docs/; `--check` fails when a committed page differs (tests/test_docs.py runs the same check).
"""
