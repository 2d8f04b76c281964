"""The project a run works in: its root, its params and its file layout."""


from pathlib import Path

from dagster import ConfigurableResource

from .core.layout import Layout
from .core.params import Params, load_params


class GovernanceProject(ConfigurableResource):
    """Root of the project; '.' is the working directory, which is what `dvc repro` uses."""

    root: str = "."

    @property
    def layout(self) -> Layout:
        return Layout(Path(self.root).resolve())

    def params(self) -> Params:
        return load_params(self.layout.root)
