"""Split sizes hold to within a percentage point when many rows are identical."""

import numpy as np
import pandas as pd
import pytest

from governance_assets.core.data.columns import ROW_ID
from governance_assets.core.data.raw_files import read_raw
from governance_assets.core.data.splits import golden_overlap, split_dataset
from governance_assets.core.data.validation import validate

from .conftest import GERMAN, REPO, make_project, params_of


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    return params_of(make_project(tmp_path_factory.mktemp("splits")))


def within_a_point(splits, params) -> dict:
    manifest = splits.manifest(params.active, params.split)
    achieved = manifest["achieved_fractions"]
    assert abs(achieved["golden_test"] - params.split.golden_test) <= 0.01
    assert abs(achieved["validation"] - params.split.validation) <= 0.01
    assert manifest["overlap"] == {"by_row_id": 0, "by_content": 0}
    return manifest


def test_arrests_with_45_percent_repeated_rows(params):
    spec = params.datasets["toronto_arrests"]
    frame, _ = validate(read_raw(REPO / spec.path), spec, params.policy, spec.path)
    chosen = params.model_copy(update={"dataset": "toronto_arrests"})
    splits = split_dataset(frame, spec, params.split)
    manifest = within_a_point(splits, chosen)
    assert manifest["duplicates"]["rows_in_duplicate_groups"] > 2000
    assert manifest["rows"]["current"] == 1488 and not manifest["current"]["simulated"]


def test_german_with_a_third_of_rows_repeated_in_large_groups(params):
    frame, _ = validate(read_raw(GERMAN), params.active, params.policy, "german.csv")
    rng = np.random.default_rng(0)
    heavy = frame.sample(40, random_state=1)
    repeats = heavy.loc[heavy.index.repeat(rng.integers(2, 16, len(heavy)))]
    duplicated = pd.concat([frame, repeats], ignore_index=True)
    duplicated[ROW_ID] = np.arange(len(duplicated))
    splits = split_dataset(duplicated, params.active, params.split)
    manifest = within_a_point(splits, params)
    assert manifest["duplicates"]["largest_group"] >= 10
    assert golden_overlap(splits.frames, params.active)["by_content"] == 0
    young = [f["age_band"].eq("under_25").mean() for f in splits.frames.values()]
    assert max(young) - min(young) < 0.03, "still stratified by sensitive group"


def test_bundled_german_split_is_unchanged_by_duplicate_handling(params):
    """No duplicates: exactly the stratified 600 / 200 / 200 split the graph tests rely on."""
    frame, _ = validate(read_raw(GERMAN), params.active, params.policy, "german.csv")
    splits = split_dataset(frame, params.active, params.split)
    assert {k: len(v) for k, v in splits.frames.items()} == {
        "train": 600, "validation": 200, "golden_test": 200, "current": 200}
    assert splits.duplicates["rows_in_duplicate_groups"] == 0
