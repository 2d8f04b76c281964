"""Draw the committed census-income sample from the shared UCI files (run once, by hand).

Reads ../shared/data on purpose: it documents how data/raw/census_income_sample.csv.gz was
made. The pipeline itself never reads ../shared.
"""

from pathlib import Path

import pandas as pd

ROWS_PER_YEAR = 12_000
SEED = 20261122
SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "census_income_kdd_train.csv.gz"
TARGET = Path(__file__).resolve().parent / "raw" / "census_income_sample.csv.gz"


def main() -> None:
    frame = pd.read_csv(SOURCE, dtype=str, keep_default_na=False)
    sample = (
        frame.groupby("year", group_keys=False)
        .sample(n=ROWS_PER_YEAR, random_state=SEED)
        .sort_index()
    )
    sample.to_csv(TARGET, index=False, compression={"method": "gzip", "mtime": 0})
    print(f"{TARGET}: {len(sample)} rows, {TARGET.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
