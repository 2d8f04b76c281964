"""One production batch against the production version: data, prediction and label drift,
performance and fairness against its card, shadow agreement; each with a WARN/ERROR level.

Drift uses the gate's PSI (core/evidence/drift.py: bins fixed by the reference, deciles for
numbers) and counts a feature as drifted at a level only when its PSI is above that level *and*
above its noise floor for the batch's size, so a small clean batch does not raise alarms that a
resample of the training rows would raise too. Prediction drift is the PSI of the scores on the
reference's score deciles, with scipy's two-sample KS test beside it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..data.columns import FAVOURABLE
from ..evidence import drift
from ..files import read_json, read_parquet, sha256_of_file, write_json_atomic, write_parquet_atomic
from ..params import DatasetSpec
from ..params.monitoring import LowerLevels, MonitoringSpec, UpperLevels

OK, WARN, ERROR, NOT_MEASURED = "OK", "WARN", "ERROR", "NOT_MEASURED"
SEVERITY = {NOT_MEASURED: 0, OK: 0, WARN: 1, ERROR: 2}
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


def lower_level(value: float | None, levels: LowerLevels) -> str:
    if value is None:
        return NOT_MEASURED
    return ERROR if value < levels.error else WARN if value < levels.warn else OK


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

def data_drift(reference: pd.DataFrame, batch: pd.DataFrame, spec: DatasetSpec,
               features: list[str], settings: MonitoringSpec, seed: int) -> dict:
    """PSI per model input and of the production scores, each beside its noise floor."""
    from scipy.stats import ks_2samp

    columns = {c: c in spec.numeric_columns for c in features}
    values = {c: drift.psi(reference[c], batch[c], numeric) for c, numeric in columns.items()}
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
            "level": upper_level(value, settings.label_psi, floors[FAVOURABLE])}


def performance(labelled: pd.DataFrame, baseline_auc: float, settings: MonitoringSpec) -> dict:
    """Batch AUC of the production scores against the card's golden AUC."""
    from sklearn.metrics import roc_auc_score

    if len(labelled) < settings.min_labelled_rows or labelled[FAVOURABLE].nunique() < 2:
        return {"level": NOT_MEASURED, "labelled_rows": len(labelled),
                "why": f"{len(labelled)} labelled rows (monitoring.min_labelled_rows "
                       f"{settings.min_labelled_rows}), or only one outcome among them"}
    y = labelled[FAVOURABLE].astype(int)
    auc = float(roc_auc_score(y, labelled[SCORE]))
    drop = baseline_auc - auc
    return {"auc": round(auc, 6), "card_auc": baseline_auc, "auc_drop": round(drop, 6),
            "labelled_rows": len(labelled), "level": upper_level(drop, settings.auc_drop)}


def fairness(batch: pd.DataFrame, spec: DatasetSpec, favourable: pd.Series,
             baseline: dict[str, float | None], min_group_size: int,
             settings: MonitoringSpec) -> dict:
    """Lowest disparate impact ratio (selection rates by fairlearn) per sensitive attribute;
    groups below policy.min_group_size rows in the batch are left out and named."""
    from fairlearn.metrics import MetricFrame, selection_rate

    by_attribute = {}
    for attribute in spec.sensitive_features:
        groups = batch[attribute].astype(str)
        # selection_rate reads only the decisions; y_true is required by MetricFrame.
        frame = MetricFrame(metrics={"rate": selection_rate, "rows": lambda t, p: len(t)},
                            y_true=favourable.to_numpy(), y_pred=favourable.to_numpy(),
                            sensitive_features=groups.to_numpy())
        table = frame.by_group
        sized = table[table["rows"] >= min_group_size]
        top = sized["rate"].max() if len(sized) >= 2 else None
        ratios = {str(g): round(float(r / top), 6) for g, r in sized["rate"].items()} if top \
            else {}
        lowest = min(ratios, key=ratios.get) if ratios else None
        by_attribute[attribute] = {
            "selection_rates": {str(g): round(float(r), 6) for g, r in table["rate"].items()},
            "disparate_impact_ratio_min": ratios.get(lowest) if lowest else None,
            "worst_group": lowest, "card_disparate_impact_ratio_min": baseline.get(attribute),
            "left_out": sorted(str(g) for g in table.index if g not in sized.index)}
    lowest_values = [r["disparate_impact_ratio_min"] for r in by_attribute.values()
                     if r["disparate_impact_ratio_min"] is not None]
    value = min(lowest_values) if lowest_values else None
    return {"attributes": by_attribute, "disparate_impact_ratio_min": value,
            "level": lower_level(value, settings.disparate_impact)}


def shadow_agreement(production: pd.Series, shadow: pd.Series | None, shadow_version: str | None,
                     why_not: str | None) -> dict:
    if shadow is None:
        return {"shadow_version": None, "why_not": why_not}
    return {"shadow_version": shadow_version,
            "agreement_rate": round(float((production.to_numpy() == shadow.to_numpy()).mean()), 6),
            "shadow_favourable_rate": round(float((shadow == "favourable").mean()), 6)}


def monitor(reference: pd.DataFrame, batch: pd.DataFrame, spec: DatasetSpec, features: list[str],
            decisions: pd.Series, baseline: dict, settings: MonitoringSpec, min_group_size: int,
            seed: int) -> dict:
    """Every statistic and its level; `batch` carries the production score in `_score`."""
    labelled = batch[batch[FAVOURABLE].notna()] if FAVOURABLE in batch.columns else batch.iloc[:0]
    data = data_drift(reference, batch, spec, features, settings, seed)
    labels = label_drift(reference, labelled, settings, seed)
    perf = performance(labelled, baseline["auc"], settings)
    fair = fairness(batch, spec, (decisions == "favourable").astype(int).reset_index(drop=True),
                    baseline["disparate_impact"], min_group_size, settings)
    levels = {**data["levels"], "prediction_drift": data["prediction"]["level"],
              "label_drift": labels["level"], "batch_auc": perf["level"],
              "batch_disparate_impact": fair["level"]}
    return {"rows": len(batch), "labelled_rows": len(labelled), "levels": levels,
            "drift_level": worst([levels[c] for c in DRIFT_CHECKS]),
            "fairness_breach": levels["batch_disparate_impact"] == ERROR,
            "data_drift": {k: v for k, v in data.items() if k not in ("levels", "prediction")},
            "prediction_drift": data["prediction"], "label_drift": labels,
            "performance": perf, "fairness": fair}
