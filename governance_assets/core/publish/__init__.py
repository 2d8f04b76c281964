"""Publishing a governed registry version outside the project (MLflow)."""
