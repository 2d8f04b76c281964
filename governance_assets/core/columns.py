"""Reserved columns the pipeline adds to every dataset (leading underscore: never a raw name)."""

ROW_ID = "_row_id"
FAVOURABLE = "_favourable"
PERIOD = "_period"  # "reference", "current" or "" (outside both), when the dataset has a time axis
MISSING_CATEGORY = "(missing)"  # what a declared missing code becomes in a categorical column


def model_inputs(model, frame):
    """The columns a fitted model was trained on, in its order (a mitigated model may also
    read a sensitive attribute at decision time)."""
    return frame[list(model.feature_names_in_)]
