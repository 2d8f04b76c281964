"""The fixed paths every asset writes and dvc.yaml declares: one place to change them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .record import storage


@dataclass(frozen=True)
class Layout:
    root: Path

    def _at(self, relative: str) -> Path:
        return self.root / relative

    @property
    def validated(self) -> Path:
        """The typed, decoded, schema-checked dataset (validated_dataset)."""
        return self._at("data/prepared/validated.parquet")

    @property
    def splits_dir(self) -> Path:
        """Train, validation, golden-test and drift-period frames (dataset_splits)."""
        return self._at("data/prepared/splits")

    def split(self, name: str) -> Path:
        """One frame of dataset_splits, by name (train, golden_test, ...)."""
        return self.splits_dir / f"{name}.parquet"

    @property
    def model(self) -> Path:
        """The candidate model as a skops file (candidate_model)."""
        return self._at("models/candidate.skops")

    @property
    def model_meta(self) -> Path:
        """The candidate's algorithm, hyperparameters, threshold and sha256."""
        return self._at("models/candidate.json")

    @property
    def reports(self) -> Path:
        """Every report, its machine-readable JSON beside the human page."""
        return self._at("reports")

    def report(self, name: str) -> Path:
        """A report file, by name."""
        return self.reports / name

    def metrics(self, name: str) -> Path:
        """A DVC metrics file (committed, not cached), by name."""
        return self.reports / "metrics" / f"{name}.json"

    def runtime(self, name: str) -> Path:
        """Machine-dependent figures (latency, seconds): not DVC outs, never in a cached file."""
        return self.reports / "runtime" / name

    def stage_result(self, stage: str) -> Path:
        """What a DVC stage's command judged and how it ended, for `governance run` to read."""
        return self.runtime(f"stages/{stage}.json")

    @property
    def logs(self) -> Path:
        """Full logs of `governance run` and of each stage."""
        return self._at("logs")

    def plot(self, name: str) -> Path:
        """A DVC plot's data (CSV, committed), by name."""
        return self.reports / "plots" / name

    @property
    def gates(self) -> Path:
        """The gate table that `governance report` prints and writes."""
        return self.report("gates.json")

    @cached_property
    def registry(self) -> storage.RegistryPath:
        """The registry root: `registry/` of the project unless GOVERNANCE_REGISTRY or
        params.yaml `registry.root` names another folder or a URL (core/record/storage.py). Resolved
        once per Layout, so one run never writes to two registries."""
        return storage.resolve_root(self.root)

    @property
    def production_pointer(self) -> Path:
        """The local file dvc.yaml's evaluate stage depends on: the registry's own
        `aliases/production.json` when it is local, a copy of it when it is not."""
        return self._at("registry/aliases/production.json")

    # --- production monitoring (issue 11) ---
    @property
    def monitoring_root(self) -> Path:
        """One folder per monitored batch (its partition key), and `_runs/`."""
        return self.reports / "monitoring"

    def monitoring(self, batch: str) -> Path:
        """Per-batch monitoring reports: validation, what was scored, the drift report."""
        return self.monitoring_root / batch

    def monitor_run(self, stamp: str) -> Path:
        """What one `governance monitor` did with every file of the batch folder (`_runs`:
        a leading underscore is never a partition key)."""
        return self.monitoring_root / "_runs" / f"{stamp}.json"

    @property
    def monitoring_metrics(self) -> Path:
        """Every batch's statistics and the ledger's gate counts in the Prometheus text format
        (node-exporter textfile collector; `governance serve-metrics` serves the same)."""
        return self.reports / "monitoring" / "metrics.prom"

    def periodic_compliance(self, version: str) -> storage.RegistryPath:
        """The compliance reports regenerated on a calendar for a production version, one
        folder per report (history: in the registry, each entered in the ledger)."""
        return self.registry / "compliance_reports" / version

    def scored_batch(self, batch: str) -> Path:
        """The decisions made on one production batch."""
        return self._at(f"data/monitoring/{batch}/scored.parquet")

    @property
    def alert_outbox(self) -> Path:
        """Every monitoring alert, written before delivery and kept after (core/monitor/outbox.py);
        beside reports/monitoring/, not in it, so no batch name can collide with it."""
        return self.reports / "alerts"

    def decision_log(self, batch: str, content: str) -> Path:
        """Append-only decision log of one batch file's content (history: in the registry)."""
        return self.registry / "decision_log" / batch / content

    @property
    def card_schema(self) -> Path:
        return Path(__file__).resolve().parent.parent / "schemas" / "model_card.schema.json"

    def relative(self, path: storage.RegistryPath) -> str:
        """A path as the README and reports print it: relative to the project root (a URL
        stays whole)."""
        if storage.is_object_store(path):
            return str(path)
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)
