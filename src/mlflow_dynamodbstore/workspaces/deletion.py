"""Deleting a workspace with MLflow's modes, as a resumable job.

1. The workspace item is marked ``deletion_mode`` (the job record, one conditional
   UpdateItem). From then on every reader treats the workspace as gone: MLflow's server
   resolves the request's workspace with a consistent GetItem on every request, so all
   servers refuse it at once.
2. The mode's work runs: RESTRICT counts, CASCADE deletes, SET_DEFAULT moves (see
   ``cascade.py`` and ``reassign.py``). Every step is idempotent and ordered children
   before roots, so after a crash the same call (HTTP DELETE or the CLI) resumes it. Items
   an in-flight request wrote after a listing was read are caught by a second pass.
3. The workspace item is deleted: the job is done.

A rerun with another mode than the recorded one is refused (INVALID_STATE), so a CASCADE
cannot silently turn into a SET_DEFAULT half way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlflow.entities.workspace import WorkspaceDeletionMode
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_STATE, RESOURCE_DOES_NOT_EXIST
from mlflow.utils.time import get_current_time_millis
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.workspaces import (
    DeletionInProgress,
    WorkspaceMissing,
    WorkspaceRepository,
    is_deleting,
)
from mlflow_dynamodbstore.workspaces import ai_gateway, mcp_servers
from mlflow_dynamodbstore.workspaces.cascade import Cascade
from mlflow_dynamodbstore.workspaces.inventory import WorkspaceInventory
from mlflow_dynamodbstore.workspaces.reassign import NameConflicts, Reassign, name_conflicts

Progress = Callable[[int], None]
# Passes over the listings: the second catches what in-flight requests wrote during the
# first (and, on AWS, items a lagging index had not shown yet).
_PASSES = 2


@dataclass
class DeletionReport:
    workspace: str
    mode: str
    items: int  # deleted (CASCADE) or moved (SET_DEFAULT) items


def not_found(name: str) -> MlflowException:
    return MlflowException(f"Workspace '{name}' not found", RESOURCE_DOES_NOT_EXIST)


def resource_counts(inventory: WorkspaceInventory) -> list[tuple[str, int]]:
    """(SQL table name, resources) of a workspace's roots, in the SQL store's order."""
    return [
        ("registered_models", sum(1 for _ in inventory.registered_models())),
        ("experiments", sum(1 for _ in inventory.experiments())),
        ("evaluation_datasets", sum(1 for _ in inventory.evaluation_datasets())),
        ("webhooks", sum(1 for _ in inventory.webhooks())),
        *ai_gateway.resource_counts(inventory),
        ("jobs", sum(1 for _ in inventory.jobs())),
        *mcp_servers.resource_counts(inventory),
    ]


def _conflict_error(name: str, conflicts: list[tuple[str, str]]) -> MlflowException:
    details = "\n".join(f"  - {table}: {resource!r}" for table, resource in conflicts)
    return MlflowException(
        f"Cannot reassign resources from workspace '{name}' to "
        f"'{DEFAULT_WORKSPACE_NAME}': the following names already exist in the "
        f"default workspace and would cause conflicts:\n{details}\n"
        "Rename or remove the conflicting resources before retrying.",
        INVALID_STATE,
    )


def delete_workspace(
    gateway: TableGateway,
    name: str,
    mode: WorkspaceDeletionMode,
    progress: Progress | None = None,
) -> DeletionReport:
    """Run (or resume) the deletion of workspace ``name``; ``gateway`` is unscoped."""
    if name == DEFAULT_WORKSPACE_NAME:
        raise MlflowException(
            f"Cannot delete the reserved '{DEFAULT_WORKSPACE_NAME}' workspace", INVALID_STATE
        )
    if not isinstance(mode, WorkspaceDeletionMode):
        raise MlflowException.invalid_parameter_value(
            f"Invalid workspace deletion mode {mode!r}. "
            "Expected one of: RESTRICT, CASCADE, SET_DEFAULT."
        )
    workspaces = WorkspaceRepository(gateway)
    inventory = WorkspaceInventory.of(gateway, name)
    item = workspaces.get_item(name)
    if item is None:
        raise not_found(name)
    if mode == WorkspaceDeletionMode.SET_DEFAULT and not is_deleting(item):
        # Checked before the workspace is taken away, as the SQL store's preflight.
        target = WorkspaceInventory.of(gateway, DEFAULT_WORKSPACE_NAME)
        if conflicts := name_conflicts(inventory, target):
            raise _conflict_error(name, conflicts)
        if secrets := ai_gateway.secret_name_conflicts(inventory, target):
            # SQL's preflight skips secrets; its UPDATE then fails on their unique name.
            raise MlflowException(
                f"Cannot delete workspace '{name}': resources in this workspace conflict "
                f"with existing resources in the '{DEFAULT_WORKSPACE_NAME}' workspace. "
                f"Resolve naming conflicts before deleting. Error: secrets {secrets!r}",
                INVALID_STATE,
            )
    try:
        workspaces.mark_deleting(name, mode.value, get_current_time_millis())
    except WorkspaceMissing:
        raise not_found(name) from None
    except DeletionInProgress as exc:
        raise MlflowException(
            f"Workspace '{name}' is already being deleted in mode {exc.mode}; run that "
            "deletion again to finish it.",
            INVALID_STATE,
        ) from None

    items = 0
    if mode == WorkspaceDeletionMode.RESTRICT:
        for table, count in resource_counts(inventory):
            if count:
                workspaces.unmark_deleting(name, mode.value)
                raise MlflowException(
                    f"Cannot delete workspace '{name}': table '{table}' still contains "
                    f"{count} resource(s). Remove or reassign them before deleting the "
                    "workspace.",
                    INVALID_STATE,
                )
        items = Cascade(inventory).run_all()  # stray name guards, if any
    elif mode == WorkspaceDeletionMode.CASCADE:
        for _ in range(_PASSES):
            items += Cascade(inventory, progress).run_all()
    else:
        try:
            for _ in range(_PASSES):
                items += Reassign(inventory, progress).run_all()
        except NameConflicts as exc:
            raise _conflict_error(name, exc.conflicts) from None
        items += Cascade(inventory).run_all()  # the old workspace's emptied partition
    workspaces.finish_deletion(name, mode.value)
    return DeletionReport(name, mode.value, items)
