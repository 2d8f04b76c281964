"""Governed model pipeline: Dagster assets and blocking gates over a pure governance core."""

from .definitions import defs

__all__ = ["defs"]
