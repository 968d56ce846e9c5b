"""MLflow workspace provider (``mlflow.workspace_provider`` entry point, scheme ``dynamodb``):
workspaces live in the same table as everything else, with the behaviour of MLflow's SQL
workspace store (mlflow/store/workspace/sqlalchemy_store.py): validation, update semantics,
the three deletion modes and their errors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mlflow.entities import Workspace
from mlflow.entities.workspace import TraceArchivalConfig, WorkspaceDeletionMode
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_STATE, RESOURCE_ALREADY_EXISTS
from mlflow.store.workspace.abstract_store import (
    AbstractStore,
    ResolvedTraceArchivalConfig,
    WorkspaceNameValidator,
)
from mlflow.utils.time import get_current_time_millis
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.compat.validation import (
    _validate_trace_archival_repository_support,
    _validate_trace_archival_retention_string,
)
from mlflow_dynamodbstore.repositories.workspaces import (
    WorkspaceExists,
    WorkspaceMissing,
    WorkspaceRepository,
    is_deleting,
)
from mlflow_dynamodbstore.stores.connection import connect
from mlflow_dynamodbstore.stores.errors import translate_gateway_errors
from mlflow_dynamodbstore.workspaces.deletion import (
    DeletionReport,
    Progress,
    delete_workspace,
    not_found,
)


def _validated_archival(location: str | None, retention: str | None) -> tuple[Any, Any]:
    """As the SQL store: empty values clear (None), others must be supported."""
    location = (
        _validate_trace_archival_repository_support(
            location, parameter_name="trace_archival_location"
        )
        if location
        else None
    )
    retention = _validate_trace_archival_retention_string(retention) if retention else None
    return location, retention


@translate_gateway_errors
class DynamoDBWorkspaceProvider(AbstractStore):
    def __init__(self, workspace_uri: str):
        self.workspace_uri = workspace_uri
        # Workspaces are above any one workspace: the unscoped gateway.
        self.gateway = connect(workspace_uri, serve_while_unavailable=True).gateway
        self.workspaces = WorkspaceRepository(self.gateway)

    def list_workspaces(self) -> Iterable[Workspace]:
        return self.workspaces.list()

    def get_workspace(self, workspace_name: str) -> Workspace:
        workspace = self.workspaces.get(workspace_name)
        if workspace is None:
            raise not_found(workspace_name)
        return workspace

    def create_workspace(self, workspace: Workspace) -> Workspace:
        WorkspaceNameValidator.validate(workspace.name)
        location, retention = _validated_archival(
            workspace.trace_archival_location, workspace.trace_archival_retention
        )
        to_create = Workspace(
            name=workspace.name,
            description=workspace.description,
            default_artifact_root=workspace.default_artifact_root or None,
            trace_archival_location=location,
            trace_archival_retention=retention,
        )
        try:
            self.workspaces.create(to_create, get_current_time_millis())
        except WorkspaceExists:
            item = self.workspaces.get_item(workspace.name)
            if item is not None and is_deleting(item):
                raise MlflowException(
                    f"Workspace '{workspace.name}' is being deleted; finish that deletion "
                    "before creating it again.",
                    INVALID_STATE,
                ) from None
            raise MlflowException(
                f"Workspace '{workspace.name}' already exists.", RESOURCE_ALREADY_EXISTS
            ) from None
        return self.get_workspace(workspace.name)

    def update_workspace(self, workspace: Workspace) -> Workspace:
        """Fields left None keep their value; an empty artifact root or archival setting
        clears it (the SQL store's rules)."""
        location, retention = _validated_archival(
            workspace.trace_archival_location, workspace.trace_archival_retention
        )
        fields: dict[str, Any] = {}
        cleared: list[str] = []
        if workspace.description is not None:
            fields["description"] = workspace.description
        settings = {
            "default_artifact_root": (workspace.default_artifact_root,) * 2,
            "trace_archival_location": (workspace.trace_archival_location, location),
            "trace_archival_retention": (workspace.trace_archival_retention, retention),
        }
        for attribute, (given, value) in settings.items():
            if given is None:
                continue  # not part of the update: kept
            if value:
                fields[attribute] = value
            else:
                cleared.append(attribute)
        try:
            return self.workspaces.update(workspace.name, fields, cleared)
        except WorkspaceMissing:
            raise not_found(workspace.name) from None

    def delete_workspace(
        self,
        workspace_name: str,
        mode: WorkspaceDeletionMode = WorkspaceDeletionMode.RESTRICT,
        progress: Progress | None = None,
    ) -> DeletionReport:
        return delete_workspace(self.gateway, workspace_name, mode, progress)

    def get_default_workspace(self) -> Workspace:
        return self.get_workspace(DEFAULT_WORKSPACE_NAME)

    def resolve_artifact_root(
        self, default_artifact_root: str | None, workspace_name: str
    ) -> tuple[str | None, bool]:
        workspace = self.workspaces.get(workspace_name)
        if workspace is not None and workspace.default_artifact_root:
            return workspace.default_artifact_root, False
        return default_artifact_root, True

    def resolve_trace_archival_config(
        self,
        default_trace_archival_root: str,
        default_retention: str,
        workspace_name: str,
    ) -> ResolvedTraceArchivalConfig:
        workspace = self.workspaces.get(workspace_name)
        root = workspace.trace_archival_location if workspace else None
        retention = workspace.trace_archival_retention if workspace else None
        return ResolvedTraceArchivalConfig(
            config=TraceArchivalConfig(
                location=root or default_trace_archival_root,
                retention=retention or default_retention,
            ),
            append_workspace_prefix=not bool(root),
        )
