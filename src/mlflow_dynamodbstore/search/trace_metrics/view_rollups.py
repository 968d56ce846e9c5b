"""query_trace_metrics of the SPANS and ASSESSMENTS views from their rollup cells, when they
answer it exactly (docs/trace-analytics.md, "Rollups of the SPANS and ASSESSMENTS views").

Answered from cells: ``span_count`` and span ``latency``, grouped by nothing or span name /
type / status, filtered by nothing or ``span.name|type|status``; ``assessment_count`` and
``assessment_value``, grouped by nothing or assessment name / value, filtered by nothing or
``assessment.name|type``; COUNT, SUM and AVG; no time bucket or a whole number of hours.
Everything else (span cost, model dimensions, trace filters, MIN/MAX/PERCENTILE, finer
buckets) takes the exact path.

Hours are taken from the traces (the exact path's rows) where the cells cannot answer them:
the range's partial first and last hour (edges) and hours holding a trace whose spans or
assessments are "not summed" (view_rollups.py in repositories). Sums are integers, so the
result is what the record-by-record path computes, bit for bit; a non-integer assessment
value met in such an hour sends the whole query to the exact path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mlflow.entities.trace_metrics import (
    AggregationType,
    MetricAggregation,
    MetricDataPoint,
    MetricViewType,
)
from mlflow.tracing.constant import (
    AssessmentMetricDimensionKey,
    AssessmentMetricKey,
    AssessmentMetricSearchKey,
    SpanMetricDimensionKey,
    SpanMetricKey,
    SpanMetricSearchKey,
)
from mlflow.utils.search_utils import SearchTraceMetricsUtils

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.traces import view_rollups as cells_repo
from mlflow_dynamodbstore.schema.trace_rollup_keys import ROLLUP_BUCKET_MS
from mlflow_dynamodbstore.schema.view_rollup_keys import ASSESSMENTS, SPANS, parse_view_cell
from mlflow_dynamodbstore.search.trace_metrics.aggregate import (
    MetricRow,
    time_bucket,
)
from mlflow_dynamodbstore.search.trace_metrics.cells import (
    CountSum,
    count_sum_points,
    whole_hours,
)
from mlflow_dynamodbstore.search.trace_metrics.traces_view import TraceRecords

_NS_PER_MS = 1_000_000
_AGGREGATIONS = {AggregationType.COUNT, AggregationType.SUM, AggregationType.AVG}
# metric -> whether it sums the cell's value (else it counts rows).
_METRICS = {
    MetricViewType.SPANS: {SpanMetricKey.SPAN_COUNT: False, SpanMetricKey.LATENCY: True},
    MetricViewType.ASSESSMENTS: {
        AssessmentMetricKey.ASSESSMENT_COUNT: False,
        AssessmentMetricKey.ASSESSMENT_VALUE: True,
    },
}
# dimension -> its position in the cell's labels: spans (start hour, type, status, name),
# assessments (type, name, value).
_DIMENSIONS = {
    MetricViewType.SPANS: {
        SpanMetricDimensionKey.SPAN_TYPE: 1,
        SpanMetricDimensionKey.SPAN_STATUS: 2,
        SpanMetricDimensionKey.SPAN_NAME: 3,
    },
    MetricViewType.ASSESSMENTS: {
        AssessmentMetricDimensionKey.ASSESSMENT_NAME: 1,
        AssessmentMetricDimensionKey.ASSESSMENT_VALUE: 2,
    },
}
_FILTERS = {
    MetricViewType.SPANS: (
        SpanMetricSearchKey.VIEW_TYPE,
        {SpanMetricSearchKey.TYPE: 1, SpanMetricSearchKey.STATUS: 2, SpanMetricSearchKey.NAME: 3},
    ),
    MetricViewType.ASSESSMENTS: (
        AssessmentMetricSearchKey.VIEW_TYPE,
        {AssessmentMetricSearchKey.TYPE: 0, AssessmentMetricSearchKey.NAME: 1},
    ),
}
_KIND = {MetricViewType.SPANS: SPANS, MetricViewType.ASSESSMENTS: ASSESSMENTS}


@dataclass(frozen=True)
class ViewRollupPlan:
    view_type: MetricViewType
    metric_name: str
    sums: bool
    aggregations: list[MetricAggregation]
    dimensions: list[str]
    # (label position, value) pairs a cell must equal.
    equals: tuple[tuple[int, str], ...]
    time_interval_seconds: int | None

    @property
    def kind(self) -> str:
        return _KIND[self.view_type]

    def keeps(self, labels: tuple[Any, ...]) -> bool:
        return all(labels[i] == v for i, v in self.equals)


def plan_view_rollup(
    view_type: MetricViewType,
    metric_name: str,
    aggregations: list[MetricAggregation],
    dimensions: list[str] | None,
    filters: list[str] | None,
    time_interval_seconds: int | None,
) -> ViewRollupPlan | None:
    """The plan when the view cells answer this query exactly, else None (the exact path)."""
    metrics = _METRICS.get(view_type)
    if metrics is None or metric_name not in metrics or not aggregations:
        return None
    if any(a.aggregation_type not in _AGGREGATIONS for a in aggregations):
        return None
    if any(d not in _DIMENSIONS[view_type] for d in dimensions or []):
        return None
    if time_interval_seconds and (int(time_interval_seconds) * 1000) % ROLLUP_BUCKET_MS:
        return None
    search_view, positions = _FILTERS[view_type]
    equals = []
    for filter_string in filters or []:
        f = SearchTraceMetricsUtils.parse_search_filter(filter_string)
        if f.view_type != search_view or f.entity not in positions:
            return None  # trace filters: the exact path
        equals.append((positions[f.entity], f.value))
    return ViewRollupPlan(
        view_type=view_type,
        metric_name=metric_name,
        sums=metrics[metric_name],
        aggregations=list(aggregations),
        dimensions=list(dimensions or []),
        equals=tuple(equals),
        time_interval_seconds=int(time_interval_seconds) if time_interval_seconds else None,
    )


class _NotExact(Exception):
    """A row the integer sums cannot take exactly (a non-integer assessment value)."""


@dataclass
class _Groups:
    plan: ViewRollupPlan
    groups: dict[tuple, CountSum] = field(default_factory=dict)

    def add(self, bucket_ms: int, dims: list[Any], count: int, total: int) -> None:
        if count <= 0 or any(v is None for v in dims):
            return  # no row / SQL drops rows with a NULL grouping column
        key = tuple(dims)
        if self.plan.time_interval_seconds:
            key = (time_bucket(bucket_ms * _NS_PER_MS, self.plan.time_interval_seconds), *key)
        partial = self.groups.setdefault(key, CountSum())
        partial.count += count
        partial.total += total

    def add_cell(self, trace_hour_ms: int, labels: tuple[Any, ...], cell: dict) -> None:
        positions = _DIMENSIONS[self.plan.view_type]
        dims = [labels[positions[d]] for d in self.plan.dimensions]
        # Spans are bucketed by their start (in the labels), assessments by the trace.
        bucket = labels[0] if self.plan.view_type == MetricViewType.SPANS else trace_hour_ms
        if self.plan.sums:
            count = int(cell.get(cells_repo.SUM_COUNT_ATTR, 0))
            total = int(cell.get(cells_repo.SUM_ATTR, 0))
        else:
            count, total = int(cell.get(cells_repo.COUNT_ATTR, 0)), 0
        self.add(bucket, dims, count, total)

    def add_row(self, row: MetricRow) -> None:
        if row.value is None:
            return
        total = 0
        if self.plan.sums:
            number = float(row.value)
            if not number.is_integer():
                raise _NotExact
            total = int(number)
        dims = [row.dimensions.get(d) for d in self.plan.dimensions]
        self.add(row.timestamp_ns // _NS_PER_MS, dims, 1, total)

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


# The exact path's rows of the traces of one experiment with low <= timestamp <= high.
ExactRows = Callable[[str, int, int], Iterable[MetricRow]]


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


class ViewRollupQuery:
    def __init__(self, gateway: TableGateway, records: TraceRecords, exact_rows: ExactRows):
        self.gateway = gateway
        self.records = records
        self.exact_rows = exact_rows

    def run(
        self,
        plan: ViewRollupPlan,
        experiment_ids: Iterable[str],
        start_ms: int | None,
        end_ms: int | None,
        max_results: int,
    ) -> list[MetricDataPoint] | None:
        """The data points, or None when the cells cannot answer (no whole hour in the
        range, or a row their integer sums cannot take): the caller takes the exact path."""
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
        try:
            for experiment_id, span in spans.items():
                cells = list(
                    cells_repo.read_cells(
                        self.gateway, plan.kind, experiment_id, span.first_hour, span.end_hour - 1
                    )
                )
                parsed = [(parse_view_cell(c), c) for c in cells]
                # Hours holding a trace that is not summed come from the traces.
                unsummed = {
                    hour
                    for (_, hour, labels), cell in parsed
                    if labels is None and int(cell.get(cells_repo.UNKNOWN_ATTR, 0)) > 0
                }
                for (_, hour, labels), cell in parsed:
                    if labels is not None and hour not in unsummed and plan.keeps(labels):
                        groups.add_cell(hour, labels, cell)
                exact = [*span.edges, *((h, h + ROLLUP_BUCKET_MS - 1) for h in unsummed)]
                for low, high in _merge(exact):
                    for row in self.exact_rows(experiment_id, low, high):
                        groups.add_row(row)
        except _NotExact:
            return None
        return groups.points(max_results)
