"""Build the full UCI Census-Income (KDD) file the `census_income_full` params block reads.

Reads ../shared/data on purpose (run by hand, by `make census-full` or by
benchmarks/census_scale.py); the pipeline itself never reads ../shared. The two UCI files
(199,523 training + 99,762 test rows, both survey years in each) are concatenated unchanged
into data/raw/census_income_full.csv.gz, which .gitignore keeps out of git: it is 8.6 MB
gzipped and 100+ MB as a table. DVC still hashes it with the rest of data/raw/, so building
it changes the data/raw entry of dvc.lock in this checkout (honestly: the folder changed).

`--fraction` keeps a seeded share of each survey year instead (the scale benchmark's 1x and
2x inputs); the default 1.0 is every row.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = ("census_income_kdd_train.csv.gz", "census_income_kdd_test.csv.gz")
TARGET = Path(__file__).resolve().parent / "raw" / "census_income_full.csv.gz"
SEED = 20261201


def combined(shared: Path = SHARED) -> pd.DataFrame:
    """Both UCI files as text, training rows first, with the header they share."""
    frames = [pd.read_csv(shared / name, dtype=str, keep_default_na=False) for name in SOURCES]
    if list(frames[0].columns) != list(frames[1].columns):
        raise ValueError(f"{SOURCES[0]} and {SOURCES[1]} have different headers")
    return pd.concat(frames, ignore_index=True)


def build(target: Path = TARGET, fraction: float = 1.0, shared: Path = SHARED) -> int:
    """Write the combined file (or a seeded per-year share of it) to `target`; its rows.

    gzip with mtime 0, so the same rows give the same bytes (and the same DVC md5).
    """
    frame = combined(shared)
    if fraction < 1.0:
        frame = (frame.groupby("year", group_keys=False)
                 .sample(frac=fraction, random_state=SEED).sort_index())
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    frame.to_csv(partial, index=False, compression={"method": "gzip", "mtime": 0})
    partial.replace(target)
    return len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--target", type=Path, default=TARGET)
    args = parser.parse_args()
    rows = build(args.target, args.fraction)
    print(f"{args.target}: {rows} rows, {args.target.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
