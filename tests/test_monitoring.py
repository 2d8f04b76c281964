"""The production loop on a real instance: batches scored by the production model (and staging
in shadow), the decision log, drift and fairness levels, the webhook, the schedule and sensors.

The production model is the one the bundled graph promotes (the session's `passing` project);
the shadow is a real second model, gradient boosting fit on the same splits, registered beside
it. Alerts go to a real HTTP server on localhost.
"""

import json
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from dagster import (
    AssetCheckSeverity,
    AssetSelection,
    DagsterInstance,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
    materialize,
)

from governance_assets.assets import GRAPH_ASSETS, PROMOTION_CHECKS
from governance_assets.assets.monitoring import batch_monitoring, batch_partitions, scored_batch
from governance_assets.checks import GATE_CHECKS
from governance_assets.core.decide.decisions import trigger_from_tags
from governance_assets.core.files import read_json, sha256_of_file
from governance_assets.core.layout import Layout
from governance_assets.core.model import model_files, training
from governance_assets.core.monitor import batches, decision_log, rollback
from governance_assets.core.params import load_params
from governance_assets.core.record import audit, registry
from governance_assets.core.trust import signoff
from governance_assets.core.trust.signatures import SIGNING_KEY_ENV
from governance_assets.definitions import defs
from governance_assets.resources import AlertWebhook, GovernanceProject
from governance_assets.sensors import (
    batch_monitoring_schedule,
    drift_research_sensor,
    fairness_rollback_sensor,
)

from .conftest import set_params
from .signing import PIPELINE, keys

__all__ = ["keys"]  # a fixture, used by name

BATCHES = "data/batches/german_credit"


class Webhook:
    """A real HTTP server on localhost that records every JSON body; answers from a script."""

    def __init__(self, statuses: list[int] | None = None):
        self.received: list[dict] = []
        self.statuses = list(statuses or [])
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.received.append(json.loads(body))
                self.send_response(hook.statuses.pop(0) if hook.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def production(passing, tmp_path_factory, keys):
    """A project whose `production` is the promoted model (approved and promoted with alice's
    key) and whose `staging` is another real model (gradient boosting on the same splits) for
    the shadow. The session's graph run is an unsigned local run (no pipeline key), which this
    project's policy accepts (signoff.require_signed_run: false, as a team without CI keys
    sets it); tests/test_signoff.py holds the signed-run rule."""
    root = tmp_path_factory.mktemp("production") / "project"
    shutil.copytree(passing[0], root)
    trust = keys.adopt(root, require_signed_run=False)
    layout = Layout(root)
    production = read_json(root / "reports/staging.json")["version"]
    keys.promote(layout.registry, production, trust)
    params = load_params(root)
    train = pd.read_parquet(layout.split("train"))
    challenger = training.build_pipeline("hist_gradient_boosting", params.active, params.model, 0)
    challenger.fit(train[params.active.model_features], train["_favourable"])
    model_path = root / "challenger.skops"
    model_path.write_bytes(model_files.dumps(challenger))
    stored = registry.manifest(layout.registry, production)["files"]
    evidence = {name: layout.registry / "versions" / production / name
                for name in stored if name != registry.MODEL_FILE}
    shadow = registry.register(layout.registry, model_path, evidence,
                               {"test": "challenger", "decision": "promote"})
    registry.set_alias(layout.registry, "staging", shadow["version"], "test: challenger")
    return root, production, shadow["version"]


@pytest.fixture
def project(production, tmp_path):
    """A fresh copy per test: each test drops its own batches."""
    root = tmp_path / "project"
    shutil.copytree(production[0], root)
    return root


@pytest.fixture
def instance():
    with instance_for_test() as persistent:
        yield persistent


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def raw_german(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "data/raw/german_credit.csv", dtype=str, keep_default_na=False)


def drop_batch(root: Path, name: str, frame: pd.DataFrame) -> Path:
    path = root / BATCHES / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def clean_batch(root: Path) -> pd.DataFrame:
    """Rows of the production model's own data: no drift beyond sampling noise."""
    return raw_german(root).sample(500, random_state=3)


def drifted_batch(root: Path) -> pd.DataFrame:
    """Larger loans, longer terms, and nobody without a checking account."""
    frame = clean_batch(root).copy()
    frame["credit_amount"] = (frame["credit_amount"].astype(int) * 4).astype(str)
    frame["duration_in_month"] = (frame["duration_in_month"].astype(int) * 3).astype(str)
    frame["status_of_existing_checking_account"] = "A11"
    return frame


def monitor(root: Path, instance: DagsterInstance, batch: str, url: str = ""):
    if batch not in instance.get_dynamic_partitions(batch_partitions.name):
        instance.add_dynamic_partitions(batch_partitions.name, [batch])
    return materialize([scored_batch, batch_monitoring], instance=instance, partition_key=batch,
                       resources={"project": GovernanceProject(root=str(root)),
                                  "alerts": AlertWebhook(url=url)},
                       raise_on_error=False)


def checks(result) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def tick(sensor, instance, root: Path, cursor: str | None = None):
    context = build_sensor_context(instance=instance, cursor=cursor,
                                   resources={"project": GovernanceProject(root=str(root))})
    return sensor.evaluate_tick(context)


def test_clean_batch_is_logged_row_by_row_with_shadow_and_raises_nothing(
        production, project, instance, webhook):
    _, production_version, shadow_version = production
    batch = clean_batch(project)
    drop_batch(project, "clean", batch)
    result = monitor(project, instance, "clean", webhook.url)
    assert result.success
    evaluations = checks(result)
    assert all(e.passed for e in evaluations.values()), {
        n: e.description for n, e in evaluations.items() if not e.passed}
    report = read_json(project / "reports/monitoring/clean/report.json")
    assert report["drift_level"] == "OK" and report["levels"]["label_drift"] == "OK"
    assert report["performance"]["labelled_rows"] == 500
    assert webhook.received == [] and report["alert"] is None
    assert "noise floor" in evaluations["prediction_drift"].description
    assert report["performance"]["auc_drop_noise_floor"] > 0
    log_dir = next((project / "registry/decision_log/clean").iterdir())
    log = decision_log.read_log(log_dir)
    for role, version in (("production", production_version), ("shadow", shadow_version)):
        rows = log[log["role"] == role]
        assert len(rows) == len(batch) and rows["row"].is_unique
        assert set(rows["model_version"]) == {version}
        assert rows["input_sha256"].str.fullmatch("[0-9a-f]{64}").all()
    both = log.pivot(index="row", columns="role", values="decision")
    agreement = float((both["production"] == both["shadow"]).mean())
    assert report["shadow"]["agreement_rate"] == pytest.approx(agreement, abs=1e-6)
    assert 0 < agreement < 1, "two different real models disagree on some rows"
    assert tick(drift_research_sensor, instance, project).run_requests == []
    _the_log_answers_as_the_report_judged(project, production_version, report)


def _governance_log(root: Path, *arguments: str) -> list[dict]:
    answered = subprocess.run([str(Path(sys.executable).parent / "governance"), "--root",
                               str(root), "log", *arguments, "--format", "json"],
                              capture_output=True, text=True, timeout=300)
    assert answered.returncode == 0, answered.stdout + answered.stderr
    return json.loads(answered.stdout)


def _the_log_answers_as_the_report_judged(root: Path, version: str, report: dict) -> None:
    """`governance log` (SQL over the log's parts) gives each group the selection rate
    fairlearn gave it in the batch report, and the shadow agreement the report shows."""
    for attribute, judged in report["fairness"]["attributes"].items():
        rows = _governance_log(root, "by-group-month", "--version", version, "--attribute",
                               attribute)
        assert {row["grp"] for row in rows} == set(judged["selection_rates"])
        for row in rows:
            assert row["favourable_rate"] == pytest.approx(
                judged["selection_rates"][row["grp"]], abs=1e-6), (attribute, row)
    batches_answer = _governance_log(root, "batches")
    assert [row["batch"] for row in batches_answer] == ["clean"]
    assert batches_answer[0]["shadow_agreement"] == pytest.approx(
        report["shadow"]["agreement_rate"], abs=1e-6)


def test_drifted_batch_alerts_and_the_sensor_launches_the_search_as_drift(
        project, instance, webhook):
    drop_batch(project, "drifted", drifted_batch(project))
    result = monitor(project, instance, "drifted", webhook.url)
    evaluations = checks(result)
    psi = evaluations["feature_psi"]
    assert not psi.passed and psi.severity == AssetCheckSeverity.ERROR
    report = read_json(project / "reports/monitoring/drifted/report.json")
    assert {"credit_amount", "duration_in_month", "status_of_existing_checking_account"} <= set(
        report["data_drift"]["drifted_features"])
    assert report["prediction_drift"]["ks_pvalue"] < 0.01
    assert len(webhook.received) == 1 and webhook.received[0]["batch"] == "drifted"
    assert webhook.received[0]["breaches"]["feature_psi"] == "ERROR"
    assert report["alert"]["status"] == "delivered"

    data = tick(drift_research_sensor, instance, project)
    assert len(data.run_requests) == 1
    request = data.run_requests[0]
    assert request.tags["governance/trigger"] == "drift"
    assert trigger_from_tags(request.tags) == "drift"
    again = tick(drift_research_sensor, instance, project, cursor=data.cursor)
    assert again.run_requests == [], "the same breach launches one search, not one per tick"

    search = materialize([*GRAPH_ASSETS, *GATE_CHECKS, *PROMOTION_CHECKS], instance=instance,
                         selection=AssetSelection.assets("model_search").downstream(),
                         resources={"project": GovernanceProject(root=str(project))},
                         tags=request.tags, raise_on_error=False)
    built = {e.asset_key.to_user_string() for e in search.get_asset_materialization_events()}
    assert {"model_search", "candidate_model", "promotion_decision"} <= built
    assert "validated_dataset" not in built
    assert read_json(project / "reports/decision.json")["trigger"] == "drift"
    assert read_json(project / "reports/model_card.json")["run_meta"]["trigger"] == "drift"


def test_malformed_batch_is_refused_and_other_partitions_are_untouched(project, instance):
    drop_batch(project, "good", clean_batch(project))
    assert monitor(project, instance, "good").success
    before = {p: sha256_of_file(p) for base in ("registry/decision_log", "reports/monitoring",
                                                "data/monitoring")
              for p in sorted((project / base).rglob("*")) if p.is_file()}
    bad = clean_batch(project).reset_index(drop=True)
    bad.loc[7, "credit_amount"] = "lots"
    drop_batch(project, "bad", bad)
    result = monitor(project, instance, "bad")
    assert not result.success
    schema = checks(result)["batch_schema"]
    assert not schema.passed and schema.severity == AssetCheckSeverity.ERROR
    assert ("data/batches/german_credit/bad.csv: column 'credit_amount' rule numeric: 1 "
            "non-numeric value(s), first 'lots' at line 9") in schema.description
    assert not (project / "registry/decision_log/bad").exists()
    assert not (project / "data/monitoring/bad").exists()
    monitored = {e.partition for e in result.get_asset_materialization_events()
                 if e.asset_key.to_user_string() == "batch_monitoring"}
    assert monitored == set()
    after = {p: sha256_of_file(p) for p in before}
    assert after == before
    assert read_json(project / "reports/monitoring/bad/status.json")["status"] == "refused"


KILL_SCRIPT = """
import sys
from dagster import DagsterInstance, materialize
from governance_assets.assets.monitoring import scored_batch
from governance_assets.resources import AlertWebhook, GovernanceProject
with DagsterInstance.ephemeral() as instance:
    instance.add_dynamic_partitions("production_batches", ["big"])
    materialize([scored_batch], instance=instance, partition_key="big",
                resources={"project": GovernanceProject(root=sys.argv[1]),
                           "alerts": AlertWebhook()})
"""


def test_decision_log_survives_a_kill_mid_batch_without_duplicates(project, instance):
    """Read in pieces of 3,000 rows (30 log parts per role each), killed in the second piece:
    the re-run resumes inside it, after the first piece's production and shadow parts."""
    set_params(project, monitoring={"log_chunk_rows": 100, "stream_rows": 3000})
    big = pd.concat([raw_german(project)] * 20, ignore_index=True)
    path = drop_batch(project, "big", big)
    log_dir = project / "registry/decision_log/big" / batches.content_key(path)
    process = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(project)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while process.poll() is None and len(list(log_dir.glob("production-*.parquet"))) < 35:
            time.sleep(0.005)
        process.kill()
    finally:
        process.wait()
    parts = sorted(log_dir.glob("*.parquet"))
    assert process.returncode == -9, "the scoring process was killed, not finished"
    done = decision_log.read_log(log_dir)
    assert 0 < len(done) < 2 * len(big), "the kill landed mid-batch"
    kept = {p.name: sha256_of_file(p) for p in parts}

    assert monitor(project, instance, "big").success
    log = decision_log.read_log(log_dir)
    for role in ("production", "shadow"):
        rows = log[log["role"] == role]
        assert len(rows) == len(big) and rows["row"].is_unique
        assert sorted(rows["row"]) == list(range(len(big)))
    assert all(sha256_of_file(log_dir / name) == digest for name, digest in kept.items()), \
        "parts written before the kill are never rewritten"
    assert not list(log_dir.glob(".*")), "no half-written part is left behind"
    scored = pd.read_parquet(project / "data/monitoring/big/scored.parquet")
    assert scored["_row_id"].tolist() == list(range(len(big)))


def test_a_batch_read_in_pieces_is_judged_as_the_whole_file(project, instance):
    """stream_rows 120 on a 500-row batch: five pieces, the same decisions, scored rows and
    report as one piece; a bad value in the last piece refuses the batch before any piece is
    scored, naming its line in the file."""
    drop_batch(project, "whole", clean_batch(project))
    assert monitor(project, instance, "whole").success
    set_params(project, monitoring__stream_rows=120)
    drop_batch(project, "pieces", clean_batch(project))
    assert monitor(project, instance, "pieces").success

    reports = {name: read_json(project / f"reports/monitoring/{name}/report.json")
               for name in ("whole", "pieces")}
    for section in ("levels", "data_drift", "prediction_drift", "label_drift", "performance",
                    "fairness", "shadow"):
        assert reports["pieces"][section] == reports["whole"][section], section
    scored = {name: pd.read_parquet(project / f"data/monitoring/{name}/scored.parquet")
              for name in ("whole", "pieces")}
    pd.testing.assert_frame_equal(scored["pieces"], scored["whole"], check_dtype=False)
    validated = read_json(project / "reports/monitoring/pieces/validation.json")
    assert validated["pieces"]["count"] == 5 and validated["rows"] == 500
    assert validated["valid"] and "pieces" not in read_json(
        project / "reports/monitoring/whole/validation.json")

    bad = clean_batch(project).reset_index(drop=True)
    bad.loc[450, "credit_amount"] = "lots"
    drop_batch(project, "late", bad)
    result = monitor(project, instance, "late")
    assert not result.success
    assert "first 'lots' at line 452" in checks(result)["batch_schema"].description
    assert not (project / "registry/decision_log/late").exists()
    assert not (project / "data/monitoring/late").exists()
    assert read_json(project / "reports/monitoring/late/validation.json")["piece"] == {
        "number": 3, "first_row": 360, "rows": 120}


def test_schedule_registers_new_batches_and_requests_each_content_once(project, instance):
    drop_batch(project, "day-1", clean_batch(project))
    drop_batch(project, "day-2", clean_batch(project).head(200))
    def evaluate():
        context = build_schedule_context(
            instance=instance, repository_def=defs.get_repository_def(),
            resources={"project": GovernanceProject(root=str(project))})
        return batch_monitoring_schedule.evaluate_tick(context).run_requests

    requests = evaluate()
    assert sorted(r.partition_key for r in requests) == ["day-1", "day-2"]
    assert set(instance.get_dynamic_partitions(batch_partitions.name)) == {"day-1", "day-2"}
    assert monitor(project, instance, "day-1").success
    later = evaluate()
    assert [r.partition_key for r in later] == ["day-2"]


def _unfair_batch(root: Path, production_version: str) -> pd.DataFrame:
    """Young applicants the production model turns down beside older ones it accepts."""
    from governance_assets.core.data import validation

    params = load_params(root)
    raw = raw_german(root)
    frame, _ = validation.validate(raw, params.active, params.policy, "german_credit.csv",
                                   validation.BATCH)
    model = registry.load_model(root / "registry", production_version)
    score = model.predict_proba(frame[params.active.model_features])[:, 1]
    young = frame["age_band"] == "under_25"
    # however few young applicants the model refuses, the batch holds 100 of them (resampled)
    refused_young = raw[(young & (score < 0.5)).to_numpy()].sample(100, replace=True,
                                                                   random_state=0)
    accepted_old = raw[(~young & (score >= 0.5)).to_numpy()].head(200)
    mixed_young = raw[(young & (score >= 0.5)).to_numpy()].head(10)
    return pd.concat([refused_young, mixed_young, accepted_old], ignore_index=True)


def test_fairness_breach_rolls_production_back_only_when_params_allow(production, project,
                                                                      instance, keys,
                                                                      monkeypatch):
    _, production_version, shadow_version = production
    root = project / "registry"
    trust = signoff.Trust.of(project, load_params(project).signoff)
    for version in (shadow_version, production_version):   # the challenger was production first
        keys.promote(root, version, trust)
    monkeypatch.setenv(SIGNING_KEY_ENV, str(keys.path(PIPELINE)))  # the sensor runs as CI
    drop_batch(project, "unfair", _unfair_batch(project, production_version))
    result = monitor(project, instance, "unfair")
    dir_check = checks(result)["batch_disparate_impact"]
    assert not dir_check.passed and dir_check.severity == AssetCheckSeverity.ERROR
    fairness = read_json(project / "reports/monitoring/unfair/report.json")["fairness"]
    assert fairness["worst_attribute"] == "age_band" and fairness["interval"][1] < 0.8
    assert "the whole interval is below the error level 0.8" in dir_check.description

    held = tick(fairness_rollback_sensor, instance, project)
    assert "rollback_on_fairness_breach is false" in held.skip_message
    assert registry.get_alias(root, "production") == production_version

    set_params(project, monitoring={"rollback_on_fairness_breach": True})
    rolled = tick(fairness_rollback_sensor, instance, project)
    assert f"rolled back to {shadow_version}" in rolled.skip_message
    assert registry.get_alias(root, "production") == shadow_version
    move = registry.alias_entry(root, "production")
    assert move["data"]["move"] == "rollback" and move["data"]["rolled_back"] == production_version
    assert move["data"]["by"] == PIPELINE
    assert move["signer"]["key"] == keys.signer(PIPELINE).fingerprint
    assert move["data"]["reason"].startswith(rollback.MONITORING_IDENTITY)
    assert signoff.production_version(root, lambda: trust) == shadow_version
    assert "fairness breach" in move["data"]["reason"] and "batch unfair" in move["data"]["reason"]
    assert not audit.verify(root).problems


def test_undelivered_alert_is_retried_logged_and_never_fails_the_run(project, instance):
    hook = Webhook(statuses=[503, 503, 503, 503])
    set_params(project, monitoring={"alert_backoff_seconds": 0.01})
    try:
        drop_batch(project, "drifted", drifted_batch(project))
        result = monitor(project, instance, "drifted", hook.url)
    finally:
        hook.close()
    assert result.success
    alert = read_json(project / "reports/monitoring/drifted/report.json")["alert"]
    assert alert["status"] == "pending" and len(hook.received) == 4
    assert [a["status"] for a in alert["attempts"]] == [503] * 4


def test_splitter_makes_year_batches_for_census_and_simulated_ones_for_german(tmp_path):
    from .conftest import REPO

    params = load_params(REPO)
    census = pd.read_csv(REPO / params.datasets["census_income"].path, dtype=str,
                         keep_default_na=False)
    manifest = batches.split_into_batches(census, params.datasets["census_income"],
                                          tmp_path / "census", 5000, 0, periods=["95"])
    assert [b["rows"] for b in manifest["batches"]] == [5000, 5000, 2000]
    assert {b["batch"][:3] for b in manifest["batches"]} == {"95-"}
    first = pd.read_csv(tmp_path / "census/95-000.csv", dtype=str)
    assert set(first["year"]) == {"95"} and not manifest["simulated"]
    german = batches.split_into_batches(raw_german(REPO), params.active, tmp_path / "german",
                                        300, 0, with_labels=False)
    assert german["simulated"] and "SIMULATED" in german["how"]
    assert list(batches.scan(tmp_path / "german").batches) == [
        "simulated-000", "simulated-001", "simulated-002", "simulated-003"]
    assert "credit_risk" not in pd.read_csv(tmp_path / "german/simulated-000.csv").columns


def test_monitoring_levels_in_the_wrong_order_are_refused(tmp_path):
    from governance_assets.core.params import ParamsError

    from .conftest import make_project

    root = make_project(tmp_path, monitoring={"psi": {"warn": 0.3, "error": 0.2}})
    with pytest.raises(ParamsError, match="monitoring.psi"):
        load_params(root)


def test_unlabelled_batch_measures_drift_and_leaves_label_checks_unmeasured(project, instance):
    drop_batch(project, "no-labels", clean_batch(project).drop(columns=["credit_risk"]))
    result = monitor(project, instance, "no-labels")
    assert result.success
    report = read_json(project / "reports/monitoring/no-labels/report.json")
    assert report["labelled_rows"] == 0
    assert report["levels"]["label_drift"] == report["levels"]["batch_auc"] == "NOT_MEASURED"
    assert report["levels"]["feature_psi"] == "OK" and report["rows"] == 500


# --- statistics that separate drift from noise (issue 22, item 4) ---

def _decided_rows(root: Path, version: str) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """The raw German rows, whether each is under 25, and whether the production version
    accepts it at its card's decision threshold."""
    from governance_assets.core.data import validation
    from governance_assets.core.monitor import monitoring

    params = load_params(root)
    raw = raw_german(root)
    frame, _ = validation.validate(raw, params.active, params.policy, "german_credit.csv",
                                   validation.BATCH)
    model = registry.load_model(root / "registry", version)
    threshold = monitoring.card_baseline(root / "registry", version)["decision_threshold"]
    accepted = model.predict_proba(frame[params.active.model_features])[:, 1] >= threshold
    return raw, pd.Series((frame["age_band"] == "under_25").to_numpy()), pd.Series(accepted)


def _rows(raw: pd.DataFrame, mask: pd.Series, count: int) -> pd.DataFrame:
    return raw[mask.to_numpy()].sample(count, random_state=1)


def _straddling_batch(root: Path, version: str) -> pd.DataFrame:
    """25 young applicants, 12 accepted, beside 200 older ones, 130 accepted: the young rate is
    under 0.8 of the older one, but 25 rows cannot tell that from chance."""
    raw, young, accepted = _decided_rows(root, version)
    return pd.concat([_rows(raw, young & accepted, 12), _rows(raw, young & ~accepted, 13),
                      _rows(raw, ~young & accepted, 130), _rows(raw, ~young & ~accepted, 70)],
                     ignore_index=True)


def test_point_dir_under_the_level_with_a_straddling_interval_is_no_breach_and_no_rollback(
        production, project, instance, keys, monkeypatch, capsys):
    from governance_assets.cli.monitor import _print_batch

    _, production_version, shadow_version = production
    root = project / "registry"
    trust = signoff.Trust.of(project, load_params(project).signoff)
    for version in (shadow_version, production_version):   # somewhere to roll back to
        keys.promote(root, version, trust)
    monkeypatch.setenv(SIGNING_KEY_ENV, str(keys.path(PIPELINE)))
    set_params(project, monitoring={"rollback_on_fairness_breach": True})
    drop_batch(project, "noisy", _straddling_batch(project, production_version))
    result = monitor(project, instance, "noisy")
    fairness = read_json(project / "reports/monitoring/noisy/report.json")["fairness"]
    age = fairness["attributes"]["age_band"]
    assert age["rows"]["under_25"] == 25 and age["disparate_impact_ratio_min"] < 0.8
    low, high = age["interval"]
    assert low < 0.8 < high, "the interval straddles the error level"
    assert age["level"] == "WARN" and "straddles" in age["why"]
    assert fairness["level"] != "ERROR"
    dir_check = checks(result)["batch_disparate_impact"]
    assert dir_check.severity == AssetCheckSeverity.WARN
    assert f"[{low:.3g}, {high:.3g}]" in dir_check.description
    assert "error < 0.8" in dir_check.description

    held = tick(fairness_rollback_sensor, instance, project)
    assert "noisy: no fairness breach" in held.skip_message
    assert registry.get_alias(root, "production") == production_version

    _print_batch(Layout(project), batches.scan(project / BATCHES).batches["noisy"],
                 project / "logs" / "monitor.log")
    line = capsys.readouterr().out
    assert f"lowest DIR {fairness['disparate_impact_ratio_min']:.3g} [{low:.3g}, {high:.3g}] " \
           "(error < 0.8) WARN" in line


def test_a_group_below_min_group_size_is_insufficient_evidence_not_a_breach(
        production, project, instance):
    _, production_version, _ = production
    raw, young, accepted = _decided_rows(project, production_version)
    tiny = pd.concat([_rows(raw, young & ~accepted, 10), _rows(raw, ~young & accepted, 200),
                      _rows(raw, ~young & ~accepted, 60)], ignore_index=True)
    drop_batch(project, "tiny", tiny)
    result = monitor(project, instance, "tiny")
    report = read_json(project / "reports/monitoring/tiny/report.json")
    age = report["fairness"]["attributes"]["age_band"]
    assert age["insufficient_groups"] == {"under_25": "10 rows < minimum 20"}
    assert age["level"] == "NOT_MEASURED" and age["disparate_impact_ratio_min"] is None
    assert "under_25: 10 rows < minimum 20" in report["fairness"]["why"]
    assert not report["fairness_breach"]
    assert checks(result)["batch_disparate_impact"].severity != AssetCheckSeverity.ERROR


def test_label_drift_and_auc_below_min_labelled_rows_are_not_measured_with_the_reason(
        project, instance):
    batch = clean_batch(project).reset_index(drop=True)
    batch.loc[60:, "credit_risk"] = ""   # 60 of 500 rows labelled so far
    drop_batch(project, "few-labels", batch)
    result = monitor(project, instance, "few-labels")
    report = read_json(project / "reports/monitoring/few-labels/report.json")
    reason = "60 labelled rows < monitoring.min_labelled_rows 100"
    for section, check in (("label_drift", "label_drift"), ("performance", "batch_auc")):
        assert report[section]["level"] == "NOT_MEASURED" and report[section]["why"] == reason
        assert reason in checks(result)[check].description
    assert "psi" not in report["label_drift"] and "auc" not in report["performance"]

    set_params(project, monitoring={"min_labelled_rows": 50})
    drop_batch(project, "few-labels-enough", batch)
    monitor(project, instance, "few-labels-enough")
    enough = read_json(project / "reports/monitoring/few-labels-enough/report.json")
    assert enough["label_drift"]["labelled_rows"] == 60 and "psi" in enough["label_drift"]
    assert enough["label_drift"]["psi_noise_floor"] > 0
    assert enough["performance"]["auc_drop_noise_floor"] > 0


def _scored_reference(rows: int, seed: int) -> pd.DataFrame:
    """Labels and a score that ranks them with AUC about 0.75."""
    import numpy as np

    from governance_assets.core.monitor.monitoring import SCORE

    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.7).astype(float)
    return pd.DataFrame({"_favourable": y, SCORE: y * 0.95 + rng.normal(size=rows)})


def test_the_auc_drop_counts_only_above_its_noise_floor_for_the_labelled_rows():
    from sklearn.metrics import roc_auc_score

    from governance_assets.core.monitor import monitoring
    from governance_assets.core.params.monitoring import MonitoringSpec

    reference = _scored_reference(4000, 0)
    small, large = reference.sample(100, random_state=1), reference.sample(2000, random_state=1)
    assert monitoring.auc_drop_noise_floor(reference, 100, 0) > \
        2 * monitoring.auc_drop_noise_floor(reference, 2000, 0)
    settings = MonitoringSpec()
    for batch, level in ((small, "OK"), (large, "ERROR")):
        auc = roc_auc_score(batch["_favourable"], batch[monitoring.SCORE])
        # the same drop, 0.06, above auc_drop.error (0.05) at both sizes
        judged = monitoring.performance(reference, batch, auc + 0.06, settings, 0)
        assert judged["auc_drop"] == pytest.approx(0.06)
        assert judged["level"] == level, judged
    assert judged["thresholds"] == {"warn": 0.02, "error": 0.05}


def test_a_dir_breach_needs_the_whole_interval_below_the_error_level():
    from governance_assets.core.monitor.batch_fairness import judge
    from governance_assets.core.params.monitoring import LowerLevels

    levels = LowerLevels(warn=0.85, error=0.8)
    assert judge(0.75, [0.6, 0.79], levels)[0] == "ERROR"
    level, why = judge(0.75, [0.6, 0.9], levels)
    assert level == "WARN" and "straddles" in why and "[0.6, 0.9]" in why
    assert judge(0.82, [0.7, 0.95], levels)[0] == "WARN"
    assert judge(0.9, [0.7, 0.99], levels)[0] == "OK"
    assert judge(None, None, levels)[0] == "NOT_MEASURED"
