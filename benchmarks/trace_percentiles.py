"""The Overview page's PERCENTILE / MIN / MAX charts answered from the rollup cells' value
sketches, against the exact path: a phase of benchmarks/trace_rollups.py (run it there, it
loads the data set this phase reads)."""

from __future__ import annotations

from typing import Any

from benchmarks.trace_rollups import DAY_MS, END_MS, _asker, _measure


def percentile_phase(tracking, experiment_id: str, days: int) -> dict[str, Any]:
    """The Overview's PERCENTILE / MIN / MAX charts from the cells' sketches, the same through
    the exact path (every stats item), and the largest relative difference between them."""
    from mlflow.entities.trace_metrics import AggregationType, MetricAggregation

    from mlflow_dynamodbstore.schema.trace_rollup_keys import ROLLUP_BUCKET_MS
    from mlflow_dynamodbstore.search.trace_metrics import query as query_module

    stats = tracking.gateway.stats
    rollups = tracking.traces.stats.rollups
    agg = MetricAggregation
    ui_pcts = [agg(AggregationType.PERCENTILE, p) for p in (50, 90, 99)]
    queries = {
        "latency p50/p95 per day": (
            "latency", [agg(AggregationType.PERCENTILE, 50), agg(AggregationType.PERCENTILE, 95)],
            None, 86400,
        ),
        "latency p50/p90/p99 per hour (UI)": ("latency", ui_pcts, None, 3600),
        "total_tokens p50/p90/p99 per day (UI)": ("total_tokens", ui_pcts, None, 86400),
        "latency MIN/MAX per day by name": (
            "latency", [agg(AggregationType.MIN), agg(AggregationType.MAX)], ["trace_name"], 86400,
        ),
        "input_tokens p95 + AVG, all range": (
            "input_tokens", [agg(AggregationType.PERCENTILE, 95), agg(AggregationType.AVG)],
            None, None,
        ),
    }  # fmt: skip
    ranges = {
        "last 30 days (unaligned, as the UI sends)": (END_MS - days * DAY_MS, END_MS),
        "30 whole days (aligned)": (
            (END_MS // DAY_MS - days + 1) * DAY_MS,
            (END_MS // DAY_MS + 1) * DAY_MS - 1,
        ),
    }
    out: dict[str, Any] = {}
    for range_name, (low, high) in ranges.items():
        first = -(-low // ROLLUP_BUCKET_MS) * ROLLUP_BUCKET_MS
        end = ((high + 1) // ROLLUP_BUCKET_MS) * ROLLUP_BUCKET_MS
        buckets = _measure(stats, lambda f=first, e=end: sum(1 for _ in rollups.cells(
            experiment_id, f, e - ROLLUP_BUCKET_MS)))  # fmt: skip
        buckets.pop("result")
        rows: dict[str, Any] = {"reading the cells it covers": buckets}
        for label, spec in queries.items():
            sketched: list = []
            row = _measure(stats, _asker(tracking, experiment_id, spec, low, high, sketched))
            row["points"] = row.pop("result")
            exact_points: list = []
            original = (query_module.plan_rollup, query_module.plan_sketch)
            query_module.plan_rollup = query_module.plan_sketch = lambda *a, **k: None
            try:
                exact = _measure(
                    stats, _asker(tracking, experiment_id, spec, low, high, exact_points)
                )
            finally:
                query_module.plan_rollup, query_module.plan_sketch = original
            row["max_relative_error"] = _max_relative_error(sketched, exact_points)
            row["exact_path"] = {k: exact[k] for k in ("requests", "rcu", "seconds")}
            rows[label] = row
        out[range_name] = rows
    return out


def _max_relative_error(ours: list, exact: list) -> float | None:
    """The largest |ours - exact| / |exact| over the points' values (same points or None)."""
    if [p.dimensions for p in ours] != [p.dimensions for p in exact]:
        return None
    worst = 0.0
    for mine, theirs in zip(ours, exact, strict=True):
        if mine.values.keys() != theirs.values.keys():
            return None
        for key, value in theirs.values.items():
            if value:
                worst = max(worst, abs(float(mine.values[key]) - float(value)) / abs(value))
            elif mine.values[key]:
                return None
    return round(worst, 5)
