"""``mlflow.server.get_app_client("dynamodb-auth", tracking_uri)``: the REST API is
MLflow's basic-auth API, so the client is MLflow's ``AuthServiceClient``."""

from mlflow.server.auth.client import AuthServiceClient

__all__ = ["AuthServiceClient"]
