"""The fixed paths every asset writes and dvc.yaml declares: one place to change them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path

    def _at(self, relative: str) -> Path:
        return self.root / relative

    @property
    def validated(self) -> Path:
        return self._at("data/prepared/validated.parquet")

    @property
    def splits_dir(self) -> Path:
        return self._at("data/prepared/splits")

    def split(self, name: str) -> Path:
        return self.splits_dir / f"{name}.parquet"

    @property
    def model(self) -> Path:
        return self._at("models/candidate.joblib")

    @property
    def model_meta(self) -> Path:
        return self._at("models/candidate.json")

    @property
    def reports(self) -> Path:
        return self._at("reports")

    def report(self, name: str) -> Path:
        return self.reports / name

    def metrics(self, name: str) -> Path:
        return self.reports / "metrics" / f"{name}.json"

    def runtime(self, name: str) -> Path:
        """Machine-dependent figures (latency, seconds): not DVC outs, never in a cached file."""
        return self.reports / "runtime" / name

    @property
    def logs(self) -> Path:
        return self._at("logs")

    def plot(self, name: str) -> Path:
        return self.reports / "plots" / name

    @property
    def gates(self) -> Path:
        return self.report("gates.json")

    @property
    def registry(self) -> Path:
        return self._at("registry")

    # --- production monitoring (issue 11) ---
    def monitoring(self, batch: str) -> Path:
        """Per-batch monitoring reports: validation, what was scored, the drift report."""
        return self.reports / "monitoring" / batch

    def scored_batch(self, batch: str) -> Path:
        return self._at(f"data/monitoring/{batch}/scored.parquet")

    def decision_log(self, batch: str, content: str) -> Path:
        """Append-only decision log of one batch file's content (history: in the registry)."""
        return self.registry / "decision_log" / batch / content

    @property
    def card_schema(self) -> Path:
        return Path(__file__).resolve().parent.parent / "schemas" / "model_card.schema.json"

    def relative(self, path: Path) -> str:
        """A path as the README and reports print it: relative to the project root."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)
