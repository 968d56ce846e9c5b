"""MLflow plugin keeping tracking, registry, traces, workspaces and auth in one DynamoDB table."""

__version__ = "0.2.0.dev0"
