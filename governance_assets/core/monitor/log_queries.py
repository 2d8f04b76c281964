"""The decision log's audit questions (EU AI Act Art. 12) as SQL over its Parquet parts.

The log grows without end, one folder of parts per batch (core/monitor/decision_log.py), so
nothing here loads it into pandas: DuckDB scans the parts where they are, out of core, on disk
or on object storage through the registry's own fsspec filesystem, and only the answer (a few
rows) comes back. Each question is plain SQL over one view, `decision_log`, with named
parameters (`$version`); only the view's definition (`read_parquet` over the parts) is
DuckDB's. On a distributed engine the same text runs over the same Parquet once the view is
defined there (Spark: `spark.read.parquet(...).createOrReplaceTempView("decision_log")`);
tests/test_log_queries.py transpiles every question to Spark SQL to keep it so.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..record import storage
from . import decision_log

VIEW = "decision_log"
FAVOURABLE_ONE = "CASE WHEN decision = 'favourable' THEN 1 ELSE 0 END"


class LogQueryError(RuntimeError):
    """The question cannot be asked (unknown attribute, no log); the message says why."""


@dataclass(frozen=True)
class Question:
    """One audit question: what it answers, its SQL over the view, the parameters it needs."""

    about: str
    sql: str
    parameters: tuple[str, ...] = ()


QUESTIONS: dict[str, Question] = {
    "volume": Question(
        "every model version and role: decisions, batches, favourable rate, first and last "
        "decision",
        f"""SELECT model_version, role, COUNT(*) AS decisions, COUNT(DISTINCT batch) AS batches,
       AVG({FAVOURABLE_ONE}) AS favourable_rate,
       MIN(decided_at) AS first_decision, MAX(decided_at) AS last_decision
FROM {VIEW}
GROUP BY model_version, role
ORDER BY first_decision, model_version, role"""),
    "by-group-month": Question(
        "one version's production decisions by group of one sensitive attribute and month: "
        "decisions, favourable, favourable rate, mean score",
        f"""SELECT DATE_TRUNC('month', decided_at) AS month, {{group}} AS grp,
       COUNT(*) AS decisions, SUM({FAVOURABLE_ONE}) AS favourable,
       AVG({FAVOURABLE_ONE}) AS favourable_rate, AVG(score) AS mean_score
FROM {VIEW}
WHERE model_version = $version AND role = 'production'
GROUP BY DATE_TRUNC('month', decided_at), {{group}}
ORDER BY month, grp""",
        ("version", "attribute")),
    "subject": Question(
        "every decision made about one input (its sha256, as logged): the record a person "
        "asking about their decision is owed",
        f"""SELECT decided_at, batch, "row", role, model_version, model_sha256, score, decision,
       threshold, run_id
FROM {VIEW}
WHERE input_sha256 = $input
ORDER BY decided_at, role""",
        ("input",)),
    "batches": Question(
        "every batch: production decisions, favourable rate, and the shadow's agreement with "
        "production where a shadow scored it",
        f"""SELECT p.batch, p.model_version, COUNT(*) AS decisions,
       AVG(CASE WHEN p.decision = 'favourable' THEN 1 ELSE 0 END) AS favourable_rate,
       COUNT(s.decision) AS shadow_decisions,
       AVG(CASE WHEN s.decision IS NULL THEN NULL
                WHEN s.decision = p.decision THEN 1 ELSE 0 END) AS shadow_agreement
FROM {VIEW} AS p
LEFT JOIN {VIEW} AS s
  ON s.batch = p.batch AND s."row" = p."row" AND s.role = 'shadow'
WHERE p.role = 'production'
GROUP BY p.batch, p.model_version
ORDER BY p.batch, p.model_version"""),
}


def question_sql(name: str, attribute: str | None = None) -> str:
    """The question's SQL; an attribute becomes a quoted column name, never a value."""
    question = QUESTIONS[name]
    if "attribute" not in question.parameters:
        return question.sql
    return question.sql.replace("{group}", f'"{decision_log.group_column(attribute)}"')


def log_glob(registry_root: storage.RegistryPath) -> str:
    """Every part of every batch's log: registry/decision_log/<batch>/<content>/<part>."""
    return f"{_location(registry_root / 'decision_log')}/*/*/*.parquet"


def connect(registry_root: storage.RegistryPath):
    """A DuckDB connection with the view `decision_log` over every part of the log.

    Columns added to the log later (a sensitive attribute's group) are NULL in older parts
    (union_by_name). Times are UTC, so a month is a UTC month.
    """
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    if storage.local_folder(registry_root) is None:
        connection.register_filesystem(registry_root.fs)
    connection.execute(f"CREATE VIEW {VIEW} AS SELECT * FROM read_parquet("
                       f"'{_sql_text(log_glob(registry_root))}', union_by_name = true)")
    return connection


def ask(registry_root: storage.RegistryPath, name: str, *, version: str | None = None,
        attribute: str | None = None, input_sha256: str | None = None,
        sensitive: tuple[str, ...] = ()) -> pd.DataFrame:
    """The answer to one question, as a small frame (the scan stays in DuckDB)."""
    question = QUESTIONS[name]
    given = {"version": version, "attribute": attribute, "input": input_sha256}
    missing = [p for p in question.parameters if not given[p]]
    if missing:
        raise LogQueryError(f"question {name!r} needs " + ", ".join(f"--{p}" for p in missing))
    if "attribute" in question.parameters and attribute not in sensitive:
        raise LogQueryError(f"attribute {attribute!r} is not a sensitive feature of the active "
                            f"dataset (datasets.<name>.sensitive_features: "
                            f"{', '.join(sensitive) or 'none'}); the log records groups of "
                            "those only")
    if not _has_parts(registry_root):
        raise LogQueryError(f"no decision log under {_location(registry_root / 'decision_log')}"
                            ": `governance monitor` writes it when it scores a batch")
    import duckdb

    values = {p: given[p] for p in question.parameters if p != "attribute"}
    with connect(registry_root) as connection:
        try:
            return connection.execute(question_sql(name, attribute), values).df()
        except duckdb.BinderException as error:   # a column no part of the log has
            if "attribute" in question.parameters and \
                    decision_log.group_column(attribute) in str(error):
                raise LogQueryError(f"no logged decision records the group of {attribute!r} "
                                    "(parts written before the log held groups)") from error
            raise


def _has_parts(registry_root: storage.RegistryPath) -> bool:
    folder = registry_root / "decision_log"
    return folder.exists() and any(folder.glob("*/*/*.parquet"))


def _location(path: storage.RegistryPath) -> str:
    """A path DuckDB can open: a folder on disk (file:// included) as is, any other store as
    `protocol://key` through the fsspec filesystem `connect` registers."""
    local = storage.local_folder(path)
    return str(local) if local is not None else f"{storage.protocol(path)}://{path.path}"


def _sql_text(text: str) -> str:
    return text.replace("'", "''")
