"""`governance check` and `governance report` on a project, without DVC: exit codes, paragraphs."""

from pathlib import Path

import pandas as pd
import pytest

from governance_assets.cli import output
from governance_assets.cli.check import check
from governance_assets.cli.report import report

from .conftest import make_project, set_params


def test_check_passes_the_bundled_project(tmp_path, capsys):
    assert check(make_project(tmp_path)) == output.DONE
    assert "pass every rule" in capsys.readouterr().out


def test_check_names_file_column_value_and_line_in_one_paragraph(tmp_path, capsys):
    root = make_project(tmp_path)
    raw = root / "data/raw/german_credit.csv"
    frame = pd.read_csv(raw, dtype=str, keep_default_na=False)
    frame.loc[4, "duration_in_month"] = "twelve"
    frame.to_csv(raw, index=False)
    assert check(root) == output.INPUT_ERROR
    out = capsys.readouterr().out
    assert out.startswith("error: data/raw/german_credit.csv: column 'duration_in_month' rule "
                          "numeric: 1 non-numeric value(s), first 'twelve' at line 6")
    assert out.strip().endswith("(exit 2).") and len(out.strip().splitlines()) == 2


def test_check_refuses_an_unreadable_file(tmp_path, capsys):
    root = make_project(tmp_path)
    (root / "data/raw/german_credit.csv").write_bytes(b"\xff\xfe\x00credit\n\x81\x82")
    assert check(root) == output.INPUT_ERROR
    assert "data/raw/german_credit.csv" in capsys.readouterr().out


def test_check_names_the_params_key(tmp_path, capsys):
    root = make_project(tmp_path)
    set_params(root, policy__min_auc=1.5)
    assert check(root) == output.INPUT_ERROR
    assert "params.yaml: policy.min_auc:" in capsys.readouterr().out


def test_report_before_any_run_says_not_evaluated_not_blocked(tmp_path, capsys):
    root = make_project(tmp_path)
    assert report(root) == output.REFUSED
    out = capsys.readouterr().out
    assert "schema: never evaluated" in out
    assert "NOT EVALUATED: no verdict for the current inputs of schema" in out
    assert "BLOCKED" not in out


def test_check_refuses_non_finite_and_absurd_numbers(tmp_path, capsys):
    root = make_project(tmp_path)
    raw = root / "data/raw/german_credit.csv"
    frame = pd.read_csv(raw, dtype=str, keep_default_na=False)
    frame.loc[2, "credit_amount"] = "inf"
    frame.loc[3, "duration_in_month"] = "1e300"
    frame.to_csv(raw, index=False)
    assert check(root) == output.INPUT_ERROR
    out = capsys.readouterr().out
    assert "'credit_amount'" in out and "'inf'" in out and "line 4" in out
    assert "'duration_in_month'" in out and "1e300" in out


def test_after_an_early_stop_the_later_stages_reports_are_marked_stale():
    from governance_assets.cli.report import _earlier_outputs

    repo = Path(__file__).resolve().parents[1]
    after_train = _earlier_outputs(repo, "train")
    assert {"reports/model_card.md", "reports/performance.json",
            "reports/compliance.html"} <= after_train
    assert not {"reports/search.json", "models/candidate.skops",
                "reports/validation.json"} & after_train
    assert _earlier_outputs(repo, None) == set()


def test_a_stale_verdict_names_the_changed_keys_of_a_block_not_the_block():
    from governance_assets.core.decide.verdicts import _what_changed

    old = {"path": "data/raw/a.csv", "target": "y", "limitations": ["x" * 500]}
    line = _what_changed("datasets.a", old, {**old, "path": "data/raw/b.csv"})
    assert line == "datasets.a changed in path"
    long = _what_changed("policy.national_id_patterns", "p" * 200, "q")
    assert len(long) < 160 and long.endswith("now 'q'")


def test_a_root_that_is_not_a_folder_is_refused_in_one_line(tmp_path, capsys):
    """Mutation killed: the check dropped (a traceback from creating <root>/.dagster)."""
    from governance_assets.cli import main

    missing = tmp_path / "no-such-project"
    with pytest.raises(SystemExit) as stopped:
        main(["--root", str(missing), "log", "volume"])
    assert stopped.value.code == 2
    assert capsys.readouterr().out == (f"error: project root {missing} is not a folder "
                                       "(--root, or the current directory)\n")
    assert not missing.exists()
