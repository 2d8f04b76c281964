"""One production batch against the production version: data, prediction and label drift,
performance and fairness against its card, shadow agreement; each with a WARN/ERROR level.

Drift uses the gate's PSI (core/evidence/drift.py: bins fixed by the reference, deciles for
numbers) and counts a feature as drifted at a level only when its PSI is above that level *and*
above its noise floor for the batch's size, so a small clean batch does not raise alarms that a
resample of the training rows would raise too. Prediction drift is the PSI of the scores on the
reference's score deciles, with scipy's two-sample KS test beside it. Label drift and the
AUC drop need monitoring.min_labelled_rows labels; the AUC drop also counts only above its
noise floor (the drop a resample of the reference of the batch's labelled size shows by
chance). Fairness is core/monitor/batch_fairness.py: an interval, and groups too small to judge.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..data.columns import FAVOURABLE
from ..evidence import drift
from ..evidence.fairness import FairnessSettings
from ..files import read_json, read_parquet, sha256_of_file, write_json_atomic, write_parquet_atomic
from ..params import DatasetSpec
from ..params.monitoring import MonitoringSpec, UpperLevels
from .batch_fairness import batch_fairness
from .levels import ERROR, NOT_MEASURED, OK, SEVERITY, WARN

SCORE = "_score"
DRIFT_CHECKS = ("feature_psi", "drifted_share", "prediction_drift", "label_drift")
CHECKS = (*DRIFT_CHECKS, "batch_auc", "batch_disparate_impact")


class MonitoringError(RuntimeError):
    """Monitoring cannot run (no production version, no reference); the message says why."""


def upper_level(value: float | None, levels: UpperLevels, floor: float | None = None) -> str:
    """ERROR/WARN when above the level and, when a noise floor is given, above it too."""
    if value is None:
        return NOT_MEASURED
    above_noise = floor is None or value > floor
    if value > levels.error and above_noise:
        return ERROR
    return WARN if value > levels.warn and above_noise else OK


def worst(levels: list[str]) -> str:
    return max(levels, key=SEVERITY.get, default=NOT_MEASURED) if any(
        level != NOT_MEASURED for level in levels) else NOT_MEASURED


# --- the reference: the rows the production version was fitted on, frozen per version ---

def registered_file(registry_root: Path, version: str, name: str) -> Path:
    """A file of a registry version, only if its bytes match the version's manifest."""
    from ..record.registry import RegistryError, manifest

    expected = manifest(registry_root, version)["files"].get(name)
    path = registry_root / "versions" / version / name
    if expected is None or not path.is_file() or sha256_of_file(path) != expected:
        raise RegistryError(f"registry version {version}: {name} is missing or does not match "
                            "its manifest sha256")
    return path


def reference_path(registry_root: Path, version: str) -> Path:
    return registry_root / "references" / f"{version}.parquet"


def freeze_reference(registry_root: Path, version: str, model, train_and_validation: pd.DataFrame,
                     splits_json: Path, spec: DatasetSpec, features: list[str]) -> Path:
    """Store the version's training rows (inputs, sensitive attributes, label, score) once.

    Only the splits the version was registered with qualify: the current splits.json must be
    byte-equal to the registered one, else the rows on disk belong to another data version.
    """
    registered = registered_file(registry_root, version, "splits.json")
    if not splits_json.is_file() or sha256_of_file(splits_json) != sha256_of_file(registered):
        raise MonitoringError(
            f"no monitoring reference for production version {version}: "
            f"registry/references/{version}.parquet does not exist, and the splits on disk "
            f"({splits_json.name}) are not the ones this version was trained on (sha256 differs "
            "from its registry entry). Re-run the graph on the data version it was trained on "
            "(`governance run` at that commit), then monitor once to freeze the reference.")
    keep = list(dict.fromkeys([*features, *spec.sensitive_features, FAVOURABLE]))
    frame = train_and_validation[keep].reset_index(drop=True)
    frame[SCORE] = model.predict_proba(frame[features])[:, 1]
    path = write_parquet_atomic(reference_path(registry_root, version), frame)
    write_json_atomic(path.with_suffix(".json"), {
        "version": version, "rows": len(frame), "sha256": sha256_of_file(path),
        "built_from": "train + validation splits, verified against the version's registered "
                      f"splits.json (sha256 {sha256_of_file(registered)[:12]})"})
    return path


def load_reference(registry_root: Path, version: str) -> pd.DataFrame | None:
    """The frozen reference, if present and unmodified since it was frozen."""
    path = reference_path(registry_root, version)
    if not path.is_file():
        return None
    recorded = read_json(path.with_suffix(".json"))["sha256"]
    if sha256_of_file(path) != recorded:
        raise MonitoringError(f"{path}: sha256 does not match {path.with_suffix('.json').name}; "
                              "the reference was modified after it was frozen")
    return read_parquet(path)


def card_baseline(registry_root: Path, version: str) -> dict:
    """What the production card promised: golden AUC and the lowest DIR per attribute."""
    performance = read_json(registered_file(registry_root, version, "performance.json"))
    fairness = read_json(registered_file(registry_root, version, "fairness.json"))
    card = read_json(registered_file(registry_root, version, "model_card.json"))
    return {"auc": performance["metrics"]["auc"]["value"],
            "disparate_impact": {name: result.get("disparate_impact_ratio_min")
                                 for name, result in fairness["features"].items()},
            "decision_threshold": card["champion"]["decision_threshold"]}


# --- the statistics ---

def feature_columns(spec: DatasetSpec, features: list[str]) -> dict[str, bool]:
    """Each model input, and whether its drift bins are numeric (deciles) or categories."""
    return {c: c in spec.numeric_columns for c in features}


def data_drift(reference: pd.DataFrame, batch: pd.DataFrame, spec: DatasetSpec,
               features: list[str], settings: MonitoringSpec, seed: int,
               feature_psi: dict[str, float] | None = None) -> dict:
    """PSI per model input and of the production scores, each beside its noise floor.

    `feature_psi`, when given, holds the inputs' PSI computed elsewhere (batch_sql.py, over the
    batch file), so `batch` needs only the score column; otherwise it is computed from `batch`.
    """
    from scipy.stats import ks_2samp

    columns = feature_columns(spec, features)
    values = dict(feature_psi) if feature_psi is not None else {
        c: drift.psi(reference[c], batch[c], numeric) for c, numeric in columns.items()}
    values[SCORE] = drift.psi(reference[SCORE], batch[SCORE], True)
    floors, _ = drift.noise_floors(reference, {**columns, SCORE: True}, len(batch), seed)
    feature_levels = {c: upper_level(values[c], settings.psi, floors[c]) for c in columns}
    drifted = sorted(c for c, level in feature_levels.items() if level == ERROR)
    share = len(drifted) / len(columns)
    top = max(columns, key=values.get)
    ks = ks_2samp(reference[SCORE], batch[SCORE])
    return {
        "psi": {c: round(values[c], 6) for c in columns},
        "psi_noise_floor": {c: floors[c] for c in columns},
        "feature_levels": feature_levels,
        "max_psi": round(values[top], 6), "max_psi_feature": top,
        "drifted_features": drifted, "drifted_share": round(share, 6),
        "levels": {"feature_psi": worst(list(feature_levels.values())),
                   "drifted_share": upper_level(share, settings.drifted_share)},
        "prediction": {
            "psi": round(values[SCORE], 6), "psi_noise_floor": floors[SCORE],
            "ks_statistic": round(float(ks.statistic), 6), "ks_pvalue": float(ks.pvalue),
            "reference_mean_score": round(float(reference[SCORE].mean()), 6),
            "batch_mean_score": round(float(batch[SCORE].mean()), 6),
            "thresholds": settings.prediction_psi.model_dump(),
            "level": upper_level(values[SCORE], settings.prediction_psi, floors[SCORE])},
    }


def label_drift(reference: pd.DataFrame, labelled: pd.DataFrame, settings: MonitoringSpec,
                seed: int) -> dict:
    """PSI of the favourable-label share (two bins), beside its floor; needs enough labels."""
    if len(labelled) < settings.min_labelled_rows:
        return {"level": NOT_MEASURED, "labelled_rows": len(labelled),
                "why": f"{len(labelled)} labelled rows < monitoring.min_labelled_rows "
                       f"{settings.min_labelled_rows}"}
    ref, cur = reference[FAVOURABLE].astype(int), labelled[FAVOURABLE].astype(int)
    value = drift.psi(ref, cur, False)
    floors, _ = drift.noise_floors(reference.assign(**{FAVOURABLE: ref}), {FAVOURABLE: False},
                                   len(labelled), seed)
    return {"psi": round(value, 6), "psi_noise_floor": floors[FAVOURABLE],
            "labelled_rows": len(labelled),
            "reference_favourable_rate": round(float(ref.mean()), 6),
            "batch_favourable_rate": round(float(cur.mean()), 6),
            "thresholds": settings.label_psi.model_dump(),
            "level": upper_level(value, settings.label_psi, floors[FAVOURABLE])}


def performance(reference: pd.DataFrame, labelled: pd.DataFrame, baseline_auc: float,
                settings: MonitoringSpec, seed: int) -> dict:
    """Batch AUC of the production scores against the card's golden AUC; the drop counts only
    above its noise floor for the number of labelled rows."""
    from sklearn.metrics import roc_auc_score

    if len(labelled) < settings.min_labelled_rows:
        return {"level": NOT_MEASURED, "labelled_rows": len(labelled),
                "why": f"{len(labelled)} labelled rows < monitoring.min_labelled_rows "
                       f"{settings.min_labelled_rows}"}
    if labelled[FAVOURABLE].nunique() < 2:
        return {"level": NOT_MEASURED, "labelled_rows": len(labelled),
                "why": f"only one outcome among the {len(labelled)} labelled rows: no AUC"}
    auc = float(roc_auc_score(labelled[FAVOURABLE].astype(int), labelled[SCORE]))
    drop = baseline_auc - auc
    floor = auc_drop_noise_floor(reference, len(labelled), seed)
    return {"auc": round(auc, 6), "card_auc": baseline_auc, "auc_drop": round(drop, 6),
            "auc_drop_noise_floor": floor, "thresholds": settings.auc_drop.model_dump(),
            "labelled_rows": len(labelled), "level": upper_level(drop, settings.auc_drop, floor)}


def auc_drop_noise_floor(reference: pd.DataFrame, rows: int, seed: int,
                         rounds: int = drift.NOISE_ROUNDS) -> float:
    """How far below the reference's own AUC a `rows`-row sample of the reference falls by
    chance: the 95th percentile of (reference AUC - resample AUC) over seeded resamples.

    A clean batch of that size drops this much with no change in the model's quality, so only
    a drop beyond it is evidence. Up to the reference's size, every resample's AUC at once, as
    the Mann-Whitney statistic of scipy's average ranks (equal to roc_auc_score, ties
    included): 200 sklearn calls cost seconds on a loaded machine, one ranking of a rounds x
    rows matrix milliseconds. Above it (a matrix of a million columns would not fit), each
    resample as the reference rows' multiplicities and their weighted AUC: the same
    distribution at a cost independent of `rows`.
    """
    from sklearn.metrics import roc_auc_score

    y, score = reference[FAVOURABLE].astype(int).to_numpy(), reference[SCORE].to_numpy()
    rng = np.random.default_rng(seed)
    aucs = (_resampled_aucs(y, score, rng, rounds, rows) if rows <= len(y)
            else _weighted_aucs(y, score, rng, rounds, rows))
    drops = roc_auc_score(y, score) - aucs
    return round(float(np.quantile(drops, drift.NOISE_QUANTILE)), 6)


def _resampled_aucs(y: np.ndarray, score: np.ndarray, rng: np.random.Generator, rounds: int,
                    rows: int) -> np.ndarray:
    from scipy.stats import rankdata

    drawn = rng.integers(0, len(y), (rounds, rows))
    positive, ranks = y[drawn], rankdata(score[drawn], axis=1)
    positives = positive.sum(axis=1)
    both = (positives > 0) & (positives < rows)   # an AUC needs both outcomes
    positives, negatives = positives[both], rows - positives[both]
    rank_sums = (ranks * positive).sum(axis=1)[both]
    return (rank_sums - positives * (positives + 1) / 2) / (positives * negatives)


def _weighted_aucs(y: np.ndarray, score: np.ndarray, rng: np.random.Generator, rounds: int,
                   rows: int) -> np.ndarray:
    aucs = [weighted_auc(y, score, drift.multiplicities(rng, len(y), rows))
            for _ in range(rounds)]
    return np.array([auc for auc in aucs if auc is not None])


def weighted_auc(y: np.ndarray, score: np.ndarray, times: np.ndarray) -> float | None:
    """AUC of rows counted `times` each (roc_auc_score with sample_weight): per tie of scores,
    the positives times the negatives below it plus half of those tied; None without both
    outcomes."""
    order = np.argsort(score, kind="stable")
    ordered = score[order]
    tie = np.concatenate([[0], np.cumsum(ordered[1:] != ordered[:-1])])
    positives = np.bincount(tie, weights=(times * y)[order])
    negatives = np.bincount(tie, weights=(times * (1 - y))[order])
    if not positives.sum() or not negatives.sum():
        return None
    below = np.cumsum(negatives) - negatives
    return float((positives * (below + negatives / 2)).sum()
                 / (positives.sum() * negatives.sum()))


def shadow_agreement(production: pd.Series, shadow: pd.Series | None, shadow_version: str | None,
                     why_not: str | None) -> dict:
    if shadow is None:
        return {"shadow_version": None, "why_not": why_not}
    return {"shadow_version": shadow_version,
            "agreement_rate": round(float((production.to_numpy() == shadow.to_numpy()).mean()), 6),
            "shadow_favourable_rate": round(float((shadow == "favourable").mean()), 6)}


def monitor(reference: pd.DataFrame, batch: pd.DataFrame, spec: DatasetSpec, features: list[str],
            decisions: pd.Series, baseline: dict, settings: MonitoringSpec,
            fairness_settings: FairnessSettings, seed: int,
            feature_psi: dict[str, float] | None = None) -> dict:
    """Every statistic and its level; `batch` carries the production score in `_score`, the
    sensitive attributes and the labels, and the inputs unless `feature_psi` is given."""
    labelled = batch[batch[FAVOURABLE].notna()] if FAVOURABLE in batch.columns else batch.iloc[:0]
    data = data_drift(reference, batch, spec, features, settings, seed, feature_psi)
    labels = label_drift(reference, labelled, settings, seed)
    perf = performance(reference, labelled, baseline["auc"], settings, seed)
    fair = batch_fairness(batch, spec, (decisions == "favourable").astype(int),
                          baseline["disparate_impact"], fairness_settings,
                          settings.disparate_impact)
    levels = {**data["levels"], "prediction_drift": data["prediction"]["level"],
              "label_drift": labels["level"], "batch_auc": perf["level"],
              "batch_disparate_impact": fair["level"]}
    return {"rows": len(batch), "labelled_rows": len(labelled), "levels": levels,
            "drift_level": worst([levels[c] for c in DRIFT_CHECKS]),
            "fairness_breach": levels["batch_disparate_impact"] == ERROR,
            "data_drift": {k: v for k, v in data.items() if k not in ("levels", "prediction")},
            "prediction_drift": data["prediction"], "label_drift": labels,
            "performance": perf, "fairness": fair}
