"""What a workspace deletion does to an experiment's labeling and issues: label schemas,
review queues (with their items and the items' refs) and issues, found through their
per-experiment listings (never a Scan). Called by ``cascade.py`` and ``reassign.py`` for
each experiment, before the experiment itself (whose partition holds the name guards).

Resumable as the rest: an item that has been deleted, or moved to the target workspace, is
no longer listed for the source, so a rerun picks up exactly what is left. A queue's rows and
refs go (or move) before the queue itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Attr, Key

from mlflow_dynamodbstore.gateway import ConditionFailed
from mlflow_dynamodbstore.schema import indexes, keys, labeling_keys

if TYPE_CHECKING:
    from mlflow_dynamodbstore.workspaces.cascade import Cascade
    from mlflow_dynamodbstore.workspaces.inventory import WorkspaceInventory
    from mlflow_dynamodbstore.workspaces.reassign import Reassign

Item = dict[str, Any]
_GUARD_PREFIXES = ("LSNAME#", "RQNAME#")


def label_schemas(inventory: WorkspaceInventory, experiment_id: str) -> Iterator[Item]:
    return inventory._listing(
        indexes.LABEL_SCHEMAS_BY_CREATION, labeling_keys.label_schemas_gsi1pk(experiment_id)
    )


def review_queues(inventory: WorkspaceInventory, experiment_id: str) -> Iterator[Item]:
    return inventory._listing(
        indexes.REVIEW_QUEUES_BY_CREATION, labeling_keys.review_queues_gsi1pk(experiment_id)
    )


def issues(inventory: WorkspaceInventory, experiment_id: str) -> Iterator[Item]:
    return inventory._listing(
        indexes.ISSUES_BY_EXPERIMENT, labeling_keys.issues_gsi1pk(experiment_id)
    )


def _queue_rows(inventory: WorkspaceInventory, queue_id: str) -> list[Item]:
    return list(
        inventory.gateway.query(
            Key("PK").eq(labeling_keys.review_queue_pk(queue_id))
            & Key("SK").begins_with(labeling_keys.QUEUE_ITEM_PREFIX),
            consistent=True,
        )
    )


def cascade_experiment(cascade: Cascade, experiment_id: str) -> None:
    inventory = cascade.inventory
    for schema in label_schemas(inventory, experiment_id):
        cascade.delete_partition(labeling_keys.label_schema_key(schema["schema_id"])["PK"])
    for queue in review_queues(inventory, experiment_id):
        rows = _queue_rows(inventory, queue["queue_id"])
        refs = {
            tuple(labeling_keys.review_item_refs_key(inventory.workspace, r["item_id"]).items())
            for r in rows
        }
        cascade.gateway.batch_write(deletes=[dict(r) for r in refs])
        cascade._done(len(refs))
        cascade.delete_partition(labeling_keys.review_queue_pk(queue["queue_id"]))
    for issue in issues(inventory, experiment_id):
        cascade.delete_partition(labeling_keys.issue_key(issue["issue_id"])["PK"])


def reassign_experiment(reassign: Reassign, experiment_id: str, target: str) -> None:
    inventory = reassign.inventory
    for schema in label_schemas(inventory, experiment_id):
        reassign._move(labeling_keys.label_schema_key(schema["schema_id"]), {}, bump=None)
    for queue in review_queues(inventory, experiment_id):
        queue_id = queue["queue_id"]
        for row in _queue_rows(inventory, queue_id):
            _move_refs(reassign, row["item_id"], queue_id, target)
            reassign._move({"PK": row["PK"], "SK": row["SK"]}, {}, bump=None)
        reassign._move(labeling_keys.review_queue_key(queue_id), {}, bump=None)
    for issue in issues(inventory, experiment_id):
        reassign._move(
            labeling_keys.issue_key(issue["issue_id"]),
            {indexes.ISSUES_BY_WORKSPACE.pk: labeling_keys.issues_gsi2pk(target)},
            bump=None,
        )
    # The name guards live in the experiment's partition and carry the workspace too.
    for item in inventory.partition(keys.experiment_pk(experiment_id)):
        if item["SK"].startswith(_GUARD_PREFIXES):
            reassign._move({"PK": item["PK"], "SK": item["SK"]}, {}, bump=None)


def _move_refs(reassign: Reassign, item_id: str, queue_id: str, target: str) -> None:
    """The refs key names the workspace: add the queue to the target's refs item, then take
    it out of the source's (idempotent, so a rerun after a crash redoes it harmlessly)."""
    source = reassign.inventory.workspace
    gateway = reassign.gateway.unscoped  # the target's refs item is not the source's
    gateway.update_item(
        labeling_keys.review_item_refs_key(target, item_id),
        "ADD #q :q SET #w = :w, #i = :i",
        names={"#q": "queue_ids", "#w": "workspace", "#i": "item_id"},
        values={":q": {queue_id}, ":w": target, ":i": item_id},
    )
    old = labeling_keys.review_item_refs_key(source, item_id)
    try:
        left = gateway.update_item(
            old,
            "DELETE #q :q",
            names={"#q": "queue_ids"},
            values={":q": {queue_id}},
            condition=Attr("PK").exists(),
            return_values="ALL_NEW",
        )
    except ConditionFailed:
        return  # moved by an earlier run
    if left is not None and not left.get("queue_ids"):
        with contextlib.suppress(ConditionFailed):
            gateway.delete_item(old, condition=Attr("queue_ids").not_exists())
