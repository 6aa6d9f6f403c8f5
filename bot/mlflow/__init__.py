"""MLflow over its REST API (SPEC §12): plain HTTP, no `mlflow` package at run time."""
