"""params.yaml is rejected by name: unknown keys, out-of-range thresholds, missing files."""

from typing import get_args

import pytest
from pydantic import BaseModel

from governance_assets.core.params import Params, ParamsError, load_params

from .conftest import make_project, set_params


def test_bundled_params_load_and_select_german_credit(tmp_path):
    params = load_params(make_project(tmp_path))
    assert params.dataset == "german_credit"
    assert params.active.target == "credit_risk"
    assert "age_in_years" not in params.active.model_features
    assert len(params.policy_hash) == 64


def test_unknown_key_is_named(tmp_path):
    make_project(tmp_path, policy__min_aucc=0.7)
    with pytest.raises(ParamsError, match=r"params.yaml: policy.min_aucc: unknown key"):
        load_params(tmp_path)


def test_a_renamed_key_is_named_as_the_typo_of_the_missing_one(tmp_path):
    make_project(tmp_path)
    text = (tmp_path / "params.yaml").read_text().replace("  min_auc: 0.7", "  min_aucc: 0.7")
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ParamsError, match=r"policy.min_aucc: unknown key \(did you mean "
                                          r"policy.min_auc\?\)"):
        load_params(tmp_path)


def test_out_of_range_threshold_is_named(tmp_path):
    make_project(tmp_path, policy__min_disparate_impact=1.5)
    with pytest.raises(ParamsError, match=r"policy.min_disparate_impact: .*less than or equal"):
        load_params(tmp_path)


def test_missing_params_file(tmp_path):
    with pytest.raises(ParamsError, match="params.yaml: file not found"):
        load_params(tmp_path)


def test_missing_dataset_file_is_named(tmp_path):
    make_project(tmp_path)
    (tmp_path / "data/raw/german_credit.csv").unlink()
    with pytest.raises(ParamsError, match=r"datasets.german_credit.path: file .* not found"):
        load_params(tmp_path)


def test_undeclared_dataset_is_rejected(tmp_path):
    make_project(tmp_path, dataset="mnist")
    with pytest.raises(ParamsError, match="dataset 'mnist' is not one of"):
        load_params(tmp_path)


def test_switching_dataset_is_one_line(tmp_path):
    make_project(tmp_path)
    set_params(tmp_path, dataset="census_income")
    params = load_params(tmp_path)
    assert params.active.time.current == "95"
    assert "instance_weight" not in params.active.model_features


def test_a_changed_threshold_changes_the_policy_hash(tmp_path):
    before = load_params(make_project(tmp_path)).policy_hash
    set_params(tmp_path, policy__min_auc=0.71)
    assert load_params(tmp_path).policy_hash != before


def test_duplicate_keys_are_refused_with_both_lines(tmp_path):
    make_project(tmp_path)
    path = tmp_path / "params.yaml"
    text = path.read_text()
    path.write_text(text.replace("  min_auc: 0.7", "  min_auc: 0.7\n  min_auc: 0.5", 1))
    with pytest.raises(ParamsError, match=r"key 'min_auc' appears twice in one block \(lines "):
        load_params(tmp_path)


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_non_finite_thresholds_are_refused(tmp_path, value):
    make_project(tmp_path, policy__max_latency_ms=value)
    with pytest.raises(ParamsError, match=r"policy.max_latency_ms: Input should be a finite"):
        load_params(tmp_path)


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.csv",
                                  "data/DATASHEET_german_credit.md"])
def test_dataset_paths_outside_the_tracked_folder_are_refused(tmp_path, path):
    make_project(tmp_path, datasets__german_credit__path=path)
    (tmp_path.parent / "outside.csv").write_text("a\n1\n")
    with pytest.raises(ParamsError, match=r"datasets.german_credit.path: .* is outside data/raw/"):
        load_params(tmp_path)


def test_values_at_reads_the_active_block_and_dotted_keys(tmp_path):
    params = load_params(make_project(tmp_path))
    values = params.values_at(("dataset", "datasets.<active>", "policy.min_auc"))
    assert values["dataset"] == "german_credit" and values["policy.min_auc"] == 0.7
    assert values["datasets.german_credit"]["target"] == "credit_risk"


def test_adding_a_dataset_is_adding_a_file(tmp_path):
    make_project(tmp_path)
    german = (tmp_path / "datasets/german_credit.yaml").read_text()
    (tmp_path / "datasets/german_copy.yaml").write_text(german)
    set_params(tmp_path, dataset="german_copy")
    params = load_params(tmp_path)
    assert params.dataset == "german_copy" and params.active.target == "credit_risk"
    assert params.values_at(("datasets.<active>",)) == {
        "datasets.german_copy": params.datasets["german_credit"].model_dump(mode="json")}


def test_a_typo_in_a_dataset_file_names_that_file_and_the_key(tmp_path):
    make_project(tmp_path)
    path = tmp_path / "datasets/german_credit.yaml"
    path.write_text(path.read_text().replace("limitations:", "limitatons:"))
    with pytest.raises(ParamsError) as raised:
        load_params(tmp_path)
    message = str(raised.value)
    assert message.startswith("datasets/german_credit.yaml: datasets.german_credit.limitatons: "
                              "unknown key")
    assert "\n" not in message and "params.yaml" not in message


def test_an_inactive_dataset_file_is_checked_too(tmp_path):
    make_project(tmp_path)
    path = tmp_path / "datasets/toronto_arrests.yaml"
    path.write_text(path.read_text().replace("target: released", "target: [released]"))
    with pytest.raises(ParamsError, match=r"^datasets/toronto_arrests.yaml: "
                                          r"datasets.toronto_arrests.target: "):
        load_params(tmp_path)


def test_a_dataset_block_in_params_yaml_is_refused_with_where_it_goes(tmp_path):
    make_project(tmp_path)
    with (tmp_path / "params.yaml").open("a") as params:
        params.write("datasets:\n  german_credit: {}\n")
    with pytest.raises(ParamsError, match=r"params.yaml: datasets: dataset specs live in "
                                          r"datasets/<name>.yaml"):
        load_params(tmp_path)


def test_a_key_twice_in_a_dataset_file_names_that_file(tmp_path):
    make_project(tmp_path)
    path = tmp_path / "datasets/german_credit.yaml"
    path.write_text(path.read_text() + "target: credit_risk\n")
    with pytest.raises(ParamsError, match=r"^datasets/german_credit.yaml: key 'target' appears "
                                          r"twice"):
        load_params(tmp_path)


def test_the_full_census_file_is_the_sample_s_spec_but_its_path_and_limitations(tmp_path):
    datasets = load_params(make_project(tmp_path)).datasets
    full = datasets["census_income_full"].model_dump(exclude={"path", "limitations"})
    assert full == datasets["census_income"].model_dump(exclude={"path", "limitations"})
    assert datasets["census_income_full"].path != datasets["census_income"].path


def _undescribed(model: type[BaseModel], prefix: str) -> list[str]:
    """Dotted keys of `model` (and the models it nests) that have no description."""
    missing = []
    for name, field in model.model_fields.items():
        if not field.description:
            missing.append(prefix + name)
        for nested in _models_in(field.annotation):
            missing += _undescribed(nested, f"{prefix}{name}.")
    return missing


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def test_every_params_key_has_a_description_for_the_generated_reference():
    assert _undescribed(Params, "") == []


def test_a_rule_across_a_dataset_s_keys_names_the_file_and_the_dataset(tmp_path):
    make_project(tmp_path, datasets__german_credit__favourable_label="3")
    with pytest.raises(ParamsError, match=r"^datasets/german_credit.yaml: datasets.german_credit: "
                                          r"Value error, favourable_label '3' is not in labels$"):
        load_params(tmp_path)
