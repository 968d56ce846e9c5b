"""What the queries answered from pre-aggregated hourly cells share (rollup_query,
sketch_query, view_rollups, cost_rollups): the split of a range into whole hours (from
cells) and partial edge hours (from traces), and the data points of merged groups in the
SQL store's order."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricDataPoint

from mlflow_dynamodbstore.schema.trace_rollup_keys import ROLLUP_BUCKET_MS
from mlflow_dynamodbstore.search.trace_metrics.aggregate import TIME_BUCKET_LABEL, bucket_label

Group = TypeVar("Group")


@dataclass(frozen=True)
class HourSpan:
    """One experiment's part of a range: whole hours [first_hour, end_hour) from cells,
    the partial hours at its edges (low, high) from the traces."""

    first_hour: int
    end_hour: int  # exclusive
    edges: tuple[tuple[int, int], ...]


def whole_hours(
    low: int, high: int, open_start: bool = False, open_end: bool = False
) -> HourSpan | None:
    """The whole hours of low..high (inclusive), or None when it holds none (the exact path
    then reads less). An open side was clipped to the experiment's oldest/newest trace:
    nothing lies beyond it, so its hour counts as whole."""
    size = ROLLUP_BUCKET_MS
    first = (low // size) * size if open_start else -(-low // size) * size
    end = (high // size + 1) * size if open_end else ((high + 1) // size) * size
    if first >= end:
        return None
    edges = []
    if low < first:
        edges.append((low, first - 1))
    if end <= high:
        edges.append((end, high))
    return HourSpan(first, end, tuple(edges))


def cell_points(
    metric_name: str,
    time_interval_seconds: int | None,
    dimensions: Sequence[str],
    groups: Mapping[tuple, Group],
    max_results: int,
    values_of: Callable[[Group], dict[str, Any]],
    no_group: Group | None = None,
) -> list[MetricDataPoint]:
    """The data points of groups keyed (time bucket if bucketed, *dimension values), in
    ascending key order, the first ``max_results`` (all when negative). ``values_of`` gives
    a group's values (None values are left out; a group with none gives no point).
    ``no_group``: what an aggregate without GROUP BY answers over no rows (SQL returns one
    row, e.g. COUNT 0), or None for no point."""
    groups = dict(groups)
    if not time_interval_seconds and not dimensions and not groups and no_group is not None:
        groups[()] = no_group
    ordered = sorted(groups)
    points = []
    for key in ordered if int(max_results) < 0 else ordered[: int(max_results)]:
        parts = list(key)
        labels: dict[str, Any] = {}
        if time_interval_seconds:
            labels[TIME_BUCKET_LABEL] = bucket_label(parts.pop(0))
        labels.update(zip(dimensions, parts, strict=True))
        values = {k: v for k, v in values_of(groups[key]).items() if v is not None}
        if values:
            points.append(
                MetricDataPoint(metric_name=metric_name, dimensions=labels, values=values)
            )
    return points


@dataclass
class CountSum:
    """A group's mergeable aggregate for COUNT / SUM / AVG: rows counted, and the sum of
    their integer values."""

    count: int = 0
    total: int = 0


def count_sum_value(aggregation: MetricAggregation, partial: CountSum) -> Any:
    if aggregation.aggregation_type == AggregationType.COUNT:
        return partial.count
    if not partial.count:
        return None
    if aggregation.aggregation_type == AggregationType.SUM:
        return partial.total
    return float(partial.total) / partial.count  # AVG


def count_sum_points(
    metric_name: str,
    time_interval_seconds: int | None,
    dimensions: Sequence[str],
    aggregations: Sequence[MetricAggregation],
    groups: Mapping[tuple, CountSum],
    max_results: int,
) -> list[MetricDataPoint]:
    """``cell_points`` of COUNT / SUM / AVG groups."""
    return cell_points(
        metric_name,
        time_interval_seconds,
        dimensions,
        groups,
        max_results,
        lambda partial: {str(a): count_sum_value(a, partial) for a in aggregations},
        no_group=CountSum(),
    )
