"""LATEST item writes that keep the recent-points buffer option E's training step left there.

Option E's step appended each point to its key's LATEST item (``recent``) and flushed full
buffers into ``MB#`` blocks; option D's step (live_step.py) buffers in the run's LIVE item
instead, so E's buffers are only read now (metric_history.py) and flushed by ``ttl apply``.
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
