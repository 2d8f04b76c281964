"""Seeded, stratified train / validation / golden-test splits, and the reference/current pair.

Identical rows are kept in one split, so the golden test set cannot leak through duplicates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from .columns import FAVOURABLE, ROW_ID
from .params import DatasetSpec, SplitSpec

SPLIT_NAMES = ("train", "validation", "golden_test", "current")
SIMULATED_NOTE = (
    "No time axis in this dataset: the current batch is simulated by the golden test rows, "
    "so drift measured against it shows sampling noise, not change over time."
)


@dataclass
class Splits:
    frames: dict[str, pd.DataFrame]
    current_is_simulated: bool
    stratified_by: list[str]

    def manifest(self, spec: DatasetSpec, split: SplitSpec) -> dict:
        return {
            "seed": split.seed,
            "fractions": {"validation": split.validation, "golden_test": split.golden_test},
            "stratified_by": self.stratified_by,
            "rows": {name: len(frame) for name, frame in self.frames.items()},
            "current": {
                "simulated": self.current_is_simulated,
                "note": SIMULATED_NOTE if self.current_is_simulated else
                f"rows where {spec.time.column} == {spec.time.current!r}",
                "reference": "train split",
            },
            "overlap": golden_overlap(self.frames, spec),
        }


def content_hash(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Hash of a row's feature values: equal rows collide, whatever their row id."""
    joined = frame[columns].astype(str).agg("\x1f".join, axis=1)
    return joined.map(lambda text: hashlib.sha1(text.encode()).hexdigest())


def split_dataset(frame: pd.DataFrame, spec: DatasetSpec, split: SplitSpec) -> Splits:
    modelling, current = _periods(frame, spec)
    hashes = content_hash(modelling, spec.model_features)
    representatives = modelling.loc[~hashes.duplicated()]
    train, validation, golden, stratified_by = _stratified_three_way(representatives, spec, split)
    assignment = pd.Series("", index=representatives.index)
    for name, part in (("train", train), ("validation", validation), ("golden_test", golden)):
        assignment.loc[part.index] = name
    by_hash = dict(zip(hashes.loc[representatives.index], assignment, strict=True))
    destination = hashes.map(by_hash)
    frames = {name: modelling.loc[destination == name] for name in SPLIT_NAMES[:3]}
    simulated = current is None
    frames["current"] = frames["golden_test"] if simulated else current
    return Splits(frames={k: v.reset_index(drop=True) for k, v in frames.items()},
                  current_is_simulated=simulated, stratified_by=stratified_by)


def _periods(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    if spec.time is None:
        return frame, None
    period = frame[spec.time.column].astype(str)
    return frame[period == spec.time.reference], frame[period == spec.time.current]


def _stratified_three_way(frame: pd.DataFrame, spec: DatasetSpec, split: SplitSpec):
    """Stratify by label and sensitive groups when every stratum allows it, else by label."""
    for keys in ([FAVOURABLE, *spec.sensitive_features], [FAVOURABLE]):
        strata = frame[keys].astype(str).agg("|".join, axis=1)
        try:
            rest, golden = train_test_split(frame, test_size=split.golden_test,
                                            stratify=strata, random_state=split.seed)
            share = split.validation / (1 - split.golden_test)
            train, validation = train_test_split(rest, test_size=share,
                                                 stratify=strata.loc[rest.index],
                                                 random_state=split.seed)
        except ValueError:
            continue
        return train, validation, golden, keys
    raise ValueError("cannot stratify even by label: a class has fewer than 2 rows")


def golden_overlap(frames: dict[str, pd.DataFrame], spec: DatasetSpec) -> dict:
    """Rows of the golden test set that also appear in train or validation, by id and content."""
    golden = frames["golden_test"]
    seen = pd.concat([frames["train"], frames["validation"]])
    shared_ids = set(golden[ROW_ID]) & set(seen[ROW_ID])
    shared_content = set(content_hash(golden, spec.model_features)) & set(
        content_hash(seen, spec.model_features))
    return {"by_row_id": len(shared_ids), "by_content": len(shared_content)}
