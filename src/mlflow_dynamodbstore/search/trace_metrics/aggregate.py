"""Grouping and aggregation of metric rows with the semantics of MLflow's SQL raw path
(mlflow/store/tracking/utils/sql_trace_metrics_utils.py ``query_metrics`` on SQLite).

- rows whose aggregated value is NULL, or any grouping dimension NULL, are dropped before
  grouping (SQL filters them out);
- groups are (time bucket, dimensions...) ordered ascending, then ``max_results`` of them;
  with neither a bucket nor dimensions there is exactly one group, even over no rows
  (``COUNT`` is then 0 and the other aggregates NULL, i.e. left out);
- COUNT, SUM, MIN, MAX keep the column's type (integers stay integers), AVG is a float
  (float sums add in timestamp order, as SQLite scans the rows: the last bits of a float
  SUM/AVG depend on the order of addition),
  PERCENTILE is SQLite's registered ``percentile`` aggregate: linear interpolation between
  the two closest ranks (numpy's default method);
- ``session_count`` counts distinct session ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricDataPoint

TIME_BUCKET_LABEL = "time_bucket"


@dataclass
class MetricRow:
    """One row of the SQL query before GROUP BY: the timestamp the bucket is taken from (in
    nanoseconds, exact for span start times too), the aggregated column and the dimension
    values."""

    timestamp_ns: int
    value: Any
    dimensions: dict[str, Any] = field(default_factory=dict)


def time_bucket(timestamp_ns: int, interval_seconds: int) -> int:
    """``floor(timestamp_ms / bucket_ms) * bucket_ms`` (SQLAlchemy's true division, then
    floor), computed exactly on integers."""
    size_ms = int(interval_seconds) * 1000
    return (int(timestamp_ns) // (size_ms * 1_000_000)) * size_ms


def bucket_label(bucket_ms: int) -> str:
    return datetime.fromtimestamp(float(bucket_ms) / 1000.0, tz=UTC).isoformat()


def percentile(values: list[Any], pct: float) -> float | None:
    """SQLite's ``percentile`` aggregate as MLflow registers it (mlflow/store/db/utils.py)."""
    if not values:
        return None
    ordered = sorted(float(v) for v in values)
    index = (float(pct) / 100.0) * (len(ordered) - 1)
    lower = int(index)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = index - lower
    return ordered[lower] + fraction * (ordered[upper] - ordered[lower])


def _sum(values: list[Any]) -> Any:
    """SQLite's SUM: exact over integers, else plain left-to-right float addition (SQLite
    3.40; the rows are summed in timestamp order, the order SQLite scans them)."""
    if all(isinstance(v, int) for v in values):
        return sum(values)
    total = 0.0
    for v in values:
        total += float(v)
    return total


def _apply(agg: MetricAggregation, values: list[Any], distinct: bool) -> Any:
    match agg.aggregation_type:
        case AggregationType.COUNT:
            return len(set(values)) if distinct else len(values)
        case _ if not values:
            return None
        case AggregationType.SUM:
            return _sum(values)
        case AggregationType.AVG:
            return float(_sum(values)) / len(values)
        case AggregationType.MIN:
            return min(values)
        case AggregationType.MAX:
            return max(values)
        case AggregationType.PERCENTILE:
            return percentile(values, agg.percentile_value)
    raise ValueError(f"unsupported aggregation {agg.aggregation_type}")


def aggregate(
    rows: Iterable[MetricRow],
    *,
    metric_name: str,
    aggregations: list[MetricAggregation],
    dimensions: list[str] | None,
    time_interval_seconds: int | None,
    max_results: int,
    distinct: bool = False,
) -> list[MetricDataPoint]:
    dimensions = list(dimensions or [])
    groups: dict[tuple, list[tuple[int, Any]]] = {}
    for row in rows:
        if row.value is None:
            continue
        dims = [row.dimensions.get(d) for d in dimensions]
        if any(v is None for v in dims):
            continue
        key = tuple(dims)
        if time_interval_seconds:
            key = (time_bucket(row.timestamp_ns, time_interval_seconds), *key)
        groups.setdefault(key, []).append((row.timestamp_ns, row.value))
    grouped = bool(time_interval_seconds) or bool(dimensions)
    if not grouped and not groups:
        groups[()] = []  # an aggregate without GROUP BY always returns one row
    points = []
    ordered = sorted(groups)
    # SQLite's LIMIT: a negative limit is no limit.
    for key in ordered if int(max_results) < 0 else ordered[: int(max_results)]:
        values = [v for _, v in sorted(groups[key], key=lambda tv: tv[0])]
        labels: dict[str, Any] = {}
        parts = list(key)
        if time_interval_seconds:
            labels[TIME_BUCKET_LABEL] = bucket_label(parts.pop(0))
        labels.update(zip(dimensions, parts, strict=True))
        results = {str(a): _apply(a, values, distinct) for a in aggregations}
        results = {k: v for k, v in results.items() if v is not None}
        if results:
            points.append(
                MetricDataPoint(metric_name=metric_name, dimensions=labels, values=results)
            )
    return points
