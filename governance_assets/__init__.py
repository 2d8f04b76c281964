"""Governed model pipeline: Dagster assets and blocking gates over a pure governance core."""

__all__ = ["defs"]


def __getattr__(name: str):
    """`defs` is built on first access (PEP 562): the registry commands (`governance approve`,
    `verify`, ...) start without importing Dagster, which costs about a second."""
    if name == "defs":
        from .definitions import defs

        return defs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """Dagster finds the Definitions by dir() + getattr, so `defs` must be listed."""
    return sorted([*globals(), "defs"])
