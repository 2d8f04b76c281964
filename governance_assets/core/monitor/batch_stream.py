"""A batch file validated, scored and logged in pieces of monitoring.stream_rows rows, so a
batch of millions of rows is never whole in memory.

Two passes, so that a bad row anywhere refuses the batch before anything is scored: the first
validates every piece with the training data's validator (core/data/validation.py, BATCH
expectations; its batch rules are row by row) and writes each typed piece to a staging folder;
only when every piece passed does the second score the pieces in order into the decision log
and append each piece's inputs, groups, labels and logged decisions to scored.parquet. A batch
no larger than one piece is validated and reported exactly as a whole file.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..data import raw_files, validation
from ..data.columns import FAVOURABLE, ROW_ID
from ..files import read_parquet, write_parquet_atomic
from ..params import DatasetSpec, Policy
from . import decision_log
from .monitoring import SCORE


@dataclass
class ValidatedBatch:
    """The typed pieces of a batch that passed validation, in row order, and the report."""

    pieces: list[Path] = field(default_factory=list)
    rows: int = 0
    report: dict = field(default_factory=dict)
    refusal: str | None = None


def validate_in_pieces(path: Path, spec: DatasetSpec, policy: Policy, file: str,
                       piece_rows: int, staging: Path) -> ValidatedBatch:
    """Validate the file piece by piece into `staging`; stop at the first piece that fails.

    The report is the first piece's (every rule and its wording) with the batch's row counts;
    a batch read in several pieces says so (`pieces`): the passing findings quote the first
    piece, and every piece passed every blocking rule. A piece whose rows the row filters all
    removed adds no rows and is no refusal; a batch whose pieces all were is. A refusal is the
    failing piece's report, with the rows it covers.
    """
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    result, first, filtered_out, rows_read = ValidatedBatch(), None, None, 0
    for number, raw in enumerate(raw_files.read_raw_chunks(path, piece_rows)):
        frame, report = validation.validate(raw, spec, policy, file, validation.BATCH)
        rows_read += len(raw)
        if frame is None and _only_filtered_out(report) and len(raw):
            filtered_out = filtered_out or report   # a piece the row filters emptied: no rows
            continue
        if frame is None:
            failed = report.to_dict()
            if number or result.rows:
                failed["piece"] = {"number": number, "first_row": int(raw.index[0]),
                                   "rows": len(raw)}
            shutil.rmtree(staging, ignore_errors=True)
            return ValidatedBatch(report=failed, refusal="; ".join(
                f.message for f in report.findings if not f.passed))
        first = first or report
        result.pieces.append(write_parquet_atomic(staging / f"{number:06d}.parquet", frame))
        result.rows += len(frame)
    if first is None:   # every piece emptied by the row filters: the whole batch is
        shutil.rmtree(staging, ignore_errors=True)
        return ValidatedBatch(report=filtered_out.to_dict(), refusal="; ".join(
            f.message for f in filtered_out.findings if not f.passed))
    result.report = {**first.to_dict(), "rows": rows_read, "rows_used": result.rows}
    if len(result.pieces) > 1:
        result.report["pieces"] = {
            "count": len(result.pieces), "rows_per_piece": piece_rows,
            "note": "validated piece by piece (monitoring.stream_rows); the passing findings "
                    "quote the first piece, and every piece passed every blocking rule"}
    return result


def _only_filtered_out(report) -> bool:
    """The piece's one failure is that row_filters removed all of its rows."""
    failed = [f for f in report.findings if not f.passed]
    return bool(failed) and all(f.rule == "rows_after_filters" for f in failed)


def score_pieces(validated: ValidatedBatch, scorers: Sequence[decision_log.Scorer], log: Path,
                 batch: str, log_chunk_rows: int, run_id: str, spec: DatasetSpec,
                 features: list[str], scored_path: Path) -> list[dict]:
    """Score every piece into the log (resuming after what is logged) and write scored.parquet
    from what the log holds; what each scorer did, summed over the pieces."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    groups = tuple(spec.sensitive_features)
    totals = {s.role: {"role": s.role, "model_version": s.version, "rows": 0,
                       "already_logged": 0, "logged_now": 0, "seconds": 0.0} for s in scorers}
    partial = scored_path.with_name(f".{scored_path.name}.partial")
    partial.parent.mkdir(parents=True, exist_ok=True)
    writer, offset = None, 0
    try:
        for piece in validated.pieces:
            frame = read_parquet(piece)
            for done in decision_log.score_into_log(list(scorers), frame, log, batch,
                                                    log_chunk_rows, run_id, groups, offset):
                for key in ("rows", "already_logged", "logged_now", "seconds"):
                    totals[done["role"]][key] += done[key]
            table = pa.Table.from_pandas(
                scored_rows(frame, spec, features, log, scorers, (offset, offset + len(frame))),
                preserve_index=False)
            writer = writer or pq.ParquetWriter(partial, table.schema)
            writer.write_table(table)
            offset += len(frame)
    finally:
        if writer is not None:
            writer.close()
    partial.replace(scored_path)
    shutil.rmtree(validated.pieces[0].parent, ignore_errors=True)
    for entry in totals.values():
        entry["seconds"] = round(entry["seconds"], 4)
    return list(totals.values())


def scored_rows(frame: pd.DataFrame, spec: DatasetSpec, features: list[str], log: Path,
                scorers: Sequence[decision_log.Scorer], positions: tuple[int, int]
                ) -> pd.DataFrame:
    """Inputs, sensitive attributes and labels beside the logged production (and shadow)
    decision of each row, read back from the log: what monitoring judges is what was logged."""
    keep = list(dict.fromkeys([ROW_ID, *features, *spec.sensitive_features,
                               *([FAVOURABLE] if FAVOURABLE in frame.columns else [])]))
    scored = frame[keep].copy()
    for column in spec.numeric_columns:   # one type in every piece, NaN or not
        if column in scored.columns:
            scored[column] = scored[column].astype(float)
    rows = scored[ROW_ID]
    for scorer in scorers:
        logged = decision_log.read_log(log, scorer.role, scorer.version,
                                       positions).set_index("row")
        if scorer.role == "production":
            scored[SCORE] = logged.loc[rows, "score"].to_numpy()
            scored["decision"] = logged.loc[rows, "decision"].to_numpy()
        else:
            scored["shadow_decision"] = logged.loc[rows, "decision"].to_numpy()
    return scored
