"""Retention: rows older than the policy's maximum age are dropped before training, or block.

GDPR Art. 5(1)(e) (storage limitation) and CCPA §1798.100(a)(3) require personal data not be
kept longer than its purpose needs. The dataset spec names the collection-date column and the
date ages are measured at (`as_of`, fixed in params so the same inputs give the same rows);
`policy.max_record_age_days` is the limit and `policy.retention_action` says whether expired
rows are dropped (counted) or stop the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class RetentionResult:
    expired: pd.Series            # True for a row past the limit
    unreadable: pd.Series         # True for a date that cannot be read
    oldest_kept: str | None
    oldest_in_file: str | None
    cutoff: str

    def to_dict(self, column: str, as_of: str, max_age_days: int, action: str) -> dict:
        return {"column": column, "as_of": as_of, "max_record_age_days": max_age_days,
                "cutoff": self.cutoff, "action": action, "rows_expired": int(self.expired.sum()),
                "rows_unreadable": int(self.unreadable.sum()),
                "oldest_row_in_file": self.oldest_in_file, "oldest_row_used": self.oldest_kept}


def collection_dates(values: pd.Series) -> pd.Series:
    """Dates as written (ISO dates, datetimes) or bare years (1997 = 1 January 1997)."""
    text = values.astype(str).str.strip()
    years = text.str.fullmatch(r"\d{4}")
    parsed = pd.to_datetime(text.where(~years), errors="coerce", format="mixed")
    parsed[years] = pd.to_datetime(text[years], format="%Y")
    return parsed


def check(values: pd.Series, as_of: str, max_age_days: int) -> RetentionResult:
    """Which rows are older than max_age_days at as_of; the oldest row kept and overall."""
    dates = collection_dates(values)
    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=max_age_days)
    unreadable = dates.isna()
    expired = ~unreadable & (dates < cutoff)
    kept = dates[~expired & ~unreadable]
    return RetentionResult(expired=expired, unreadable=unreadable,
                           oldest_kept=_day(kept.min()), oldest_in_file=_day(dates.min()),
                           cutoff=_day(cutoff))


def _day(moment) -> str | None:
    return None if pd.isna(moment) else pd.Timestamp(moment).date().isoformat()


def retention_table(summary: dict) -> str:
    """The retention figures as the UI shows them on the retention check."""
    from ..report.markdown import table

    if not summary:
        return "No collection-date column declared: row age not checked."
    keys = ("column", "as_of", "max_record_age_days", "cutoff", "action", "rows_expired",
            "oldest_row_in_file", "oldest_row_used")
    return table(list(keys), [[summary[k] for k in keys]])
