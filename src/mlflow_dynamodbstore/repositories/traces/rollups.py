"""Trace rollup cells: per (experiment, hour, status, trace name, shard) counts and integer
sums of the TRACES view's columns, kept exactly equal to the sum of the stats items'
contributions (docs/trace-analytics.md, "Rollups").

Invariant: a cell holds the sum of the contributions of the stats items that carry a
``rollup`` marker (the JSON of their contribution). Every change of a stats item is one
TransactWriteItems of the stats write (conditioned on the marker it replaces) and ADD
updates of the cells by the difference, so

- a retried ``log_spans`` / ``end_trace``, or two servers writing one trace, never count a
  trace twice: the second transaction's condition fails, it re-reads the stats item and
  applies the difference from what is really counted (often nothing);
- there is no read-modify-write of a cell: ADD only, from any number of servers;
- deleting a trace subtracts exactly what it added (the same transaction deletes its
  stats item, conditioned on the marker).

Stats items written before rollups existed have no marker: they count nowhere until their
trace's next write or ``traces backfill-stats`` counts them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase, Key

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.gateway.errors import Contention, TransactionCancelled
from mlflow_dynamodbstore.gateway.limits import TRANSACTION_LIMIT
from mlflow_dynamodbstore.gateway.table_gateway import batch_parallelism, map_side_by_side
from mlflow_dynamodbstore.repositories.traces import (
    cost_rollups,
    sessions,
    value_sketch,
    view_rollups,
)
from mlflow_dynamodbstore.repositories.traces.cell_update import cell_update
from mlflow_dynamodbstore.repositories.traces.codec import TOKEN_COLUMN_BY_KEY, decode_analytics
from mlflow_dynamodbstore.schema import analytics_keys, indexes, keys, trace_rollup_keys

Item = dict[str, Any]

# The integer columns a cell sums (SQL's trace_info.execution_time_ms and the token columns).
ROLLUP_COLUMNS = ("execution_time_ms", *TOKEN_COLUMN_BY_KEY.values())
MARKER = "rollup"
COUNT_ATTR = "n"
# The last element of a marker whose contribution includes the value sketch's buckets
# (value_sketch.py); markers written before sketches end with the values.
SKETCH_MARK = 1
_ATTEMPTS = 8


# Short attribute names: they count in every cell's size (and read units).
def sum_attr(column: str) -> str:
    return f"s{ROLLUP_COLUMNS.index(column)}"


def count_attr(column: str) -> str:
    """How many traces of the cell have a (non-NULL) value in ``column``."""
    return f"c{ROLLUP_COLUMNS.index(column)}"


@dataclass(frozen=True)
class Contribution:
    """What one stats item adds to its cell."""

    experiment_id: str
    hour_ms: int
    shard: int
    status: str | None
    name: str | None
    values: tuple[int | None, ...]
    ttl: int | None
    workspace: str | None
    # False for what a stats item counted before sketches existed (its marker says so):
    # subtracting it must not take buckets it never added.
    sketched: bool = True

    @property
    def cell_key(self) -> dict[str, str]:
        return trace_rollup_keys.rollup_cell_key(
            self.experiment_id, self.hour_ms, self.shard, self.status, self.name
        )

    @property
    def marker(self) -> str:
        return json.dumps(
            [
                self.experiment_id,
                self.hour_ms,
                self.status,
                self.name,
                list(self.values),
                *([SKETCH_MARK] if self.sketched else []),
            ],
            separators=(",", ":"),
        )

    def counters(self, sign: int) -> dict[str, int]:
        counters = {COUNT_ATTR: sign}
        for column, value in zip(ROLLUP_COLUMNS, self.values, strict=True):
            if value is not None:
                counters[sum_attr(column)] = sign * value
                counters[count_attr(column)] = sign
        if self.sketched:
            counters.update(value_sketch.counters(self.values, sign))
        return counters


def marker_is_sketched(marker: str | None) -> bool:
    return marker is not None and marker.endswith(f",{SKETCH_MARK}]")


def contribution(stats: Item) -> Contribution:
    """The contribution of a stats item (or of the META item it projects)."""
    analytics = decode_analytics(stats.get("analytics"))
    execution = stats.get("execution_time_ms")
    values = (
        None if execution is None else int(execution),
        *(analytics.get(c) for c in ROLLUP_COLUMNS[1:]),
    )
    timestamp = int(stats["timestamp_ms"])
    hour = trace_rollup_keys.rollup_hour(timestamp)
    ttl = stats.get("ttl")
    if ttl is not None:
        # The cell lives as long as the last trace of its hour (same retention per experiment).
        ttl = int(ttl) + (hour + trace_rollup_keys.ROLLUP_BUCKET_MS - timestamp) // 1000
    return Contribution(
        experiment_id=str(stats["experiment_id"]),
        hour_ms=hour,
        shard=trace_rollup_keys.rollup_shard(stats["trace_id"]),
        status=stats.get("status"),
        name=stats.get("trace_name"),
        values=values,
        ttl=ttl,
        workspace=stats.get("workspace"),
    )


@dataclass
class CellDelta:
    key: dict[str, str]
    fields: Item
    counters: dict[str, int] = field(default_factory=dict)

    def add(self, counters: dict[str, int]) -> None:
        for name, value in counters.items():
            self.counters[name] = self.counters.get(name, 0) + value

    @property
    def empty(self) -> bool:
        return not any(self.counters.values())


def _cell_fields(c: Contribution) -> Item:
    # Experiment, hour, shard, status and name are in the cell's keys (a long name only as
    # its digest, so the cell carries it).
    fields: Item = {} if c.workspace is None else {"workspace": c.workspace}
    if trace_rollup_keys.name_is_digested(c.name):
        fields[trace_rollup_keys.DIGESTED_NAME_ATTR] = c.name
    return fields


def cell_deltas(
    changes: Iterable[tuple[Contribution | None, Contribution | None]],
) -> list[CellDelta]:
    """The cell updates of (counted before, counted after) pairs, merged per cell (one
    transaction may touch an item once)."""
    cells: dict[tuple[str, str], CellDelta] = {}

    def cell(c: Contribution) -> CellDelta:
        key = c.cell_key
        found = cells.get((key["PK"], key["SK"]))
        if found is None:
            found = cells[(key["PK"], key["SK"])] = CellDelta(key, _cell_fields(c))
        return found

    for old, new in changes:
        if old is not None:
            cell(old).add(old.counters(-1))
        if new is not None:
            delta = cell(new)
            delta.add(new.counters(+1))
            if new.ttl is not None:
                delta.fields["ttl"] = new.ttl
    return [d for d in cells.values() if not d.empty]


@dataclass(frozen=True)
class TraceHead:
    """What a trace deletion removes in its transaction: META (key; whether it was there
    and the version read) and the stats item as read (None if there was none)."""

    meta_key: dict[str, str]
    meta_exists: bool
    meta_version: int | None
    stats: Item | None

    def meta_condition(self) -> ConditionBase | None:
        """META as read: still there at that version, or still absent."""
        if not self.meta_exists:
            return Attr("PK").not_exists()
        if not self.meta_version:
            return Attr("version").not_exists() | Attr("version").eq(0)
        return Attr("version").eq(self.meta_version)


@dataclass(frozen=True)
class _Counted:
    """What the stored stats item is, as far as the rollups go."""

    exists: bool
    marker: str | None = None  # None with exists: a stats item written before rollups
    version: int | None = None
    item: Item | None = None

    @classmethod
    def of(cls, stored: Item | None) -> _Counted:
        if stored is None:
            return cls(False)
        return cls(True, stored.get(MARKER), int(stored.get("version", 0)), stored)

    def condition(self, new_version: int) -> ConditionBase:
        if not self.exists:
            return Attr("PK").not_exists()
        if self.marker is None:
            return Attr(MARKER).not_exists() & Attr("version").lte(new_version)
        if not marker_is_sketched(self.marker):  # counted before sketches: may be recounted
            return Attr(MARKER).eq(self.marker) & Attr("version").lte(new_version)
        return Attr(MARKER).eq(self.marker) & Attr("version").lt(new_version)

    def counted(self) -> Contribution | None:
        if self.marker is None or self.item is None:
            return None
        counted = contribution(self.item)
        if marker_is_sketched(self.marker):
            return counted
        return replace(counted, sketched=False)


class TraceRollupRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway
        # Session members and heads move in the same transaction (sessions.py).
        self.sessions = sessions.SessionRepository(gateway)

    # ---- writes ------------------------------------------------------------------------
    def write_stats(self, stats: Item, stored: Item | None, *, known: bool) -> bool:
        """Write the stats item ``stats`` (a full item, with ``version``) and move the cells
        by the difference from the stats item stored. ``stored`` is what the caller believes
        is stored (``known``: a belief worth trying before reading). False when a newer
        version is already there."""
        new = contribution(stats)
        item = {
            **stats,
            MARKER: new.marker,
            **view_rollups.markers(stats),
            **cost_rollups.markers(stats),
        }
        version = int(stats["version"])
        current = _Counted.of(stored) if known else None
        for _ in range(_ATTEMPTS):
            if current is None:
                current = _Counted.of(
                    self.gateway.get_item(analytics_keys.trace_stats_key(stats["trace_id"]))
                )
            # This projection is there, counted before the view cells existed: count its
            # summary now (``traces backfill-stats``), the TRACES cells move by nothing.
            uncounted_views = (
                current.exists
                and current.marker is not None
                and current.version == version
                and (
                    view_rollups.uncounted(current.item, item)
                    or cost_rollups.uncounted(current.item, item)
                )
            )
            if not uncounted_views and (
                current.exists
                and (
                    current.version is None
                    or current.version > version
                    or (marker_is_sketched(current.marker) and current.version == version)
                )
            ):
                return False  # a newer (or this) projection is there already
            condition = (
                Attr(MARKER).eq(current.marker) & Attr("version").eq(version)
                if uncounted_views
                else current.condition(version)
            )
            if (views := view_rollups.condition(current.item)) is not None:
                condition = condition & views
            if (costs := cost_rollups.condition(current.item)) is not None:
                condition = condition & costs
            actions = [self.gateway.tx_put(item, condition=condition)]
            actions += [
                cell_update(self.gateway, d.key, d.fields, d.counters)
                for d in cell_deltas([(current.counted(), new)])
            ]
            # The SPANS / ASSESSMENTS view cells, by the difference of the summaries.
            actions += view_rollups.updates(
                self.gateway,
                [(view_rollups.counted(current.item), view_rollups.contribution(item))],
            )
            # The span cost cells (cost_rollups.py), likewise.
            actions += cost_rollups.updates(
                self.gateway,
                [(cost_rollups.counted(current.item), cost_rollups.contribution(item))],
            )
            session_actions, touched = sessions.transaction_actions(
                self.gateway, [(sessions.membership(current.item), sessions.membership(item))]
            )
            actions += session_actions
            try:
                self.gateway.transact_write(actions)
                self.sessions.settle(touched)
                return True
            except TransactionCancelled as exc:
                if 0 not in exc.failed_conditions():
                    raise
                current = None  # someone else wrote it: read what is counted, try again
        raise Contention(f"trace stats {stats['trace_id']}", _ATTEMPTS)

    def delete_traces(
        self,
        heads: list[TraceHead],
        refresh: Callable[[TraceHead], TraceHead | None] | None = None,
    ) -> None:
        """Delete each trace's META and stats item, subtracting what the stats item
        counted, a transaction per group of traces (cells merged, at most 100 actions).
        META is deleted only at the version read; when a condition fails, each trace of the
        group goes alone: ``refresh`` (if given) makes the head current again (and may
        finish other work first), else only the stats item is re-read. The stats item's
        condition (its version and marker) means a retried or raced deletion never
        subtracts twice: once it is gone, nothing is subtracted again."""
        group: list[TraceHead] = []
        size = 0
        for head in heads:
            # META, stats item, its TRACES cell and its SPANS / ASSESSMENTS view cells.
            # (and its span cost cells and session items).
            weight = (
                3
                + view_rollups.cell_count(head.stats)
                + cost_rollups.cell_count(head.stats)
                + sessions.action_count(head.stats, None)
            )
            if group and size + weight > TRANSACTION_LIMIT:
                self._delete_group(group, refresh)
                group, size = [], 0
            group.append(head)
            size += weight
        if group:
            self._delete_group(group, refresh)

    def _delete_group(self, group: list[TraceHead], refresh) -> None:
        try:
            self.gateway.transact_write(self._delete_actions(group))
            self.sessions.settle(_sessions_of(group))
        except TransactionCancelled as exc:
            if not exc.is_condition_failure:
                raise
            # A trace of the group was rewritten meanwhile: one by one, re-reading each.
            for head in group:
                self._delete_one(head, refresh)

    def _delete_one(self, head: TraceHead, refresh) -> None:
        current: TraceHead | None = head
        for _ in range(_ATTEMPTS):
            if current is None:
                return  # nothing left of the trace (its deletion landed, answer lost)
            try:
                self.gateway.transact_write(self._delete_actions([current]))
                self.sessions.settle(_sessions_of([current]))
                return
            except TransactionCancelled as exc:
                if not exc.is_condition_failure:
                    raise
                if refresh is not None:
                    current = refresh(current)
                else:
                    trace_key = {"PK": current.meta_key["PK"], "SK": analytics_keys.TRACE_STATS_SK}
                    current = replace(current, stats=self.gateway.get_item(trace_key))
        raise Contention(f"trace {head.meta_key['PK']}", _ATTEMPTS)

    def _delete_actions(self, group: list[TraceHead]) -> list[dict]:
        actions, changes, view_changes, cost_changes = [], [], [], []
        for head in group:
            actions.append(self.gateway.tx_delete(head.meta_key, head.meta_condition()))
            stats_key = {"PK": head.meta_key["PK"], "SK": analytics_keys.TRACE_STATS_SK}
            counted = _Counted.of(head.stats)
            if not counted.exists:
                actions.append(self.gateway.tx_delete(stats_key, Attr("PK").not_exists()))
                continue
            condition = Attr("version").eq(counted.version) & (
                Attr(MARKER).not_exists()
                if counted.marker is None
                else Attr(MARKER).eq(counted.marker)
            )
            if (views := view_rollups.condition(head.stats)) is not None:
                condition = condition & views
            if (costs := cost_rollups.condition(head.stats)) is not None:
                condition = condition & costs
            actions.append(self.gateway.tx_delete(stats_key, condition))
            changes.append((counted.counted(), None))
            view_changes.append((view_rollups.counted(head.stats), None))
            cost_changes.append((cost_rollups.counted(head.stats), None))
        actions += [
            cell_update(self.gateway, d.key, d.fields, d.counters) for d in cell_deltas(changes)
        ]
        actions += view_rollups.updates(self.gateway, view_changes)
        actions += cost_rollups.updates(self.gateway, cost_changes)
        session_actions, _ = sessions.transaction_actions(
            self.gateway,
            [(sessions.membership(head.stats), None) for head in group if head.stats is not None],
        )
        return actions + session_actions

    # ---- reads -------------------------------------------------------------------------
    def cells(self, experiment_id: str, first_hour_ms: int, last_hour_ms: int) -> Iterator[Item]:
        """The cells of the hours holding first..last (inclusive), every shard: one Query per
        (period, shard) per MB, sent side by side. Eventually consistent (half the read
        units; a chart may miss a write of the last second, as the stats listing does)."""
        reads = [
            (period, shard)
            for period in range(
                analytics_keys.stats_period(first_hour_ms),
                analytics_keys.stats_period(last_hour_ms) + 1,
            )
            for shard in range(trace_rollup_keys.ROLLUP_SHARDS)
        ]
        first_hour_ms = trace_rollup_keys.rollup_hour(first_hour_ms)
        last_hour_ms = trace_rollup_keys.rollup_hour(last_hour_ms)
        lower = trace_rollup_keys.rollup_sk_bound(first_hour_ms)
        upper = trace_rollup_keys.rollup_sk_bound(last_hour_ms) + "$"

        def read(args: tuple[int, int]) -> list[Item]:
            pk = trace_rollup_keys.rollup_pk(experiment_id, *args)
            condition = Key("PK").eq(pk) & Key("SK").between(lower, upper)
            return list(self.gateway.query(condition))

        for items in map_side_by_side(read, reads, batch_parallelism()):
            yield from items


def _sessions_of(group: list[TraceHead]) -> set[tuple[str, str]]:
    found = (sessions.membership(head.stats) for head in group)
    return {m.session for m in found if m is not None}


def experiment_cell_keys(gateway: TableGateway, experiment_id: str) -> list[Item]:
    """The keys of an experiment's cells (for a workspace move): the periods between its
    oldest and newest trace (2 one-item Queries of the trace listing), then the cells of
    those periods, every shard. Cells only exist where its traces were counted."""
    listing = indexes.TRACES_BY_TIMESTAMP
    condition = listing.key_condition(keys.traces_gsi3pk(experiment_id))
    edges = []
    for forward in (True, False):
        items, _ = gateway.query_page(condition, index=listing.index, limit=1, forward=forward)
        edges += [int(i["timestamp_ms"]) for i in items]
    if not edges:
        return []
    cells = TraceRollupRepository(gateway).cells(experiment_id, min(edges), max(edges))
    return [{"PK": c["PK"], "SK": c["SK"]} for c in cells]
