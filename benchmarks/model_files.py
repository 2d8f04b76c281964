"""The bundled champion as a skops file against the same model as a joblib pickle: size on
disk and load time (median of REPEATS loads from memory), written to benchmarks/MODEL_FILES.md.

Run after `make run` (it reads models/candidate.skops). The only place in the repository that
unpickles: a pickle it has just written itself, to time the format the registry no longer uses.
"""

import io
import statistics
import sys
import time
from pathlib import Path

import joblib
import skops

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from governance_assets.core.files import read_json  # noqa: E402
from governance_assets.core.model import model_files

REPEATS = 21


def _median_ms(load) -> float:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        load()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    path = REPO / "models/candidate.skops"
    if not path.is_file():
        sys.exit("models/candidate.skops is missing: run `make run` first")
    stored = path.read_bytes()
    model = model_files.loads(stored, str(path))
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    pickled = buffer.getvalue()
    rows = [("skops (compressed, canonical; stored)", len(stored),
             _median_ms(lambda: model_files.loads(stored, "champion"))),
            ("joblib (before)", len(pickled),
             _median_ms(lambda: joblib.load(io.BytesIO(pickled))))]
    meta = read_json(REPO / "models/candidate.json")
    lines = ["# The champion's model file: skops against joblib", "",
             f"Measured by `benchmarks/model_files.py` on the candidate of `make run` "
             f"({meta['algorithm']}, sha256 {meta['sha256'][:12]}…); load = bytes in memory to "
             f"model, median of {REPEATS}, skops {skops.__version__}, joblib "
             f"{joblib.__version__}. The skops load includes listing and checking its types.",
             "", "| format | bytes | load (ms) |", "|---|---|---|"]
    lines += [f"| {name} | {size:,} | {ms:.1f} |" for name, size, ms in rows]
    (REPO / "benchmarks/MODEL_FILES.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
