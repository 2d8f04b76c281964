"""Group data: the DVC-versioned input, its validation, and the splits."""

from dagster import AssetExecutionContext, DataVersion, MaterializeResult, MetadataValue, asset

from ..core.data.lineage import dvc_lock_md5
from ..core.decide.verdicts import validation_inputs_hash
from ..core.files import (
    fingerprint,
    md5_of_file,
    read_json,
    write_json_atomic,
    write_parquet_atomic,
)
from ..resources import GovernanceProject
from .publishing import CODE_VERSION


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
    """Typed and decoded rows. Invalid data leaves no frame behind: the gates name the rule."""
    from ..core.data import raw_files, validation

    params, layout = project.params(), project.layout
    spec = params.active
    raw_path = layout.root / spec.path
    binding = {"data_version": md5_of_file(raw_path),
               "validation_inputs": validation_inputs_hash(params)}
    frame, report = validation.validate(raw_files.read_dataset(layout.root, params.dataset,
                                                                spec),
                                        spec, params.policy, spec.path)
    write_json_atomic(layout.report("validation.json"), {**report.to_dict(), "binding": binding})
    write_json_atomic(layout.metrics("data"), {"rows": report.rows, "valid": report.valid})
    if frame is None:
        layout.validated.unlink(missing_ok=True)
        context.log.error(f"{spec.path} failed validation; see {layout.report('validation.json')}")
        version = fingerprint([layout.report("validation.json")])
    else:
        write_parquet_atomic(layout.validated, frame)
        version = fingerprint([layout.validated])
    return MaterializeResult(
        data_version=DataVersion(version),
        metadata={"rows": report.rows, "valid": report.valid,
                  "group_sizes": MetadataValue.json(report.group_sizes),
                  "report": MetadataValue.path(layout.relative(layout.report("validation.json")))},
    )


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
