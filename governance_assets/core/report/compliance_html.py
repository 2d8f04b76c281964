"""The EU AI Act checklist as one self-contained HTML page an auditor opens offline.

No script, no external style sheet, font or image: inline CSS only; evidence links are
relative to the page's folder (reports/, or a registry version with what lies outside it named
in text), so the page works from a copied folder. jinja2 autoescapes every value, and the
page's Content-Security-Policy lets no script run at all (core.html_safety).
"""

from __future__ import annotations

from collections.abc import Callable

from jinja2 import Environment, select_autoescape

from .card import link_from_reports
from .html_safety import with_content_security_policy

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>EU AI Act checklist: {{ model_name }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 70rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: .4rem .6rem; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
.met { background: #e3f4e3; } .partial { background: #fff4d6; }
.not_met { background: #fbdcdc; } .needs_human { background: #dde8fb; }
.status { font-weight: bold; white-space: nowrap; }
code { font-size: .85em; }
</style>
</head>
<body>
<h1>EU AI Act checklist: {{ model_name }}</h1>
<p>Each item is answered from the evidence this run produced; links open the evidence files.
Ledger entries are verdicts in <code>registry/ledger.jsonl</code>, named by gate and
fingerprint (<code>governance history --kind verdict</code>); <code>governance verify</code>
checks the ledger and every registry file.</p>
{% if not_met %}<h2>Not met</h2>
<ul>{% for item in not_met %}<li>{{ item }}</li>{% endfor %}</ul>{% endif %}
{% if needs_human %}<h2>Needs a human</h2>
<ul>{% for item in needs_human %}<li>{{ item }}</li>{% endfor %}</ul>{% endif %}
<table>
<tr><th>article</th><th>requirement</th><th>status</th><th>finding</th><th>evidence</th>
<th>ledger entries</th></tr>
{% for item in items %}
<tr class="{{ item.status }}">
<td>{{ item.article }}</td><td>{{ item.requirement }}</td>
<td class="status">{{ item.status | replace("_", " ") }}</td><td>{{ item.finding }}</td>
<td>{% for path in item.evidence %}{% set target = path | link %}
{%- if target %}<a href="{{ target }}">{{ path.split("/")[-1] }}</a>
{%- else %}<code>{{ path }}</code>{% endif %}
{% if not loop.last %}<br>{% endif %}{% endfor %}</td>
<td>{% for entry in item.ledger_entries %}<code>{{ entry.gate }}@{{ entry.fingerprint[:12] }}</code>
{% if not loop.last %}<br>{% endif %}{% endfor %}</td>
</tr>
{% endfor %}
</table>
</body>
</html>
"""


def render_html(report: dict, link: Callable[[str], str | None] = link_from_reports) -> str:
    """The page; `link` maps an evidence path to its href, or None to name it in text."""
    environment = Environment(autoescape=select_autoescape(default=True),
                              keep_trailing_newline=True)
    environment.filters["link"] = link
    return with_content_security_policy(environment.from_string(TEMPLATE).render(**report))
