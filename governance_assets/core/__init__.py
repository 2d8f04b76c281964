"""The pure governance library: no Dagster import anywhere below this package."""
