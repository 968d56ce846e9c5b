"""Helpers of the lifecycle tests: a fixed retention policy on a store's connection, the
table's items (a test may Scan; the package never does), and DynamoDB TTL simulated (DynamoDB
Local honours TTL only loosely)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from boto3.dynamodb.conditions import Key

from mlflow_dynamodbstore.config import RetentionPolicy, StoreSettings

DAY_S = 86_400


@dataclass
class FixedSettings:
    settings: StoreSettings

    def current(self) -> StoreSettings:
        return self.settings


def set_policy(store, **days: int) -> RetentionPolicy:
    """Retention policies on the store's connection (every store of the URI shares it);
    the other settings stay (e.g. trace names switched on)."""
    policy = RetentionPolicy(**days)
    current = store._conn.settings.current()
    store._conn.settings = FixedSettings(
        StoreSettings(retention=policy, fts_trigram_fields=current.fts_trigram_fields)
    )
    return policy


def all_items(store) -> list[dict]:
    gateway = store._conn.gateway
    items, start = [], None
    while True:
        kwargs = {"TableName": gateway.table_name, "ConsistentRead": True}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = gateway.client.scan(**kwargs)
        items += [gateway.deserialize(i) for i in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def keys_of(items: list[dict]) -> set[tuple[str, str]]:
    return {(i["PK"], i["SK"]) for i in items}


def partition(store, pk: str) -> list[dict]:
    return list(store._conn.gateway.query(Key("PK").eq(pk), consistent=True))


def expire_by_ttl(store, pks: list[str], now_s: float) -> int:
    """What DynamoDB TTL does eventually: delete the items of ``pks`` whose ttl passed."""
    gone = [
        {"PK": i["PK"], "SK": i["SK"]}
        for pk in pks
        for i in partition(store, pk)
        if "ttl" in i and int(i["ttl"]) <= now_s
    ]
    store._conn.gateway.batch_write(deletes=gone)
    return len(gone)


def clock_in(days: float):
    """A clock ``days`` from now (epoch seconds)."""
    offset = days * DAY_S
    return lambda: time.time() + offset
