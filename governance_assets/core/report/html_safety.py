"""No markup from data in the HTML pages the project writes: inert script data and a CSP.

Data reaches a page two ways. The EU AI Act checklist is a jinja2 template that autoescapes
every value. evidently's drift report embeds its data as JSON inside a `<script>` block, and
JSON does not escape `<`: a category value `</script><img src=x onerror=...>` ends the block
and the rest of the value is live markup. `inert_evidently_data` rewrites that JSON so it holds
no `<`, `>` or `&` (the `\\u003c` escapes mean the same string to JavaScript); the browser's
HTML parser then cannot see a tag in it.

Every page also carries a Content-Security-Policy `<meta>` (`with_content_security_policy`) as
a second wall: only the page's own inline scripts, named by their sha256, may run, so a
handler or script that slips in through some other route does not execute.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

# The JSON `var` lines of evidently's data block (evidently.legacy.utils.dashboard's
# file_html_template): `var <id> = {...};` then `var additional_graphs_<id> = {...};`, each
# on one line, since JSON escapes every newline inside a string.
DATA_LINE = re.compile(r"^(?P<lead>[ \t]*var (?P<name>\w+) = )(?P<json>.*);$", re.MULTILINE)
JSON_IN_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script\s*>", re.DOTALL | re.IGNORECASE)
CHARSET_META = re.compile(r"<meta charset=[^>]*>", re.IGNORECASE)


class UnexpectedPage(ValueError):
    """evidently's page no longer has the shape this module makes safe (a changed version)."""


def inert_json(text: str) -> str:
    """JSON text that cannot end or open a tag inside `<script>`: `<`, `>` and `&` occur in
    JSON only inside strings, where `\\u003c` and the others are the same characters."""
    for character, escape in JSON_IN_HTML.items():
        text = text.replace(character, escape)
    return text


def inert_evidently_data(page: str) -> str:
    """evidently's HTML with its two embedded JSON documents made inert (see module doc).

    Refuses a page whose data lines are not the two evidently writes, or are not JSON, rather
    than pass on a page it did not make safe.
    """
    lines = list(DATA_LINE.finditer(page))
    names = [match["name"] for match in lines]
    if len(names) != 2 or names[1] != f"additional_graphs_{names[0]}":
        raise UnexpectedPage(f"evidently's drift HTML has data lines {names}, not the "
                             "`var ID` and `var additional_graphs_ID` this module makes inert")
    for match in lines:
        json.loads(match["json"])   # the whole document, or the lines were misread
    return DATA_LINE.sub(lambda m: f"{m['lead']}{inert_json(m['json'])};", page)


def script_hashes(page: str) -> list[str]:
    """CSP source expressions ('sha256-...') of the page's inline scripts, in page order.

    Only bare `<script>` tags, the only kind these pages have: any other is left unhashed, so
    the policy blocks it rather than letting it through."""
    return [f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
            for body in INLINE_SCRIPT.findall(page)]


def content_security_policy(page: str) -> str:
    """The policy a page the project writes carries.

    Allows: the page's own inline scripts, each by its sha256 (no other script, no inline
    event handler, no eval); inline styles (evidently's UI library inserts <style> elements
    while it renders; CSS runs no code); images and fonts from data: URIs (plots and the
    embedded icon font). Everything else is 'none': no fetch, frame, form target, plugin
    (object-src) or <base> rewrite, so nothing leaves or enters the page over the network.
    """
    scripts = " ".join(dict.fromkeys(script_hashes(page))) or "'none'"
    return ("default-src 'none'; "
            f"script-src {scripts}; "
            "style-src 'unsafe-inline'; img-src data:; font-src data:; "
            "object-src 'none'; base-uri 'none'; form-action 'none'")


def with_content_security_policy(page: str) -> str:
    """The page with its CSP <meta> right after <meta charset> (a policy binds only what the
    parser reads after it, so it must precede every script). Call it last: the hashes are of
    the scripts as they are now."""
    policy = content_security_policy(page)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    found = CHARSET_META.search(page)
    if found is None:
        raise UnexpectedPage("the page has no <meta charset> to put its security policy after")
    return page[:found.end()] + meta + page[found.end():]
