"""Metric history: one partition per (run, metric key), one key-only item per point.

The sort key is the point (timestamp, step, value; see ``keys.metric_history_sk``), so a
Query returns points in ``get_metric_history``'s order and identical points are one item,
as in MLflow's SQL store where they are one row.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

from boto3.dynamodb.conditions import Key

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.runs_items import comparable_metric_value
from mlflow_dynamodbstore.schema import keys


class BadPageToken(Exception):
    """A page token this store did not issue."""


@dataclass(frozen=True)
class Point:
    key: str
    value: float
    timestamp: int
    step: int

    def sql_order(self) -> tuple:
        """(step, timestamp, value, is_nan): the order the SQL store samples history in."""
        return (
            self.step,
            self.timestamp,
            comparable_metric_value(self.value),
            math.isnan(self.value),
        )


class MetricHistoryRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def write(self, run_id: str, points: Iterable[Point]) -> None:
        """⌈distinct points / 25⌉ BatchWriteItem requests; rewriting a point is harmless."""
        self.gateway.batch_write(self.items(run_id, points))

    @staticmethod
    def items(run_id: str, points: Iterable[Point]) -> list[dict]:
        """The points' items (key only), one per distinct point."""
        unique = {
            (i["PK"], i["SK"]): i
            for i in (
                keys.metric_history_key(run_id, p.key, p.timestamp, p.step, p.value) for p in points
            )
        }
        return list(unique.values())

    def delete_all(self, run_id: str, key: str) -> None:
        """Every point and the LATEST item of one (run, key): ⌈items / 25⌉ BatchWriteItem."""
        items = self.gateway.query(
            Key("PK").eq(keys.metric_history_pk(run_id, key)), consistent=True
        )
        self.gateway.batch_write(deletes=[{"PK": i["PK"], "SK": i["SK"]} for i in items])

    def page(
        self,
        run_id: str,
        key: str,
        max_results: int | None,
        page_token: str | None,
        *,
        consistent: bool = True,
    ) -> tuple[list[Point], str | None]:
        """Points in (timestamp, step, value) order; a page of ``max_results`` and the token
        of the next one, or everything when ``max_results`` is None."""
        start_sk = _decode_token(page_token)
        pk = keys.metric_history_pk(run_id, key)
        condition = Key("PK").eq(pk) & Key("SK").lt(keys.METRIC_LATEST_SK)
        # One more than a page tells whether another page follows (as the SQL store does).
        wanted = None if max_results is None else max_results + 1
        found: list[str] = []
        start_key = {"PK": pk, "SK": start_sk} if start_sk else None
        while True:
            items, start_key = self.gateway.query_page(
                condition,
                start_key=start_key,
                limit=None if wanted is None else wanted - len(found),
                consistent=consistent,
            )
            found += [i["SK"] for i in items]
            if not start_key or (wanted is not None and len(found) >= wanted):
                break
        if wanted is None or len(found) < wanted:
            return [_point(key, sk) for sk in found], None
        kept = found[:max_results]
        next_start = kept[-1] if kept else (start_sk or "")
        return [_point(key, sk) for sk in kept], _encode_token(next_start)

    def all(self, run_id: str, key: str, *, consistent: bool = True) -> list[Point]:
        """Every point; chart reads pass ``consistent=False`` (half the read units)."""
        return self.page(run_id, key, None, None, consistent=consistent)[0]


def _point(key: str, sk: str) -> Point:
    timestamp, step, value = keys.decode_metric_history_sk(sk)
    return Point(key, value, timestamp, step)


def _encode_token(sk: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": sk}).encode()).decode()


def _decode_token(token: str | None) -> str | None:
    if not token:
        return None
    try:
        sk = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except Exception:
        raise BadPageToken(token) from None
    if not isinstance(sk, str):
        raise BadPageToken(token)
    return sk


def ntile_sample(points: list[Point], max_results: int) -> list[Point]:
    """MLflow's SQL sampling (``_sample_rows_with_window_functions``): NTILE(max_results)
    buckets over the points in (step, timestamp, value) order, the first point of each
    bucket, and the last point kept (replacing the final sample when at ``max_results``)."""
    ordered = sorted(points, key=Point.sql_order)
    total = len(ordered)
    if total <= max_results:
        return ordered
    size, extra = divmod(total, max_results)
    sampled = [ordered[b * size + min(b, extra)] for b in range(max_results)]
    last = ordered[-1]
    if sampled[-1].sql_order() != last.sql_order():
        sampled[-1] = last
    return sampled
