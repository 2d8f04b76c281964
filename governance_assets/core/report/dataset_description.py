"""What the card says about the data: target, outcomes, cleaning, groups, and the datasheet.

Pure functions of the dataset spec (and, for the datasheet, the project root), so the card and
the compliance checklist state exactly what params.yaml configured.
"""

from __future__ import annotations

from pathlib import Path

from ..data.columns import MISSING_CATEGORY
from ..files import sha256_of_file
from ..params import DatasetSpec, DerivedFeature
from . import markdown

ORIENTATION = ("positive = the favourable outcome (y = a favourable label); TPR = P(predicted "
               "favourable | truly favourable), FPR = P(predicted favourable | truly "
               "unfavourable), FNR = 1 - TPR, selection rate = P(predicted favourable)")


def datasheet_status(root: Path, spec: DatasetSpec) -> dict:
    """Whether the declared datasheet exists; Art. 10 can only be met when it does."""
    path = root / spec.datasheet
    exists = path.is_file() and path.stat().st_size > 0
    return {"path": spec.datasheet, "exists": exists,
            "sha256": sha256_of_file(path) if exists else None,
            "finding": f"datasheet {spec.datasheet} " + ("present" if exists else
                                                         "is missing or empty")}


def _construction(name: str, spec: DatasetSpec) -> str:
    rule: DerivedFeature | None = spec.derived.get(name)
    if rule is None:
        return f"column {name!r} as recorded"
    if rule.mapping is not None:
        groups: dict[str, list[str]] = {}
        for code, group in rule.mapping.items():
            groups.setdefault(group, []).append(code)
        listed = "; ".join(f"{g} <- {', '.join(codes)}" for g, codes in groups.items())
        return f"from column {rule.source!r} by code mapping: {listed}"
    edges = [f"{e:g}" for e in rule.band_edges]
    lower, upper = [None, *edges], [*edges, None]
    bands = [f"{label}: " + " and ".join(
        part for part in (low and f">= {low}", high and f"< {high}") if part)
             for label, low, high in zip(rule.band_labels, lower, upper, strict=True)]
    return f"from column {rule.source!r} by bands: {'; '.join(bands)}"


def describe_dataset(spec: DatasetSpec) -> dict:
    """The card's data section: everything a reviewer needs to read the fairness numbers."""
    unfavourable = (list(spec.label_mapping.unfavourable) if spec.label_mapping else
                    [v for v in spec.labels if v != spec.favourable_label])
    return {
        "target": spec.target,
        "favourable_labels": spec.favourable_values,
        "unfavourable_labels": unfavourable,
        "label_mapping": ("label_mapping in params.yaml" if spec.label_mapping else
                          "labels + favourable_label in params.yaml"),
        "row_filters": [f.describe() for f in spec.row_filters],
        "missing_values": {"codes_in_every_column": spec.missing_values,
                           "codes_by_column": spec.missing_codes,
                           "categorical_missing_becomes": MISSING_CATEGORY,
                           "numeric_missing": spec.missing_numeric},
        "groups": {name: _construction(name, spec) for name in spec.sensitive_features},
        "time_periods": spec.time.describe() if spec.time else None,
        "model_features": spec.model_features,
        "excluded_from_model": spec.exclude_from_model,
        "rate_orientation": ORIENTATION,
    }


def render_markdown(description: dict) -> str:
    """A short paragraph and table for the card's Markdown rendering."""
    lines = [
        f"Target {markdown.code(description['target'])}; favourable: "
        f"{', '.join(markdown.code(v) for v in description['favourable_labels'])}; unfavourable: "
        f"{', '.join(markdown.code(v) for v in description['unfavourable_labels'])} "
        f"({markdown.text(description['label_mapping'])}). {description['rate_orientation']}.",
        "",
        "Row filters: " + ("; ".join(map(markdown.text, description["row_filters"])) or "none")
        + ".",
        "",
        markdown.table(["sensitive feature", "how the groups were built"],
                       description["groups"].items()),
    ]
    return "\n".join(lines) + "\n"
