"""Review queue items: ``RQ#<queue>`` / ``ITEM#<item id>`` (the queue's own partition), listed
newest first through GSI2 (all) and GSI3 (one status), plus one refs item per (item,
workspace) holding the set of queues that hold it.

Every attach and detach is one transaction per chunk: the item rows, the refs sets and the
queue's ``item_count``, so the count is exact and the refs never miss a live membership. A
queue's deletion leaves its ids in refs sets; readers ignore queues that no longer exist, and
a trace's deletion drops its refs item with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway, TransactionCancelled
from mlflow_dynamodbstore.repositories.labeling.pages import Page, read_page
from mlflow_dynamodbstore.schema import indexes, labeling_keys

Item = dict[str, Any]

# Two actions per item (its row and its refs set) and one for the queue's count.
_ITEMS_PER_TRANSACTION = 49


class QueueGone(Exception):
    """The queue was deleted while items were being attached."""


class ItemChanged(Exception):
    """The item's status changed (or the item left the queue) since it was read."""


class QueueItemRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    # ---- reads -----------------------------------------------------------------------
    def get(self, queue_id: str, item_id: str) -> Item | None:
        if not 0 < len(item_id.encode()) <= 900:
            return None  # not an id that could be attached (MLflow caps them at 50)
        return self.gateway.get_item(labeling_keys.review_queue_item_key(queue_id, item_id))

    def batch_get(self, queue_id: str, item_ids: Iterable[str]) -> dict[str, Item]:
        keys = [labeling_keys.review_queue_item_key(queue_id, i) for i in item_ids]
        return {i["item_id"]: i for i in self.gateway.batch_get(keys, consistent=True)}

    def list_page(
        self, queue_id: str, status: str | None, max_results: int, page_token: str | None
    ) -> Page:
        if status is None:
            pattern = indexes.REVIEW_QUEUE_ITEMS_BY_CREATION
            pk = labeling_keys.queue_items_gsi2pk(queue_id)
        else:
            pattern = indexes.REVIEW_QUEUE_ITEMS_BY_STATUS
            pk = labeling_keys.queue_items_gsi3pk(queue_id, status)
        return read_page(self.gateway, pattern, pk, max_results=max_results, page_token=page_token)

    def queues_holding(self, workspace: str, item_id: str) -> list[str]:
        if not isinstance(item_id, str) or len(item_id.encode()) > 1500:
            return []  # never attached: attached ids are at most 50 characters
        refs = self.gateway.get_item(labeling_keys.review_item_refs_key(workspace, item_id))
        return sorted(refs.get("queue_ids", ())) if refs else []

    # ---- writes ----------------------------------------------------------------------
    def _row(self, queue: Item, item_id: str, item_type: str, status: str, now: int) -> Item:
        queue_id = queue["queue_id"]
        return {
            **labeling_keys.review_queue_item_key(queue_id, item_id),
            **labeling_keys.review_queue_item_list_keys(queue_id, now, item_id),
            **labeling_keys.review_queue_item_status_keys(queue_id, status, now, item_id),
            "queue_id": queue_id,
            "item_type": item_type,
            "item_id": item_id,
            "status": status,
            "creation_time_ms": now,
            "last_update_time_ms": now,
            "workspace": queue["workspace"],
        }

    def _refs_update(self, workspace: str, item_id: str, queue_id: str, op: str) -> dict:
        """``ADD`` or ``DELETE`` one queue id in the item's refs set."""
        return self.gateway.tx_update(
            labeling_keys.review_item_refs_key(workspace, item_id),
            f"{op} #q :q SET #w = :w, #i = :i",
            names={"#q": "queue_ids", "#w": "workspace", "#i": "item_id"},
            values={":q": {queue_id}, ":w": workspace, ":i": item_id},
        )

    def _count_update(self, queue_id: str, delta: int) -> dict:
        return self.gateway.tx_update(
            labeling_keys.review_queue_key(queue_id),
            "ADD #c :d",
            names={"#c": "item_count"},
            values={":d": delta},
            condition=Attr("PK").exists(),
        )

    def attach(self, queue: Item, item_ids: list[str], item_type: str, status: str, now: int):
        """Attach the ids not attached yet (an attached one keeps its row and status); the
        rows of every id, in the order given."""
        queue_id, workspace = queue["queue_id"], queue["workspace"]
        rows = self.batch_get(queue_id, item_ids)
        missing = [i for i in item_ids if i not in rows]
        for start in range(0, len(missing), _ITEMS_PER_TRANSACTION):
            chunk = missing[start : start + _ITEMS_PER_TRANSACTION]
            new_rows = {i: self._row(queue, i, item_type, status, now) for i in chunk}
            actions = [self._count_update(queue_id, len(chunk))]
            for item_id, row in new_rows.items():
                actions.append(self.gateway.tx_put(row, Attr("PK").not_exists()))
                actions.append(self._refs_update(workspace, item_id, queue_id, "ADD"))
            try:
                self.gateway.transact_write(actions)
                rows.update(new_rows)
            except TransactionCancelled as exc:
                if 0 in exc.failed_conditions():
                    raise QueueGone(queue_id) from None
                if not exc.is_condition_failure:
                    raise
                # A concurrent attach won some of these: one at a time, keeping theirs.
                for item_id, row in new_rows.items():
                    rows[item_id] = self._attach_one(queue, row)
        return [rows[i] for i in item_ids if i in rows]

    def _attach_one(self, queue: Item, row: Item) -> Item:
        queue_id, item_id = queue["queue_id"], row["item_id"]
        try:
            self.gateway.transact_write(
                [
                    self._count_update(queue_id, 1),
                    self.gateway.tx_put(row, Attr("PK").not_exists()),
                    self._refs_update(queue["workspace"], item_id, queue_id, "ADD"),
                ]
            )
            return row
        except TransactionCancelled as exc:
            if 0 in exc.failed_conditions():
                raise QueueGone(queue_id) from None
            if not exc.is_condition_failure:
                raise
        return self.get(queue_id, item_id) or row

    def detach(self, queue: Item, item_ids: list[str]) -> None:
        """Remove those of the ids that are attached (the others are no error)."""
        queue_id = queue["queue_id"]
        present = list(self.batch_get(queue_id, item_ids))
        for start in range(0, len(present), _ITEMS_PER_TRANSACTION):
            chunk = present[start : start + _ITEMS_PER_TRANSACTION]
            if not self._detach_chunk(queue_id, queue["workspace"], chunk):
                for item_id in chunk:  # a concurrent detach took some: one at a time
                    self._detach_chunk(queue_id, queue["workspace"], [item_id])

    def _detach_chunk(self, queue_id: str, workspace: str, item_ids: list[str]) -> bool:
        """One transaction; False if one of the rows was already gone. A deleted queue's
        rows are removed without touching its (gone) count."""
        actions = [self._count_update(queue_id, -len(item_ids))]
        for item_id in item_ids:
            key = labeling_keys.review_queue_item_key(queue_id, item_id)
            actions.append(self.gateway.tx_delete(key, Attr("PK").exists()))
            actions.append(self._refs_update(workspace, item_id, queue_id, "DELETE"))
        try:
            self.gateway.transact_write(actions)
            return True
        except TransactionCancelled as exc:
            if not exc.is_condition_failure:
                raise
            if exc.failed_conditions() == [0]:  # the queue is gone: only its rows are left
                self.gateway.batch_write(
                    deletes=[labeling_keys.review_queue_item_key(queue_id, i) for i in item_ids]
                )
                return True
            return False

    def set_status(self, current: Item, status: str, fields: Item) -> Item:
        """Move the row to ``status`` if it still has the status it was read with
        (ItemChanged otherwise); ``fields`` are SET (None values are REMOVEd)."""
        queue_id, item_id = current["queue_id"], current["item_id"]
        created = int(current["creation_time_ms"])
        status_keys = labeling_keys.review_queue_item_status_keys(
            queue_id, status, created, item_id
        )
        sets = {
            "status": status,
            **status_keys,
            **{k: v for k, v in fields.items() if v is not None},
        }
        removes = [k for k, v in fields.items() if v is None]
        names = {f"#s{i}": k for i, k in enumerate(sets)}
        values = {f":s{i}": v for i, v in enumerate(sets.values())}
        expression = "SET " + ", ".join(f"#s{i} = :s{i}" for i in range(len(sets)))
        if removes:
            names.update({f"#r{i}": k for i, k in enumerate(removes)})
            expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(removes)))
        try:
            new = self.gateway.update_item(
                labeling_keys.review_queue_item_key(queue_id, item_id),
                expression,
                names=names,
                values=values,
                condition=Attr("status").eq(current["status"]),
                return_values="ALL_NEW",
            )
        except ConditionFailed:
            raise ItemChanged(item_id) from None
        assert new is not None
        return new

    def drop_queue(self, queue_id: str) -> None:
        """Delete every row of a deleted queue (one Query per MB, one BatchWriteItem per 25)."""
        rows = self.gateway.query(
            Key("PK").eq(labeling_keys.review_queue_pk(queue_id))
            & Key("SK").begins_with(labeling_keys.QUEUE_ITEM_PREFIX),
            consistent=True,
        )
        self.gateway.batch_write(deletes=[{"PK": r["PK"], "SK": r["SK"]} for r in rows])

    def drop_items(self, workspace: str, item_ids: list[str]) -> None:
        """What deleting traces does to queues: each deleted item leaves every queue of the
        workspace that holds it (one BatchGetItem per 100 ids, then one transaction per
        membership), and its refs item goes."""
        ref_keys = [
            labeling_keys.review_item_refs_key(workspace, i)
            for i in item_ids
            if i and len(i.encode()) <= 1500
        ]
        refs = self.gateway.batch_get(ref_keys, consistent=True)
        for ref in refs:
            for queue_id in sorted(ref.get("queue_ids", ())):
                self._drop_row(queue_id, ref["item_id"])
        self.gateway.batch_write(deletes=[{"PK": r["PK"], "SK": r["SK"]} for r in refs])

    def _drop_row(self, queue_id: str, item_id: str) -> None:
        key = labeling_keys.review_queue_item_key(queue_id, item_id)
        try:
            self.gateway.transact_write(
                [
                    self._count_update(queue_id, -1),
                    self.gateway.tx_delete(key, Attr("PK").exists()),
                ]
            )
        except TransactionCancelled as exc:
            if not exc.is_condition_failure:
                raise
            if 1 not in exc.failed_conditions():  # the row exists, its queue does not
                with contextlib.suppress(ConditionFailed):
                    self.gateway.delete_item(key)


def to_review_queue_item(item: Item):
    from mlflow.genai.review_queues import ReviewItemType, ReviewQueueItem, ReviewStatus

    completed = item.get("completed_time_ms")
    return ReviewQueueItem(
        queue_id=item["queue_id"],
        item_type=ReviewItemType(item["item_type"]),
        item_id=item["item_id"],
        status=ReviewStatus(item["status"]),
        creation_time_ms=int(item["creation_time_ms"]),
        last_update_time_ms=int(item["last_update_time_ms"]),
        completed_by=item.get("completed_by"),
        completed_time_ms=int(completed) if completed is not None else None,
    )
