"""MLflow workspace provider (``mlflow.workspace_provider`` entry point, scheme ``dynamodb``):
workspaces live in the same table as everything else."""

from __future__ import annotations

from collections.abc import Iterable

from mlflow.entities import Workspace
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST
from mlflow.store.workspace.abstract_store import AbstractStore, WorkspaceNameValidator
from mlflow.utils.time import get_current_time_millis
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.repositories.workspaces import WorkspaceExists, WorkspaceRepository
from mlflow_dynamodbstore.stores.connection import connect
from mlflow_dynamodbstore.stores.errors import translate_gateway_errors


@translate_gateway_errors
class DynamoDBWorkspaceProvider(AbstractStore):
    def __init__(self, workspace_uri: str):
        self.workspace_uri = workspace_uri
        self.workspaces = WorkspaceRepository(connect(workspace_uri).gateway)

    def list_workspaces(self) -> Iterable[Workspace]:
        return self.workspaces.list()

    def get_workspace(self, workspace_name: str) -> Workspace:
        workspace = self.workspaces.get(workspace_name)
        if workspace is None:
            raise MlflowException(
                f"Workspace '{workspace_name}' not found", RESOURCE_DOES_NOT_EXIST
            )
        return workspace

    def create_workspace(self, workspace: Workspace) -> Workspace:
        WorkspaceNameValidator.validate(workspace.name)
        try:
            self.workspaces.create(workspace, get_current_time_millis())
        except WorkspaceExists:
            raise MlflowException(
                f"Workspace '{workspace.name}' already exists.", RESOURCE_ALREADY_EXISTS
            ) from None
        return self.get_workspace(workspace.name)

    def get_default_workspace(self) -> Workspace:
        return self.get_workspace(DEFAULT_WORKSPACE_NAME)
