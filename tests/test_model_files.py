"""Model files cannot run code when loaded, and what is verified is what is loaded.

Every model the project stores (the candidate, each registry version) is a skops file loaded
against one list of trusted types (core/model/model_files.py). The attacks: a pickle planted as a
registry version's model with a matching ledger entry, and a candidate whose bytes change after
the gates recorded their hash, each driven through the real evaluation assets.
"""

import ast
import hashlib
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from fairlearn.reductions import DemographicParity, ExponentiatedGradient
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline

from governance_assets.assets import (
    explanation_report,
    fairness_report,
    performance_report,
    reference_agreement_report,
    robustness_report,
)
from governance_assets.core.data import raw_files, validation
from governance_assets.core.data.columns import FAVOURABLE
from governance_assets.core.files import read_json, write_json_atomic
from governance_assets.core.model import mitigation, model_files, training
from governance_assets.core.model.external_model import score_pipeline
from governance_assets.core.params import ExternalScores, SignoffSpec
from governance_assets.core.record import ledger, registry
from governance_assets.core.trust import signoff

from .conftest import REPO, materialized, params_of, run_graph, set_params
from .signing import keys

__all__ = ["keys"]  # fixture, used by name

CANDIDATE_READERS = [performance_report, fairness_report, explanation_report,
                     robustness_report, reference_agreement_report]


class Planted:
    """A pickle's payload: unpickling it creates the marker file (it could do anything)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


class Foreign(ClassifierMixin, BaseEstimator):
    """An estimator type nobody put on the trusted list."""

    def fit(self, X, y):  # noqa: N803 (scikit-learn's name)
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X):  # noqa: N803
        return np.ones(len(X), dtype=int)


@pytest.fixture(scope="module")
def german_rows() -> tuple[pd.DataFrame, pd.Series, object]:
    """The bundled German credit rows as validation types them, their labels, the params."""
    params = params_of(REPO)
    spec = params.active
    frame, _ = validation.validate(raw_files.read_dataset(REPO, params.dataset, spec), spec,
                                   params.policy, spec.path)
    return frame, frame[FAVOURABLE], params


def _every_kind_of_model(frame: pd.DataFrame, target: pd.Series, params) -> dict:
    """What the search, its mitigated variants and an external score column can build."""
    spec = params.active
    plain = {family: training.build_pipeline(family, spec, params.model, 3)
             .set_params(**({"est__n_estimators": 10} if family == "random_forest" else {}))
             .fit(frame[spec.model_features], target)
             for family in ("logistic_regression", "hist_gradient_boosting", "random_forest")}
    rows, attribute = frame, spec.sensitive_features[0]
    return {**plain,
            "exponentiated_gradient": mitigation.mitigate(
                plain["logistic_regression"], rows, target, "exponentiated_gradient",
                "demographic_parity", attribute, 3, ratio_bound=0.9, max_iter=5),
            "threshold_optimizer": mitigation.mitigate(
                plain["random_forest"], rows, target, "threshold_optimizer", "equalized_odds",
                attribute, 3),
            "external_scores": score_pipeline(
                ExternalScores(column="duration_in_month", favourable_when="<", threshold=24,
                               provenance="test"), frame[spec.model_features], 0.5)}


def test_every_kind_of_model_the_project_builds_loads_with_exactly_the_trusted_types(german_rows):
    frame, target, params = german_rows
    needed = set()
    for name, model in _every_kind_of_model(frame, target, params).items():
        data = model_files.dumps(model)
        needed |= set(sio.get_untrusted_types(data=data))
        loaded = model_files.loads(data, name)
        inputs = frame[list(model.feature_names_in_)]
        assert np.array_equal(loaded.predict_proba(inputs), model.predict_proba(inputs)), name
    assert needed == set(model_files.TRUSTED_TYPES), "the list is what the models need, no more"


def test_the_mitigated_ensemble_decides_exactly_as_fairlearn(german_rows):
    """Only ExponentiatedGradient's classifiers and weights are kept (no pandas state to
    store): its probability of a favourable decision must stay fairlearn's own, to the bit."""
    frame, target, params = german_rows
    spec = params.active
    base = training.build_pipeline("logistic_regression", spec, params.model, 3).fit(
        frame[spec.model_features], target)
    attribute = "age_band"   # a case whose ensemble mixes classifiers and drops others
    ours = mitigation.mitigate(base, frame, target, "exponentiated_gradient",
                               "demographic_parity", attribute, 3, ratio_bound=0.9, max_iter=8)
    encoded = np.asarray(base.named_steps["pre"].transform(frame[spec.model_features]),
                         dtype=float)
    estimator = clone(base.named_steps["est"]).set_params(random_state=3)
    theirs = ExponentiatedGradient(estimator, DemographicParity(ratio_bound=0.9),
                                   max_iter=8).fit(
        encoded, target, sensitive_features=frame[attribute].astype(str))
    assert (theirs.weights_ == 0).any() and (theirs.weights_ > 0).sum() > 1, \
        "the case must exercise both the zero-weight rule and the weighted vote"
    expected = theirs._pmf_predict(encoded)[:, 1]
    loaded = model_files.loads(model_files.dumps(ours), "mitigated")
    assert np.array_equal(loaded.favourable_probability(frame), expected)


def test_the_same_model_gives_the_same_bytes_in_another_process(german_rows, tmp_path):
    """skops names entries after memory addresses and stamps the clock; the stored bytes may
    not depend on either, or a rebuilt candidate would never have the sha256 DVC recorded."""
    frame, target, params = german_rows
    model = training.build_pipeline("hist_gradient_boosting", params.active, params.model, 3)
    here = model_files.dumps(model.fit(frame[params.active.model_features], target))
    original = tmp_path / "model.skops"
    original.write_bytes(here)
    again = tmp_path / "again.skops"
    subprocess.run([sys.executable, "-c",
                    "import sys; from pathlib import Path; "
                    "from governance_assets.core.model import model_files; "
                    "model = model_files.loads(Path(sys.argv[1]).read_bytes(), 'x'); "
                    "Path(sys.argv[2]).write_bytes(model_files.dumps(model))",
                    str(original), str(again)], check=True, cwd=REPO)
    assert again.read_bytes() == here


def test_a_type_outside_the_list_is_refused_and_named(german_rows):
    frame, target, params = german_rows
    features = params.active.model_features
    foreign = Pipeline([("pre", training.build_pipeline("logistic_regression", params.active,
                                                        params.model, 3).named_steps["pre"]),
                        ("est", Foreign())]).fit(frame[features], target)
    data = model_files.dumps(foreign)
    name = f"{__name__}.Foreign"
    with pytest.raises(model_files.UnsafeModelError) as refused:
        model_files.loads(data, "models/candidate.skops")
    assert "models/candidate.skops" in str(refused.value) and name in str(refused.value)
    assert "\n" not in str(refused.value)
    loaded = model_files.loads(data, "declared", also_trusted=[name])
    assert loaded.predict(frame[features]).tolist() == [1] * len(frame)


def test_a_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(model_files.UnsafeModelError, match="not a skops model file"):
        model_files.loads(pickle.dumps(Planted(marker)), "registry/versions/x/model.skops")
    assert not marker.exists()
    pickle.loads(pickle.dumps(Planted(marker)))  # the payload is live: unpickling runs it
    assert marker.exists()


def test_a_version_registered_with_a_pickled_model_is_refused_not_unpickled(tmp_path):
    """A registry from before skops holds model.joblib: its entry is honest, its model is
    still never loaded."""
    root = tmp_path / "registry"
    marker = tmp_path / "pwned"
    model = pickle.dumps(Planted(marker))
    (root / "versions" / "0ld0000000000000").mkdir(parents=True)
    (root / "versions" / "0ld0000000000000" / "model.joblib").write_bytes(model)
    digest = hashlib.sha256(model).hexdigest()
    ledger.append(root, "register", {"version": "0ld0000000000000",
                                     "files": {"model.joblib": digest}, "model_sha256": digest})
    with pytest.raises(registry.RegistryError, match="holds no model.skops.*model.joblib"):
        registry.load_model(root, "0ld0000000000000")
    assert not marker.exists()


UNPICKLERS = {"pickle", "joblib", "dill", "cloudpickle", "shelve", "_pickle"}


def _unpickling_calls(path: Path) -> list[str]:
    """Imports of a pickle library and calls of pandas' read_pickle in one source file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in UNPICKLERS]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNPICKLERS:
            found.append(node.module)
        elif isinstance(node, ast.Attribute) and node.attr == "read_pickle":
            found.append("read_pickle")
    return [f"{path.name}:{name}" for name in found]


# Times joblib against skops on a pickle it has just written itself from the champion.
FORMAT_BENCHMARK = REPO / "benchmarks" / "model_files.py"


def test_no_code_of_the_project_can_unpickle():
    """Statically: nothing in the package or the benchmarks imports a pickle library, so no
    model, report or registry file is ever unpickled."""
    sources = [*(REPO / "governance_assets").rglob("*.py"), *(REPO / "benchmarks").glob("*.py")]
    sources.remove(FORMAT_BENCHMARK)
    assert len(sources) > 50
    assert [hit for path in sources for hit in _unpickling_calls(path)] == []


def test_the_static_scan_sees_an_unpickling_import(tmp_path):
    planted = tmp_path / "unpickles.py"
    planted.write_text("import joblib\nfrom pickle import loads\nimport pandas as pd\n"
                       "pd.read_pickle('x')\n")
    assert _unpickling_calls(planted) == ["unpickles.py:joblib", "unpickles.py:pickle",
                                          "unpickles.py:read_pickle"]


@pytest.fixture
def judged(passing, tmp_path):
    """A copy of a project the whole graph ran on: every gate passed, candidate staged."""
    root = tmp_path / "project"
    shutil.copytree(passing[0], root)
    return root


def _failures(result) -> dict[str, str]:
    """The error each failed step raised, by step."""
    return {e.step_key: (e.step_failure_data.error.cause or e.step_failure_data.error).message
            for e in result.get_step_failure_events()}


def _plant_version(root: Path, model: bytes, keys) -> str:
    """A registry version holding `model`, entered in the ledger with its true sha256 through
    the project's own functions, approved and promoted with valid signatures: what an insider
    holding an approver's and a promoter's key could do. Only the file format stands between
    its bytes and the evaluation."""
    registry_root = root / "registry"
    staged = registry.get_alias(registry_root, "staging")
    source = registry_root / "versions" / staged
    hashes = {**registry.manifest(registry_root, staged)["files"],
              registry.MODEL_FILE: hashlib.sha256(model).hexdigest()}
    version = "f0rged0000000000"
    shutil.copytree(source, registry_root / "versions" / version)
    (registry_root / "versions" / version / registry.MODEL_FILE).write_bytes(model)
    ledger.append(registry_root, "register", {
        "version": version, "files": hashes, "model_sha256": hashes[registry.MODEL_FILE],
        "run_id": None, "decision": "promote", "policy_hash": None, "dataset": "german_credit"})
    set_params(root, signoff__approvers=["alice"], signoff__promoters=["dave"])
    keys.install(root)
    trust = keys.trust(SignoffSpec(approvers=["alice"], promoters=["dave"]))
    approval = signoff.approve(registry_root, version, keys.signer("alice"), "planted", trust)
    request = signoff.request_promotion(registry_root, version, keys.signer("dave"), trust)
    registry.set_alias(registry_root, "production", version, reason="planted",
                       move="promotion", approval=signoff.cite(approval),
                       request=signoff.cite(request))
    assert signoff.production_version(registry_root, lambda: trust) == version
    return version


def test_a_pickle_planted_as_the_production_model_never_runs(judged, instance, keys):
    root = judged
    marker = root / "pwned"
    version = _plant_version(root, pickle.dumps(Planted(marker)), keys)
    before = (root / "reports/performance.json").read_bytes()
    result = run_graph(root, instance, selection=[performance_report])
    assert not marker.exists(), "the planted pickle ran during evaluation"
    assert "performance_report" not in materialized(result)
    message = _failures(result)["performance_report"]
    assert f"versions/{version}/{registry.MODEL_FILE}: not a skops model file" in message
    assert "\n" not in message.strip()
    assert (root / "reports/performance.json").read_bytes() == before


def test_a_production_model_of_an_untrusted_type_is_refused_naming_it(judged, instance,
                                                                      german_rows, keys):
    root = judged
    frame, target, params = german_rows
    features = params.active.model_features
    foreign = Pipeline([("pre", training.build_pipeline("logistic_regression", params.active,
                                                        params.model, 3).named_steps["pre"]),
                        ("est", Foreign())]).fit(frame[features], target)
    _plant_version(root, model_files.dumps(foreign), keys)
    result = run_graph(root, instance, selection=[performance_report])
    message = _failures(result)["performance_report"]
    assert f"{__name__}.Foreign" in message and "not among the types this project trusts" in message


def _changed_candidate(root: Path) -> bytes:
    """The candidate with one coefficient moved: a valid skops model, other bytes."""
    path = root / "models/candidate.skops"
    model = model_files.loads(path.read_bytes(), "candidate")
    estimator = model.named_steps["est"]
    assert hasattr(estimator, "coef_"), "the bundled champion is a logistic regression"
    estimator.coef_ = estimator.coef_ + 0.5
    return model_files.dumps(model)


def test_a_candidate_changed_after_its_gates_is_refused_by_every_evaluation_asset(judged,
                                                                                  instance):
    root = judged
    recorded = read_json(root / "models/candidate.json")["sha256"]
    changed = _changed_candidate(root)
    (root / "models/candidate.skops").write_bytes(changed)
    actual = hashlib.sha256(changed).hexdigest()
    reports = {p: p.read_bytes() for p in (root / "reports").glob("*.json")}
    result = run_graph(root, instance, selection=CANDIDATE_READERS)
    failures = _failures(result)
    assert set(failures) == {asset.key.to_user_string() for asset in CANDIDATE_READERS}
    for name, message in failures.items():
        assert "models/candidate.skops" in message, name
        assert actual[:12] in message and recorded[:12] in message, name
    assert not materialized(result)
    assert {p: p.read_bytes() for p in reports} == reports, "no report was overwritten"

    meta = read_json(root / "models/candidate.json")
    write_json_atomic(root / "models/candidate.json", {**meta, "sha256": actual})
    accepted = run_graph(root, instance, selection=[performance_report])
    assert accepted.success, "the same bytes load once their hash is the recorded one"
