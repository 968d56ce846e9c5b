"""What a workspace deletion does to the workspace's AI gateway items: secrets, model
definitions, endpoints (with their models, tags and guardrail configs), endpoint bindings,
guardrails and budget policies. MLflow's SQL workspace store counts, deletes and moves them
as workspace roots (its ``_WORKSPACE_ROOT_MODELS``); so do we.

Every gateway item lives in one of the workspace's fixed ``WS#<ws>#AIGW#...`` partitions
(schema/ai_gateway_keys.py), so the partitions themselves are the listing: one consistent
Query each, no index, no Scan. Resumable as the rest: an item deleted, or moved into the
default workspace's partition, is no longer in the source partition, so a rerun picks up
exactly what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from boto3.dynamodb.conditions import Attr, Key

from mlflow_dynamodbstore.gateway import TransactionCancelled
from mlflow_dynamodbstore.schema import ai_gateway_keys as ak
from mlflow_dynamodbstore.schema import table

if TYPE_CHECKING:
    from mlflow_dynamodbstore.workspaces.cascade import Cascade
    from mlflow_dynamodbstore.workspaces.inventory import Item, WorkspaceInventory
    from mlflow_dynamodbstore.workspaces.reassign import Reassign

PartitionKey = Callable[[str], str]

# (SQL table, partition, sort key prefix of one resource) in the SQL store's root order:
# what RESTRICT counts.
ROOTS: tuple[tuple[str, PartitionKey, str], ...] = (
    ("secrets", ak.secrets_pk, ak.ID_PREFIX),
    ("endpoints", ak.endpoints_pk, ak.ENDPOINT_PREFIX),
    ("model_definitions", ak.model_definitions_pk, ak.ID_PREFIX),
    ("budget_policies", ak.budgets_pk, ak.ID_PREFIX),
    ("guardrails", ak.guardrails_pk, ak.ID_PREFIX),
)
# Every gateway partition of a workspace, dependents first (bindings and endpoints name
# model definitions and guardrails; model definitions name secrets).
PARTITIONS: tuple[PartitionKey, ...] = (
    ak.bindings_pk,
    ak.endpoints_pk,
    ak.guardrails_pk,
    ak.budgets_pk,
    ak.model_definitions_pk,
    ak.secrets_pk,
)
# Tables whose names the SQL store's SET_DEFAULT preflight compares (the gateway models
# with a ``name`` column; secrets call theirs ``secret_name`` and are not compared there).
_NAMED = (
    ("endpoints", ak.endpoints_pk, ak.endpoint_name_key),
    ("model_definitions", ak.model_definitions_pk, ak.model_definition_name_key),
)


def _items(inventory: WorkspaceInventory, pk: str, prefix: str) -> Iterator[Item]:
    return inventory.gateway.query(
        Key(table.PK).eq(pk) & Key(table.SK).begins_with(prefix), consistent=True
    )


def _resources(inventory: WorkspaceInventory, pk: PartitionKey, prefix: str) -> Iterator[Item]:
    for item in _items(inventory, pk(inventory.workspace), prefix):
        if prefix != ak.ENDPOINT_PREFIX or ak.item_kind(item["SK"]) == "endpoint":
            yield item


def resource_counts(inventory: WorkspaceInventory) -> list[tuple[str, int]]:
    """(SQL table, resources) of the workspace's gateway roots, in the SQL store's order."""
    return [(name, sum(1 for _ in _resources(inventory, pk, prefix))) for name, pk, prefix in ROOTS]


def name_conflicts(source: WorkspaceInventory, target: WorkspaceInventory) -> list[tuple[str, str]]:
    """(table, name) of each gateway root named as one of ``target``, as SQL's preflight
    reports them: endpoints and model definitions by their name guards (one BatchGetItem
    per 100 names), guardrails (whose names need not be unique) against the target's
    guardrails. Names in order within a table (SQLite reads them off the unique
    (workspace, name) index)."""
    gateway = source.gateway.unscoped
    conflicts: list[tuple[str, str]] = []
    for name, pk, guard in _NAMED:
        names = sorted(i["name"] for i in _items(source, pk(source.workspace), ak.NAME_PREFIX))
        found = gateway.batch_get([guard(target.workspace, n) for n in names], consistent=True)
        taken = {i["SK"] for i in found}
        conflicts += [(name, n) for n in names if guard(target.workspace, n)["SK"] in taken]
    target_guardrails = {g["name"] for g in _resources(target, ak.guardrails_pk, ak.ID_PREFIX)}
    own_guardrails = _resources(source, ak.guardrails_pk, ak.ID_PREFIX)
    conflicts += [
        ("guardrails", g["name"]) for g in own_guardrails if g["name"] in target_guardrails
    ]
    return conflicts


def secret_name_conflicts(source: WorkspaceInventory, target: WorkspaceInventory) -> list[str]:
    """Secret names ``target`` already has: the SQL store's preflight does not compare
    them, its UPDATE then fails on the unique (workspace, secret_name)."""
    guards = _items(source, ak.secrets_pk(source.workspace), ak.NAME_PREFIX)
    names = sorted(i["secret_name"] for i in guards)
    keys = [ak.secret_name_key(target.workspace, n) for n in names]
    found = {i["SK"] for i in source.gateway.unscoped.batch_get(keys, consistent=True)}
    return [n for n, key in zip(names, keys, strict=True) if key["SK"] in found]


def cascade(job: Cascade) -> None:
    """Delete every gateway partition of the workspace (items are independent: a partial
    run leaves the rest in partitions the rerun reads again)."""
    for pk in PARTITIONS:
        job.delete_partition(pk(job.inventory.workspace), root_sk=None)


def reassign(job: Reassign, target: str) -> None:
    """Move every gateway item into ``target``'s partition of its kind (same sort key: no
    sort key names the workspace), ``workspace`` rewritten. Name guards move first, each in
    one transaction (put into the target unless the name is taken there, delete the
    source's), so a name taken meanwhile fails before anything it names has moved; the
    other items move in batches, put before delete, so a crash between the two leaves a
    copy the rerun overwrites and then deletes."""
    from mlflow_dynamodbstore.workspaces.reassign import NameConflicts

    source = job.inventory.workspace
    unscoped = job.gateway.unscoped  # the target's partitions are not the source's
    for pk in PARTITIONS:
        items = job.inventory.partition(pk(source))
        guards = [i for i in items if i["SK"].startswith(ak.NAME_PREFIX)]
        for guard in guards:
            moved = {**guard, table.PK: pk(target), "workspace": target}
            try:
                unscoped.transact_write(
                    [
                        unscoped.tx_put(moved, Attr(table.PK).not_exists()),
                        unscoped.tx_delete(_key(guard)),
                    ]
                )
            except TransactionCancelled as exc:
                if 0 in exc.failed_conditions():
                    name = guard.get("name", guard.get("secret_name", ""))
                    raise NameConflicts([(_table_of(pk), name)]) from None
                raise
            job.moved += 1
        rest = [i for i in items if not i["SK"].startswith(ak.NAME_PREFIX)]
        unscoped.batch_write(puts=[{**i, table.PK: pk(target), "workspace": target} for i in rest])
        unscoped.batch_write(deletes=[_key(i) for i in rest])
        job.moved += len(rest)


def _key(item: Item) -> Item:
    return {table.PK: item[table.PK], table.SK: item[table.SK]}


def _table_of(pk: PartitionKey) -> str:
    for name, root_pk, _ in ROOTS:
        if root_pk is pk:
            return name
    return "endpoint_bindings"
