"""The X-Ray state item of a trace (schema/xray_keys.py): why its spans could not be read
from X-Ray last time, and when to try again. One PutItem per failed lookup, one DeleteItem
once the spans are cached; read for free with the trace's partition by ``get_trace``."""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.schema import keys, xray_keys

Item = dict[str, Any]

# Back-off after the n-th failed lookup: 1, 2, 4, ... minutes, at most an hour. X-Ray
# indexes a trace within seconds to a minute, so a young trace is found on a retry soon.
FIRST_RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 3600


def retry_delay(attempts: int) -> int:
    return min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS)


def is_state_item(item: Item) -> bool:
    return item.get("SK") == xray_keys.XRAY_STATE_SK


class XRayStateRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def get(self, trace_id: str) -> Item | None:
        return self.gateway.get_item(xray_keys.xray_state_key(trace_id), consistent=False)

    def batch_get(self, trace_ids: list[str]) -> dict[str, Item]:
        found = self.gateway.batch_get([xray_keys.xray_state_key(t) for t in trace_ids])
        return {i["trace_id"]: i for i in found}

    def record_failure(
        self,
        meta: Item,
        previous: Item | None,
        *,
        outcome: str,
        reason: str,
        now: float,
    ) -> Item:
        attempts = int((previous or {}).get("attempts", 0)) + 1
        item = {
            **xray_keys.xray_state_key(meta["trace_id"]),
            "trace_id": meta["trace_id"],
            keys.WORKSPACE_ATTRIBUTE: meta.get(keys.WORKSPACE_ATTRIBUTE),
            "outcome": outcome,
            "reason": reason[:1000],
            "attempts": attempts,
            "checked_at": int(now),
            "retry_after": int(now) + retry_delay(attempts),
            "ttl": meta.get("ttl"),
        }
        item = {k: v for k, v in item.items() if v is not None}
        self.gateway.put_item(item)
        return item

    def clear(self, trace_id: str) -> None:
        self.gateway.delete_item(xray_keys.xray_state_key(trace_id))
