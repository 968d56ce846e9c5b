"""Trace rollups at scale (issue #14): an experiment with 100,000 traces over 30 days, the
Overview page's queries answered from the rollup cells compared with reading the cells they
cover and with the exact path (every stats item of the range), and the write overhead of the
cells per trace. DynamoDB Local only (the figures are requests and capacity units).

    .venv/bin/python -m benchmarks.trace_rollups --traces 100000 --days 30

Loading: a few hundred traces go through the store (``log_spans`` + the trace name tag) to
measure the write path; the 100,000 are written with BatchWriteItem as the items the write
path produces (META cloned from a stored trace, its stats item with the rollup marker, the
cells summed from the same contributions), which takes minutes instead of hours.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

DAY_MS = 24 * 3600 * 1000
NAMES = ("agent", "chat", "rag", "tool", "eval")
END_MS = 1_790_000_000_000 + 123_457  # the "now" of the data set: inside an hour


def _measure(stats, action) -> dict[str, Any]:
    stats.reset()
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    return {
        "result": result,
        "seconds": round(seconds, 3),
        "requests": stats.total_requests,
        "by_operation": {k: v.requests for k, v in stats.snapshot().items()},
        "rcu": round(stats.read_capacity, 1),
        "wcu": round(stats.write_capacity, 1),
    }


def _spans(n: int, start_ms: int, rng: random.Random):
    from mlflow.entities import SpanType
    from mlflow.tracing.constant import SpanAttributeKey

    from tests.differential_traces.builders import span

    usage = {"input_tokens": rng.randint(50, 2000), "output_tokens": rng.randint(5, 500)}
    usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    latency = int(rng.lognormvariate(6.5, 0.8))
    attrs = {"mlflow.spanType": SpanType.LLM, SpanAttributeKey.CHAT_USAGE: usage,
             SpanAttributeKey.MODEL: "gpt-4o"}  # fmt: skip
    return [
        span(n, 1, None, "root", start_ms, start_ms + latency, error=rng.random() < 0.05),
        span(n, 2, 1, "llm", start_ms + 1, start_ms + latency - 1, attrs),
    ]


def write_overhead_phase(tracking, traces: int) -> dict[str, Any]:
    """Per trace: log_spans (root + LLM span) and the trace name tag, through the store, with
    the rollup cells and with the previous stats write (one conditional PutItem)."""
    from boto3.dynamodb.conditions import Attr
    from mlflow.tracing.constant import TraceTagKey

    from mlflow_dynamodbstore.gateway import ConditionFailed
    from mlflow_dynamodbstore.repositories.traces import rollups
    from tests.differential_traces.builders import tid

    rng = random.Random(7)
    offset = [1_000_000]

    def workload(experiment_id: str):
        def go():
            for _ in range(traces):
                offset[0] += 1
                n = offset[0]
                tracking.log_spans(experiment_id, _spans(n, n * 60_000, rng))
                tracking.set_trace_tag(tid(n), TraceTagKey.TRACE_NAME, NAMES[n % len(NAMES)])
            return traces

        return go

    from mlflow_dynamodbstore.repositories.traces import value_sketch

    stats = tracking.gateway.stats
    with_cells = _measure(stats, workload(tracking.create_experiment("overhead-cells")))
    # The cells without the value sketches (as before PERCENTILE/MIN/MAX came from cells).
    sketch_counters = value_sketch.counters
    value_sketch.counters = lambda values, sign: {}
    try:
        no_sketch = _measure(stats, workload(tracking.create_experiment("overhead-nosketch")))
    finally:
        value_sketch.counters = sketch_counters

    def plain_put(self, item, stored, *, known):  # the stats write before rollups
        version = Attr("version")
        condition = version.not_exists() | version.lt(int(item["version"]))
        try:
            self.gateway.put_item(item, condition=condition)
        except ConditionFailed:  # a newer projection is there
            return False
        return True

    original = rollups.TraceRollupRepository.write_stats
    rollups.TraceRollupRepository.write_stats = plain_put
    try:
        without = _measure(stats, workload(tracking.create_experiment("overhead-plain")))
    finally:
        rollups.TraceRollupRepository.write_stats = original
    per = {
        k: {
            "requests_per_trace": round(r["requests"] / traces, 2),
            "wcu_per_trace": round(r["wcu"] / traces, 2),
            "rcu_per_trace": round(r["rcu"] / traces, 2),
            "by_operation_per_trace": {
                op: round(v / traces, 2) for op, v in sorted(r["by_operation"].items())
            },
        }
        for k, r in (
            ("with_rollups", with_cells),
            ("rollups_without_sketches", no_sketch),
            ("stats_put_only", without),
        )
    }
    per["extra_per_trace"] = {
        "requests": round(
            per["with_rollups"]["requests_per_trace"] - per["stats_put_only"]["requests_per_trace"],
            2,
        ),
        "wcu": round(
            per["with_rollups"]["wcu_per_trace"] - per["stats_put_only"]["wcu_per_trace"], 2
        ),
    }
    per["sketch_extra_per_trace"] = {
        "requests": round(
            per["with_rollups"]["requests_per_trace"]
            - per["rollups_without_sketches"]["requests_per_trace"],
            2,
        ),
        "wcu": round(
            per["with_rollups"]["wcu_per_trace"] - per["rollups_without_sketches"]["wcu_per_trace"],
            2,
        ),
    }
    return per


def dense_hour_phase(tracking, traces: int) -> dict[str, Any]:
    """Heavy traffic: ``traces`` traces of one name in one hour (a quarter of them in each
    shard's cell), with and without the sketches: what the cells' growth costs per write."""
    from mlflow.tracing.constant import TraceTagKey

    from mlflow_dynamodbstore.repositories.traces import value_sketch
    from tests.differential_traces.builders import BASE_MS, tid

    rng = random.Random(9)
    offset = [5_000_000]

    def workload(experiment_id: str):
        def go():
            for _ in range(traces):
                offset[0] += 1
                n = offset[0]
                # One hour (the builders' spans start at BASE_MS + start).
                start = 3_000 * 3600_000 - BASE_MS % 3600_000 + rng.randrange(3600_000)
                tracking.log_spans(experiment_id, _spans(n, start, rng))
                tracking.set_trace_tag(tid(n), TraceTagKey.TRACE_NAME, "busy")
            return traces

        return go

    def cell_bytes(experiment_id: str) -> list[int]:
        from mlflow_dynamodbstore.repositories.traces.rollups import experiment_cell_keys

        keys = experiment_cell_keys(tracking.gateway, experiment_id)
        return [_item_bytes(tracking.gateway.get_item(k)) for k in keys]

    stats = tracking.gateway.stats
    out: dict[str, Any] = {}
    exp = tracking.create_experiment("dense-sketch")
    row = _measure(stats, workload(exp))
    out["with_sketches"] = {"wcu_per_trace": round(row["wcu"] / traces, 2),
                            "cell_bytes": cell_bytes(exp)}  # fmt: skip
    original = value_sketch.counters
    value_sketch.counters = lambda values, sign: {}
    try:
        exp = tracking.create_experiment("dense-plain")
        row = _measure(stats, workload(exp))
    finally:
        value_sketch.counters = original
    out["without_sketches"] = {"wcu_per_trace": round(row["wcu"] / traces, 2),
                               "cell_bytes": cell_bytes(exp)}  # fmt: skip
    out["traces"] = traces
    return out


def _item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names + values (numbers ~ digits / 2 + 1)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if isinstance(value, str):
            size += len(value.encode())
        else:
            size += len(str(value).lstrip("-").replace(".", "")) // 2 + 1
    return size


def _template_meta(tracking) -> dict[str, Any]:
    from mlflow.tracing.constant import TraceTagKey

    from tests.differential_traces.builders import tid

    experiment_id = tracking.create_experiment(f"scale-{uuid.uuid4().hex[:6]}")
    tracking.log_spans(experiment_id, _spans(1, 0, random.Random(1)))
    tracking.set_trace_tag(tid(1), TraceTagKey.TRACE_NAME, "agent")
    meta = tracking.traces.get(tid(1))
    tracking.delete_traces(experiment_id, trace_ids=[tid(1)])
    return meta


def _near_edge(timestamp_ms: int, start_ms: int) -> bool:
    """In the first or last two days of the data set (the edges any measured range has)."""
    return timestamp_ms < start_ms + 2 * DAY_MS or timestamp_ms > END_MS - 2 * DAY_MS


def load_phase(
    tracking, traces: int, days: int, with_meta: bool = False
) -> tuple[str, dict[str, Any]]:
    """``traces`` traces over ``days`` days ending at END_MS, written as the items the write
    path produces: stats items (with the rollup marker) and the cells summed from them; META
    items only for the traces of the first and last two days unless ``with_meta`` (the
    measured queries read META only at the edges of their ranges and to clip open ones)."""
    from mlflow.tracing.constant import TraceTagKey

    from mlflow_dynamodbstore.repositories.traces import rollups
    from mlflow_dynamodbstore.repositories.traces.codec import encode_analytics, finalize
    from mlflow_dynamodbstore.repositories.traces.stats import stats_item

    template = _template_meta(tracking)
    experiment_id = str(template["experiment_id"])
    rng = random.Random(11)
    gateway = tracking.gateway
    start = END_MS - days * DAY_MS
    contributions = []
    stats = gateway.stats
    stats.reset()
    started = time.perf_counter()
    chunk: list[dict[str, Any]] = []
    for i in range(traces):
        trace_id = f"tr-{uuid.UUID(int=rng.getrandbits(128)).hex}"
        name = NAMES[rng.randrange(len(NAMES))]
        tokens_in, tokens_out = rng.randint(50, 2000), rng.randint(5, 500)
        meta = finalize(
            {
                **template,
                "trace_id": trace_id,
                "request_id": trace_id,
                "timestamp_ms": rng.randrange(start, END_MS + 1),
                "execution_time_ms": int(rng.lognormvariate(6.5, 0.8)),
                "status": "ERROR" if rng.random() < 0.05 else "OK",
                "trace_name": name,
                "tags": {**(template.get("tags") or {}), TraceTagKey.TRACE_NAME: name},
                "analytics": encode_analytics(
                    {
                        "input_tokens": tokens_in,
                        "output_tokens": tokens_out,
                        "total_tokens": tokens_in + tokens_out,
                    }
                ),
                "version": 2,
            }
        )
        item = stats_item(meta)
        counted = rollups.contribution(item)
        item[rollups.MARKER] = counted.marker
        contributions.append((None, counted))
        chunk.append(item)
        if not with_meta or _near_edge(meta["timestamp_ms"], start):
            chunk.append(meta)
        if len(chunk) >= 2000:
            gateway.batch_write(puts=chunk)
            chunk = []
            print(f"loaded {i + 1} traces, {time.perf_counter() - started:.0f} s", flush=True)
    cells = [
        {**d.key, **d.fields, **d.counters} for d in rollups.cell_deltas(contributions)
    ]  # fmt: skip
    gateway.batch_write(puts=chunk + cells)
    sizes = [_item_bytes(c) for c in cells]
    return experiment_id, {
        "traces": traces,
        "cells": len(cells),
        "cell_bytes_mean": round(sum(sizes) / max(len(sizes), 1)),
        "cell_bytes_max": max(sizes, default=0),
        "seconds": round(time.perf_counter() - started, 1),
        "meta_items": "all" if with_meta else "first and last two days only",
        "batch_write_requests": stats.total_requests,
        "wcu": round(stats.write_capacity, 1),
    }


def _asker(tracking, experiment_id: str, spec: tuple, low: int, high: int, keep=None):
    from mlflow.entities.trace_metrics import MetricViewType

    metric, aggregations, dimensions, interval = spec

    def ask() -> int:
        points = tracking.query_trace_metrics(
            [experiment_id],
            MetricViewType.TRACES,
            metric,
            aggregations,
            dimensions=dimensions,
            time_interval_seconds=interval,
            start_time_ms=low,
            end_time_ms=high,
        )
        if keep is not None:
            keep.extend(points)
        return len(points)

    return ask


def query_phase(tracking, experiment_id: str, days: int) -> dict[str, Any]:
    from mlflow.entities.trace_metrics import AggregationType, MetricAggregation

    from mlflow_dynamodbstore.schema.trace_rollup_keys import ROLLUP_BUCKET_MS
    from mlflow_dynamodbstore.search.trace_metrics import query as query_module

    stats = tracking.gateway.stats
    rollups = tracking.traces.stats.rollups
    agg = MetricAggregation
    count, avg = [agg(AggregationType.COUNT)], [agg(AggregationType.AVG)]
    sums = [agg(AggregationType.SUM)]
    queries = {
        "trace_count by status per day": ("trace_count", count, ["trace_status"], 86400),
        "trace_count by status per hour": ("trace_count", count, ["trace_status"], 3600),
        "latency AVG per day by name": ("latency", avg, ["trace_name"], 86400),
        "total_tokens SUM per day by name": ("total_tokens", sums, ["trace_name"], 86400),
        "input_tokens SUM per day": ("input_tokens", sums, None, 86400),
    }
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
            row = _measure(stats, _asker(tracking, experiment_id, spec, low, high))
            row["points"] = row.pop("result")
            row["x cells read"] = round(row["requests"] / max(buckets["requests"], 1), 2)
            rows[label] = row
        # The same unfiltered count through the exact path (every stats item of the range).
        original = query_module.plan_rollup
        query_module.plan_rollup = lambda *a, **k: None
        try:
            spec = queries["trace_count by status per day"]
            exact = _measure(stats, _asker(tracking, experiment_id, spec, low, high))
        finally:
            query_module.plan_rollup = original
        exact["points"] = exact.pop("result")
        rows["trace_count by status per day, exact path"] = exact
        out[range_name] = rows
    return out


def markdown(report: dict[str, Any]) -> str:
    """The report as the tables of docs/benchmarks.md."""
    load = report["load"]
    lines = [
        f"{load['traces']:,} traces over the data set's days, {load['cells']:,} cells "
        f"(loaded in {load['seconds']} s: {load['batch_write_requests']:,} BatchWriteItem, "
        f"META {load.get('meta_items', 'all')}).",
        "",
    ]
    for range_name, rows in report["queries"].items():
        lines += [
            f"**{range_name}**",
            "",
            "| query | path | requests | RCU | requests ÷ cells' requests | points | wall |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        cells = rows["reading the cells it covers"]["requests"]
        for label, row in rows.items():
            ops = ", ".join(f"{k} {v}" for k, v in sorted(row["by_operation"].items()))
            path = (
                "cells only"
                if label.startswith("reading")
                else "exact (stats items)"
                if "exact" in label
                else "cells + edges"
            )
            ratio = f"{row['requests'] / max(cells, 1):.2f}"
            lines.append(
                f"| {label} | {path} | {row['requests']} ({ops}) | {row['rcu']:,} | {ratio} "
                f"| {row.get('points', '')} | {row['seconds']} s |"
            )
        lines.append("")
    overhead = report["write_overhead"]
    lines += [
        "**Write overhead** (per trace: `log_spans` of a root and an LLM span + the trace name"
        " tag, through the store):",
        "",
        "| stats write | requests / trace | WCU / trace | requests by operation / trace |",
        "| --- | ---: | ---: | --- |",
    ]
    for key, label in (
        ("stats_put_only", "conditional PutItem (before rollups)"),
        ("rollups_without_sketches", "TransactWriteItems with the cells, no sketches"),
        ("with_rollups", "TransactWriteItems with the cells and sketches (now)"),
    ):
        if key not in overhead:
            continue
        row = overhead[key]
        ops = ", ".join(f"{k} {v}" for k, v in row["by_operation_per_trace"].items())
        lines.append(f"| {label} | {row['requests_per_trace']} | {row['wcu_per_trace']} | {ops} |")
    extra = overhead["extra_per_trace"]
    lines += ["", f"Extra per trace: {extra['requests']} requests, {extra['wcu']} WCU."]
    if "sketch_extra_per_trace" in overhead:
        extra = overhead["sketch_extra_per_trace"]
        lines[-1] += f" Of which the sketches: {extra['requests']} requests, {extra['wcu']} WCU."
    if "cell_bytes_mean" in load:
        lines += ["", f"Cells: {load['cell_bytes_mean']} B on average, "
                  f"{load['cell_bytes_max']} B the largest."]  # fmt: skip
    dense = report.get("dense_hour")
    if dense:
        lines += ["", f"**Heavy traffic**: {dense['traces']} traces of one name in one hour "
                  "(through the store):", "",
                  "| cells | WCU / trace | cell bytes (the 4 largest: each shard's OK cell) |",
                  "| --- | ---: | --- |"]  # fmt: skip
        for key in ("without_sketches", "with_sketches"):
            row = dense[key]
            sizes = ", ".join(str(b) for b in sorted(row["cell_bytes"])[-4:])
            lines.append(f"| {key.replace('_', ' ')} | {row['wcu_per_trace']} | {sizes} |")
    for range_name, rows in report.get("percentiles", {}).items():
        lines += [
            "",
            f"**Percentiles, MIN, MAX — {range_name}**",
            "",
            "| query | requests (cells) | RCU | requests ÷ cells' requests | points "
            "| max relative error | exact path: requests, RCU |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        cells = rows["reading the cells it covers"]["requests"]
        for label, row in rows.items():
            ops = ", ".join(f"{k} {v}" for k, v in sorted(row["by_operation"].items()))
            exact = row.get("exact_path")
            exact_cost = "" if exact is None else f"{exact['requests']}, {exact['rcu']:,}"
            lines.append(
                f"| {label} | {row['requests']} ({ops}) | {row['rcu']:,} "
                f"| {row['requests'] / max(cells, 1):.2f} | {row.get('points', '')} "
                f"| {row.get('max_relative_error', '')} | {exact_cost} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--write-traces", type=int, default=200)
    parser.add_argument("--dense-traces", type=int, default=400)
    parser.add_argument("--all-meta", action="store_true", help="a META item for every trace")
    parser.add_argument("--out", default="benchmarks/results/trace-rollups.json")
    parser.add_argument("--render", help="print the markdown of a saved report and exit")
    parser.add_argument(
        "--views", action="store_true", help="also the SPANS/ASSESSMENTS view phases"
    )
    args = parser.parse_args(argv)
    if args.render:
        with open(args.render) as f:
            saved = json.load(f)
        print(markdown(saved))
        return saved

    from mlflow_dynamodbstore.local.dynamodb_local import DynamoDBLocal
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    with DynamoDBLocal() as ddb:
        uri = f"dynamodb://127.0.0.1:{ddb.port}/bench-{uuid.uuid4().hex[:8]}"
        tracking = DynamoDBTrackingStore(uri, "s3://bench/artifacts")
        report: dict[str, Any] = {
            "write_overhead": write_overhead_phase(tracking, args.write_traces)
        }
        report["dense_hour"] = dense_hour_phase(tracking, args.dense_traces)
        print(json.dumps(report, indent=2), flush=True)
        experiment_id, report["load"] = load_phase(tracking, args.traces, args.days, args.all_meta)
        report["queries"] = query_phase(tracking, experiment_id, args.days)
        from benchmarks.trace_percentiles import percentile_phase

        report["percentiles"] = percentile_phase(tracking, experiment_id, args.days)
        if args.views:  # benchmarks/view_rollups.py: the SPANS and ASSESSMENTS view cells
            from benchmarks import view_rollups

            report["views"] = view_rollups.run(tracking, args.traces, args.days, args.write_traces)
    text = json.dumps(report, indent=2)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    print(markdown(report))
    if "views" in report:
        from benchmarks import view_rollups

        print(view_rollups.markdown(report["views"]))
    return report


if __name__ == "__main__":
    main()
