"""Creating a labeling item together with its per-experiment name guard."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr

from mlflow_dynamodbstore.gateway import TableGateway, TransactionCancelled

Item = dict[str, Any]


def put_with_name_guard(
    gateway: TableGateway, guard: Item, item: Item, name_taken: Exception
) -> None:
    """Put the name guard and the item in one transaction, both only if new: two creators
    racing for one name leave one winner; the other gets ``name_taken``."""
    try:
        gateway.transact_write(
            [
                gateway.tx_put(guard, Attr("PK").not_exists()),
                gateway.tx_put(item, Attr("PK").not_exists()),
            ]
        )
    except TransactionCancelled as exc:
        if 0 in exc.failed_conditions():
            raise name_taken from None
        raise
