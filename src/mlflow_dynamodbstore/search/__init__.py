"""Search: MLflow filter strings (parsed by mlflow.utils.search_utils) to query plans."""
