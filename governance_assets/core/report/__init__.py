"""The report domain (asset group `documentation`): the model card, the compliance report, and the
Markdown, HTML and PNG helpers every view uses.

- `card.py`: the governance record, schema-validated and rendered.
- `assurance_card.py`: the card's data-minimisation and robustness sections.
- `search_card.py`: the card's record of how the model was chosen.
- `dataset_description.py`: the card's data section and datasheet.
- `compliance.py`: the EU AI Act checklist from the evidence.
- `compliance_html.py`: the checklist as one offline HTML page.
- `environment.py`: interpreter, platform and packages of a run.
- `frozen_environment.py`: lock files and image to rebuild it.
- `markdown.py`: Markdown tables and inline plots for the UI.
- `plots.py`: byte-identical matplotlib PNGs.
- `html_safety.py`: no markup from data in HTML pages.
- `printable.py`: text made safe to print on one line.
"""
