"""Span cost rollup cells: per (experiment, span start hour, shard, lag, model name, model
provider) the exact decimal sums and counts of the spans' input / output / total cost
(docs/trace-analytics.md, "Span cost per model from cells"). They answer the Overview
page's cost charts (``total_cost`` SUM by model / provider) without reading traces.

Kept exactly as the view cells (``view_rollups.py``), by the same transaction:

- the trace's stats item carries ``cr``, a compact summary of its costed spans grouped as the
  cells are (projected from META's cost facts, ``span_costs.py``), and a ``crollup`` marker
  (a digest of what it counted) when the summary is counted;
- every stats write is conditioned on the marker it replaces and moves the cells by the
  difference (ADD only: no read before a write, any number of servers), so retries and
  racing servers never count twice, and deleting a trace subtracts exactly what it added;
- costs are added as decimals (the float's shortest text), which DynamoDB's ADD sums exactly
  within 38 digits: every value is kept on a grid of 10^-24 below 10^6 (a value off the grid
  makes its trace "not summed"), so a cell's sum is the exact sum of its values;
- a trace whose costs are unknown (spans stored before cost facts, too many costed spans,
  values off the grid, too many groups for one transaction) counts 1 in its trace hour's
  "not summed" cell; a query meeting one takes the exact path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

from boto3.dynamodb.conditions import Key

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.gateway.table_gateway import batch_parallelism, map_side_by_side
from mlflow_dynamodbstore.repositories.traces import span_costs
from mlflow_dynamodbstore.repositories.traces.cell_update import cell_update
from mlflow_dynamodbstore.repositories.traces.summary_marker import SummaryMarker
from mlflow_dynamodbstore.schema import analytics_keys, cost_rollup_keys, indexes, keys
from mlflow_dynamodbstore.schema.trace_rollup_keys import (
    ROLLUP_BUCKET_MS,
    rollup_hour,
    rollup_shard,
)

Item = dict[str, Any]

SUMMARY = "cr"  # the stats item's cost summary (JSON text)
MARKER = "crollup"  # digest of the counted summary: present iff the summary is counted
UNKNOWN_ATTR = "u"  # traces of the (trace) hour whose costs are not summed
COLUMNS = span_costs.COST_KEYS


def sum_attr(column: str) -> str:
    return f"s{COLUMNS.index(column)}"


def count_attr(column: str) -> str:
    return f"c{COLUMNS.index(column)}"


# The grid every summed value lies on: ADD keeps 38 significant digits, so sums of values
# that are multiples of 10^-24 below 10^6 stay exact up to 10^14 (10^8 spans of one cell).
_MIN_EXPONENT = -24
_MAX_VALUE = Decimal(10) ** 6
# A stats write's transaction holds the stats item, 2 TRACES cells, up to 4 session items and
# the view and cost cells of the old and the new summary: each summary may move at most this
# many view + cost cells (1 + 2 + 4 + 2 x 46 = 99 <= 100 actions).
MAX_CELLS_PER_SUMMARY = 46


# Decimal arithmetic here must not round (Python's default context keeps 28 digits).
_EXACT = Context(prec=60)


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return _EXACT.add(Decimal(a), Decimal(b))
    return a + b


def _on_grid(value: Decimal) -> bool:
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= _MIN_EXPONENT and abs(value) < _MAX_VALUE


# ---- the summary projected from META ---------------------------------------------------
def _groups(meta: Item, budget: int) -> list[list[Any]] | None:
    facts = span_costs.known_facts(meta)
    if facts is None:
        return None
    trace_hour = rollup_hour(int(meta["timestamp_ms"]))
    groups: dict[tuple, list[Any]] = {}
    for fact in facts.values():
        start_ms, model, provider, *values = fact
        lag = (rollup_hour(int(start_ms)) - trace_hour) // ROLLUP_BUCKET_MS
        group = groups.setdefault((lag, model, provider), [Decimal(0), 0] * len(COLUMNS))
        for i, value in enumerate(values):
            if value is None:
                continue
            number = Decimal(str(value))
            if not _on_grid(number):
                return None
            group[2 * i] = _add(group[2 * i], number)
            group[2 * i + 1] += 1
    if len(groups) > budget:
        return None
    return [
        [*k, *(str(v) if i % 2 == 0 else v for i, v in enumerate(sums))]
        for k, sums in sorted(groups.items(), key=lambda kv: json.dumps(kv[0]))
    ]


def _view_cells(views: Item) -> int:
    """How many view cells a view summary (view_rollups.projection) moves."""
    text = views.get("vr")
    if text is None:
        return 0
    summary = json.loads(text)
    return sum(len(summary.get(k) or [None]) for k in ("s", "a"))


def projection(meta: Item, views: Item) -> Item:
    """The stats item's ``cr`` attribute for a META item (``views``: its view summary, whose
    cells the same transaction moves)."""
    groups = _groups(meta, max(1, MAX_CELLS_PER_SUMMARY - _view_cells(views)))
    return {SUMMARY: json.dumps(groups, separators=(",", ":"), ensure_ascii=False)}


# ---- what a stats item counts -----------------------------------------------------------
@dataclass(frozen=True)
class CostContribution:
    experiment_id: str
    trace_hour_ms: int
    shard: int
    groups: tuple[tuple[Any, ...], ...] | None  # None: not summed
    ttl: int | None  # of the trace hour's cells (a later span hour lives longer)
    workspace: str | None

    def cells(self, sign: int) -> Iterator[tuple[dict[str, str], Item, dict[str, Any], int]]:
        """(key, carried attributes, counters, cell hour) of each cell this contribution
        moves."""
        if self.groups is None:
            key, carried = cost_rollup_keys.cost_cell_key(
                self.experiment_id, self.trace_hour_ms, self.shard, None
            )
            yield key, carried, {UNKNOWN_ATTR: sign}, self.trace_hour_ms
            return
        for lag, model, provider, *sums in self.groups:
            hour = self.trace_hour_ms + int(lag) * ROLLUP_BUCKET_MS
            key, carried = cost_rollup_keys.cost_cell_key(
                self.experiment_id, hour, self.shard, (int(lag), model, provider)
            )
            counters: dict[str, Any] = {}
            for i, column in enumerate(COLUMNS):
                total, counted = Decimal(sums[2 * i]), int(sums[2 * i + 1])
                if counted:
                    counters[sum_attr(column)] = total if sign > 0 else _EXACT.minus(total)
                    counters[count_attr(column)] = sign * counted
            yield key, carried, counters, hour


def contribution(stats: Item) -> CostContribution | None:
    """What a stats item adds to the cost cells (None: it has no cost summary)."""
    text = stats.get(SUMMARY)
    if text is None:
        return None
    groups = json.loads(text)
    timestamp = int(stats["timestamp_ms"])
    hour = rollup_hour(timestamp)
    ttl = stats.get("ttl")
    if ttl is not None:
        ttl = int(ttl) + (hour + ROLLUP_BUCKET_MS - timestamp) // 1000
    return CostContribution(
        experiment_id=str(stats["experiment_id"]),
        trace_hour_ms=hour,
        shard=rollup_shard(stats["trace_id"]),
        groups=None if groups is None else tuple(tuple(g) for g in groups),
        ttl=ttl,
        workspace=stats.get("workspace"),
    )


_MARKS = SummaryMarker(SUMMARY, MARKER)
marker = _MARKS.digest
markers = _MARKS.markers
uncounted = _MARKS.uncounted
condition = _MARKS.condition


def counted(stored: Item | None) -> CostContribution | None:
    """What a stored stats item has counted in the cost cells."""
    if stored is None or MARKER not in stored:
        return None
    return contribution(stored)


def cell_count(stored: Item | None) -> int:
    """The cells deleting this stats item moves."""
    c = counted(stored)
    return 0 if c is None else sum(1 for _ in c.cells(-1))


def updates(
    gateway: TableGateway,
    changes: Iterable[tuple[CostContribution | None, CostContribution | None]],
) -> list[dict]:
    """The transaction actions moving the cost cells by (counted before, counted after)
    pairs, merged per cell (a transaction touches an item once)."""
    cells: dict[tuple[str, str], tuple[dict[str, str], Item, dict[str, Any]]] = {}
    for old, new in changes:
        for c, sign in ((old, -1), (new, +1)):
            if c is None:
                continue
            for key, carried, counters, hour in c.cells(sign):
                _, fields, total = cells.setdefault(
                    (key["PK"], key["SK"]),
                    (key, {} if c.workspace is None else {"workspace": c.workspace}, {}),
                )
                fields.update(carried)
                if sign > 0 and c.ttl is not None:
                    fields["ttl"] = c.ttl + (hour - c.trace_hour_ms) // 1000
                for name, amount in counters.items():
                    total[name] = _add(total.get(name, 0), amount)
    return [
        cell_update(gateway, key, fields, counters)
        for key, fields, counters in cells.values()
        if any(counters.values())
    ]


# ---- reads ------------------------------------------------------------------------------
def read_cells(
    gateway: TableGateway, experiment_id: str, first_hour_ms: int, last_hour_ms: int
) -> Iterator[Item]:
    """The cells of the hours first..last (inclusive), every shard: one Query per (period,
    shard) per MB, side by side; eventually consistent, as the other rollup cells."""
    periods = range(
        analytics_keys.stats_period(first_hour_ms), analytics_keys.stats_period(last_hour_ms) + 1
    )
    reads = [
        (period, shard)
        for period in periods
        for shard in range(cost_rollup_keys.COST_ROLLUP_SHARDS)
    ]
    lower = cost_rollup_keys.cost_sk_bound(first_hour_ms)
    upper = cost_rollup_keys.cost_sk_bound(last_hour_ms) + "$"

    def read(args: tuple[int, int]) -> list[Item]:
        pk = cost_rollup_keys.cost_rollup_pk(experiment_id, *args)
        return list(gateway.query(Key("PK").eq(pk) & Key("SK").between(lower, upper)))

    for items in map_side_by_side(read, reads, batch_parallelism()):
        yield from items


def experiment_cost_cell_keys(gateway: TableGateway, experiment_id: str) -> list[Item]:
    """The keys of an experiment's cost cells (workspace moves and deletions): the periods
    between its oldest and newest trace (2 one-item Queries) and one period either side (a
    span may start outside its trace's period), every shard."""
    listing = indexes.TRACES_BY_TIMESTAMP
    condition_ = listing.key_condition(keys.traces_gsi3pk(experiment_id))
    edges = []
    for forward in (True, False):
        items, _ = gateway.query_page(condition_, index=listing.index, limit=1, forward=forward)
        edges += [int(i["timestamp_ms"]) for i in items]
    if not edges:
        return []
    found = []
    first = max(analytics_keys.stats_period(min(edges)) - 1, 0)
    last = analytics_keys.stats_period(max(edges)) + 1
    for period in range(first, last + 1):
        for shard in range(cost_rollup_keys.COST_ROLLUP_SHARDS):
            pk = cost_rollup_keys.cost_rollup_pk(experiment_id, period, shard)
            found += [{"PK": c["PK"], "SK": c["SK"]} for c in gateway.query(Key("PK").eq(pk))]
    return found
