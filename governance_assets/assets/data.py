"""Group data: the DVC-versioned input, its validation, and the splits."""

from typing import TYPE_CHECKING

from dagster import AssetExecutionContext, DataVersion, MaterializeResult, MetadataValue, asset

from ..core.data import handover
from ..core.data.lineage import dvc_lock_md5
from ..core.decide.verdicts import validation_binding
from ..core.files import (
    fingerprint,
    md5_of_file,
    read_json,
    write_json_atomic,
    write_parquet_atomic,
)
from ..resources import GovernanceProject
from .publishing import CODE_VERSION

if TYPE_CHECKING:
    import pandas as pd

    from ..core.layout import Layout


@asset(group_name="data", kinds={"dvc", "csv"}, code_version=CODE_VERSION)
def raw_dataset(project: GovernanceProject) -> MaterializeResult:
    """The raw file params.yaml selects; its data version is the md5 DVC records for it."""
    params = project.params()
    path = project.layout.root / params.active.path
    md5 = md5_of_file(path)
    locked = dvc_lock_md5(project.layout.root, "data/raw")
    return MaterializeResult(
        data_version=DataVersion(md5),
        metadata={
            "dataset": params.dataset,
            "path": MetadataValue.path(params.active.path),
            "md5": md5,
            "dvc_lock_data_raw": locked or "not yet in dvc.lock",
            "bytes": path.stat().st_size,
            "datasheet": MetadataValue.path(params.active.datasheet),
        },
    )


@asset(group_name="data", deps=[raw_dataset], kinds={"pandas", "parquet"},
       code_version=CODE_VERSION)
def validated_dataset(context: AssetExecutionContext, project: GovernanceProject
                      ) -> MaterializeResult:
    """Typed and decoded rows. Invalid data leaves no frame behind: the gates name the rule.
    Rows the run's input check validated under the same binding, in this very process, are
    written as they are (core/data/handover.py), so a cold `governance run` validates the file
    once."""
    params, layout = project.params(), project.layout
    binding = validation_binding(params, layout)
    held = handover.take(binding)
    if held is None:
        record, validated_by = _validate(context, project, binding), "this stage"
    else:
        record, validated_by = held.record, "the input check of this run, in this process"
        _write(layout, held.frame, record)
    write_json_atomic(layout.metrics("data"), {"rows": record["rows"], "valid": record["valid"]})
    kept = layout.validated if record["valid"] else layout.report("validation.json")
    version = fingerprint([kept])
    return MaterializeResult(
        data_version=DataVersion(version),
        metadata={"rows": record["rows"], "valid": record["valid"],
                  "group_sizes": MetadataValue.json(record["group_sizes"]),
                  "validated_by": validated_by,
                  "report": MetadataValue.path(layout.relative(layout.report("validation.json")))},
    )


def _validate(context: AssetExecutionContext, project: GovernanceProject, binding: dict) -> dict:
    """Validate the raw file here; write the record, and the rows if every rule passed."""
    from ..core.data import raw_files, validation

    params, layout = project.params(), project.layout
    spec = params.active
    frame, report = validation.validate(raw_files.read_dataset(layout.root, params.dataset,
                                                                spec),
                                        spec, params.policy, spec.path)
    record = report.to_record(binding)
    _write(layout, frame, record)
    if frame is None:
        context.log.error(f"{spec.path} failed validation; see {layout.report('validation.json')}")
    return record


def _write(layout: "Layout", frame: "pd.DataFrame | None", record: dict) -> None:
    """The validation record, and the rows if every rule passed (none left behind otherwise)."""
    write_json_atomic(layout.report("validation.json"), record)
    if frame is None:
        layout.validated.unlink(missing_ok=True)
    else:
        write_parquet_atomic(layout.validated, frame)


@asset(group_name="data", deps=[validated_dataset], kinds={"pandas", "parquet"},
       code_version=CODE_VERSION)
def dataset_splits(project: GovernanceProject) -> MaterializeResult:
    """Train, validation, untouched golden test, and the current batch drift is measured on."""
    import pandas as pd

    from ..core.data import splits as splits_core

    params, layout = project.params(), project.layout
    if not layout.validated.exists():
        raise FileNotFoundError(f"{layout.validated} is missing: validated_dataset did not pass")
    splits = splits_core.split_dataset(pd.read_parquet(layout.validated), params.active,
                                       params.split)
    paths = [write_parquet_atomic(layout.split(name), frame)
             for name, frame in splits.frames.items()]
    manifest = splits.manifest(params.active, params.split)
    binding = read_json(layout.report("validation.json"))["binding"]
    write_json_atomic(layout.report("splits.json"), {**manifest, "binding": binding})
    return MaterializeResult(
        data_version=DataVersion(fingerprint(paths)),
        metadata={"rows": MetadataValue.json(manifest["rows"]),
                  "stratified_by": ", ".join(manifest["stratified_by"]),
                  "current_batch_simulated": splits.current_is_simulated,
                  "manifest": MetadataValue.path(layout.relative(layout.report("splits.json")))},
    )
