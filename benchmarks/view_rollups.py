"""SPANS and ASSESSMENTS view rollups at scale (issue #14): an experiment with 100,000 traces
over 30 days (a root, 1-3 tool calls, an LLM call; feedback on ~60 % of them), the
Overview page's tool and quality charts answered from the view cells compared with reading
the cells they cover, and the write overhead of the view cells per trace. DynamoDB Local
only. Run alone or as phases of benchmarks/trace_rollups.py (``--views``):

    .venv/bin/python -m benchmarks.view_rollups --traces 100000 --days 30

Loading: the traces are written with BatchWriteItem as the items the write path produces
(each trace's stats item with its ``vr`` summary and both rollup markers, the view cells
summed from the same contributions; META and span items only for the traces of the
ranges' edge hours, the only ones the measured queries read), as trace_rollups.py does.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from typing import Any

from benchmarks.trace_rollups import DAY_MS, END_MS, _measure, _template_meta

TOOLS = ("search", "calc", "fetch", "lookup")
HOUR_MS = 3600 * 1000


def _trace_spans(n: int, start_ms: int, rng: random.Random) -> list:
    from mlflow.entities import SpanType

    from tests.differential_traces.builders import span

    tool = {"mlflow.spanType": SpanType.TOOL}
    latency = int(rng.lognormvariate(6.5, 0.8))
    spans = [span(n, 1, None, "agent", start_ms, start_ms + latency)]
    for i in range(rng.randint(1, 3)):
        spans.append(
            span(n, 2 + i, 1, TOOLS[rng.randrange(len(TOOLS))], start_ms + 1 + i,
                 start_ms + 2 + i + int(rng.lognormvariate(4, 1)), tool,
                 error=rng.random() < 0.03)
        )  # fmt: skip
    spans.append(
        span(n, 9, 1, "llm", start_ms + 5, start_ms + latency - 1,
             {"mlflow.spanType": SpanType.LLM})
    )  # fmt: skip
    return spans


def _feedback(store, n: int, rng: random.Random) -> None:
    from mlflow.entities import AssessmentSource, Feedback

    from tests.differential_traces.builders import tid

    source = AssessmentSource("LLM_JUDGE", "judge")
    if rng.random() < 0.6:
        store.create_assessment(
            Feedback(name="correct", value=rng.random() < 0.8, source=source, trace_id=tid(n))
        )


def view_write_overhead_phase(tracking, traces: int) -> dict[str, Any]:
    """Per trace: log_spans (root, 1-3 tools, LLM) and, for ~60 %, a feedback, through the
    store, with the view cells and with them switched off (no summary in the stats item)."""
    from mlflow_dynamodbstore.repositories.traces import view_rollups

    rng = random.Random(3)
    offset = [2_000_000]

    def workload(experiment_id: str):
        def go():
            for _ in range(traces):
                offset[0] += 1
                n = offset[0]
                tracking.log_spans(experiment_id, _trace_spans(n, n * 60_000, rng))
                _feedback(tracking, n, rng)
            return traces

        return go

    stats = tracking.gateway.stats
    with_cells = _measure(stats, workload(tracking.create_experiment("views-cells")))
    original = view_rollups.projection
    view_rollups.projection = lambda meta: {}
    try:
        without = _measure(stats, workload(tracking.create_experiment("views-off")))
    finally:
        view_rollups.projection = original
    per = {
        k: {
            "requests_per_trace": round(r["requests"] / traces, 2),
            "wcu_per_trace": round(r["wcu"] / traces, 2),
            "by_operation_per_trace": {
                op: round(v / traces, 2) for op, v in sorted(r["by_operation"].items())
            },
        }
        for k, r in (("with_view_cells", with_cells), ("without_view_cells", without))
    }
    per["extra_per_trace"] = {
        key: round(per["with_view_cells"][f"{key}_per_trace"]
                   - per["without_view_cells"][f"{key}_per_trace"], 2)
        for key in ("requests", "wcu")
    }  # fmt: skip
    return per


def _meta(template: dict, trace_id: str, timestamp: int, rng: random.Random) -> dict[str, Any]:
    """A META item as the write path leaves it: span facts (name, type, status, start,
    latency) and the assessments map."""
    from mlflow_dynamodbstore.repositories.traces.codec import finalize

    latency = int(rng.lognormvariate(6.5, 0.8))
    facts = {"s1": ["agent", "CHAIN", "OK", timestamp, latency]}
    for i in range(rng.randint(1, 3)):
        facts[f"t{i}"] = [TOOLS[rng.randrange(len(TOOLS))], "TOOL",
                          "ERROR" if rng.random() < 0.03 else "OK", timestamp + 1 + i,
                          int(rng.lognormvariate(4, 1))]  # fmt: skip
    facts["l1"] = ["llm", "LLM", "OK", timestamp + 5, max(latency - 6, 0)]
    assessments = {}
    if rng.random() < 0.6:
        good = rng.random() < 0.8
        assessments["a-" + trace_id[-12:]] = {
            "assessment_id": "a-" + trace_id[-12:],
            "name": "correct",
            "assessment_type": "feedback",
            "value": json.dumps(good),
            "aggregate_value": repr(float(good)),
            "valid": True,
            "order": 0,
        }
    return finalize(
        {
            **template,
            "trace_id": trace_id,
            "request_id": trace_id,
            "timestamp_ms": timestamp,
            "execution_time_ms": latency,
            "status": "OK",
            "span_facts": facts,
            "assessments": assessments,
            "version": 2,
        }
    )


def _span_items(meta: dict) -> list[dict]:
    from mlflow_dynamodbstore.repositories.traces.spans import SpanRepository, SpanRow

    rows = [
        SpanRow(trace_id=meta["trace_id"], span_id=span_id, parent_span_id=None, name=f[0],
                span_type=f[1], status=f[2], start_time_ns=int(f[3]) * 1_000_000,
                end_time_ns=(int(f[3]) + int(f[4])) * 1_000_000, content="{}")
        for span_id, f in meta["span_facts"].items()
    ]  # fmt: skip
    return [i for r in rows for i in SpanRepository(None).items_for(r)]  # type: ignore[arg-type]


def view_load_phase(tracking, traces: int, days: int) -> tuple[str, dict[str, Any]]:
    from mlflow_dynamodbstore.repositories.traces import rollups, view_rollups
    from mlflow_dynamodbstore.repositories.traces.stats import stats_item

    template = _template_meta(tracking)
    experiment_id = str(template["experiment_id"])
    rng = random.Random(13)
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
        contribution = view_rollups.contribution(item)
        for key, carried, counters in contribution.cells(+1):
            cell = cells.setdefault((key["PK"], key["SK"]), {**key, **carried})
            if contribution.workspace is not None:
                cell["workspace"] = contribution.workspace
            for name, amount in counters.items():
                cell[name] = cell.get(name, 0) + amount
        chunk.append(item)
        ts = meta["timestamp_ms"]
        if ts < start + 2 * HOUR_MS or ts > END_MS - 2 * HOUR_MS:  # the ranges' edge hours
            chunk += [meta, *_span_items(meta)]
            edge_metas += 1
        if len(chunk) >= 2000:
            gateway.batch_write(puts=chunk)
            chunk = []
            print(f"loaded {i + 1} traces, {time.perf_counter() - started:.0f} s", flush=True)
    gateway.batch_write(puts=chunk + list(cells.values()))
    return experiment_id, {
        "traces": traces,
        "view_cells": len(cells),
        "edge_traces_with_meta_and_spans": edge_metas,
        "seconds": round(time.perf_counter() - started, 1),
        "batch_write_requests": stats.total_requests,
    }


def view_query_phase(tracking, experiment_id: str, days: int) -> dict[str, Any]:
    from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType

    from mlflow_dynamodbstore.repositories.traces import view_rollups
    from mlflow_dynamodbstore.schema.trace_rollup_keys import ROLLUP_BUCKET_MS
    from mlflow_dynamodbstore.schema.view_rollup_keys import ASSESSMENTS, SPANS

    stats = tracking.gateway.stats
    count = [MetricAggregation(AggregationType.COUNT)]
    avg = [MetricAggregation(AggregationType.AVG)]
    tool = ["span.type = 'TOOL'"]
    feedback = ["assessment.type = 'feedback'"]
    sp, asm = MetricViewType.SPANS, MetricViewType.ASSESSMENTS
    queries = {
        "tool calls by name and status": (sp, "span_count", count, ["span_name", "span_status"],
                                          tool, None),
        "tool calls per day by name": (sp, "span_count", count, ["span_name"], tool, 86400),
        "tool latency AVG by name": (sp, "latency", avg, ["span_name"], tool, None),
        "tool latency AVG per day by name": (sp, "latency", avg, ["span_name"], tool, 86400),
        "spans per hour by type": (sp, "span_count", count, ["span_type"], None, 3600),
        "feedback AVG per day by name": (asm, "assessment_value", avg, ["assessment_name"],
                                         feedback, 86400),
        "feedback count by name and value": (asm, "assessment_count", count,
                                             ["assessment_name", "assessment_value"], feedback,
                                             None),
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
        rows: dict[str, Any] = {}
        for kind, label in ((SPANS, "spans"), (ASSESSMENTS, "assessments")):
            bare = _measure(stats, lambda k=kind, f=first, e=end: sum(1 for _ in (
                view_rollups.read_cells(tracking.gateway, k, experiment_id, f,
                                        e - ROLLUP_BUCKET_MS))))  # fmt: skip
            bare["cells"] = bare.pop("result")
            rows[f"reading the {label} cells it covers"] = bare
        for label, (view, metric, aggs, dims, filters, interval) in queries.items():

            def ask(v=view, m=metric, a=aggs, d=dims, f=filters, i=interval, lo=low, hi=high):
                return len(tracking.query_trace_metrics(
                    [experiment_id], v, m, a, dimensions=d, filters=f, time_interval_seconds=i,
                    start_time_ms=lo, end_time_ms=hi,
                ))  # fmt: skip

            row = _measure(stats, ask)
            row["points"] = row.pop("result")
            kind_label = "spans" if view == sp else "assessments"
            cells = rows[f"reading the {kind_label} cells it covers"]["requests"]
            row["x cells read"] = round(row["requests"] / max(cells, 1), 2)
            rows[label] = row
        out[range_name] = rows
    return out


def markdown(report: dict[str, Any]) -> str:
    load = report["load"]
    lines = [
        f"{load['traces']:,} traces, {load['view_cells']:,} view cells (loaded in "
        f"{load['seconds']} s: {load['batch_write_requests']:,} BatchWriteItem; META and spans "
        f"for the {load['edge_traces_with_meta_and_spans']:,} traces of the edge hours).",
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
        "**Write overhead** (per trace: `log_spans` of a root, 1-3 tool calls and an LLM call; "
        "a feedback on ~60 %; through the store):",
        "",
        "| | requests / trace | WCU / trace | requests by operation / trace |",
        "| --- | ---: | ---: | --- |",
    ]
    for key, label in (
        ("without_view_cells", "without the view cells"),
        ("with_view_cells", "with the view cells (now)"),
    ):
        row = overhead[key]
        ops = ", ".join(f"{k} {v}" for k, v in row["by_operation_per_trace"].items())
        lines.append(f"| {label} | {row['requests_per_trace']} | {row['wcu_per_trace']} | {ops} |")
    extra = overhead["extra_per_trace"]
    lines += ["", f"Extra per trace: {extra['requests']} requests, {extra['wcu']} WCU."]
    return "\n".join(lines) + "\n"


def run(tracking, traces: int, days: int, write_traces: int) -> dict[str, Any]:
    """The view phases on a store (also called from trace_rollups.py ``--views``)."""
    report: dict[str, Any] = {"write_overhead": view_write_overhead_phase(tracking, write_traces)}
    print(json.dumps(report, indent=2), flush=True)
    experiment_id, report["load"] = view_load_phase(tracking, traces, days)
    report["queries"] = view_query_phase(tracking, experiment_id, days)
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--write-traces", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/results/view-rollups.json")
    args = parser.parse_args(argv)

    from mlflow_dynamodbstore.local.dynamodb_local import DynamoDBLocal
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    with DynamoDBLocal() as ddb:
        uri = f"dynamodb://127.0.0.1:{ddb.port}/bench-{uuid.uuid4().hex[:8]}"
        tracking = DynamoDBTrackingStore(uri, "s3://bench/artifacts")
        report = run(tracking, args.traces, args.days, args.write_traces)
    text = json.dumps(report, indent=2)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
