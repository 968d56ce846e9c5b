"""Recent points riding in the LATEST items that a training step writes anyway.

A training loop's step logs one point per metric key and must rewrite each key's LATEST
(rank) item with the new value. Instead of a second item per point, the step appends the
point to the LATEST item's ``recent`` list in the same UpdateItem: a 10-key step writes
META and 10 LATEST items (11 items, one TransactWriteItems) instead of 21 items in two
requests. A buffer holds at most ``BUFFER_POINTS`` points (the item stays within 1 KB, one
write unit); the step that finds a buffer full (its condition fails) flushes it: the
buffered points are written as a block item (``FLUSHED_BLOCK_PREFIX``, BatchWriteItem) and
the retried step *replaces* the buffer with its own points, on condition that nobody
flushed or appended since the read (``recent_seq`` and the buffer's size).

Every write of a LATEST item goes through ``latest_action`` (an UpdateItem that sets the
value and rank keys and leaves the buffer alone), so the read-plan-write path never drops
buffered points by putting the item whole.
"""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.runs.metric_history import RECENT, RECENT_SEQ
from mlflow_dynamodbstore.repositories.runs.metric_update import Guard
from mlflow_dynamodbstore.schema import keys

Item = dict[str, Any]
# 20 packed points (25 bytes each in a list) keep a LATEST item of an ordinary metric key
# (~350 bytes of keys and value) within 1 KB: one write unit (two in a transaction).
BUFFER_POINTS = 20


class BuffersFull(Exception):
    """The step's points do not fit these keys' buffers: flush them and retry."""

    def __init__(self, metric_keys: list[str]):
        super().__init__(metric_keys)
        self.metric_keys = metric_keys


def _set_attributes(item: Item, prefix: str) -> tuple[list[str], dict[str, str], dict]:
    """``SET`` clauses for every non-key attribute of a LATEST item."""
    sets, names, values = [], {}, {}
    for i, (name, value) in enumerate(
        (n, v) for n, v in item.items() if n not in ("PK", "SK", RECENT, RECENT_SEQ)
    ):
        names[f"#{prefix}{i}"] = name
        values[f":{prefix}{i}"] = value
        sets.append(f"#{prefix}{i} = :{prefix}{i}")
    return sets, names, values


def latest_action(gateway: TableGateway, item: Item, guard: Guard | None = None) -> dict:
    """The transaction action writing ``item``: an update for a LATEST item (its buffer
    stays), a put for anything else. With ``guard`` (metric_update.newer_condition or
    replaces_condition: expression, names, values), only if it holds."""
    if item.get("SK") != keys.METRIC_LATEST_SK:
        return gateway.tx_put(item)
    sets, names, values = _set_attributes(item, "l")
    condition = None
    if guard is not None:
        condition, more_names, more_values = guard
        names.update(more_names)
        values.update(more_values)
    return gateway.tx_update(
        {"PK": item["PK"], "SK": item["SK"]},
        "SET " + ", ".join(sets),
        names=names,
        values=values,
        condition_expression=condition,
    )


def buffered_latest_action(
    gateway: TableGateway,
    item: Item,
    packed: list[bytes],
    flushed: tuple[int | None, int] | None = None,
    guard: Guard | None = None,
) -> dict:
    """The step's update of one LATEST item: its new value and rank keys, and ``packed``
    appended to the buffer if they fit. After a flush (``flushed`` = (recent_seq, size)
    read), the buffer is replaced by ``packed`` instead, if nobody changed it since."""
    sets, names, values = _set_attributes(item, "b")
    names["#rb"] = RECENT
    values[":rp"] = packed
    if flushed is None:
        sets.append("#rb = list_append(if_not_exists(#rb, :rempty), :rp)")
        values[":rempty"] = []
        values[":rroom"] = BUFFER_POINTS - len(packed)
        condition = "attribute_not_exists(#rb) OR size(#rb) <= :rroom"
        update = "SET " + ", ".join(sets)
    else:
        seq, size = flushed
        names["#rs"] = RECENT_SEQ
        sets.append("#rb = :rp")
        values[":rone"] = 1
        values[":rsize"] = size
        if seq is None:
            condition = "attribute_not_exists(#rs) AND size(#rb) = :rsize"
        else:
            values[":rseq"] = seq
            condition = "#rs = :rseq AND size(#rb) = :rsize"
        update = "SET " + ", ".join(sets) + " ADD #rs :rone"
    if guard is not None:
        guard_expression, more_names, more_values = guard
        names.update(more_names)
        values.update(more_values)
        condition = f"({condition}) AND ({guard_expression})"
    return gateway.tx_update(
        {"PK": item["PK"], "SK": item["SK"]},
        update,
        names=names,
        values=values,
        condition_expression=condition,
    )
