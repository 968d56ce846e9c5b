"""Entry-point builders. MLflow loads entry points while ``import mlflow`` is still running,
so this module imports nothing at load time and the store modules only on first use.

Loading it also installs the job-store wiring (``jobs/mlflow_patch.py``, docs/jobs.md) and
the AI gateway invocation wiring (``ai_gateway/mlflow_patch.py``, docs/ai-gateway.md):
this module is the one part of the package that every MLflow process imports early (the
server, its workers, the job runner and consumers, each job's subprocess), and MLflow has
no entry point for job stores."""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.ai_gateway import mlflow_patch as ai_gateway_patch
from mlflow_dynamodbstore.jobs import mlflow_patch

mlflow_patch.install()
ai_gateway_patch.install()


def tracking_store(store_uri: str, artifact_uri: str | None = None) -> Any:
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    return DynamoDBTrackingStore(store_uri, artifact_uri)


def workspace_provider(workspace_uri: str) -> Any:
    from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

    return DynamoDBWorkspaceProvider(workspace_uri)


def registry_store(store_uri: str, tracking_uri: str | None = None) -> Any:
    from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore

    return DynamoDBRegistryStore(store_uri, tracking_uri)
