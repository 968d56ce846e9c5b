"""Span cost rollups at scale (issue #14): an experiment with N traces over 30 days (a root and
1-2 LLM calls with a cost, over 4 models of 3 providers), the Overview page's cost charts
(``total_cost`` SUM by model / provider, with and without daily buckets; input cost SUM/AVG)
answered from the cost cells compared with reading the cells they cover, and the write
overhead of the cost cells per trace. DynamoDB Local only:

    .venv/bin/python -m benchmarks.cost_rollups --traces 100000 --days 30

Loading: the traces are written with BatchWriteItem as the items the write path produces
(each trace's stats item with its ``cr`` cost summary and the markers, the cost cells summed
from the same contributions; META items only for the traces of the ranges' edge hours, the
only ones the measured queries read), as view_rollups.py does.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from decimal import Decimal
from typing import Any

from benchmarks.trace_rollups import DAY_MS, END_MS, _measure, _template_meta

HOUR_MS = 3600 * 1000
MODELS = (
    ("gpt-4o", "openai"),
    ("gpt-4o-mini", "openai"),
    ("claude-sonnet", "anthropic"),
    ("gemini-pro", "google"),
)


def _costs(rng: random.Random) -> dict[str, float]:
    # As a pricing table computes them: tokens x a per-token price (floats with 17 digits).
    tokens_in, tokens_out = rng.randint(50, 4000), rng.randint(5, 800)
    cost_in, cost_out = tokens_in * 2.5e-06, tokens_out * 1e-05
    return {"input_cost": cost_in, "output_cost": cost_out, "total_cost": cost_in + cost_out}


def _trace_spans(n: int, start_ms: int, rng: random.Random) -> list:
    from mlflow.entities import SpanType
    from mlflow.tracing.constant import SpanAttributeKey

    from tests.differential_traces.builders import span

    spans = [span(n, 1, None, "agent", start_ms, start_ms + 2000)]
    for i in range(rng.randint(1, 2)):
        model, provider = MODELS[rng.randrange(len(MODELS))]
        attributes = {
            "mlflow.spanType": SpanType.LLM,
            SpanAttributeKey.LLM_COST: _costs(rng),
            SpanAttributeKey.MODEL: model,
            SpanAttributeKey.MODEL_PROVIDER: provider,
        }
        spans.append(span(n, 2 + i, 1, "llm", start_ms + 5 + i, start_ms + 900, attributes))
    return spans


def cost_write_overhead_phase(tracking, traces: int) -> dict[str, Any]:
    """Per trace: log_spans (a root, 1-2 costed LLM calls) through the store, with the cost
    cells and with them switched off (no cost summary in the stats item)."""
    from mlflow_dynamodbstore.repositories.traces import cost_rollups

    rng = random.Random(5)
    offset = [3_000_000]

    def workload(experiment_id: str):
        def go():
            for _ in range(traces):
                offset[0] += 1
                n = offset[0]
                tracking.log_spans(experiment_id, _trace_spans(n, n * 60_000, rng))
            return traces

        return go

    stats = tracking.gateway.stats
    # The cost cell updates each stats transaction carries (DynamoDB Local reports one
    # consumed capacity per transaction whatever its items; on AWS each item costs 2 WCU/KB).
    moved = [0]
    updates = cost_rollups.updates

    def counted(*args, **kwargs):
        actions = updates(*args, **kwargs)
        moved[0] += len(actions)
        return actions

    cost_rollups.updates = counted
    try:
        with_cells = _measure(stats, workload(tracking.create_experiment("costs-cells")))
    finally:
        cost_rollups.updates = updates
    original = cost_rollups.projection
    cost_rollups.projection = lambda meta, views: {}
    try:
        without = _measure(stats, workload(tracking.create_experiment("costs-off")))
    finally:
        cost_rollups.projection = original
    per = {
        k: {
            "requests_per_trace": round(r["requests"] / traces, 2),
            "wcu_per_trace": round(r["wcu"] / traces, 2),
            "by_operation_per_trace": {
                op: round(v / traces, 2) for op, v in sorted(r["by_operation"].items())
            },
        }
        for k, r in (("with_cost_cells", with_cells), ("without_cost_cells", without))
    }
    per["cost_cell_updates_per_trace"] = round(moved[0] / traces, 2)
    per["extra_per_trace"] = {
        key: round(per["with_cost_cells"][f"{key}_per_trace"]
                   - per["without_cost_cells"][f"{key}_per_trace"], 2)
        for key in ("requests", "wcu")
    }  # fmt: skip
    return per


def _meta(template: dict, trace_id: str, timestamp: int, rng: random.Random) -> dict[str, Any]:
    """A META item as the write path leaves it: span facts and cost facts."""
    from mlflow_dynamodbstore.repositories.traces import span_costs
    from mlflow_dynamodbstore.repositories.traces.codec import finalize

    facts = {"s1": ["agent", "CHAIN", "OK", timestamp, 2000]}
    costs = {}
    for i in range(rng.randint(1, 2)):
        model, provider = MODELS[rng.randrange(len(MODELS))]
        facts[f"l{i}"] = ["llm", "LLM", "OK", timestamp + 5 + i, 895 - i]
        values = _costs(rng)
        costs[f"l{i}"] = [timestamp + 5 + i, model, provider,
                          *(Decimal(repr(values[k])) for k in span_costs.COST_KEYS)]  # fmt: skip
    return finalize(
        {
            **template,
            "trace_id": trace_id,
            "request_id": trace_id,
            "timestamp_ms": timestamp,
            "execution_time_ms": 2000,
            "status": "OK",
            "span_facts": facts,
            span_costs.COSTS: costs,
            "assessments": {},
            "version": 2,
        }
    )


def cost_load_phase(tracking, traces: int, days: int) -> tuple[str, dict[str, Any]]:
    from mlflow_dynamodbstore.repositories.traces import cost_rollups, rollups, view_rollups
    from mlflow_dynamodbstore.repositories.traces.stats import stats_item

    template = _template_meta(tracking)
    experiment_id = str(template["experiment_id"])
    rng = random.Random(17)
    gateway = tracking.gateway
    start = END_MS - days * DAY_MS
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    stats = gateway.stats
    stats.reset()
    started = time.perf_counter()
    chunk: list[dict[str, Any]] = []
    edge_metas = 0
    for i in range(traces):
        trace_id = f"tr-{uuid.UUID(int=rng.getrandbits(128)).hex}"
        meta = _meta(template, trace_id, rng.randrange(start, END_MS + 1), rng)
        item = stats_item(meta)
        item[rollups.MARKER] = rollups.contribution(item).marker
        item.update(view_rollups.markers(item))
        item.update(cost_rollups.markers(item))
        contribution = cost_rollups.contribution(item)
        for key, carried, counters, _hour in contribution.cells(+1):
            cell = cells.setdefault((key["PK"], key["SK"]), {**key, **carried})
            if contribution.workspace is not None:
                cell["workspace"] = contribution.workspace
            for name, amount in counters.items():
                cell[name] = cost_rollups._add(cell.get(name, 0), amount)
        chunk.append(item)
        ts = meta["timestamp_ms"]
        if ts < start + 2 * HOUR_MS or ts > END_MS - 2 * HOUR_MS:  # the ranges' edge hours
            chunk.append(meta)
            edge_metas += 1
        if len(chunk) >= 2000:
            gateway.batch_write(puts=chunk)
            chunk = []
            print(f"loaded {i + 1} traces, {time.perf_counter() - started:.0f} s", flush=True)
    gateway.batch_write(puts=chunk + list(cells.values()))
    return experiment_id, {
        "traces": traces,
        "cost_cells": len(cells),
        "edge_traces_with_meta": edge_metas,
        "seconds": round(time.perf_counter() - started, 1),
        "batch_write_requests": stats.total_requests,
    }


def cost_query_phase(tracking, experiment_id: str, days: int) -> dict[str, Any]:
    from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType

    from mlflow_dynamodbstore.repositories.traces import cost_rollups
    from mlflow_dynamodbstore.schema.trace_rollup_keys import rollup_hour
    from mlflow_dynamodbstore.search.trace_metrics.cost_rollups import LOOKBACK_MS

    stats = tracking.gateway.stats
    total = [MetricAggregation(AggregationType.SUM)]
    sum_avg = [MetricAggregation(AggregationType.SUM), MetricAggregation(AggregationType.AVG)]
    queries = {
        "total cost by model (the UI's cost breakdown)": ("total_cost", total,
                                                          ["span_model_name"], None),
        "total cost by provider": ("total_cost", total, ["span_model_provider"], None),
        "total cost per day by model (the UI's cost over time)": (
            "total_cost", total, ["span_model_name"], 86400),
        "total cost per hour by provider": ("total_cost", total, ["span_model_provider"], 3600),
        "input cost SUM and AVG": ("input_cost", sum_avg, [], None),
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
        rows: dict[str, Any] = {}
        bare = _measure(stats, lambda lo=low, hi=high: sum(1 for _ in (
            cost_rollups.read_cells(tracking.gateway, experiment_id,
                                    rollup_hour(lo) - LOOKBACK_MS, hi))))  # fmt: skip
        bare["cells"] = bare.pop("result")
        rows["reading the cost cells it covers (and the day before)"] = bare
        for label, (metric, aggs, dims, interval) in queries.items():

            def ask(m=metric, a=aggs, d=dims, i=interval, lo=low, hi=high):
                return len(tracking.query_trace_metrics(
                    [experiment_id], MetricViewType.SPANS, m, a, dimensions=d,
                    time_interval_seconds=i, start_time_ms=lo, end_time_ms=hi,
                ))  # fmt: skip

            row = _measure(stats, ask)
            row["points"] = row.pop("result")
            row["x cells read"] = round(row["requests"] / max(bare["requests"], 1), 2)
            rows[label] = row
        out[range_name] = rows
    return out


def markdown(report: dict[str, Any]) -> str:
    load = report["load"]
    lines = [
        f"{load['traces']:,} traces, {load['cost_cells']:,} cost cells (loaded in "
        f"{load['seconds']} s: {load['batch_write_requests']:,} BatchWriteItem; META for the "
        f"{load['edge_traces_with_meta']:,} traces of the edge hours).",
        "",
    ]
    for range_name, rows in report["queries"].items():
        lines += [
            f"**{range_name}**",
            "",
            "| query | requests | RCU | requests ÷ cells' requests | points | wall |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for label, row in rows.items():
            ops = ", ".join(f"{k} {v}" for k, v in sorted(row["by_operation"].items()))
            ratio = row.get("x cells read", 1.0)
            lines.append(
                f"| {label} | {row['requests']} ({ops}) | {row['rcu']:,} | {ratio:.2f} "
                f"| {row.get('points', row.get('cells', ''))} | {row['seconds']} s |"
            )
        lines.append("")
    overhead = report["write_overhead"]
    lines += [
        "**Write overhead** (per trace: `log_spans` of a root and 1-2 costed LLM calls, "
        "through the store):",
        "",
        "| | requests / trace | WCU / trace | requests by operation / trace |",
        "| --- | ---: | ---: | --- |",
    ]
    for key, label in (
        ("without_cost_cells", "without the cost cells"),
        ("with_cost_cells", "with the cost cells (now)"),
    ):
        row = overhead[key]
        ops = ", ".join(f"{k} {v}" for k, v in row["by_operation_per_trace"].items())
        lines.append(f"| {label} | {row['requests_per_trace']} | {row['wcu_per_trace']} | {ops} |")
    extra = overhead["extra_per_trace"]
    lines += [
        "",
        f"Extra per trace: {extra['requests']} requests, {extra['wcu']} WCU as DynamoDB Local "
        f"reports it; the stats transaction carries {overhead['cost_cell_updates_per_trace']} "
        "cost cell updates per trace (on AWS 2 WCU each: a cell is < 1 KB).",
    ]
    return "\n".join(lines) + "\n"


def run(tracking, traces: int, days: int, write_traces: int) -> dict[str, Any]:
    report: dict[str, Any] = {"write_overhead": cost_write_overhead_phase(tracking, write_traces)}
    print(json.dumps(report, indent=2), flush=True)
    experiment_id, report["load"] = cost_load_phase(tracking, traces, days)
    report["queries"] = cost_query_phase(tracking, experiment_id, days)
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--write-traces", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/results/cost-rollups.json")
    args = parser.parse_args(argv)

    from mlflow_dynamodbstore.local.dynamodb_local import DynamoDBLocal
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    with DynamoDBLocal() as ddb:
        uri = f"dynamodb://127.0.0.1:{ddb.port}/bench-{uuid.uuid4().hex[:8]}"
        tracking = DynamoDBTrackingStore(uri, "s3://bench/artifacts")
        report = run(tracking, args.traces, args.days, args.write_traces)
    text = json.dumps(report, indent=2, default=str)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
