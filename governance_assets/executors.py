"""Where a run's steps execute, chosen by environment, not code (docs/scale-out.md)."""

import os

from dagster import ExecutorDefinition, in_process_executor

EXECUTOR_VARIABLE = "GOVERNANCE_EXECUTOR"


def executor_name() -> str:
    """`in_process` (default) or `celery`: recorded in the card's run_meta."""
    return os.environ.get(EXECUTOR_VARIABLE, "in_process")


def executor() -> ExecutorDefinition:
    """In one process by default: a subprocess per step re-imports the package (about 6 s each
    here). `GOVERNANCE_EXECUTOR=celery` sends each step to Celery workers instead, with broker
    and backend from the environment (deploy/postgres-celery/)."""
    if executor_name() != "celery":
        return in_process_executor
    from dagster_celery import celery_executor

    return celery_executor.configured({"broker": {"env": "GOVERNANCE_CELERY_BROKER"},
                                       "backend": {"env": "GOVERNANCE_CELERY_BACKEND"}})
