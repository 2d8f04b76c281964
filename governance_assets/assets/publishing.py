"""How every report-producing asset finishes: JSON report bound to its inputs, flat DVC metrics.

Reports are deterministic (same inputs, same bytes), so DVC's lock file does not change when a
stage re-runs on the same inputs; figures that depend on the machine go to reports/runtime/.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from dagster import DataVersion, MaterializeResult, MetadataValue

from ..core.decide.verdicts import code_version, verified_candidate
from ..core.files import fingerprint, read_json, write_json_atomic
from ..core.layout import Layout
from ..core.model import model_files

if TYPE_CHECKING:
    import pandas as pd

    from ..core.params import Params

CODE_VERSION = code_version()


def read_split(layout: Layout, name: str) -> "pd.DataFrame":
    import pandas as pd

    path = layout.split(name)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: materialize dataset_splits first")
    return pd.read_parquet(path)


def evaluation_rows(layout: Layout, params: "Params") -> tuple["pd.DataFrame", dict]:
    """The rows the candidate's reports judge it on, and what they are (every report quotes
    it): the golden split for a candidate trained here; for an external one (an audit) by
    default every row that passes the dataset's filters (params `audit.rows`)."""
    import pandas as pd

    from ..core.data.columns import ROW_ID

    manifest = read_json(layout.report("splits.json"))
    golden_rows = manifest["rows"]["golden_test"]
    if params.evaluation_rows == "golden":
        golden = read_split(layout, "golden_test")
        why = ("external candidate, audit.rows: golden" if params.active.external else
               "rows the candidate was never fitted or selected on")
        return golden, {"rows": len(golden), "which": "golden", "splits": ["golden_test"],
                        "golden_test_rows": golden_rows,
                        "description": f"the golden test split ({why})"}
    names = ["train", "validation", "golden_test"]
    if not manifest["current"]["simulated"]:
        names.append("current")
    frame = pd.concat([read_split(layout, name) for name in names], ignore_index=True)
    frame = frame.sort_values(ROW_ID, kind="stable").reset_index(drop=True)
    return frame, {"rows": len(frame), "which": "all", "splits": names,
                   "golden_test_rows": golden_rows,
                   "description": "every row that passes the dataset's filters ("
                                  + " + ".join(names) + "; audit.rows: all, the candidate "
                                  "was not trained here)"}


def data_binding(layout: Layout) -> dict:
    """The raw data version the splits were made from, carried into every later report."""
    return {"data_version": read_json(layout.report("splits.json"))["binding"]["data_version"]}


def load_candidate(layout: Layout, params: "Params") -> tuple[object, dict]:
    """The candidate, loaded from the very bytes whose sha256 matched the one recorded at
    training (read once: no gap between check and load), with skops and the trusted types."""
    data, sha256 = verified_candidate(layout)
    model = model_files.loads(data, layout.relative(layout.model),
                              model_files.declared_types(params.active))
    return model, {**data_binding(layout), "candidate_sha256": sha256}


def operating_threshold(layout: Layout) -> float:
    """The candidate's decision threshold, as recorded beside it at training (tuned on
    validation by the search, or model.decision_threshold)."""
    return float(read_json(layout.model_meta)["decision_threshold"])


def publish(layout: Layout, name: str, report: dict, metrics: dict,
            extra_files: tuple[Path, ...] = (), extra_metadata: dict | None = None
            ) -> MaterializeResult:
    """Write reports/<name>.json and reports/metrics/<name>.json; version the asset by content."""
    report_path = write_json_atomic(layout.report(f"{name}.json"), report)
    write_json_atomic(layout.metrics(name), metrics)
    files = {"report": report_path, **{p.name: p for p in extra_files}}
    return MaterializeResult(
        data_version=DataVersion(fingerprint(files.values())),
        metadata={**{k: v for k, v in metrics.items() if isinstance(v, int | float | str)},
                  **{k: MetadataValue.path(layout.relative(p)) for k, p in files.items()},
                  **(extra_metadata or {})},
    )
