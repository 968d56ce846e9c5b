"""What a workspace deletion does to the workspace's MCP servers (with their versions,
aliases, tags and access endpoints). MLflow's SQL workspace store counts, deletes and moves
``mcp_servers`` as a workspace root (last in its ``_WORKSPACE_ROOT_MODELS``); so do we.

The workspace's servers partition lists them (one consistent Query, no index, no Scan);
each server's own partition and the workspace's endpoints partition hold the rest
(schema/mcp_keys.py). Resumable: a server's items go (or move) before its server item, so
an interrupted run leaves every remaining item under a server the rerun still lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boto3.dynamodb.conditions import Attr, Key

from mlflow_dynamodbstore.gateway import TransactionCancelled
from mlflow_dynamodbstore.schema import mcp_keys as mk
from mlflow_dynamodbstore.schema import table

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mlflow_dynamodbstore.workspaces.cascade import Cascade
    from mlflow_dynamodbstore.workspaces.inventory import Item, WorkspaceInventory
    from mlflow_dynamodbstore.workspaces.reassign import Reassign

TABLE = "mcp_servers"
# Set on a server item moved into the target: a rerun recognises its own copy there.
MOVED_FROM = "moved_from_workspace"


def servers(inventory: WorkspaceInventory) -> Iterator[Item]:
    pk = mk.servers_pk(inventory.workspace)
    condition = Key(table.PK).eq(pk) & Key(table.SK).begins_with(mk.SERVER_PREFIX)
    return inventory.gateway.query(condition, consistent=True)


def resource_counts(inventory: WorkspaceInventory) -> list[tuple[str, int]]:
    return [(TABLE, sum(1 for _ in servers(inventory)))]


def name_conflicts(source: WorkspaceInventory, target: WorkspaceInventory) -> list[tuple[str, str]]:
    """(table, name) of each server whose name ``target`` has (one BatchGetItem per 100
    names), in name order as SQLite reads them."""
    names = [s["name"] for s in servers(source)]
    keys = [mk.server_key(target.workspace, n) for n in names]
    found = {i["SK"] for i in source.gateway.unscoped.batch_get(keys, consistent=True)}
    return [(TABLE, n) for n, key in zip(names, keys, strict=True) if key["SK"] in found]


def cascade(job: Cascade) -> None:
    ws = job.inventory.workspace
    for server in servers(job.inventory):
        job.delete_partition(mk.server_items_pk(ws, server["name"]), root_sk=None)
        job.gateway.delete_item(_key(server))
        job.deleted += 1
        job.progress(1)
    job.delete_partition(mk.endpoints_pk(ws), root_sk=None)


def reassign(job: Reassign, target: str) -> None:
    """Each server: its item claimed in the target first (a put unless the name is taken
    there by another server: NameConflicts, nothing of that server moved), then its
    partition and endpoint copies moved (put, then delete), then its source item deleted."""
    from mlflow_dynamodbstore.workspaces.reassign import NameConflicts

    source = job.inventory.workspace
    unscoped = job.gateway.unscoped  # the target's partitions are not the source's
    for server in servers(job.inventory):
        name = server["name"]
        claimed = {
            **server,
            **mk.server_key(target, name),
            "workspace": target,
            MOVED_FROM: source,
        }
        ours = Attr(table.PK).not_exists() | Attr(MOVED_FROM).eq(source)
        try:
            unscoped.transact_write([unscoped.tx_put(claimed, ours)])
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise NameConflicts([(TABLE, name)]) from None
            raise
        items = job.inventory.partition(mk.server_items_pk(source, name))
        pk = mk.server_items_pk(target, name)
        moved = [{**i, table.PK: pk, "workspace": target} for i in items]
        endpoints = [i for i in items if mk.server_item_kind(i["SK"]) == "endpoint"]
        copies = [
            {**e, **mk.endpoint_key(target, e["endpoint_id"]), "workspace": target}
            for e in endpoints
        ]
        unscoped.batch_write(puts=moved + copies)
        stale = [mk.endpoint_key(source, e["endpoint_id"]) for e in endpoints]
        unscoped.batch_write(deletes=[_key(i) for i in items] + stale)
        unscoped.delete_item(_key(server))
        job.moved += 1 + len(items) + len(copies)


def _key(item: Item) -> Item:
    return {table.PK: item[table.PK], table.SK: item[table.SK]}
