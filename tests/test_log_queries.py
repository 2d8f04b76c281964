"""The decision log's audit questions (core/monitor/log_queries.py): SQL over the log's Parquet
parts, as written by the real log writer, gives the answers pandas gives on the same rows, on
disk and on an S3-compatible server (moto's, a separate process); every question is portable
to Spark SQL; a question that cannot be asked says why.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from governance_assets.core.data import raw_files, validation
from governance_assets.core.data.columns import FAVOURABLE, ROW_ID
from governance_assets.core.monitor import decision_log, log_queries
from governance_assets.core.params import load_params
from governance_assets.core.record import storage

from .conftest import GERMAN, REPO, make_project

PARAMS = load_params(REPO)
SPEC = PARAMS.active
GROUPS = tuple(SPEC.sensitive_features)
NUMBERS = [c for c in SPEC.model_features if c in SPEC.numeric_columns]
MONTHS = [datetime(2026, month, 15, 12, tzinfo=timezone.utc) for month in (3, 4, 5)]
GOVERNANCE = Path(sys.executable).parent / "governance"


def _rows() -> pd.DataFrame:
    """The bundled rows as the validator types them (sex and age_band derived)."""
    frame, report = validation.validate(raw_files.read_raw(GERMAN), SPEC, PARAMS.policy,
                                        GERMAN.name)
    assert frame is not None, report.findings
    return frame


ROWS = _rows()


def _scorer(role: str, version: str, seed: int) -> decision_log.Scorer:
    sample = ROWS.sample(600, random_state=seed)
    model = LogisticRegression(max_iter=3000).fit(sample[NUMBERS], sample[FAVOURABLE].astype(int))
    return decision_log.Scorer(model=model, role=role, version=version,
                               model_sha256=f"{seed:064d}", threshold=0.6)


PRODUCTION, SHADOW = _scorer("production", "v1", 1), _scorer("shadow", "v2", 2)


class _Clock(datetime):
    """The writer's clock, set per batch, so the log spans several months."""

    at = MONTHS[0]

    @classmethod
    def now(cls, tz=None):
        return cls.at


def write_log(registry_root, batches: int, rows: int, monkeypatch) -> None:
    """`batches` batches of `rows` German credit rows through the real log writer; every
    other batch also scored by a shadow; batch i decided in month i % 3."""
    monkeypatch.setattr(decision_log, "datetime", _Clock)
    for number in range(batches):
        _Clock.at = MONTHS[number % len(MONTHS)]
        frame = ROWS.sample(rows, replace=True, random_state=number).reset_index(drop=True)
        frame[ROW_ID] = np.arange(len(frame))
        log = registry_root / "decision_log" / f"b{number:03d}" / f"{number:016x}"
        scorers = [PRODUCTION, SHADOW] if number % 2 else [PRODUCTION]
        decision_log.score_into_log(scorers, frame, log, f"b{number:03d}", 250, "run", GROUPS)


def _everything(registry_root: Path) -> pd.DataFrame:
    logs = sorted((registry_root / "decision_log").glob("*/*"))
    return pd.concat([decision_log.read_log(log) for log in logs], ignore_index=True)


@pytest.fixture(scope="module")
def local_log(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as monkeypatch:
        write_log(root, 6, 400, monkeypatch)
    return root


def _favourable(frame: pd.DataFrame) -> pd.Series:
    return (frame["decision"] == decision_log.FAVOURABLE).astype(float)


def test_volume_and_group_month_answers_equal_pandas_on_the_same_parts(local_log):
    logged = _everything(local_log)
    volume = log_queries.ask(local_log, "volume").set_index(["model_version", "role"])
    for (version, role), rows in logged.groupby(["model_version", "role"]):
        answer = volume.loc[(version, role)]
        assert answer["decisions"] == len(rows) and answer["batches"] == rows["batch"].nunique()
        assert answer["favourable_rate"] == pytest.approx(_favourable(rows).mean(), abs=1e-9)

    production = logged[(logged["role"] == "production") & (logged["model_version"] == "v1")]
    for attribute in GROUPS:
        answer = log_queries.ask(local_log, "by-group-month", version="v1", attribute=attribute,
                                 sensitive=GROUPS)
        expected = production.assign(
            month=production["decided_at"].dt.tz_convert("UTC").dt.strftime("%Y-%m"),
            grp=production[decision_log.group_column(attribute)],
            favourable=_favourable(production))
        expected = expected.groupby(["month", "grp"]).agg(
            decisions=("favourable", "size"), favourable_rate=("favourable", "mean"),
            mean_score=("score", "mean")).reset_index()
        answer["month"] = pd.to_datetime(answer["month"], utc=True).dt.strftime("%Y-%m")
        keys = ["month", "grp"]
        assert answer[keys].values.tolist() == expected[keys].values.tolist()
        assert answer["decisions"].tolist() == expected["decisions"].tolist()
        np.testing.assert_allclose(answer["favourable_rate"], expected["favourable_rate"],
                                   rtol=0, atol=1e-9)
        np.testing.assert_allclose(answer["mean_score"], expected["mean_score"], rtol=0,
                                   atol=1e-9)
        assert sorted(answer["month"].unique()) == ["2026-03", "2026-04", "2026-05"]


def test_batches_and_subject_answers_equal_pandas(local_log):
    logged = _everything(local_log)
    answer = log_queries.ask(local_log, "batches").set_index("batch")
    for batch, rows in logged.groupby("batch"):
        roles = rows.pivot(index="row", columns="role", values="decision")
        assert answer.loc[batch, "decisions"] == len(roles)
        if "shadow" in roles:
            agreement = float((roles["production"] == roles["shadow"]).mean())
            assert answer.loc[batch, "shadow_agreement"] == pytest.approx(agreement, abs=1e-9)
        else:
            assert pd.isna(answer.loc[batch, "shadow_agreement"])
    subject = logged["input_sha256"].iloc[5]
    found = log_queries.ask(local_log, "subject", input_sha256=subject)
    assert len(found) == int((logged["input_sha256"] == subject).sum()) >= 1
    assert set(found["score"]) == set(logged.loc[logged["input_sha256"] == subject, "score"])


def test_a_ten_thousand_row_log_on_s3_answers_as_the_same_log_on_disk(
        tmp_path, s3_endpoint, monkeypatch):
    on_disk = tmp_path / "registry"
    write_log(on_disk, 5, 2000, monkeypatch)
    on_s3 = storage.resolve_root(tmp_path, "s3://governance/registry")
    write_log(on_s3, 5, 2000, monkeypatch)
    logged = _everything(on_disk)
    assert (logged["role"] == "production").sum() == 10_000, "5 batches of 2,000 decisions"
    for name, arguments in (("volume", {}), ("batches", {}),
                            ("by-group-month", {"version": "v1", "attribute": "sex"})):
        remote = log_queries.ask(on_s3, name, sensitive=GROUPS, **arguments)
        local = log_queries.ask(on_disk, name, sensitive=GROUPS, **arguments)
        pd.testing.assert_frame_equal(remote.drop(columns=_times(remote)),
                                      local.drop(columns=_times(local)))


def _times(frame: pd.DataFrame) -> list[str]:
    """Times the two writes took at different moments: first and last decision."""
    return [c for c in ("first_decision", "last_decision") if c in frame]


@pytest.mark.parametrize("name", sorted(log_queries.QUESTIONS))
def test_every_question_transpiles_to_spark_sql(name):
    import sqlglot
    from sqlglot.errors import ErrorLevel

    sql = log_queries.question_sql(name, "sex")
    spark = sqlglot.transpile(sql, read="duckdb", write="spark",
                              unsupported_level=ErrorLevel.RAISE)[0]
    assert "read_parquet" not in spark.lower() and log_queries.VIEW in spark
    for parameter in log_queries.QUESTIONS[name].parameters:
        if parameter != "attribute":
            assert f":{parameter}" in spark, "Spark SQL's named parameter marker"


def test_a_question_that_cannot_be_asked_says_why(local_log, tmp_path):
    with pytest.raises(log_queries.LogQueryError, match="needs --version"):
        log_queries.ask(local_log, "by-group-month", attribute="sex", sensitive=GROUPS)
    with pytest.raises(log_queries.LogQueryError, match="'income' is not a sensitive feature"):
        log_queries.ask(local_log, "by-group-month", version="v1", attribute="income",
                        sensitive=GROUPS)
    with pytest.raises(log_queries.LogQueryError, match="no decision log under"):
        log_queries.ask(tmp_path, "volume")

    project = make_project(tmp_path / "project")
    refused = subprocess.run([str(GOVERNANCE), "--root", str(project), "log", "by-group-month",
                              "--version", "v1", "--attribute", "'; DROP TABLE x; --"],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "is not a sensitive feature of the active dataset" in refused.stdout
    assert "sex" in refused.stdout and "age_band" in refused.stdout
