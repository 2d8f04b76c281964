"""The batch decision log (EU AI Act Art. 12 record keeping): one row per automated decision.

Not to be confused with core/decide/decisions.py, the promotion decision records. Each row holds the
batch, the row's position in the batch file, the sha256 of the inputs the model read, the model
version and sha256, the role (production, or shadow for the staging model), score, decision,
threshold, time and run id, then one `group_<attribute>` column per sensitive attribute of the
dataset: the group the decision is judged in for fairness (special-category data kept for bias
monitoring, EU AI Act Art. 10(5)), so the log's audit questions (log_queries.py) answer "by
group" from the log alone.

Append-only by construction: a batch's log is a folder of Parquet parts, each a contiguous
range of rows written atomically (temp file + rename) and never rewritten. Parts are written
in row order, so after a kill the parts of a (role, version) cover a prefix of the batch; a
re-run resumes after it and no row is ever logged twice.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.columns import ROW_ID, model_inputs
from ..files import read_parquet, write_parquet_atomic

PART = re.compile(r"^(?P<role>production|shadow)-(?P<version>[A-Za-z0-9_.]+)-(?P<start>\d{9})-"
                  r"(?P<end>\d{9})\.parquet$")
COLUMNS = ["batch", "row", "input_sha256", "model_version", "model_sha256", "role", "score",
           "decision", "threshold", "decided_at", "run_id"]
FAVOURABLE, UNFAVOURABLE = "favourable", "unfavourable"
GROUP_PREFIX = "group_"


def group_column(attribute: str) -> str:
    return f"{GROUP_PREFIX}{attribute}"


@dataclass(frozen=True)
class Scorer:
    """A registry version as the log names it: which model, in which role, at which threshold."""

    model: object
    role: str
    version: str
    model_sha256: str
    threshold: float


def input_hashes(inputs: pd.DataFrame) -> list[str]:
    """sha256 of each row's `name=value` pairs as the model read them, joined by U+001F."""
    text = pd.Series("", index=inputs.index)
    for number, column in enumerate(inputs.columns):
        separator = "" if number == 0 else "\x1f"
        text = text + f"{separator}{column}=" + inputs[column].astype(str)
    return [hashlib.sha256(row.encode()).hexdigest() for row in text]


def logged_until(log: Path, role: str, version: str) -> int:
    """Rows [0, n) of the batch already logged for this role and version (parts are a prefix)."""
    ends = [int(m["end"]) for m in _parts(log) if m["role"] == role and m["version"] == version]
    return max(ends, default=0)


def _parts(log: Path) -> list[re.Match]:
    if not log.is_dir():
        return []
    return [m for m in (PART.match(p.name) for p in sorted(log.iterdir())) if m]


def score_into_log(scorers: list[Scorer], frame: pd.DataFrame, log: Path, batch: str,
                   chunk_rows: int, run_id: str, groups: tuple[str, ...] = (),
                   offset: int = 0) -> list[dict]:
    """Score the rows not yet logged for each scorer, chunk by chunk; return what each did.

    `groups` are the sensitive attributes whose group each row's entry records; `frame` holds
    the batch's validated rows from position `offset` on (a batch read in pieces). A chunk's
    inputs are hashed once for every scorer that reads the same columns.
    """
    starts = {s.role: min(max(logged_until(log, s.role, s.version) - offset, 0), len(frame))
              for s in scorers}
    done = {s.role: {"role": s.role, "model_version": s.version, "rows": len(frame),
                     "already_logged": starts[s.role], "logged_now": 0, "seconds": 0.0}
            for s in scorers}
    for begin in range(min(starts.values(), default=len(frame)), len(frame), chunk_rows):
        chunk, hashes = frame.iloc[begin:begin + chunk_rows], {}
        for scorer in (s for s in scorers if begin >= starts[s.role]):
            started = time.perf_counter()
            part = _decide(scorer, chunk, batch, run_id, groups, hashes)
            first, last = offset + begin, offset + begin + len(chunk)
            write_parquet_atomic(
                log / f"{scorer.role}-{scorer.version}-{first:09d}-{last:09d}.parquet", part)
            done[scorer.role]["logged_now"] += len(chunk)
            # machine-dependent, for throughput figures (benchmarks/monitoring.py)
            done[scorer.role]["seconds"] += time.perf_counter() - started
    return list(done.values())


def _decide(scorer: Scorer, chunk: pd.DataFrame, batch: str, run_id: str,
            groups: tuple[str, ...], hashes: dict[tuple[str, ...], list[str]]) -> pd.DataFrame:
    """One chunk's log entries for one scorer; `hashes` keeps the chunk's input hashes by the
    columns hashed, for the next scorer."""
    from threadpoolctl import threadpool_limits

    inputs = model_inputs(scorer.model, chunk)
    columns = tuple(inputs.columns)
    if columns not in hashes:
        hashes[columns] = input_hashes(inputs)
    # One thread: on a shared machine OpenMP's spinning threads made gradient boosting's
    # predict 1.5-2.5x slower than one thread (50,000 census rows: 2.8-4.7 s against 1.7-2.1 s).
    with threadpool_limits(1):
        scores = scorer.model.predict_proba(inputs)[:, 1]
    entries = pd.DataFrame({
        "batch": batch,
        "row": chunk[ROW_ID].to_numpy(dtype=np.int64),
        "input_sha256": hashes[columns],
        "model_version": scorer.version,
        "model_sha256": scorer.model_sha256,
        "role": scorer.role,
        "score": scores.astype(float),
        "decision": np.where(scores >= scorer.threshold, FAVOURABLE, UNFAVOURABLE),
        "threshold": float(scorer.threshold),
        "decided_at": pd.Timestamp(datetime.now(timezone.utc)),
        "run_id": run_id,
    }, columns=COLUMNS)
    for attribute in groups:
        entries[group_column(attribute)] = chunk[attribute].astype(str).to_numpy()
    return entries


def read_log(log: Path, role: str | None = None, version: str | None = None,
             positions: tuple[int, int] | None = None) -> pd.DataFrame:
    """Every logged decision of the batch (optionally one role / version, or the parts within
    one range of validated-row positions), in row order."""
    low, high = positions or (0, float("inf"))
    paths = [log / m.group(0) for m in _parts(log)
             if role in (None, m["role"]) and version in (None, m["version"])
             and int(m["start"]) >= low and int(m["end"]) <= high]
    if not paths:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.concat([read_parquet(p) for p in paths], ignore_index=True)
    return frame.sort_values(["role", "model_version", "row"], kind="stable",
                             ignore_index=True)
