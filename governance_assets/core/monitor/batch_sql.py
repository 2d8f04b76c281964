"""A scored batch's drift counts as SQL over its Parquet file (DuckDB), never the whole batch
in pandas.

The drift statistic is PSI on bins the reference fixes (core/evidence/drift.py): only the
batch's row count per bin is needed, and DuckDB counts it by scanning one column of the file at
a time, so a batch of millions of rows costs one column's worth of memory. The bins are the
same as `drift.bin_index`'s, rule for rule: a number falls in the bin after the last reference
decile edge it exceeds (NaN and NULL in the last bin, as numpy's searchsorted puts NaN), a
category in its position among the reference's sorted categories, anything else (NULL
included) in the unseen bin. The file, edges and categories are bound as parameters, so no
float is re-parsed from text. tests/test_batch_sql.py holds these counts equal to numpy's on
simulated batches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..evidence import drift


def connect():
    import duckdb

    return duckdb.connect()


def bin_counts(connection, parquet: Path, column: str, reference: pd.Series,
               numeric: bool) -> np.ndarray:
    """Rows of the file's `column` per bin of the reference's bins (drift.bin_counts' bins)."""
    source = "read_parquet($path)"
    quoted = '"' + column.replace('"', '""') + '"'
    if numeric:
        edges = drift.numeric_edges(reference)
        value = f"CAST({quoted} AS DOUBLE)"
        above = " + ".join(f"CAST({value} > $e{i} AS INTEGER)" for i in range(len(edges)))
        expression = f"COALESCE({above or '0'}, {len(edges)})"
        parameters = {"path": str(parquet),
                      **{f"e{i}": float(edge) for i, edge in enumerate(edges)}}
        bins = len(edges) + 1
        query = f"SELECT {expression} AS bin, COUNT(*) AS n FROM {source} GROUP BY bin"
    else:
        categories = sorted(reference.astype(str).unique())
        bins = len(categories) + 1
        parameters = {"path": str(parquet), "categories": categories}
        query = (f"SELECT COALESCE(list_position($categories, CAST({quoted} AS VARCHAR)) - 1, "
                 f"{len(categories)}) AS bin, COUNT(*) AS n FROM {source} GROUP BY bin")
    counted = connection.execute(query, parameters).fetchall()
    counts = np.zeros(bins, dtype=np.int64)
    for position, rows in counted:
        counts[int(position)] = rows
    return counts


def feature_psi(parquet: Path, reference: pd.DataFrame, columns: dict[str, bool]
                ) -> dict[str, float]:
    """PSI of each column of the batch file against the reference, from SQL bin counts."""
    with connect() as connection:
        return {column: drift.psi_from_counts(
                    drift.bin_counts(reference[column], reference[column], numeric),
                    bin_counts(connection, parquet, column, reference[column], numeric))
                for column, numeric in columns.items()}
