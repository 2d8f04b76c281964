"""The strict base every params model shares, and the error a bad params file raises."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ParamsError(ValueError):
    """params.yaml or a dataset file is missing, malformed or inconsistent; the message names
    the file and the key."""


class StrictModel(BaseModel):
    """Unknown keys are refused and values frozen; `.inf` and `.nan` are valid YAML floats but
    no threshold can be one. A field's description is the docstring written under it, so the
    params reference is generated from the same text a reader of the code sees."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False,
                              use_attribute_docstrings=True)
