"""query_trace_metrics from the rollup cells, when they answer it exactly
(docs/trace-analytics.md, "Rollups").

Answered from cells: the TRACES view's ``trace_count`` (COUNT) and ``latency`` / token
metrics with SUM and AVG, grouped by nothing, ``trace_name`` and/or ``trace_status``, per
time bucket of a whole number of hours (or none), filtered by nothing or by what a cell
carries (``trace.status``, the trace name tag). Everything else (PERCENTILE, MIN, MAX,
``session_count``, other filters and views, buckets finer than an hour) takes the exact
path over the stats items.

A range that does not start or end on an hour has *edges*: the parts of its first and last
hour inside the range. They are read from the trace listing (GSI3, the traces of the edge
only) and added to the cells' sums; integer sums make the result exactly what the
record-by-record path computes, in any order of addition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mlflow.entities.trace_metrics import (
    AggregationType,
    MetricAggregation,
    MetricDataPoint,
    MetricViewType,
)
from mlflow.tracing.constant import (
    TraceMetricDimensionKey,
    TraceMetricKey,
    TraceMetricSearchKey,
    TraceTagKey,
)
from mlflow.utils.search_utils import SearchTraceMetricsUtils

from mlflow_dynamodbstore.repositories.traces.rollups import (
    COUNT_ATTR,
    TraceRollupRepository,
    count_attr,
    sum_attr,
)
from mlflow_dynamodbstore.schema.trace_rollup_keys import ROLLUP_BUCKET_MS, parse_rollup_cell
from mlflow_dynamodbstore.search.trace_metrics.aggregate import (
    time_bucket,
)
from mlflow_dynamodbstore.search.trace_metrics.cells import (
    CountSum,
    count_sum_points,
    whole_hours,
)
from mlflow_dynamodbstore.search.trace_metrics.traces_view import Record, TraceRecords

_NS_PER_MS = 1_000_000
# metric -> the cell column it sums (None: trace_count, counted by ``n``).
_METRIC_COLUMN: dict[str, str | None] = {
    TraceMetricKey.TRACE_COUNT: None,
    TraceMetricKey.LATENCY: "execution_time_ms",
    **{k: k for k in TraceMetricKey.token_usage_keys()},
}
_AGGREGATIONS = {AggregationType.COUNT, AggregationType.SUM, AggregationType.AVG}
_DIMENSION_FIELD = {
    TraceMetricDimensionKey.TRACE_NAME: "trace_name",
    TraceMetricDimensionKey.TRACE_STATUS: "status",
}


@dataclass(frozen=True)
class RollupPlan:
    metric_name: str
    column: str | None
    aggregations: list[MetricAggregation]
    dimensions: list[str]
    # (field, value) pairs a trace must equal: status / trace_name filters.
    equals: tuple[tuple[str, str], ...]
    time_interval_seconds: int | None

    def keeps(self, record: dict[str, Any]) -> bool:
        return all(record.get(f) == v for f, v in self.equals)


def plan_rollup(
    view_type: MetricViewType,
    metric_name: str,
    aggregations: list[MetricAggregation],
    dimensions: list[str] | None,
    filters: list[str] | None,
    time_interval_seconds: int | None,
) -> RollupPlan | None:
    """The plan when the cells answer this query exactly, else None (the exact path)."""
    if view_type != MetricViewType.TRACES or metric_name not in _METRIC_COLUMN:
        return None
    if any(a.aggregation_type not in _AGGREGATIONS for a in aggregations):
        return None
    if any(d not in _DIMENSION_FIELD for d in dimensions or []):
        return None
    if time_interval_seconds and (int(time_interval_seconds) * 1000) % ROLLUP_BUCKET_MS:
        return None
    equals = []
    for filter_string in filters or []:
        f = SearchTraceMetricsUtils.parse_search_filter(filter_string)
        if f.view_type != TraceMetricSearchKey.VIEW_TYPE:
            return None
        if f.entity == TraceMetricSearchKey.STATUS:
            equals.append(("status", f.value))
        elif f.entity == TraceMetricSearchKey.TAG and f.key == TraceTagKey.TRACE_NAME:
            equals.append(("trace_name", f.value))
        else:
            return None
    return RollupPlan(
        metric_name=metric_name,
        column=_METRIC_COLUMN[metric_name],
        aggregations=list(aggregations),
        dimensions=list(dimensions or []),
        equals=tuple(equals),
        time_interval_seconds=int(time_interval_seconds) if time_interval_seconds else None,
    )


@dataclass
class _Groups:
    plan: RollupPlan
    groups: dict[tuple, CountSum] = field(default_factory=dict)

    def _key(self, timestamp_ms: int, fields: dict[str, Any]) -> tuple | None:
        dims = [fields.get(_DIMENSION_FIELD[d]) for d in self.plan.dimensions]
        if any(v is None for v in dims):
            return None  # SQL drops rows with a NULL grouping column
        if self.plan.time_interval_seconds:
            bucket = time_bucket(timestamp_ms * _NS_PER_MS, self.plan.time_interval_seconds)
            return (bucket, *dims)
        return tuple(dims)

    def add(self, timestamp_ms: int, fields: dict[str, Any], count: int, total: int) -> None:
        if count <= 0:
            return  # no row (a cell emptied by deletions makes no group)
        key = self._key(timestamp_ms, fields)
        if key is None:
            return
        partial = self.groups.setdefault(key, CountSum())
        partial.count += count
        partial.total += total

    def add_cell(self, hour_ms: int, fields: dict[str, Any], cell: dict[str, Any]) -> None:
        column = self.plan.column
        count = int(cell.get(COUNT_ATTR if column is None else count_attr(column), 0))
        total = 0 if column is None else int(cell.get(sum_attr(column), 0))
        self.add(hour_ms, fields, count, total)

    def add_record(self, record: Record) -> None:
        column = self.plan.column
        value = record.get("trace_id" if column is None else column)
        if value is not None:
            self.add(record["timestamp_ms"], record, 1, 0 if column is None else int(value))

    def points(self, max_results: int) -> list[MetricDataPoint]:
        plan = self.plan
        return count_sum_points(
            plan.metric_name,
            plan.time_interval_seconds,
            plan.dimensions,
            plan.aggregations,
            self.groups,
            max_results,
        )


class RollupQuery:
    def __init__(self, rollups: TraceRollupRepository, records: TraceRecords):
        self.rollups = rollups
        self.records = records

    def run(
        self,
        plan: RollupPlan,
        experiment_ids: Iterable[str],
        start_ms: int | None,
        end_ms: int | None,
        max_results: int,
    ) -> list[MetricDataPoint] | None:
        """The data points, or None when the range holds no whole hour (the exact path
        then reads less)."""
        spans = {}
        for experiment_id in experiment_ids:
            clipped = self.records.clipped(experiment_id, start_ms, end_ms)
            if clipped is None:
                continue  # no traces in the range
            span = whole_hours(*clipped, start_ms is None, end_ms is None)
            if span is None:
                return None
            spans[experiment_id] = span
        groups = _Groups(plan)
        for experiment_id, span in spans.items():
            for cell in self.rollups.cells(experiment_id, span.first_hour, span.end_hour - 1):
                hour, status, name = parse_rollup_cell(cell)
                fields = {"status": status, "trace_name": name}
                if plan.keeps(fields):
                    groups.add_cell(hour, fields, cell)
            for low, high in span.edges:
                for record in self.records.from_meta([experiment_id], low, high):
                    if plan.keeps(record):
                        groups.add_record(record)
        return groups.points(max_results)
