"""Workspaces: one META item each, all listed under one GSI1 key (there are few).

A workspace being deleted keeps its item until the deletion job ends, marked with
``deletion_mode`` (the job record): from that moment it is gone for every reader (so every
server refuses requests to it at once), and a rerun of the delete resumes the job."""

from __future__ import annotations

import contextlib
from typing import Any

from boto3.dynamodb.conditions import Attr
from mlflow.entities import Workspace

from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.schema import indexes, keys

Item = dict[str, Any]
_FIELDS = (
    "description",
    "default_artifact_root",
    "trace_archival_location",
    "trace_archival_retention",
)


DELETION_MODE = "deletion_mode"


class WorkspaceExists(Exception):
    pass


class WorkspaceMissing(Exception):
    pass


class DeletionInProgress(Exception):
    """The workspace is already being deleted, in ``mode``."""

    def __init__(self, mode: str):
        super().__init__(mode)
        self.mode = mode


class WorkspaceRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def get_item(self, name: str) -> Item | None:
        """The workspace item as stored, a workspace being deleted included."""
        return self.gateway.get_item(keys.workspace_key(name))

    def get(self, name: str) -> Workspace | None:
        item = self.get_item(name)
        return to_workspace(item) if item and not is_deleting(item) else None

    def list(self) -> list[Workspace]:
        listing = indexes.WORKSPACES_BY_NAME
        items = self.gateway.query(listing.pk_eq(keys.WORKSPACES_GSI1PK), index=listing.index)
        return [to_workspace(i) for i in items if not is_deleting(i)]

    def update(self, name: str, fields: dict[str, Any], cleared: list[str]) -> Workspace:
        """SET ``fields`` and REMOVE ``cleared`` on a workspace that exists and is not being
        deleted: one conditional UpdateItem."""
        expression, names, values = set_expression(fields) if fields else ("", {}, {})
        if cleared:
            removes = {f"#u_r{i}": f for i, f in enumerate(cleared)}
            names.update(removes)
            expression += " REMOVE " + ", ".join(removes)
        if not expression:
            workspace = self.get(name)
            if workspace is None:
                raise WorkspaceMissing(name)
            return workspace
        try:
            item = self.gateway.update_item(
                keys.workspace_key(name),
                expression.strip(),
                names=names,
                values=values,
                condition=Attr("PK").exists() & Attr(DELETION_MODE).not_exists(),
                return_values="ALL_NEW",
            )
        except ConditionFailed:
            raise WorkspaceMissing(name) from None
        assert item is not None
        return to_workspace(item)

    # ---- deletion (the job record) -------------------------------------------------
    def mark_deleting(self, name: str, mode: str, now: int) -> None:
        """Record the deletion job on the workspace item; from now on it is gone for
        readers. A second call with the same mode is a resume."""
        try:
            self.gateway.update_item(
                keys.workspace_key(name),
                "SET #u_m = :u_m, #u_t = if_not_exists(#u_t, :u_t)",
                names={"#u_m": DELETION_MODE, "#u_t": "deletion_started"},
                values={":u_m": mode, ":u_t": now},
                condition=Attr("PK").exists()
                & (Attr(DELETION_MODE).not_exists() | Attr(DELETION_MODE).eq(mode)),
            )
        except ConditionFailed as exc:
            if exc.item is None:
                raise WorkspaceMissing(name) from None
            raise DeletionInProgress(exc.item[DELETION_MODE]) from None

    def unmark_deleting(self, name: str, mode: str) -> None:
        """Give the workspace back (a RESTRICT delete that found resources)."""
        with contextlib.suppress(ConditionFailed):
            self.gateway.update_item(
                keys.workspace_key(name),
                "REMOVE #u_m, #u_t",
                names={"#u_m": DELETION_MODE, "#u_t": "deletion_started"},
                condition=Attr(DELETION_MODE).eq(mode),
            )

    def finish_deletion(self, name: str, mode: str) -> None:
        with contextlib.suppress(ConditionFailed):  # already finished by another run
            self.gateway.delete_item(
                keys.workspace_key(name), condition=Attr(DELETION_MODE).eq(mode)
            )

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


def is_deleting(item: Item) -> bool:
    return DELETION_MODE in item


def to_workspace(item: dict[str, Any]) -> Workspace:
    return Workspace(name=item["name"], **{f: item.get(f) for f in _FIELDS})
