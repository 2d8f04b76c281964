"""Typed params: params.yaml (policy and every knob) and datasets/<name>.yaml (one dataset spec
each), one module per section; `load_params` is the one way in."""

from .base import ParamsError
from .dataset import (
    DatasetSpec,
    DateRange,
    DerivedFeature,
    ExternalModel,
    ExternalScores,
    LabelMapping,
    RetentionSpec,
    RowFilter,
    SplitSpec,
    TimeSelection,
)
from .evidence import AuditSpec, EvaluationSpec, ExplainSpec, FairnessSpec, RobustnessSpec
from .loading import dataset_file, load_params
from .model import (
    HYPERPARAMETERS,
    Family,
    MitigatedVariants,
    MitigationSpec,
    ModelSpec,
    Range,
    SearchConstraints,
    SearchSpec,
)
from .monitoring import LowerLevels, MonitoringSpec, UpperLevels
from .policy import Policy
from .publish import MlflowPublishSpec, PublishSpec
from .release import RegistrySpec, SignoffSpec
from .root import ACTIVE_DATASET, Params, hash_values

__all__ = [
    "ACTIVE_DATASET", "HYPERPARAMETERS", "AuditSpec", "DatasetSpec", "DateRange",
    "DerivedFeature", "EvaluationSpec", "ExplainSpec", "ExternalModel", "ExternalScores",
    "FairnessSpec", "Family", "LabelMapping", "LowerLevels", "MitigatedVariants",
    "MitigationSpec", "MlflowPublishSpec", "MonitoringSpec", "UpperLevels",
    "ModelSpec", "Params", "ParamsError", "Policy", "PublishSpec", "Range", "RegistrySpec",
    "RetentionSpec",
    "RobustnessSpec", "RowFilter", "SearchConstraints", "SearchSpec", "SignoffSpec",
    "SplitSpec", "TimeSelection", "dataset_file", "hash_values", "load_params",
]
