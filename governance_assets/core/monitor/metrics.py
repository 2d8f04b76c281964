"""Monitoring and gate figures in the Prometheus text exposition format, for dashboards.

Three sources, read afresh at every collection (a written file, or a scrape of
`governance serve-metrics`):
- every batch's `reports/monitoring/<batch>/report.json`: each number becomes a gauge labelled
  `batch`, `model_version`, `check` (the monitoring check that judges it, `none` for figures no
  check judges: rows, shadow agreement) and `level` (that check's level in the batch; a
  feature's own level for per-feature drift); plus one gauge per batch and check giving the
  level as a number, and one per batch giving its status (monitored, refused);
- the WARN/ERROR levels of params.yaml's `monitoring:` block, so a panel draws them;
- the ledger: a counter of gate verdicts per gate, model version and outcome, and the
  periodic compliance reports per version (core/report/periodic_compliance.py).

A report is read generically, so a statistic added to it is exported without a change here:
a number at `<section>.<key>` is `governance_monitoring_<section>_<key>`; every dict below a
section is a map whose keys become a label (`feature`, `attribute`, `group`, else `key`) and
whose nested records add their field names to the metric's name; lists, strings and booleans
are not exported (booleans restate a level, which the level gauge gives).

The file follows node-exporter's textfile-collector convention: prometheus_client writes a
temporary file beside it and renames it over the old one, under a lock, so a scrape never
reads half a file and two runs finishing together never drop each other's batch.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock
from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..files import read_json
from ..layout import Layout
from ..params.monitoring import LowerLevels, MonitoringSpec, UpperLevels
from ..record import ledger, storage

PREFIX = "governance_monitoring_"
NO_CHECK = "none"
# Sections of report.json, each judged by one check (drifted_share by its own, below).
SECTION_CHECKS = {"data_drift": "feature_psi", "prediction_drift": "prediction_drift",
                  "label_drift": "label_drift", "performance": "batch_auc",
                  "fairness": "batch_disparate_impact", "shadow": NO_CHECK}
KEY_CHECKS = {("data_drift", "drifted_share"): "drifted_share"}
MAP_LABELS = {"psi": "feature", "psi_noise_floor": "feature", "attributes": "attribute",
              "selection_rates": "group"}
TOP_LEVEL_NUMBERS = ("rows", "labelled_rows")
# The level as a number, for thresholds and colours in a panel; NOT_MEASURED below OK.
# (core/monitor/monitoring.py names the levels; it imports pandas, which loading the
# definitions spares.)
LEVEL_VALUES = {"NOT_MEASURED": -1, "OK": 0, "WARN": 1, "ERROR": 2}
# Which check each monitoring.<key> level pair judges.
SETTING_CHECKS = {"psi": "feature_psi", "drifted_share": "drifted_share",
                  "prediction_psi": "prediction_drift", "label_psi": "label_drift",
                  "auc_drop": "batch_auc", "disparate_impact": "batch_disparate_impact"}
VERDICTS_TOTAL = "governance_gate_verdicts"
UNVERIFIED = "unverified"
NO_MODEL = "none"


@dataclass
class Sample:
    """One exported value: the metric it belongs to, its labels and the value."""

    name: str
    labels: dict[str, str]
    value: float


@dataclass
class Family:
    """The samples of one metric, their label names in a fixed order, and its help text."""

    name: str
    help: str
    labels: list[str] = field(default_factory=list)
    samples: list[tuple[list[str], float]] = field(default_factory=list)


# --- reading report.json generically ---

def _numeric(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _walk(node: object, path: tuple[str, ...], labels: dict[str, str], in_map: str | None
          ) -> Iterator[tuple[tuple[str, ...], dict[str, str], float]]:
    """(name path, labels, value) of every number under `node`. A dict directly under a named
    key is a map (its keys are data: features, groups); a map's dict values are records."""
    if _numeric(node):
        yield path, labels, float(node)
    elif isinstance(node, dict) and in_map is None:
        for key, child in node.items():
            label = None
            if isinstance(child, dict):
                label = _label_name(MAP_LABELS.get(key, "key"), labels)
            yield from _walk(child, (*path, key), labels, label)
    elif isinstance(node, dict):
        for key, child in node.items():
            yield from _walk(child, path, {**labels, in_map: str(key)}, None)


def _label_name(wanted: str, taken: dict[str, str]) -> str:
    """A label name not yet used on this path (two unnamed maps: key, key2)."""
    name, number = wanted, 1
    while name in taken or name in ("batch", "model_version", "check", "level"):
        number += 1
        name = f"{wanted}{number}"
    return name


def _sample_level(report: dict, section: str, check: str, labels: dict[str, str]) -> str:
    """The level a value is shown at: its feature's own level when the report has one."""
    feature_levels = report.get("data_drift", {}).get("feature_levels", {})
    if section == "data_drift" and labels.get("feature") in feature_levels:
        return feature_levels[labels["feature"]]
    return report.get("levels", {}).get(check, NO_CHECK)


def report_samples(report: dict) -> Iterator[Sample]:
    """Every number of one batch's report.json, named and labelled by the rule above."""
    base = {"batch": str(report["batch"]), "model_version": str(report["production_version"])}
    for key in TOP_LEVEL_NUMBERS:
        if _numeric(report.get(key)):
            yield Sample(PREFIX + key, {**base, "check": NO_CHECK, "level": NO_CHECK},
                         float(report[key]))
    for section, default_check in SECTION_CHECKS.items():
        for path, labels, value in _walk(report.get(section) or {}, (section,), {}, None):
            check = KEY_CHECKS.get(path[:2], default_check)
            level = _sample_level(report, section, check, labels)
            yield Sample(PREFIX + "_".join(path),
                         {**base, "check": check, "level": level, **labels}, value)
    for check, level in report.get("levels", {}).items():
        yield Sample(PREFIX + "check_level", {**base, "check": check, "level": level},
                     float(LEVEL_VALUES.get(level, -1)))


def batch_folders(layout: Layout) -> list[Path]:
    """Every batch folder under reports/monitoring/ that holds a status or a report."""
    where = layout.reports / "monitoring"
    if not where.is_dir():
        return []
    return sorted(folder for folder in where.iterdir() if folder.is_dir() and (
        (folder / "status.json").is_file() or (folder / "report.json").is_file()))


def batch_samples(layout: Layout) -> Iterator[Sample]:
    """The status of every batch, and every statistic of the monitored ones."""
    for folder in batch_folders(layout):
        status = read_json(folder / "status.json") if (folder / "status.json").is_file() else {}
        name = str(status.get("batch", folder.name))
        yield Sample(PREFIX + "batch_status",
                     {"batch": name, "status": str(status.get("status", "unknown"))}, 1.0)
        if status.get("status") == "monitored" and (folder / "report.json").is_file():
            yield from report_samples(read_json(folder / "report.json"))


def level_samples(settings: MonitoringSpec) -> Iterator[Sample]:
    """The WARN and ERROR levels of every statistic params.yaml gives levels for."""
    for setting, levels in settings:
        if not isinstance(levels, UpperLevels | LowerLevels):
            continue
        direction = "upper" if isinstance(levels, UpperLevels) else "lower"
        for level, value in (("WARN", levels.warn), ("ERROR", levels.error)):
            yield Sample(PREFIX + "level_threshold",
                         {"check": SETTING_CHECKS.get(setting, setting), "level": level,
                          "setting": f"monitoring.{setting}", "direction": direction}, value)


# --- the ledger ---

def _registered_versions(registry: storage.RegistryPath) -> dict[str, str]:
    """model sha256 -> the newest registry version holding that model, from register entries."""
    return {entry["data"]["model_sha256"]: entry["data"]["version"]
            for entry in ledger.entries(registry, ("register",))}


def _judged_candidate(registry: storage.RegistryPath, entry: dict) -> str | None:
    """The candidate sha256 a verdict judged, from its verdict file, only while that file is
    the one the ledger entry names by sha256; UNVERIFIED otherwise."""
    data = entry["data"]
    path = registry / "verdicts" / data["gate"] / f"{data['fingerprint']}.json"
    stored = storage.read_or_none(path)
    if stored is None or hashlib.sha256(stored).hexdigest() != data.get("record_sha256"):
        return UNVERIFIED
    return read_json(path)["fingerprint"].get("candidate_sha256")


def verdict_model_version(candidate: str | None, versions: dict[str, str]) -> str:
    """The label a verdict counts under: the registry version of the candidate it judged, the
    candidate's own sha256 when it was never registered, `none` for a gate that judges data
    only, `unverified` when its verdict file no longer matches the ledger."""
    if candidate in (None, UNVERIFIED):
        return NO_MODEL if candidate is None else UNVERIFIED
    return versions.get(candidate, f"candidate-{candidate[:12]}")


def ledger_samples(registry: storage.RegistryPath) -> Iterator[Sample]:
    """Gate verdicts per gate, model version and outcome, and the periodic compliance reports
    per version; `governance_ledger_verified` 0 (and nothing else) when the chain is broken."""
    try:
        verdicts = ledger.entries(registry, ("verdict",))
        versions = _registered_versions(registry)
        reports = ledger.entries(registry, ("compliance_report",))
    except ledger.LedgerError:
        yield Sample("governance_ledger_verified", {}, 0.0)
        return
    yield Sample("governance_ledger_verified", {}, 1.0)
    counts = Counter((entry["data"]["gate"],
                      verdict_model_version(_judged_candidate(registry, entry), versions),
                      str(entry["data"].get("outcome"))) for entry in verdicts)
    for (gate, version, outcome), count in sorted(counts.items()):
        yield Sample(VERDICTS_TOTAL, {"gate": gate, "model_version": version,
                                      "outcome": outcome}, float(count))
    for version, count in sorted(Counter(e["data"]["version"] for e in reports).items()):
        yield Sample("governance_compliance_reports", {"model_version": version}, float(count))


# --- families, the file and the collector ---

HELP = {
    PREFIX + "batch_status": "1 for the status of each batch file (monitored, refused)",
    PREFIX + "check_level": "Level of each monitoring check per batch: -1 NOT_MEASURED, 0 OK, "
                            "1 WARN, 2 ERROR",
    PREFIX + "level_threshold": "WARN and ERROR levels from params.yaml monitoring:",
    "governance_ledger_verified": "1 when the ledger chain verified, 0 when it did not (then "
                                  "no ledger figure is exported)",
    VERDICTS_TOTAL: "Gate verdicts recorded in the ledger, per gate, model version and outcome",
    "governance_compliance_reports": "Periodic compliance reports recorded in the ledger, per "
                                     "production version",
}
COUNTERS = (VERDICTS_TOTAL, "governance_compliance_reports")


def families(layout: Layout, settings: MonitoringSpec) -> list[Family]:
    """Every sample, grouped into metrics in a stable order (name, then labels)."""
    grouped: dict[str, Family] = {}
    samples = [*batch_samples(layout), *level_samples(settings),
               *ledger_samples(layout.registry)]
    for sample in samples:
        family = grouped.setdefault(sample.name, Family(
            sample.name, HELP.get(sample.name, _report_help(sample.name))))
        family.labels += [name for name in sample.labels if name not in family.labels]
        family.samples.append(([sample.labels.get(n, "") for n in family.labels], sample.value))
    for family in grouped.values():
        width = len(family.labels)
        family.samples = sorted((values + [""] * (width - len(values)), value)
                                for values, value in family.samples)
    return [grouped[name] for name in sorted(grouped)]


def _report_help(name: str) -> str:
    path = name.removeprefix(PREFIX).replace("_", " ")
    return f"Monitoring report value ({path}) of each batch, from reports/monitoring/<batch>/" \
           "report.json"


def to_metric(family: Family) -> Metric:
    """A prometheus_client metric family holding the family's samples."""
    kind = CounterMetricFamily if family.name in COUNTERS else GaugeMetricFamily
    metric = kind(family.name, family.help, labels=family.labels)
    for values, value in family.samples:
        metric.add_metric(values, value)
    return metric


class GovernanceCollector:
    """A prometheus_client collector that reads the project's files at every collection."""

    def __init__(self, layout: Layout, settings: MonitoringSpec):
        self.layout, self.settings = layout, settings

    def collect(self) -> Iterator[Metric]:
        for family in families(self.layout, self.settings):
            yield to_metric(family)


def registry_for(layout: Layout, settings: MonitoringSpec) -> CollectorRegistry:
    """A collector registry holding only the project's metrics (no process metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GovernanceCollector(layout, settings))
    return registry


def write_metrics(layout: Layout, settings: MonitoringSpec) -> Path:
    """reports/monitoring/metrics.prom, replaced atomically under a lock; its path."""
    path = layout.monitoring_metrics
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_name(".metrics.prom.lock"))):
        write_to_textfile(str(path), registry_for(layout, settings))
    return path
