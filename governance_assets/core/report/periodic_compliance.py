"""The production version's compliance report, regenerated on a calendar and entered in the
ledger, so an auditor sees that the check is periodic and what it found each time.

The checklist is rendered again, with the code of the day, from the version's registered model
card (its bytes checked against the ledger's register entry, not against a file beside it).
Beside it go the findings that can change after registration: whether the version's files are
still the registered bytes, whether production still rests on an approval that counts (an
approval expires), and the ledger head the report was made at. Each report is a new folder
`registry/compliance_reports/<version>/<UTC time>/` (history: never rewritten), and a
`compliance_report` ledger entry names its JSON by sha256, which `governance verify` checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timezone

from ..files import write_json_atomic, write_text_atomic
from ..layout import Layout
from ..params import Params
from ..record import ledger, registry, storage
from ..record.version_files import version_link
from ..trust import signoff
from . import compliance, compliance_html, markdown

KIND = "compliance_report"
REPORT_FILE = "compliance.json"


class PeriodicComplianceError(RuntimeError):
    """No report can be made (no production version, or its card is not the registered one)."""


def _registered_card(root: storage.RegistryPath, version: str) -> dict:
    """The version's model card, only if its bytes are the ones its register entry names."""
    entry = registry.registration(root, version)
    expected = entry["data"]["files"].get("model_card.json") if entry else None
    data = storage.read_or_none(root / "versions" / version / "model_card.json")
    if expected is None or data is None or hashlib.sha256(data).hexdigest() != expected:
        raise PeriodicComplianceError(
            f"registry version {version}: model_card.json is missing or is not the file its "
            "register entry in the ledger names by sha256; no compliance report is made from it")
    return json.loads(data)


def _version_link(version: str) -> Callable[[str], str | None]:
    """Evidence links from a report folder into the version's folder, which holds the files."""
    def link(path: str) -> str | None:
        name = version_link(path)
        return f"../../../versions/{version}/{name}" if name else None
    return link


def _new_folder(parent: storage.RegistryPath, moment: datetime) -> storage.RegistryPath:
    """A folder no earlier report used: two reports in one second never share one."""
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    folder, number = parent / stamp, 1
    while storage.read_or_none(folder / REPORT_FILE) is not None:
        number += 1
        folder = parent / f"{stamp}-{number}"
    return folder


def standing_now(root: storage.RegistryPath, version: str, trust: signoff.Trust) -> dict:
    """What may have changed since registration: the files' bytes and the approval."""
    approval = signoff.approval_standing(root, version, trust)
    return {"files_not_as_registered": signoff.tampered_files(
                root, registry.registration(root, version)),
            "approval_counts": approval.valid, "approval": approval.summary()}


def standing_markdown(report: dict) -> str:
    """What this periodic check found beyond the checklist, for the reader of the page."""
    standing, head = report["standing"], report["ledger_head"] or {}
    rows = [("version", report["version"]),
            ("generated", f"{report['generated_at']} ({report['trigger']})"),
            ("files of the version",
             ", ".join(standing["files_not_as_registered"]) or "all as registered"),
            ("approval", standing["approval"]),
            ("ledger head", f"#{head.get('seq')} {str(head.get('hash'))[:16]}")]
    return "\n## Periodic review\n\n" + markdown.table(("what", "found"), rows) + "\n"


def production_report(layout: Layout, params: Params, trigger: str, run_id: str | None,
                      at: datetime | None = None) -> dict:
    """Regenerate the production version's compliance report, write it, enter it in the
    ledger; the ledger entry."""
    root = layout.registry
    trust = signoff.Trust.of(layout.root, params.signoff)
    try:
        version = signoff.production_version(root, lambda: trust)
    except signoff.SignoffError as error:
        raise PeriodicComplianceError(str(error)) from error
    if version is None:
        raise PeriodicComplianceError("no `production` version in the registry: the periodic "
                                      "compliance report covers the version in service")
    card = _registered_card(root, version)
    moment = (at or datetime.now(timezone.utc)).replace(microsecond=0)
    checklist = compliance.report(card)
    report = {**checklist, "version": version, "generated_at": moment.isoformat(),
              "trigger": trigger, "run_id": run_id, "ledger_head": ledger.head(root),
              "standing": standing_now(root, version, trust)}
    folder = _new_folder(layout.periodic_compliance(version), moment)
    link = _version_link(version)
    write_text_atomic(folder / "compliance.md", compliance.render_markdown(
        checklist["items"], card["model_name"], link) + standing_markdown(report))
    write_text_atomic(folder / "compliance.html", compliance_html.render_html(checklist, link))
    written = write_json_atomic(folder / REPORT_FILE, report)
    return ledger.append(root, KIND, {
        "version": version, "record": f"compliance_reports/{version}/{folder.name}/{REPORT_FILE}",
        "record_sha256": hashlib.sha256(storage.read_or_none(written)).hexdigest(),
        "generated_at": report["generated_at"], "trigger": trigger, "run_id": run_id,
        "approval_counts": report["standing"]["approval_counts"],
        "files_not_as_registered": report["standing"]["files_not_as_registered"],
        "not_met": checklist["not_met"]})
