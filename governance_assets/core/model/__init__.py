"""The model domain (asset group `training`): the constraint-aware search, the families, the
operating threshold, mitigation, external models, carbon and the safe model file.

- `search.py`: the constraint-aware search (space, trial loop, mitigated variants);
  `search_trials.py`: one trial fitted and judged; `search_trace.py`: the trace and runtime;
  `search_replay.py`: the search proved reproducible without running it twice.
- `search_view.py`: the search trace for people (table, Pareto plot).
- `training.py`: the algorithm families and the champion's refit.
- `thresholds.py`: the operating threshold chosen on validation.
- `mitigation.py`: fairlearn mitigation of the chosen model.
- `external_model.py`: models trained elsewhere (a file or scores).
- `carbon.py`: energy and emissions with codecarbon.
- `model_files.py`: skops model files, loaded against one list of types.
"""
