"""Workspaces: one META item each, all listed under one GSI1 key (there are few)."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr
from mlflow.entities import Workspace

from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.schema import indexes, keys

_FIELDS = (
    "description",
    "default_artifact_root",
    "trace_archival_location",
    "trace_archival_retention",
)


class WorkspaceExists(Exception):
    pass


class WorkspaceRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def get(self, name: str) -> Workspace | None:
        item = self.gateway.get_item(keys.workspace_key(name))
        return to_workspace(item) if item else None

    def list(self) -> list[Workspace]:
        listing = indexes.WORKSPACES_BY_NAME
        items = self.gateway.query(listing.pk_eq(keys.WORKSPACES_GSI1PK), index=listing.index)
        return [to_workspace(i) for i in items]

    def create(self, workspace: Workspace, creation_time: int) -> None:
        item: dict[str, Any] = {
            **keys.workspace_key(workspace.name),
            **keys.workspace_list_keys(workspace.name),
            "name": workspace.name,
            "creation_time": creation_time,
        }
        item.update({f: getattr(workspace, f) for f in _FIELDS if getattr(workspace, f)})
        try:
            self.gateway.put_item(item, condition=Attr("PK").not_exists())
        except ConditionFailed:
            raise WorkspaceExists(workspace.name) from None


def to_workspace(item: dict[str, Any]) -> Workspace:
    return Workspace(name=item["name"], **{f: item.get(f) for f in _FIELDS})
