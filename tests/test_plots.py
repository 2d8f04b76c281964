"""Figures drawn on both cores (core/report/plots.draw_all): every job once, the same bytes as
drawn in one process, and a failure in the second process raised in the first."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import pytest

from governance_assets.core.forking import ChildFailed
from governance_assets.core.report import plots


def _write_pid(path: Path) -> None:
    path.write_text(str(os.getpid()))


def _figure(path: Path, height: float) -> Path:
    plt = plots.pyplot()
    figure, axis = plt.subplots(figsize=(4, height))
    axis.plot([0, 1, 2], [height, 0, height])
    axis.set_title(f"height {height}")
    return plots.save(figure, path)


def test_every_job_runs_once_and_half_of_them_in_a_second_process(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    paths = [tmp_path / f"{index}.txt" for index in range(7)]
    plots.draw_all([partial(_write_pid, path) for path in paths])
    pids = [int(path.read_text()) for path in paths]
    assert pids[0::2] == [os.getpid()] * 4
    assert len(set(pids[1::2])) == 1 and pids[1] != os.getpid()


def test_one_core_draws_everything_here(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    paths = [tmp_path / f"{index}.txt" for index in range(3)]
    plots.draw_all([partial(_write_pid, path) for path in paths])
    assert {int(path.read_text()) for path in paths} == {os.getpid()}


def test_figures_drawn_in_the_second_process_are_the_same_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    heights = [2.0, 3.0, 2.5, 3.5]
    (tmp_path / "apart").mkdir()
    (tmp_path / "here").mkdir()
    plots.draw_all([partial(_figure, tmp_path / "apart" / f"{h}.png", h) for h in heights])
    for height in heights:
        _figure(tmp_path / "here" / f"{height}.png", height)
        assert ((tmp_path / "apart" / f"{height}.png").read_bytes()
                == (tmp_path / "here" / f"{height}.png").read_bytes())


def _fail(message: str) -> None:
    raise ValueError(message)


def test_a_failure_in_the_second_process_is_raised_with_its_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    done = tmp_path / "done.txt"
    with pytest.raises(ChildFailed, match="ValueError: no such feature 'age'"):
        plots.draw_all([partial(_write_pid, done), partial(_fail, "no such feature 'age'")])
    assert done.exists()


def test_a_failure_here_still_waits_for_the_second_process(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    other = tmp_path / "other.txt"
    with pytest.raises(ValueError, match="broken axis"):
        plots.draw_all([partial(_fail, "broken axis"), partial(_write_pid, other)])
    assert other.exists()
