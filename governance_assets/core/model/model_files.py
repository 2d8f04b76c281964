"""Model files that cannot run code when they are loaded: skops, against one list of types.

A pickle (joblib) runs whatever its bytes say while it loads, so a candidate or registry model
whose bytes someone replaced would run their code on the next evaluation. Every model this
project stores (the candidate, each registry version) is a skops file instead: skops rebuilds
only types it trusts by default (scikit-learn's estimators, numpy, builtins) and the types
listed here, the ones the project's own models are made of beyond those defaults. A file with
any other type, or that is not a skops file at all, is refused with the type named.

skops names its array entries after memory addresses and stamps them with the clock, so the
same model would get new bytes on every dump. The bytes are canonical here (entries renumbered
in order of appearance, a fixed timestamp), because a candidate's sha256 is its identity: DVC,
the carbon record and every verdict's fingerprint rely on the same model having the same bytes.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..params import DatasetSpec

SCHEMA = "schema.json"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)   # the earliest time a zip entry can carry
# Beyond skops' defaults, what the models the search, the mitigations and the external-score
# rule build are made of (tests/test_model_files.py builds each kind and loads it with exactly
# this list). Anything else in a model file is refused.
TRUSTED_TYPES = (
    "sklearn.tree._tree.Tree",                                           # random forest
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # gradient boosting
    "governance_assets.core.model.mitigation.MitigatedClassifier",
    "fairlearn.postprocessing._interpolated_thresholder.InterpolatedThresholder",
    "fairlearn.postprocessing._threshold_operation.ThresholdOperation",
    "sklearn.utils._bunch.Bunch",                   # the thresholder's per-group interpolation
    "governance_assets.core.model.external_model.ScoreRule",                   # external_scores
)


class UnsafeModelError(RuntimeError):
    """A model file that is not skops, or holds a type nobody trusted; names file and types."""


def dumps(model: object) -> bytes:
    """The model as canonical, compressed skops bytes (the same model gives the same bytes)."""
    import skops.io as sio

    return _canonical(sio.dumps(model))   # stored: _canonical compresses, once


def _canonical(data: bytes) -> bytes:
    """skops' bytes with memory addresses renumbered in order of appearance and a fixed time."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        ids: dict[int, int] = {}
        entries: dict[str, str] = {}
        schema = _renumbered(json.loads(source.read(SCHEMA)), ids, entries)
        if set(entries) != set(source.namelist()) - {SCHEMA}:
            raise UnsafeModelError("skops wrote entries its schema does not name: this skops "
                                   "version's format is not the one model_files.py knows")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as target:
            for old, new in entries.items():
                _write_entry(target, new, source.read(old))
            _write_entry(target, SCHEMA, json.dumps(schema, indent=2).encode())
    return buffer.getvalue()


def _renumbered(node: object, ids: dict[int, int], entries: dict[str, str]) -> object:
    """The schema with every object id and entry name replaced by its order of appearance."""
    if isinstance(node, list):
        return [_renumbered(item, ids, entries) for item in node]
    if not isinstance(node, dict):
        return node
    renumbered = {}
    for key, value in node.items():
        if key == "__id__":
            value = ids.setdefault(value, len(ids) + 1)
        elif key == "file" and isinstance(value, str):
            value = entries.setdefault(value, f"{len(entries) + 1}{PurePosixPath(value).suffix}")
        else:
            value = _renumbered(value, ids, entries)
        renumbered[key] = value
    return renumbered


def _write_entry(target: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    target.writestr(info, data)


def declared_types(spec: DatasetSpec) -> tuple[str, ...]:
    """Types a reviewer trusted for the dataset's external model (params), which the candidate
    re-serialized from it may hold; none for a model trained here."""
    return tuple(spec.external_model.trusted_types) if spec.external_model else ()


def loads(data: bytes, source: str, also_trusted: Sequence[str] = ()) -> object:
    """The model in `data`, only if every type in it is trusted; never unpickled.

    `source` names the file in the refusal. `data` is the bytes the caller verified: the file
    is not read again here, so what was checked is what gets loaded. skops audits every type
    in the file before it builds any object.
    """
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    _check_is_skops(data, source)
    trusted = [*TRUSTED_TYPES, *also_trusted]
    try:
        return sio.loads(data, trusted=trusted)
    except UntrustedTypesFoundException:
        untrusted = sorted(set(sio.get_untrusted_types(data=data)) - set(trusted))
        raise UnsafeModelError(
            f"{source}: type(s) {untrusted} are not among the types this project trusts "
            "(governance_assets/core/model/model_files.py TRUSTED_TYPES, and an external model's "
            "declared trusted_types); a model file could build them with arbitrary "
            "arguments, so it is not loaded") from None


def _check_is_skops(data: bytes, source: str) -> None:
    """A zip archive with a JSON schema, as skops writes; anything else (a pickle) is refused."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            json.loads(archive.read(SCHEMA))
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise UnsafeModelError(
            f"{source}: not a skops model file ({type(error).__name__}: {error}). Models are "
            "stored with skops and never unpickled (a pickle runs code when it is loaded), so "
            "it is not loaded; re-run training to write the model again") from None
