"""The whole explanation report of a candidate: global SHAP importance on a golden sample,
local SHAP and LIME explanations of a few decisions per outcome and group, their agreement,
the PNGs, and the Markdown a reviewer reads in the Dagster UI.

Its cost does not grow with the data beyond one prediction pass over the golden set (to find
each group's decisions): every explainer works on a fixed number of rows from params.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
from threadpoolctl import threadpool_limits

from ..data.columns import ROW_ID, input_columns
from ..params import DatasetSpec, ExplainSpec
from ..report import markdown, plots
from . import explain, explain_local, explain_plots


def explanation_report(model, spec: DatasetSpec, settings: ExplainSpec, train: pd.DataFrame,
                       golden: pd.DataFrame, threshold: float, seed: int, reports: Path,
                       waterfall_dir: Path, proxies: list[str] | tuple[str, ...] = ()) -> dict:
    """The report (JSON-ready) with its PNGs written: summary and bars in `reports`, one
    waterfall per local decision in `waterfall_dir` (replaced whole, so none is stale).

    Model calls run on one thread: LIME and the permutation explainer make many small
    predictions, where OpenMP's start-up dominates; measured on census with the 2 cores busy,
    2,000 rows through HistGradientBoosting took 0.15-1.7 s on all threads, 0.05-0.09 s on one.
    """
    with threadpool_limits(limits=1):
        return _explanation_report(model, spec, settings, train, golden, threshold, seed,
                                   reports, waterfall_dir, proxies)


def _explanation_report(model, spec: DatasetSpec, settings: ExplainSpec, train: pd.DataFrame,
                        golden: pd.DataFrame, threshold: float, seed: int, reports: Path,
                        waterfall_dir: Path, proxies: list[str] | tuple[str, ...]) -> dict:
    features = input_columns(model, spec.model_features)
    # A seeded shuffle: the global sample and the local decisions must not follow file order.
    golden = golden.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    background = train.sample(min(settings.background_rows, len(train)),
                              random_state=seed)[features]
    scores = model.predict_proba(golden[features])[:, 1]
    chosen = explain_local.choose_decisions(golden[spec.sensitive_features], scores >= threshold,
                                            settings.local_per_group,
                                            settings.max_local_decisions)
    local = golden.iloc[chosen]
    attribution, sample = _attribution(model, background, golden, local, features, settings,
                                       seed)
    on_sample = explain.Attribution(attribution.values.loc[sample.index],
                                    attribution.base_values.loc[sample.index],
                                    attribution.explainer, attribution.output)
    report = {"explainer": attribution.explainer, "shap_output": attribution.output,
              "explainer_fallback": attribution.fallback,
              **explain.global_importance(on_sample.values,
                                          explain.protected_inputs(features, spec, proxies))}
    lime = explain_local.lime_weights(model, background, local[features], seed,
                                      settings.lime_samples)
    entries = explain_local.decision_entries(local[features], local[ROW_ID],
                                             local[spec.sensitive_features], scores[chosen],
                                             threshold, attribution, lime)
    report["plots"] = {"importance": "shap_importance.png", "summary": "shap_summary.png"}
    report["local_explanations"] = _with_waterfalls(
        entries, attribution, local[features], waterfall_dir,
        [partial(explain_plots.plot_importance, report, reports / "shap_importance.png"),
         partial(explain_plots.plot_summary, on_sample, sample[features],
                 reports / "shap_summary.png", seed)])
    report["shap_lime_agreement"] = explain_local.agreement_summary(entries,
                                                                    settings.lime_samples)
    return report


def _attribution(model, background: pd.DataFrame, golden: pd.DataFrame, local: pd.DataFrame,
                 features: list[str], settings: ExplainSpec, seed: int
                 ) -> tuple[explain.Attribution, pd.DataFrame]:
    """SHAP values of the global sample and the local decisions, and that sample.

    An exact explainer that fails is replaced by the model-agnostic one, on the smaller
    sample that explainer is given anyway; the attribution's `fallback` says what failed."""
    sample = golden.head(_global_rows(model, settings))
    explained = pd.concat([sample, local[~local.index.isin(sample.index)]])
    try:
        return explain.shap_by_feature(model, background, explained[features], seed,
                                       settings.permutations, fall_back=False), sample
    except explain.ExactExplainerFailed as failure:
        sample = golden.head(min(settings.sample_rows, settings.agnostic_sample_rows))
        explained = pd.concat([sample, local[~local.index.isin(sample.index)]])
        return explain.fallback_attribution(model, background, explained[features], seed,
                                            settings.permutations, failure), sample


def _global_rows(model, settings: ExplainSpec) -> int:
    """Golden rows behind the global importance: fewer for the model-agnostic explainer,
    which costs about a thousand times more model calls per row than the tree explainer."""
    if explain.explainer_kind(model) == explain.AGNOSTIC:
        return min(settings.sample_rows, settings.agnostic_sample_rows)
    return settings.sample_rows


def _with_waterfalls(entries: list[dict], attribution: explain.Attribution, rows: pd.DataFrame,
                     directory: Path, other_figures: list[Callable[[], Path]]) -> list[dict]:
    """Draw every decision's waterfall into a fresh folder, then swap it in for the old one;
    the other figures are drawn alongside, on both cores."""
    fresh = directory.with_name(directory.name + ".partial")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    named, jobs = [], list(other_figures)
    for entry, index in zip(entries, rows.index, strict=True):
        name = f"waterfall_row_{entry['row_id']}.png"
        jobs.append(partial(explain_plots.plot_waterfall, entry, attribution.values.loc[index],
                            rows.loc[index], attribution.output, fresh / name))
        named.append({**entry, "waterfall": name})
    plots.draw_all(jobs)
    shutil.rmtree(directory, ignore_errors=True)
    fresh.rename(directory)
    return named


def _role(feature: str, report: dict, proxies: list[str]) -> str:
    if feature in proxies:
        return "proxy"
    return "protected" if feature in report["protected_features"] else ""


def ui_markdown(report: dict, proxies: list[str], reports: Path, waterfall_dir: Path,
                top: int = 15, local_rows: int = 12) -> str:
    """What a reviewer needs on the asset's page: importance with protected and proxy
    markers, the summary plot, a few decisions explained both ways, and their agreement."""
    agreement = report["shap_lime_agreement"]
    importance = markdown.table(
        ["rank", "feature", "mean abs SHAP", "share", "protected / proxy"],
        [(rank, r["feature"], r["mean_abs_shap"], r["share"], _role(r["feature"], report, proxies))
         for rank, r in enumerate(report["global_importance"][:top], start=1)])
    decisions = report["local_explanations"]
    local = markdown.table(
        ["row", "groups", "prediction", "score", "top SHAP features", "top-5 overlap", "Spearman"],
        [(e["row_id"], ", ".join(f"{k}={v}" for k, v in e["groups"].items()), e["prediction"],
          e["score"], ", ".join(f"{f['feature']} {f['shap']:+.3g}" for f in e["top_features"][:3]),
          e["agreement"]["top_k_overlap"], e["agreement"]["spearman"])
         for e in decisions[:local_rows]])
    shown = _one_per_outcome(decisions)
    waterfalls = [markdown.image(waterfall_dir / e["waterfall"],
                                 f"waterfall of row {e['row_id']} ({e['prediction']})")
                  for e in shown]
    return "\n\n".join([
        f"### Global importance: mean abs SHAP over {report['rows_explained']} evaluated rows",
        f"Explainer: **{report['explainer']}**, values in {report['shap_output']}. Protected "
        f"features and proxies carry **{report['protected_influence_share']:.3f}** of the total."
        + (f" Fallback: {report['explainer_fallback']['reason']}."
           if report.get("explainer_fallback") else ""),
        importance,
        markdown.image(reports / report["plots"]["summary"], "SHAP summary (beeswarm)"),
        f"### Local explanations: {len(decisions)} decisions, each outcome in each group",
        f"SHAP and LIME agree on the median decision with a top-{agreement['top_k']} overlap of "
        f"**{_figure(agreement['median_top_k_overlap'])}** and a Spearman rank correlation of "
        f"**{_figure(agreement['median_spearman'])}**. "
        + (f"First {local_rows} shown; all in the JSON report." if len(decisions) > local_rows
           else ""),
        local,
        *waterfalls,
    ])


def _figure(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.2f}"


def _one_per_outcome(entries: list[dict]) -> list[dict]:
    """The first favourable and the first unfavourable decision, for inline waterfalls."""
    first: dict[str, dict] = {}
    for entry in entries:
        first.setdefault(entry["prediction"], entry)
    return list(first.values())
