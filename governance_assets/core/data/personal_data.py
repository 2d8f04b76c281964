"""Personal-data screen: direct identifiers and keys in disguise, found in every column.

GDPR Art. 5(1)(c) (data minimisation) asks that a model see no more personal data than its
purpose needs. A direct identifier (e-mail, phone, payment card, IBAN, a national ID, a
person's name) or a near-unique column (a key in disguise) adds nothing to a risk model but
re-identifies people in every file it reaches. Declared identifier columns are excluded from
the model and from the validated frame; an undeclared one fails with the column, the pattern
and a few masked examples. Patterns are tested once per distinct value, so the cost follows the
number of distinct values, not rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

import pandas as pd

from .text import blank

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# 9 to 15 digits with the usual separators, optionally a leading + (E.164 allows 15 digits).
PHONE = re.compile(r"\+?\(?\d[\d ()./-]{7,18}\d")
DECIMAL = re.compile(r"-?\d+(?:\.\d+)?")
CARD = re.compile(r"\d(?:[ -]?\d){12,18}")
IBAN = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
# Two to four capitalised words ("Anna Maria Schmidt"): a free-text name, flagged only in a
# column where most values are distinct (a category like "Not In Universe" repeats).
NAME = re.compile(r"[A-Z][a-z'\-]+(?: [A-Z][a-z'\-]+){1,3}")
NAME_MIN_DISTINCT_SHARE = 0.5
EXAMPLES = 3


def luhn_valid(digits: str) -> bool:
    """The payment-card check digit (ISO/IEC 7812): rules out most long numbers that are not."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """ISO 13616 mod-97 check: a real IBAN leaves remainder 1."""
    compact = text.replace(" ", "")
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _is_card(text: str) -> bool:
    digits = _digits(text)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _is_phone(text: str) -> bool:
    # A number of 9-15 digits is a phone only when written with a + or separators: integers
    # and decimals in a numeric column (an amount of 123456789.0) are not phones.
    digits = _digits(text)
    plain_number = DECIMAL.fullmatch(text) is not None
    return 9 <= len(digits) <= 15 and (text.startswith("+") or not plain_number)


def _pattern_rules(national_ids: dict[str, str]) -> dict[str, Callable[[str], bool]]:
    rules: dict[str, Callable[[str], bool]] = {
        "email": lambda v: EMAIL.fullmatch(v) is not None,
        "payment_card": lambda v: CARD.fullmatch(v) is not None and _is_card(v),
        "iban": lambda v: IBAN.fullmatch(v) is not None and iban_valid(v),
        "phone": lambda v: PHONE.fullmatch(v) is not None and _is_phone(v),
    }
    for name, pattern in national_ids.items():
        compiled = re.compile(pattern)
        rules[f"national_id:{name}"] = lambda v, p=compiled: p.fullmatch(v) is not None
    return rules


def mask(value: str) -> str:
    """Enough of a value for a reviewer to recognise the kind, never the person."""
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]


@dataclass(frozen=True)
class ColumnFinding:
    column: str
    pattern: str
    matching_values: int
    distinct_share: float
    examples: list[str]
    declared: bool

    def describe(self, file: str) -> str:
        what = ("near-unique values (a key in disguise)" if self.pattern == "near_unique" else
                f"{self.matching_values} value(s) matching {self.pattern}")
        return (f"{file}: column {self.column!r} rule personal_data: {what}, distinct share "
                f"{self.distinct_share:.3f}, e.g. {', '.join(self.examples)}; declare it under "
                "identifier_columns (it is then excluded from the model) or remove it")

    def to_dict(self) -> dict:
        return {"column": self.column, "pattern": self.pattern,
                "matching_values": self.matching_values,
                "distinct_share": round(self.distinct_share, 4), "examples": self.examples,
                "declared": self.declared}


def _column_findings(values: pd.Series, column: str, rules: dict[str, Callable[[str], bool]],
                     max_distinct_share: float | None, declared: bool) -> list[ColumnFinding]:
    present = values[~blank(values)]
    counts = present.value_counts()
    distinct_share = len(counts) / len(present) if len(present) else 0.0
    findings = []
    text = pd.Series(counts.index.astype(str), index=counts.index)
    for name, rule in rules.items():
        hits = text[text.map(rule)]
        if len(hits):
            findings.append(ColumnFinding(column, name, int(counts[hits.index].sum()),
                                          distinct_share, [mask(v) for v in hits[:EXAMPLES]],
                                          declared))
    names = text[text.map(lambda v: NAME.fullmatch(v) is not None)]
    if len(names) and distinct_share >= NAME_MIN_DISTINCT_SHARE:
        findings.append(ColumnFinding(column, "person_name", int(counts[names.index].sum()),
                                      distinct_share, [mask(v) for v in names[:EXAMPLES]],
                                      declared))
    if max_distinct_share is not None and len(present) and distinct_share >= max_distinct_share:
        findings.append(ColumnFinding(column, "near_unique", len(counts), distinct_share,
                                      [mask(str(v)) for v in counts.index[:EXAMPLES]], declared))
    return findings


def screen(raw: pd.DataFrame, identifier_columns: list[str], national_ids: dict[str, str],
           max_identifier_values: int, max_distinct_share: float,
           near_unique_judged: Collection[str] = ()) -> list[ColumnFinding]:
    """Every column of the file (as text) against every pattern and the near-unique rule.

    A column is reported once per pattern it matches more than max_identifier_values times.
    Columns in `near_unique_judged` skip the near-unique rule: a sample of a column already
    judged on the whole dataset is more distinct the smaller it is (German credit's
    credit_amount: share 0.92 on its 1,000 rows, 0.97 on 500, 1.0 on 100).
    """
    rules = _pattern_rules(national_ids)
    findings = []
    for column in raw.columns:
        share = None if column in near_unique_judged else max_distinct_share
        found = _column_findings(raw[column].astype(str), column, rules, share,
                                 column in identifier_columns)
        findings += [f for f in found
                     if f.pattern == "near_unique" or f.matching_values > max_identifier_values]
    return findings


def summary(findings: list[ColumnFinding], identifier_columns: list[str]) -> dict:
    """What the card lists under data minimisation: what was excluded and why."""
    undeclared = [f for f in findings if not f.declared]
    return {
        "declared_identifier_columns": list(identifier_columns),
        "excluded_from_model_and_validated_data": list(identifier_columns),
        "findings": [f.to_dict() for f in findings],
        "undeclared_columns": sorted({f.column for f in undeclared}),
        "rule": ("every column is tested for e-mail, phone, payment card (Luhn), IBAN (mod 97), "
                 "the national-ID patterns in policy.national_id_patterns and free-text names, "
                 "and for a distinct-value share >= policy.max_distinct_share (a key in "
                 "disguise); examples are masked"),
    }


def findings_table(summary_: dict) -> str:
    """The screen's findings as the UI shows them on the personal_data check."""
    from ..report.markdown import table

    if not summary_.get("findings"):
        return (f"No identifier found; declared identifier columns excluded: "
                f"{summary_.get('declared_identifier_columns') or 'none'}.")
    return table(["column", "pattern", "matching values", "distinct share", "examples (masked)",
                  "declared"],
                 [[f["column"], f["pattern"], f["matching_values"], f["distinct_share"],
                   ", ".join(f["examples"]), f["declared"]] for f in summary_["findings"]])
