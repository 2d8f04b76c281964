"""Reserved columns the pipeline adds to every dataset (leading underscore: never a raw name)."""

ROW_ID = "_row_id"
FAVOURABLE = "_favourable"
PERIOD = "_period"  # "reference", "current" or "" (outside both), when the dataset has a time axis
MISSING_CATEGORY = "(missing)"  # what a declared missing code becomes in a categorical column


def input_columns(model, fallback: list[str] | None = None) -> list[str]:
    """The columns a fitted model was trained on, in its order (a mitigated model may also
    read a sensitive attribute at decision time); `fallback` for a model that names none."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        if fallback is None:
            raise ValueError(f"{type(model).__name__} does not name the columns it reads")
        return list(fallback)
    return [str(c) for c in names]


def model_inputs(model, frame):
    """The rows of `frame` as the model reads them."""
    return frame[input_columns(model)]
