"""Metric history: one partition per (run, metric key).

A point logged alone is a key-only item whose sort key is the point (timestamp, step,
value; see ``keys.metric_history_sk``), so identical points are one item, as in MLflow's
SQL store where they are one row. Several points of one key logged together (a
``log_batch`` of a training run's history) are one *block* item holding them packed
(``keys.metric_block_key``): a write of N points of a key costs about N x 24 bytes of
write units instead of N items of 1 WCU each. Reads expand blocks into the same sort
keys, drop duplicates and order them, so a history reads the same whichever way it was
written.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from boto3.dynamodb.conditions import Key

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.runs.items import comparable_metric_value
from mlflow_dynamodbstore.repositories.runs.stepping import flush_seq, is_announced, live_buffer
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.schema.live_step_keys import (
    buffer_key_of,
    flushed_seq,
    live_flushed_after,
    live_flushed_block_key,
)
from mlflow_dynamodbstore.schema.metric_buffer_keys import flushed_block_key
from mlflow_dynamodbstore.schema.metric_rank_keys import live_key
from mlflow_dynamodbstore.schema.table import TTL_ATTRIBUTE

_POINT = struct.Struct(">qqd")  # timestamp, step, value
_BLOCK_FORMAT = b"\x01"  # zlib of packed _POINTs; a new layout gets a new first byte
# A log_batch holds at most 1,000 metrics (24 KB packed); the cap only keeps any caller far
# from DynamoDB's 400 KB item limit.
BLOCK_POINTS = 8_000
# LATEST attributes of the recent-points buffer: the packed points (a list of binaries, one
# per point) and how many times the buffer was flushed (a flusher empties it only if no one
# flushed it since its read).
RECENT = "recent"
RECENT_SEQ = "recent_seq"


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

    def write(self, items: list[dict]) -> None:
        """⌈items / 25⌉ BatchWriteItem requests for ``items(...)``; writing a point or block
        again is harmless (a block's key is the digest of its content)."""
        self.gateway.batch_write(items)

    @staticmethod
    def items(run_id: str, points: Iterable[Point], ttl: int | None = None) -> list[dict]:
        """The items of ``points``: per metric key, a key-only item for a single point,
        else block items of up to BLOCK_POINTS distinct points. ``ttl`` (epoch seconds, the
        metric-history retention) goes on each; the LATEST items are written elsewhere and
        never carry one."""
        by_key: dict[str, dict[str, Point]] = {}
        for p in points:
            by_key.setdefault(p.key, {})[keys.metric_history_sk(p.timestamp, p.step, p.value)] = p
        items = []
        for key, unique in by_key.items():
            if len(unique) == 1:
                (sk,) = unique
                items.append({"PK": keys.metric_history_pk(run_id, key), "SK": sk})
                continue
            ordered = [unique[sk] for sk in sorted(unique)]
            for i in range(0, len(ordered), BLOCK_POINTS):
                items.append(_block_item(run_id, key, ordered[i : i + BLOCK_POINTS]))
        if ttl is not None:
            for item in items:
                item[TTL_ATTRIBUTE] = ttl
        return items

    def delete_all(self, run_id: str, key: str) -> None:
        """Every point, block and the LATEST item of one (run, key): ⌈items / 25⌉
        BatchWriteItem."""
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
        after = _decode_token(page_token)
        pk = keys.metric_history_pk(run_id, key)
        if max_results is None:
            # Points, blocks, LATEST's buffer and flushed blocks: the partition, read whole.
            items = list(self.gateway.query(Key("PK").eq(pk), consistent=consistent))
            items += self._live_items(run_id, key, items, consistent)
            found = _sort_keys(items, after)
            return [_point(key, sk) for sk in found], None
        # One more than a page tells whether another page follows (as the SQL store does).
        # Blocks and LATEST's buffer may hold points of any range, so they are read whole
        # (one range: blocks, LATEST, flushed blocks); the single points only as far as the
        # page needs.
        wanted = max_results + 1
        blocks = list(
            self.gateway.query(
                Key("PK").eq(pk) & Key("SK").gte(keys.METRIC_BLOCK_PREFIX),
                consistent=consistent,
            )
        )
        blocks += self._live_items(run_id, key, blocks, consistent)
        found = _sort_keys(blocks, after) + self._single_points(pk, after, wanted, consistent)
        found = sorted(set(found))[:wanted]
        if len(found) < wanted:
            return [_point(key, sk) for sk in found], None
        kept = found[:max_results]
        next_start = kept[-1] if kept else (after or "")
        return [_point(key, sk) for sk in kept], _encode_token(next_start)

    def _live_items(self, run_id: str, key: str, items: list[dict], consistent: bool) -> list[dict]:
        """When the Query's LATEST item says the key steps through LIVE (stepping.py): the
        key's LIVE buffer (as a LATEST-shaped item) and the blocks of any flush the Query
        ran ahead of (LIVE's ``flush_seq`` past the newest flushed block it saw). LIVE is
        read after the partition, and a flush writes its blocks before it empties the
        buffer, so every point is in one of the two reads."""
        latest = next((i for i in items if i["SK"] == keys.METRIC_LATEST_SK), None)
        if not is_announced(latest):
            return []
        live = self.gateway.get_item(live_key(run_id), consistent=consistent)
        found = [{"SK": keys.METRIC_LATEST_SK, RECENT: live_buffer(live, key)}]
        seen = max((s for i in items if (s := flushed_seq(i["SK"])) is not None), default=0)
        if flush_seq(live) > seen:
            lower, upper = live_flushed_after(seen)
            found += self.gateway.query(
                Key("PK").eq(keys.metric_history_pk(run_id, key)) & Key("SK").between(lower, upper),
                consistent=consistent,
            )
        return found

    def _single_points(
        self, pk: str, after: str | None, wanted: int, consistent: bool
    ) -> list[str]:
        """The first ``wanted`` single-point sort keys after ``after``. Points sort before
        blocks (digits < "B"), so their range ends at the block prefix."""
        end = keys.METRIC_BLOCK_PREFIX
        if after is not None and after >= end:
            return []
        # BETWEEN is inclusive: the token's own point comes back and is dropped.
        bound = Key("SK").between(after, end) if after else Key("SK").lt(end)
        found: list[str] = []
        start_key = None
        while len(found) < wanted:
            items, start_key = self.gateway.query_page(
                Key("PK").eq(pk) & bound,
                start_key=start_key,
                limit=wanted - len(found) + (1 if after else 0),
                consistent=consistent,
            )
            found += [i["SK"] for i in items if after is None or i["SK"] > after]
            if not start_key:
                break
        return found[:wanted]

    def all(self, run_id: str, key: str, *, consistent: bool = True) -> list[Point]:
        """Every point; chart reads pass ``consistent=False`` (half the read units)."""
        return self.page(run_id, key, None, None, consistent=consistent)[0]

    # ---- the recent-points buffer of LATEST items (option E; read, and flushed by ttl apply)
    @staticmethod
    def flushed_items(run_id: str, latest: dict, ttl: int | None = None) -> list[dict]:
        """Block items (sorting after LATEST) holding the points buffered in ``latest``."""
        points = [_point(latest["key"], sk) for sk in sorted(set(buffered_sort_keys(latest)))]
        items = [
            _block_item(run_id, latest["key"], points[i : i + BLOCK_POINTS], flushed=True)
            for i in range(0, len(points), BLOCK_POINTS)
        ]
        if ttl is not None:
            for item in items:
                item[TTL_ATTRIBUTE] = ttl
        return items


def live_flushed_items(run_id: str, live: dict, seq: int) -> list[dict]:
    """The blocks (``ML#<seq>#…``, one per key with buffered points) holding the points
    buffered in a LIVE item (stepping.py), for its flush number ``seq``."""
    items = []
    for attribute in live:
        key = buffer_key_of(attribute)
        if key is None:
            continue
        sort_keys = {keys.metric_history_sk(*_POINT.unpack(p)) for p in live_buffer(live, key)}
        points = [_point(key, sk) for sk in sorted(sort_keys)]
        for i in range(0, len(points), BLOCK_POINTS):
            packed = b"".join(
                _POINT.pack(p.timestamp, p.step, p.value) for p in points[i : i + BLOCK_POINTS]
            )
            content = _BLOCK_FORMAT + zlib.compress(packed)
            digest = hashlib.sha256(content).hexdigest()[:32]
            items.append({**live_flushed_block_key(run_id, key, seq, digest), "points": content})
    return items


def pack_point(point: Point) -> bytes:
    """One point as a buffer entry."""
    return _POINT.pack(point.timestamp, point.step, point.value)


def buffered_sort_keys(latest: dict) -> list[str]:
    """The point sort keys buffered in a LATEST item (none for one written without)."""
    return [
        keys.metric_history_sk(*_POINT.unpack(bytes(entry))) for entry in latest.get(RECENT) or []
    ]


def _block_item(run_id: str, key: str, points: list[Point], *, flushed: bool = False) -> dict:
    packed = b"".join(_POINT.pack(p.timestamp, p.step, p.value) for p in points)
    content = _BLOCK_FORMAT + zlib.compress(packed)
    digest = hashlib.sha256(content).hexdigest()[:32]
    key_of = flushed_block_key if flushed else keys.metric_block_key
    return {**key_of(run_id, key, digest), "points": content}


def _block_sort_keys(content) -> list[str]:
    raw = bytes(content)  # boto3's Binary converts itself
    if raw[:1] != _BLOCK_FORMAT:
        raise ValueError(f"unknown metric block format {raw[:1]!r}")
    return [
        keys.metric_history_sk(timestamp, step, value)
        for timestamp, step, value in _POINT.iter_unpack(zlib.decompress(raw[1:]))
    ]


def block_sort_keys(content) -> list[str]:
    """The point sort keys packed in a block's ``points``."""
    return _block_sort_keys(content)


def _sort_keys(items: Iterable[dict], after: str | None) -> list[str]:
    """The distinct point sort keys of point, block and LATEST items (its buffer), in
    order, after ``after``."""
    found: set[str] = set()
    for item in items:
        sk = item["SK"]
        if "points" in item:
            found.update(_block_sort_keys(item["points"]))
        elif sk == keys.METRIC_LATEST_SK:
            found.update(buffered_sort_keys(item))
        else:
            found.add(sk)
    return sorted(sk for sk in found if after is None or sk > after)


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
