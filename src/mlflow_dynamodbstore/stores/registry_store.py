"""MLflow model registry store backed by one DynamoDB table (the ``dynamodb://`` scheme).

A thin facade: validate with MLflow's validators, call the repositories, return MLflow
entities, behaving like MLflow's SqlAlchemyStore registry. The operations are grouped in one
mixin per aggregate under ``stores/registry/``; prompts come from AbstractStore's default
implementations on top of registered models, versions, tags and aliases.
"""

from __future__ import annotations

from mlflow.store.model_registry.abstract_store import AbstractStore
from mlflow.store.workspace_aware_mixin import WorkspaceAwareMixin

from mlflow_dynamodbstore.repositories.registry.model_versions import ModelVersionRepository
from mlflow_dynamodbstore.repositories.registry.registered_models import RegisteredModelRepository
from mlflow_dynamodbstore.repositories.registry.webhooks import WebhookRepository
from mlflow_dynamodbstore.stores.connection import connect
from mlflow_dynamodbstore.stores.errors import translate_gateway_errors
from mlflow_dynamodbstore.stores.registry.model_ops import RegisteredModelOps
from mlflow_dynamodbstore.stores.registry.version_ops import ModelVersionOps
from mlflow_dynamodbstore.stores.registry.webhook_ops import WebhookOps


@translate_gateway_errors
class DynamoDBRegistryStore(
    WorkspaceAwareMixin, ModelVersionOps, RegisteredModelOps, WebhookOps, AbstractStore
):
    def __init__(self, store_uri: str, tracking_uri: str | None = None):
        super().__init__(store_uri=store_uri, tracking_uri=tracking_uri)
        self.store_uri = store_uri
        self.tracking_uri = tracking_uri
        self._conn = connect(store_uri, serve_while_unavailable=True)
        self.gateway = self._conn.workspace_scoped(self._get_active_workspace)
        self.models = RegisteredModelRepository(self.gateway, self._conn.settings)
        self.versions = ModelVersionRepository(self.gateway, self._conn.settings)
        self.webhooks = WebhookRepository(self.gateway)
