"""Writes per partition key, of the table and of each global secondary index: what a
benchmark reads to find hot keys (DynamoDB serves about 1,000 write units per second per
partition, and a GSI that cannot keep up throttles its table's writes).

Attach ``PartitionWrites.observe`` to a ``TableGateway``'s ``observers``. Each item written
counts once for its table partition key and once for each index whose partition key the
item carries. Puts show the item's index keys; an update shows only the keys it sets, so
the counter remembers the index keys of every item it saw put (or set) and uses them for
later updates and deletes of that item (an index has an entry for an updated item, so the
update writes the index too). Items written before counting began and never put since are
counted on the table only. The gateway knows no key formats: the caller names the index key
attributes (index name -> its partition key attribute, from schema/table.py).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

_ASSIGNMENT = re.compile(r"(#\w+)\s*=\s*(:\w+)")


class PartitionWrites:
    def __init__(self, index_partition_keys: dict[str, str], pk: str = "PK", sk: str = "SK"):
        self._indexes = index_partition_keys
        self._pk, self._sk = pk, sk
        self._known: dict[tuple, dict[str, str]] = {}  # item key -> {index: partition key}
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, str]] = Counter()  # (index or "table", key) -> writes

    # ---- reading ---------------------------------------------------------------------
    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def hottest(self, n: int = 10) -> list[tuple[str, str, int]]:
        return [(where, key, count) for (where, key), count in self.counts.most_common(n)]

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()

    # ---- the gateway observer ----------------------------------------------------------
    def observe(self, operation: str, request: dict, response: dict) -> None:
        with self._lock:
            if operation == "PutItem":
                self._put(request["Item"])
            elif operation == "UpdateItem":
                self._update(request)
            elif operation == "DeleteItem":
                self._delete(request["Key"])
            elif operation == "BatchWriteItem":
                self._batch(request, response)
            elif operation == "TransactWriteItems":
                for action in request["TransactItems"]:
                    if "Put" in action:
                        self._put(action["Put"]["Item"])
                    elif "Update" in action:
                        self._update(action["Update"])
                    elif "Delete" in action:
                        self._delete(action["Delete"]["Key"])

    def _batch(self, request: dict, response: dict) -> None:
        for item, key in processed_batch_writes(request, response):
            if item is not None:
                self._put(item)
            else:
                self._delete(key)

    def _item_key(self, attributes: dict) -> tuple:
        return (_plain(attributes[self._pk]), _plain(attributes[self._sk]))

    def _count(self, key: tuple, index_keys: dict[str, str]) -> None:
        self.counts[("table", key[0])] += 1
        for index, value in index_keys.items():
            self.counts[(index, value)] += 1

    def _put(self, item: dict) -> None:
        key = self._item_key(item)
        index_keys = {
            index: _plain(item[attribute])
            for index, attribute in self._indexes.items()
            if attribute in item
        }
        # an index entry the put removes is a write to that index too
        removed = {i: v for i, v in self._known.get(key, {}).items() if i not in index_keys}
        self._known[key] = index_keys
        self._count(key, {**removed, **index_keys})

    def _update(self, update: dict) -> None:
        key = self._item_key(update["Key"])
        names = update.get("ExpressionAttributeNames") or {}
        values = update.get("ExpressionAttributeValues") or {}
        index_keys = dict(self._known.get(key, {}))
        by_attribute = {a: i for i, a in self._indexes.items()}
        for name, value in _ASSIGNMENT.findall(update.get("UpdateExpression", "")):
            index = by_attribute.get(names.get(name, ""))
            if index is not None and value in values:
                index_keys[index] = _plain(values[value])
        self._known[key] = index_keys
        self._count(key, index_keys)

    def _delete(self, raw_key: dict) -> None:
        key = self._item_key(raw_key)
        self._count(key, self._known.pop(key, {}))


def _plain(value: Any) -> str:
    """A marshalled key attribute ({"S": "..."}) as its string."""
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value.values())))
    return str(value)


def processed_batch_writes(request: dict, response: dict) -> Iterator[tuple[Any, Any]]:
    """A BatchWriteItem's requests that were processed (unprocessed ones are retried and
    observed then): (item put, None) or (None, key deleted)."""
    unprocessed = {
        repr(sorted(r.items(), key=lambda kv: kv[0]))
        for requests in (response.get("UnprocessedItems") or {}).values()
        for r in requests
    }
    for requests in request["RequestItems"].values():
        for r in requests:
            if repr(sorted(r.items(), key=lambda kv: kv[0])) in unprocessed:
                continue
            if "PutRequest" in r:
                yield r["PutRequest"]["Item"], None
            else:
                yield None, r["DeleteRequest"]["Key"]
