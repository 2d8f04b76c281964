"""Energy and emissions of the search and the refit, measured with codecarbon offline.

`OfflineEmissionsTracker` with a country code reads the grid's carbon intensity from the
package's own tables: it never calls the network, and `save_to_file=False` keeps its CSV out of
the project. Where the machine exposes no power counters (no RAPL, as in most VMs and
containers), codecarbon estimates CPU power from the CPU model's TDP scaled by the measured
load (its `cpu_load` mode) and RAM power from its size; the record names the mode used.

The figures depend on the machine and its load, so they live in reports/runtime/ (never in a
DVC out): `carbon.json` (the latest measurement, a DVC top-level metric) and
`carbon/<candidate sha256>-<code version>.json` (the first measurement that produced that exact
candidate with this code, which the deterministic model card quotes: rebuilding the same bytes
does not re-date them).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

# Power-measurement modes codecarbon reports for the CPU, in words for the card.
MODES = {
    "intel_rapl": "measured: Intel RAPL power counters",
    "intel_power_gadget": "measured: Intel Power Gadget",
    "apple_powermetrics": "measured: Apple powermetrics",
    "cpu_load": "estimated: CPU TDP x measured CPU load (no power counters on this machine)",
    "constant": "estimated: a constant share of the CPU TDP (no power counters, no load figure)",
}


@dataclass
class Measurement:
    """What one tracked block used; filled when the block ends."""

    scope: str
    figures: dict = field(default_factory=dict)


def _cpu_mode(tracker) -> str:
    """codecarbon keeps the CPU's measuring mode on its hardware objects (no public accessor
    in 3.x); read defensively so an internal rename degrades to 'unknown', not a crash."""
    for device in getattr(tracker, "_hardware", []):
        mode = getattr(device, "_mode", None)
        if type(device).__name__ == "CPU" and mode:
            return str(mode)
    return "unknown"


def warm() -> None:
    """codecarbon looks the CPU's TDP up once per process (1.4 s: a fuzzy match over its CPU
    table); the stage server does it once, so each stage's tracker finds it cached."""
    from codecarbon.core import cpu
    from codecarbon.core.hardware_cache import get_cached_tdp

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    get_cached_tdp(cpu)


@contextmanager
def tracked(scope: str, country_iso_code: str):
    """Measure the block: energy (kWh), emissions (kg CO2eq), duration (s), and how."""
    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    tracker = OfflineEmissionsTracker(country_iso_code=country_iso_code, save_to_file=False,
                                      log_level="error", allow_multiple_runs=True,
                                      tracking_mode="process", project_name=scope)
    measurement = Measurement(scope)
    tracker.start()
    try:
        yield measurement
    finally:
        tracker.stop()
        data = tracker.final_emissions_data
        mode = _cpu_mode(tracker)
        measurement.figures = {
            "scope": scope, "energy_kwh": float(data.energy_consumed),
            "emissions_kg_co2eq": float(data.emissions), "duration_seconds":
            round(float(data.duration), 3), "cpu_energy_kwh": float(data.cpu_energy),
            "ram_energy_kwh": float(data.ram_energy), "cpu_power_w": float(data.cpu_power),
            "country_iso_code": data.country_iso_code, "country": data.country_name,
            "cpu_model": data.cpu_model, "cpu_count": data.cpu_count,
            "tracking_mode": data.tracking_mode, "power_mode": mode,
            "power_mode_note": MODES.get(mode, f"codecarbon mode {mode}"),
            "codecarbon_version": data.codecarbon_version,
            "tracker": "codecarbon OfflineEmissionsTracker (no network)"}


def record_name(sha256: str, code_version: str) -> str:
    """Where the first measurement of this candidate built by this code is kept (runtime/):
    a code change measures again, a byte-identical rebuild by the same code does not."""
    return f"carbon/{sha256[:16]}-{code_version[:12]}.json"


def combine(parts: list[dict]) -> dict:
    """The search and the refit together, with each part kept beside the total."""
    return {"energy_kwh": sum(p["energy_kwh"] for p in parts),
            "emissions_kg_co2eq": sum(p["emissions_kg_co2eq"] for p in parts),
            "duration_seconds": round(sum(p["duration_seconds"] for p in parts), 3),
            "power_mode": parts[0]["power_mode"], "power_mode_note": parts[0]["power_mode_note"],
            "country_iso_code": parts[0]["country_iso_code"],
            "cpu_model": parts[0]["cpu_model"], "tracker": parts[0]["tracker"],
            "codecarbon_version": parts[0]["codecarbon_version"],
            "parts": {p["scope"]: p for p in parts}}


def card_section(record: dict | None, where: str) -> dict:
    """The card's `carbon`: the figures when this candidate's measurement is on this machine."""
    if record is None:
        return {"measured": False,
                "note": f"No measurement of this candidate on this machine ({where} is absent: "
                        "it was restored from DVC's cache, not trained here)."}
    return {"measured": True, "energy_kwh": record["energy_kwh"],
            "emissions_kg_co2eq": record["emissions_kg_co2eq"],
            "emissions_g": round(record["emissions_kg_co2eq"] * 1000, 6),
            "duration_seconds": record["duration_seconds"],
            "power_mode": record["power_mode"], "country_iso_code": record["country_iso_code"],
            "hardware": record["cpu_model"], "source": record["tracker"] + " "
            + record["codecarbon_version"], "scope": sorted(record["parts"]),
            "record": where,
            "note": f"Search and refit: {record['energy_kwh']:.3g} kWh, "
                    f"{record['emissions_kg_co2eq'] * 1000:.3g} g CO2eq over "
                    f"{record['duration_seconds']:g} s, grid of {record['country_iso_code']}; "
                    f"power {record['power_mode_note']}. Measured when this candidate was "
                    "first built by this code on this machine."}
