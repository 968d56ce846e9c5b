"""Reading an experiment's rank entries of one metric across their shards.

A LATEST item's rank entry lives in one of ``RANK_SHARDS`` partitions of RUNS_BY_METRIC
(schema/metric_rank_keys.py), and in the unsharded partition for entries written before
sharding (experiments created since say they have none). A walk reads every partition and
merges them by sort key (the value order of one partition), so the merged stream is the
experiment's ranking. The first page of every partition is read side by side (one round
trip of latency); each partition then reads on only as far as the merge needs it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from typing import Any

from boto3.dynamodb.conditions import ConditionBase

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.gateway.table_gateway import map_side_by_side
from mlflow_dynamodbstore.schema import indexes
from mlflow_dynamodbstore.schema.live_step_keys import STEPPING_SK_PREFIX
from mlflow_dynamodbstore.schema.metric_rank_keys import (
    RANK_SHARDS,
    SHARDED_RANKS_ATTRIBUTE,
    rank_pks,
)
from mlflow_dynamodbstore.search.runs.reads import MAX_PAGE_LIMIT

Item = dict[str, Any]
Condition = Callable[[str], ConditionBase]


def experiment_rank_pks(experiment: Item, key: str) -> list[str]:
    """The partition keys of an experiment's ranking by ``key`` (its META says whether the
    unsharded one can hold entries)."""
    sharded_only = bool(experiment.get(SHARDED_RANKS_ATTRIBUTE))
    return rank_pks(str(experiment["experiment_id"]), key, sharded_only=sharded_only)


def shard_limit(first_limit: int | None) -> int | None:
    """Entries a shard's first page asks for: twice its share of what the search needs
    (hashing spreads runs evenly, so a shard rarely holds more), at least a few."""
    if first_limit is None:
        return None
    return max(4, -(-2 * first_limit // RANK_SHARDS) + 1)


def rank_walk(
    gateway: TableGateway,
    pks: list[str],
    condition: Condition,
    *,
    ascending: bool,
    first_limit: int | None,
) -> Iterator[Item]:
    """Rank entries under ``pks`` (``condition(pk)`` each), merged in sort-key order."""
    return rank_walk_with_stepping(
        gateway, pks, [], condition, ascending=ascending, first_limit=first_limit
    )[0]


def stepping_pks(experiment_id: str, key: str) -> list[str]:
    """The partitions holding the ``~S#`` entries of runs stepping ``key`` (the shards:
    entries of the unsharded layout predate them)."""
    return rank_pks(experiment_id, key, sharded_only=True)


def rank_walk_with_stepping(
    gateway: TableGateway,
    pks: list[str],
    stepping: list[str],
    condition: Condition,
    *,
    ascending: bool,
    first_limit: int | None,
) -> tuple[Iterator[Item], list[Item]]:
    """``rank_walk``, and the ``~S#`` entries of the ``stepping`` partitions (runs whose
    value of the key is in their LIVE item, repositories/runs/stepping.py) read whole,
    side by side with the first pages (one round trip)."""
    limits = [first_limit if len(pks) == 1 else shard_limit(first_limit) for _ in pks]

    def first_page(i: int) -> tuple[list[Item], Item | None]:
        if i >= len(pks):
            prefix = indexes.RUNS_BY_METRIC.key_condition(
                stepping[i - len(pks)], prefix=STEPPING_SK_PREFIX
            )
            return list(gateway.query(prefix, index=indexes.RUNS_BY_METRIC.index)), None
        return gateway.query_page(
            condition(pks[i]),
            index=indexes.RUNS_BY_METRIC.index,
            forward=ascending,
            limit=limits[i],
        )

    reads = len(pks) + len(stepping)
    pages = map_side_by_side(first_page, list(range(reads)), reads)
    found = [item for items, _ in pages[len(pks) :] for item in items]
    pages = pages[: len(pks)]
    streams = [
        _rest(gateway, condition(pk), ascending, limit, items, start_key)
        for pk, limit, (items, start_key) in zip(pks, limits, pages, strict=True)
    ]
    if len(streams) == 1:
        return streams[0], found
    merged = heapq.merge(*streams, key=indexes.RUNS_BY_METRIC.sort_key, reverse=not ascending)
    return merged, found


def _rest(
    gateway: TableGateway,
    condition: ConditionBase,
    ascending: bool,
    limit: int | None,
    items: list[Item],
    start_key: Item | None,
) -> Iterator[Item]:
    """The first page's entries, then the partition's next pages (growing), lazily."""
    yield from items
    while start_key:
        if limit is not None:
            limit = max(limit, min(limit * 2, MAX_PAGE_LIMIT))
        items, start_key = gateway.query_page(
            condition,
            index=indexes.RUNS_BY_METRIC.index,
            forward=ascending,
            limit=limit,
            start_key=start_key,
        )
        yield from items


def chunks(entries: Iterator[Item], first: int | None) -> Iterator[list[Item]]:
    """Consecutive lists of entries, each one batch read of its runs: ``first`` (100 when
    None); then half as many (a search usually needs only a few more to close a group of
    ties, and they are mostly in the shards' first pages already), growing geometrically."""
    size = first or 100
    chunk: list[Item] = []
    following = max(4, size // 2)
    for entry in entries:
        chunk.append(entry)
        if len(chunk) >= size:
            yield chunk
            chunk = []
            size, following = following, min(following * 2, MAX_PAGE_LIMIT)
    if chunk:
        yield chunk
