"""Rollup cells of the SPANS and ASSESSMENTS views: per (experiment, trace hour, shard) and
(span start hour, type, status, name) the count and latency sum of spans, per (type, name,
value) the count and value sum of valid assessments (docs/trace-analytics.md, "Rollups of
the SPANS and ASSESSMENTS views").

They are kept exactly as the TRACES cells are (``rollups.py``), by the same transaction:

- the trace's stats item carries ``vr``, a compact summary of its spans and assessments
  projected from META (span facts and the assessments map), and a ``vrollup`` marker (a
  digest of what it counted) when the summary is counted in the cells;
- every stats write is conditioned on the marker it replaces and moves the cells by the
  difference (ADD only), so retries and racing servers never count twice, and deleting a
  trace subtracts exactly what it added;
- a trace whose spans (or assessments) cannot be summed exactly counts 1 in its hour's
  "not summed" cell instead: spans stored before span facts carried times, more spans than
  META's facts keep, more than ``MAX_SPAN_GROUPS`` groups, assessment values that are not
  integers (a float SUM would not equal SQL's, bit for bit). A query reads such hours from
  the traces (the exact path), so answers never change, only their cost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Key

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.gateway.table_gateway import batch_parallelism, map_side_by_side
from mlflow_dynamodbstore.repositories.traces import span_facts
from mlflow_dynamodbstore.repositories.traces.cell_update import cell_update
from mlflow_dynamodbstore.repositories.traces.spans import SpanRow
from mlflow_dynamodbstore.repositories.traces.summary_marker import SummaryMarker
from mlflow_dynamodbstore.schema import analytics_keys, indexes, keys, view_rollup_keys
from mlflow_dynamodbstore.schema.trace_rollup_keys import (
    ROLLUP_BUCKET_MS,
    rollup_hour,
    rollup_shard,
)
from mlflow_dynamodbstore.schema.view_rollup_keys import ASSESSMENTS, SPANS

Item = dict[str, Any]

VIEWS = "vr"  # the stats item's summary (JSON text)
MARKER = "vrollup"  # digest of the counted summary: present iff the summary is counted
# Counters of a cell (short names: they count in every cell's size).
COUNT_ATTR = "n"
SUM_ATTR = "vs"  # span latency ms / assessment aggregate value, integers
SUM_COUNT_ATTR = "vc"  # how many of the counted rows have a (non-NULL) value
UNKNOWN_ATTR = "u"  # traces of the hour whose spans/assessments are not summed

# Groups of one trace beyond which it is "not summed": a stats write's transaction holds the
# stats item, 2 trace cells and at most 2 x (30 + 15) view cells (< 100 actions).
MAX_SPAN_GROUPS = 30
MAX_ASSESSMENT_GROUPS = 15
_MAX_EXACT_INT = 2**53  # a float holds integers up to here exactly (SQLite sums them exactly)


# ---- the summary projected from META ---------------------------------------------------
def _span_groups(meta: Item) -> list[list[Any]] | None:
    facts = meta.get(span_facts.FACTS)
    if span_facts.FACTS not in meta or meta.get(span_facts.OVERFLOW) or facts is None:
        return None
    trace_hour = rollup_hour(int(meta["timestamp_ms"]))
    groups: dict[tuple, list[int]] = {}
    for fact in facts.values():
        if len(fact) < 5:
            return None  # stored before facts carried start and latency
        name, span_type, status, start_ms, latency = fact[:5]
        # The start hour as hours after the trace's hour (mostly 0): a few bytes per group.
        offset = (rollup_hour(int(start_ms)) - trace_hour) // ROLLUP_BUCKET_MS
        key = (offset, span_type, status, name)
        group = groups.setdefault(key, [0, 0, 0])
        group[0] += 1
        if latency is not None:
            group[1] += int(latency)
            group[2] += 1
    if len(groups) > MAX_SPAN_GROUPS:
        return None
    return [[*k, *v] for k, v in sorted(groups.items(), key=lambda kv: json.dumps(kv[0]))]


def _assessment_groups(meta: Item) -> list[list[Any]] | None:
    groups: dict[tuple, list[int]] = {}
    for stored in (meta.get("assessments") or {}).values():
        if not stored.get("valid", True):
            continue  # overridden: SQL counts valid assessments only
        key = (stored.get("assessment_type"), stored.get("name"), stored.get("value"))
        group = groups.setdefault(key, [0, 0, 0])
        group[0] += 1
        value = stored.get("aggregate_value")
        if value is not None:
            number = float(value)
            if not number.is_integer() or abs(number) >= _MAX_EXACT_INT:
                return None
            group[1] += int(number)
            group[2] += 1
    if len(groups) > MAX_ASSESSMENT_GROUPS:
        return None
    return [[*k, *v] for k, v in sorted(groups.items(), key=lambda kv: json.dumps(kv[0]))]


def projection(meta: Item) -> Item:
    """The stats item's ``vr`` attribute for a META item."""
    summary = {"s": _span_groups(meta), "a": _assessment_groups(meta)}
    return {VIEWS: json.dumps(summary, separators=(",", ":"), ensure_ascii=False)}


# ---- what a stats item counts -----------------------------------------------------------
@dataclass(frozen=True)
class ViewContribution:
    experiment_id: str
    hour_ms: int
    shard: int
    spans: tuple[tuple[Any, ...], ...] | None  # None: not summed
    assessments: tuple[tuple[Any, ...], ...] | None
    ttl: int | None
    workspace: str | None

    def cells(self, sign: int) -> Iterator[tuple[dict[str, str], Item, dict[str, int]]]:
        """(key, carried label attributes, counters) of each cell this contribution moves."""
        for kind, groups, width in ((SPANS, self.spans, 4), (ASSESSMENTS, self.assessments, 3)):
            if groups is None:
                key, carried = view_rollup_keys.view_cell_key(
                    kind, self.experiment_id, self.hour_ms, self.shard, None
                )
                yield key, carried, {UNKNOWN_ATTR: sign}
                continue
            for group in groups:
                labels, (count, total, counted) = tuple(group[:width]), group[width:]
                key, carried = view_rollup_keys.view_cell_key(
                    kind, self.experiment_id, self.hour_ms, self.shard, labels
                )
                counters = {COUNT_ATTR: sign * count}
                if counted:
                    counters[SUM_ATTR] = sign * total
                    counters[SUM_COUNT_ATTR] = sign * counted
                yield key, carried, counters


def _tuples(groups: list[list[Any]] | None) -> tuple[tuple[Any, ...], ...] | None:
    return None if groups is None else tuple(tuple(g) for g in groups)


def _span_tuples(groups: list[list[Any]] | None, hour: int) -> tuple[tuple[Any, ...], ...] | None:
    """Span groups with their start hour made absolute (stored as hours after the trace's)."""
    if groups is None:
        return None
    return tuple((hour + int(g[0]) * ROLLUP_BUCKET_MS, *g[1:]) for g in groups)


def contribution(stats: Item) -> ViewContribution | None:
    """What a stats item adds to the view cells (None: it has no summary)."""
    text = stats.get(VIEWS)
    if text is None:
        return None
    summary = json.loads(text)
    timestamp = int(stats["timestamp_ms"])
    hour = rollup_hour(timestamp)
    ttl = stats.get("ttl")
    if ttl is not None:
        ttl = int(ttl) + (hour + ROLLUP_BUCKET_MS - timestamp) // 1000
    return ViewContribution(
        experiment_id=str(stats["experiment_id"]),
        hour_ms=hour,
        shard=rollup_shard(stats["trace_id"]),
        spans=_span_tuples(summary.get("s"), hour),
        assessments=_tuples(summary.get("a")),
        ttl=ttl,
        workspace=stats.get("workspace"),
    )


_MARKS = SummaryMarker(VIEWS, MARKER)
marker = _MARKS.digest
markers = _MARKS.markers
uncounted = _MARKS.uncounted
condition = _MARKS.condition


def counted(stored: Item | None) -> ViewContribution | None:
    """What a stored stats item has counted in the view cells."""
    if stored is None or MARKER not in stored:
        return None
    return contribution(stored)


def cell_count(stored: Item | None) -> int:
    """An upper bound of the cells deleting this stats item moves."""
    c = counted(stored)
    return 0 if c is None else sum(1 for _ in c.cells(-1))


def updates(
    gateway: TableGateway,
    changes: Iterable[tuple[ViewContribution | None, ViewContribution | None]],
) -> list[dict]:
    """The transaction actions moving the view cells by (counted before, counted after)
    pairs, merged per cell (a transaction touches an item once)."""
    cells: dict[tuple[str, str], tuple[dict[str, str], Item, dict[str, int]]] = {}
    for old, new in changes:
        for c, sign in ((old, -1), (new, +1)):
            if c is None:
                continue
            for key, carried, counters in c.cells(sign):
                _, fields, total = cells.setdefault(
                    (key["PK"], key["SK"]),
                    (key, {} if c.workspace is None else {"workspace": c.workspace}, {}),
                )
                fields.update(carried)
                if sign > 0 and c.ttl is not None:
                    fields["ttl"] = c.ttl
                for name, amount in counters.items():
                    total[name] = total.get(name, 0) + amount
    return [
        cell_update(gateway, key, fields, counters)
        for key, fields, counters in cells.values()
        if any(counters.values())
    ]


# ---- reads ------------------------------------------------------------------------------
def read_cells(
    gateway: TableGateway, kind: str, experiment_id: str, first_hour_ms: int, last_hour_ms: int
) -> Iterator[Item]:
    """The cells of one kind of the trace hours holding first..last (inclusive), every shard:
    one Query per (period, shard) per MB, side by side; eventually consistent, as the TRACES
    cells."""
    periods = range(
        analytics_keys.stats_period(first_hour_ms), analytics_keys.stats_period(last_hour_ms) + 1
    )
    reads = [
        (period, shard)
        for period in periods
        for shard in range(view_rollup_keys.VIEW_ROLLUP_SHARDS)
    ]
    lower = view_rollup_keys.view_sk_bound(kind, rollup_hour(first_hour_ms))
    upper = view_rollup_keys.view_sk_bound(kind, rollup_hour(last_hour_ms)) + "$"

    def read(args: tuple[int, int]) -> list[Item]:
        pk = view_rollup_keys.view_rollup_pk(experiment_id, *args)
        return list(gateway.query(Key("PK").eq(pk) & Key("SK").between(lower, upper)))

    for items in map_side_by_side(read, reads, batch_parallelism()):
        yield from items


def experiment_view_cell_keys(gateway: TableGateway, experiment_id: str) -> list[Item]:
    """The keys of an experiment's view cells (workspace moves and deletions): the periods
    between its oldest and newest trace (2 one-item Queries), every shard, both kinds."""
    listing = indexes.TRACES_BY_TIMESTAMP
    condition_ = listing.key_condition(keys.traces_gsi3pk(experiment_id))
    edges = []
    for forward in (True, False):
        items, _ = gateway.query_page(condition_, index=listing.index, limit=1, forward=forward)
        edges += [int(i["timestamp_ms"]) for i in items]
    if not edges:
        return []
    found = []
    for period in range(
        analytics_keys.stats_period(min(edges)), analytics_keys.stats_period(max(edges)) + 1
    ):
        for shard in range(view_rollup_keys.VIEW_ROLLUP_SHARDS):
            pk = view_rollup_keys.view_rollup_pk(experiment_id, period, shard)
            found += [{"PK": c["PK"], "SK": c["SK"]} for c in gateway.query(Key("PK").eq(pk))]
    return found


def timed_rows(meta: Item) -> list[SpanRow] | None:
    """Content-less span rows of a trace from META's span facts, with start and latency (the
    SPANS view's count and latency need nothing else), or None when the facts cannot say
    (none recorded, too many spans, facts written before they carried times): the spans
    must be read."""
    facts = meta.get(span_facts.FACTS)
    if facts is None or meta.get(span_facts.OVERFLOW):
        return None
    rows = []
    for span_id, fact in facts.items():
        if len(fact) < 5:
            return None
        name, span_type, status, start_ms, latency = fact[:5]
        start_ns = int(start_ms) * 1_000_000
        rows.append(
            SpanRow(
                trace_id=meta["trace_id"],
                span_id=span_id,
                parent_span_id=None,
                name=name,
                span_type=span_type,
                status=status,
                start_time_ns=start_ns,
                end_time_ns=None if latency is None else start_ns + int(latency) * 1_000_000,
                content="",
            )
        )
    return rows
