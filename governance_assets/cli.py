"""The `governance` command: run the governed graph through DVC, and report every gate."""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .core.files import write_json_atomic
from .core.layout import Layout

REPORTS = [
    ("validation", "reports/validation.json"), ("splits", "reports/splits.json"),
    ("search trials", "reports/search.json"), ("model", "models/candidate.joblib"),
    ("performance", "reports/performance.json"), ("fairness", "reports/fairness.json"),
    ("explanations", "reports/explanation.json"), ("SHAP plot", "reports/shap_importance.png"),
    ("drift (HTML)", "reports/drift.html"), ("drift", "reports/drift.json"),
    ("model card", "reports/model_card.json"), ("model card (Markdown)", "reports/model_card.md"),
    ("EU AI Act checklist", "reports/compliance.md"), ("staging promotion", "reports/staging.json"),
    ("gate verdicts", "reports/gates.json"),
]


def use_project_instance(root: Path) -> None:
    """Point Dagster at the project's instance, as dvc.yaml's stages do."""
    home = root / ".dagster"
    home.mkdir(exist_ok=True)
    os.environ.setdefault("DAGSTER_HOME", str(home))


def _dvc_binary(root: Path) -> str:
    isolated = root / ".venv-dvc" / "bin" / "dvc"
    found = str(isolated) if isolated.exists() else shutil.which("dvc")
    if not found:
        sys.exit("dvc not found: run `make setup` (DVC lives in .venv-dvc)")
    return found


def _print_table(rows: list[dict]) -> None:
    header = f"{'gate':<22} {'asset':<20} {'value':>9} {'threshold':>11} {'verdict':<22} blocking"
    print(header)
    print("-" * len(header))
    for row in rows:
        value = "-" if row["value"] is None else f"{row['value']:.4g}"
        threshold = "-" if row["threshold"] is None else f"{row['comparison']} {row['threshold']:g}"
        print(f"{row['name']:<22} {row['asset']:<20} {value:>9} {threshold:>11} "
              f"{row['verdict']:<22} {'yes' if row['blocking'] else 'warn'}")


def report(root: Path) -> int:
    """Print and write every gate's standing in the instance; 1 if anything blocks promotion."""
    from dagster import DagsterInstance

    from .assets import GRAPH_ASSETS
    from .checks import GATE_CHECKS
    from .gate_status import asset_states, gate_statuses

    layout = Layout(root)
    with DagsterInstance.get() as instance:
        statuses = gate_statuses(instance, GRAPH_ASSETS, GATE_CHECKS)
        states = asset_states(instance, GRAPH_ASSETS)
    rows = [s.to_dict() for s in statuses]
    write_json_atomic(layout.gates, {"gates": rows, "promotable": not any(r["blocks_promotion"]
                                                                          for r in rows)})
    print("\nGates (value against the policy threshold in params.yaml):")
    _print_table(rows)
    for row in rows:
        if row["verdict"] != "PASS":
            print(f"  {row['name']}: {row['message']}")
    print("\nReports:")
    for label, relative in REPORTS:
        path = root / relative
        print(f"  {label:<23} {relative}{'' if path.exists() else '  (not produced)'}")
    blocked = [r["name"] for r in rows if r["blocks_promotion"]]
    staging = states.get(GRAPH_ASSETS[-1].key)
    if blocked:
        print(f"\nBLOCKED: promotion refused by {', '.join(blocked)}.")
        return 1
    if staging != "current":
        print(f"\nNOT PROMOTED: staging_model is {staging}.")
        return 1
    staged = json.loads((root / "reports" / "staging.json").read_text())
    print(f"\nPROMOTED: registry version {staged['version']} is `staging` "
          f"({staged['registry']}).")
    return 0


def run(root: Path, force: bool) -> int:
    """`dvc repro` of the governed graph, then the report, whatever DVC's outcome."""
    command = [_dvc_binary(root), "repro", *(["--force"] if force else [])]
    print("$", " ".join(command), flush=True)
    repro = subprocess.run(command, cwd=root, check=False)
    outcome = report(root)
    if repro.returncode != 0 and outcome == 0:
        print("dvc repro failed before any gate did; see its output above.")
        return repro.returncode
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="governance", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project root")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="dvc repro the governed graph, then report")
    run_parser.add_argument("--force", action="store_true", help="re-run every stage")
    commands.add_parser("report", help="print every gate and report path; write gates.json")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    use_project_instance(root)
    if args.command == "run":
        return run(root, args.force)
    return report(root)


if __name__ == "__main__":
    sys.exit(main())
