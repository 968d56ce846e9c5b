"""Review queues: ``RQ#<id>`` / ``META`` items, listed per experiment (GSI1), with a guard per
(experiment, case-folded name) in the experiment's partition.

The assigned users (at most 10) and attached schema ids (at most the experiment's schemas)
are small sets, so they live on the META item, sorted as the SQL store returns them. The
META item also counts the queue's items (``item_count``, moved in the same transaction as
every attach and detach), which is what freezes a queue's questions once it has items: the
edit is conditioned on ``item_count = 0``, so a concurrent attach cannot slip in between.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from boto3.dynamodb.conditions import Attr

from mlflow_dynamodbstore.gateway import TableGateway, TransactionCancelled
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.repositories.labeling.label_schemas import _usable_key_part
from mlflow_dynamodbstore.repositories.labeling.name_guards import put_with_name_guard
from mlflow_dynamodbstore.repositories.labeling.pages import (
    Page,
    decode_token,
    encode_token,
    read_page,
)
from mlflow_dynamodbstore.schema import indexes, labeling_keys

Item = dict[str, Any]


class QueueNameTaken(Exception):
    pass


class QueueChanged(Exception):
    """The queue was deleted, or got items, between the read and the write."""


class ReviewQueueRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    # ---- reads -----------------------------------------------------------------------
    def get(self, queue_id: str) -> Item | None:
        if not _usable_key_part(queue_id):
            return None
        return self.gateway.get_item(labeling_keys.review_queue_key(queue_id))

    def get_by_name(self, experiment_id: str, name_key: str) -> Item | None:
        if not _usable_key_part(name_key):
            return None
        guard = self.gateway.get_item(labeling_keys.review_queue_name_key(experiment_id, name_key))
        return self.get(guard["queue_id"]) if guard else None

    def batch_get(self, queue_ids: Iterable[str]) -> list[Item]:
        keys = [labeling_keys.review_queue_key(q) for q in queue_ids if _usable_key_part(q)]
        return self.gateway.batch_get(keys, consistent=True)

    def list_page(
        self, experiment_id: str, max_results: int, page_token: str | None, keep=None
    ) -> Page:
        return read_page(
            self.gateway,
            indexes.REVIEW_QUEUES_BY_CREATION,
            labeling_keys.review_queues_gsi1pk(experiment_id),
            max_results=max_results,
            page_token=page_token,
            keep=keep,
        )

    @staticmethod
    def page_of(queues: list[Item], max_results: int, page_token: str | None) -> Page:
        """A page of queues read by id (not from the listing), with the listing's order and
        tokens."""
        after = decode_token(page_token)
        pattern = indexes.REVIEW_QUEUES_BY_CREATION
        ordered = sorted(queues, key=pattern.sort_key)
        if after is not None:
            ordered = [q for q in ordered if pattern.sort_key(q) > after]
        if len(ordered) > max_results:
            page = ordered[:max_results]
            return Page(page, encode_token(pattern.sort_key(page[-1])))
        return Page(ordered, None)

    # ---- writes ----------------------------------------------------------------------
    def create(self, item: Item) -> Item:
        experiment_id, queue_id = item["experiment_id"], item["queue_id"]
        full = {
            **labeling_keys.review_queue_key(queue_id),
            **labeling_keys.review_queue_list_keys(
                experiment_id, int(item["creation_time_ms"]), queue_id
            ),
            "item_count": 0,
            **item,
        }
        guard = {
            **labeling_keys.review_queue_name_key(experiment_id, item["name_key"]),
            "queue_id": queue_id,
            "workspace": item["workspace"],
        }
        put_with_name_guard(self.gateway, guard, full, QueueNameTaken(item["name"]))
        return full

    def update(self, current: Item, fields: Item, *, require_empty: bool) -> Item:
        """SET ``fields`` on the queue; a new ``name_key`` moves the name guard in the same
        transaction (QueueNameTaken if taken). ``require_empty`` conditions the write on the
        queue having no items (QueueChanged otherwise, or when the queue is gone)."""
        queue_id, experiment_id = current["queue_id"], current["experiment_id"]
        expression, names, values = set_expression(fields)
        condition = Attr("PK").exists()
        if require_empty:
            condition = condition & Attr("item_count").eq(0)
        actions = []
        renamed = "name_key" in fields and fields["name_key"] != current["name_key"]
        if renamed:
            guard = {
                **labeling_keys.review_queue_name_key(experiment_id, fields["name_key"]),
                "queue_id": queue_id,
                "workspace": current["workspace"],
            }
            old_guard = labeling_keys.review_queue_name_key(experiment_id, current["name_key"])
            actions += [
                self.gateway.tx_put(guard, Attr("PK").not_exists()),
                self.gateway.tx_delete(old_guard, Attr("queue_id").eq(queue_id)),
            ]
        actions.append(
            self.gateway.tx_update(
                labeling_keys.review_queue_key(queue_id),
                expression,
                names=names,
                values=values,
                condition=condition,
            )
        )
        try:
            self.gateway.transact_write(actions)
        except TransactionCancelled as exc:
            failed = exc.failed_conditions()
            if renamed and 0 in failed:
                raise QueueNameTaken(fields["name"]) from None
            if failed:
                raise QueueChanged(queue_id) from None
            raise
        return {**current, **fields}

    def delete(self, queue: Item) -> None:
        """Remove the queue and its name guard at once (the queue is gone from then on);
        its items are removed after (``QueueItemRepository.drop_queue``)."""
        guard = labeling_keys.review_queue_name_key(queue["experiment_id"], queue["name_key"])
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_delete(guard, Attr("queue_id").eq(queue["queue_id"])),
                    self.gateway.tx_delete(labeling_keys.review_queue_key(queue["queue_id"])),
                ]
            )
        except TransactionCancelled as exc:
            if not exc.is_condition_failure:
                raise
