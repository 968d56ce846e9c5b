"""The resumable walk the registry backfills share: every workspace (``default`` first, then
by name), its registered models by name (GSI1, ``PAGE`` per Query), with a record in the
table saving the workspace and the listing's LastEvaluatedKey after each page, so a rerun
resumes there. When every workspace is done the record is deleted (the caller then marks
its readiness). Listings only, never a Scan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.workspaces import WorkspaceRepository
from mlflow_dynamodbstore.schema import indexes, keys

Item = dict[str, Any]
Progress = Callable[[int], None]  # called with the number of models done since last call
PAGE = 50


def _workspaces(gateway: TableGateway) -> list[str]:
    names = sorted(w.name for w in WorkspaceRepository(gateway).list())
    return [DEFAULT_WORKSPACE_NAME] + [n for n in names if n != DEFAULT_WORKSPACE_NAME]


def walk_models(
    gateway: TableGateway,
    record_key: dict[str, str],
    visit: Callable[[Item], None],
    progress: Progress,
    *,
    dry_run: bool,
) -> bool:
    """Call ``visit`` with each registered model's META listing entry, resuming from the
    record at ``record_key`` (not read nor written when ``dry_run``); True when it resumed."""
    cursor = {} if dry_run else (gateway.get_item(record_key) or {})
    workspaces = _workspaces(gateway)
    first = workspaces.index(cursor["workspace"]) if cursor.get("workspace") in workspaces else 0
    listing = indexes.REGISTERED_MODELS_BY_NAME
    for i, workspace in enumerate(workspaces[first:]):
        start_key = cursor.get("after") if i == 0 else None
        if i == 0 and cursor.get("finished"):
            continue
        while True:
            metas, start_key = gateway.query_page(
                listing.pk_eq(keys.registered_models_gsi1pk(workspace)),
                index=listing.index,
                limit=PAGE,
                start_key=start_key,
            )
            for meta in metas:
                visit(meta)
            if not dry_run:
                record = {**record_key, "workspace": workspace, "finished": start_key is None}
                if start_key is not None:
                    record["after"] = start_key
                gateway.put_item(record)
            progress(len(metas))
            if start_key is None:
                break
    return bool(cursor)
