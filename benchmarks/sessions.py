"""Trace sessions at scale (issue #14): an experiment with 100,000 traces over 30 days, in chat
sessions of 1-8 traces (a quarter of the traces without a session); ``session_count`` (the
Traces/Sessions tab's count, and hourly / daily charts) and ``find_completed_sessions``
(online session scoring's window) answered from the session items, compared with the exact
path (every stats item of the range; for find_completed_sessions, of the experiment, as
before session items existed), and the write overhead of a session trace. DynamoDB Local
only (the figures are requests and capacity units).

    .venv/bin/python -m benchmarks.sessions --traces 100000 --days 30

Loading: as benchmarks/trace_rollups.py, the traces are written with BatchWriteItem as the
items the write path produces (stats items with the session id; each session's members and
settled head); META items only for the first and last two days (the clipping reads them).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from functools import partial
from typing import Any

from benchmarks.trace_rollups import DAY_MS, END_MS, _measure, _template_meta

HOUR_MS = 3600 * 1000
MIN_MS = 60 * 1000


def load_phase(tracking, traces: int, days: int) -> tuple[str, dict[str, Any]]:
    from mlflow_dynamodbstore.repositories.traces import sessions
    from mlflow_dynamodbstore.repositories.traces.codec import encode_analytics, finalize
    from mlflow_dynamodbstore.repositories.traces.stats import stats_item
    from mlflow_dynamodbstore.schema import session_keys

    template = _template_meta(tracking)
    experiment_id = str(template["experiment_id"])
    rng = random.Random(17)
    gateway = tracking.gateway
    start = END_MS - days * DAY_MS
    stats = gateway.stats
    stats.reset()
    started = time.perf_counter()
    chunk: list[dict[str, Any]] = []
    heads: dict[str, list[int]] = {}
    written = 0

    def flush(force: bool = False) -> None:
        nonlocal chunk
        if chunk and (force or len(chunk) >= 2000):
            gateway.batch_write(puts=chunk)
            chunk = []
            print(f"loaded {written} traces, {time.perf_counter() - started:.0f} s", flush=True)

    while written < traces:
        at = rng.randrange(start, END_MS + 1)
        in_session = rng.random() < 0.8
        count = rng.randint(1, 8) if in_session else 1
        session_id = f"sess-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}" if in_session else None
        for _ in range(min(count, traces - written)):
            trace_id = f"tr-{uuid.UUID(int=rng.getrandbits(128)).hex}"
            columns: dict[str, Any] = {"input_tokens": rng.randint(50, 2000)}
            if session_id:
                columns["session_id"] = session_id
            meta = finalize(
                {
                    **template,
                    "trace_id": trace_id,
                    "request_id": trace_id,
                    "timestamp_ms": min(at, END_MS),
                    "execution_time_ms": int(rng.lognormvariate(6.5, 0.8)),
                    "analytics": encode_analytics(columns),
                    "version": 2,
                }
            )
            item = stats_item(meta)
            chunk.append(item)
            if not start + 2 * DAY_MS <= meta["timestamp_ms"] <= END_MS - 2 * DAY_MS:
                chunk.append(meta)  # the edges: the clipping reads the oldest / newest
            m = sessions.membership(item)
            if m is not None:
                chunk.append(sessions._member_item(m))
                times = heads.setdefault(session_id, [])
                times.append(m.timestamp_ms)
            written += 1
            at += rng.randint(20_000, 5 * MIN_MS)  # the next turn of the chat
            flush()
    for session_id, times in heads.items():
        # The head as the settle writes it (sessions._desired: first, last, timestamps).
        desired = sessions._desired([{"timestamp_ms": t} for t in times])
        chunk.append(
            {
                **session_keys.head_key(experiment_id, session_id),
                **session_keys.by_last_keys(experiment_id, session_id, desired["last"]),
                **{k: v for k, v in desired.items() if v is not None},
                "sid": session_id,
                "experiment_id": experiment_id,
                **({"workspace": template["workspace"]} if template.get("workspace") else {}),
                sessions.TOKEN: "",
                sessions.SETTLED: "",
            }
        )
        flush()
    flush(force=True)
    return experiment_id, {
        "traces": traces,
        "sessions": len(heads),
        "traces_in_sessions": sum(len(t) for t in heads.values()),
        "seconds": round(time.perf_counter() - started, 1),
        "batch_write_requests": stats.total_requests,
    }


def _session_count(tracking, experiment_id, low, high, interval=None):
    from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType

    points = tracking.query_trace_metrics(
        [experiment_id],
        MetricViewType.TRACES,
        "session_count",
        [MetricAggregation(AggregationType.COUNT)],
        time_interval_seconds=interval,
        start_time_ms=low,
        end_time_ms=high,
        max_results=10_000,
    )
    return [(p.dimensions.get("time_bucket"), p.values["COUNT"]) for p in points]


def _exact_rows(traces, ids, low, high, _interval):
    """The exact path: every stats item of the range (what session_count read before)."""
    from mlflow_dynamodbstore.search.trace_metrics.query import MetricRow, TraceRecords

    for r in TraceRecords(traces).from_stats(ids, low, high):
        yield MetricRow(r["timestamp_ms"] * 1_000_000, r.get("session_id"))


def _completed(tracking, experiment_id, low, high, max_results):
    return [
        (s.session_id, s.first_trace_timestamp_ms, s.last_trace_timestamp_ms)
        for s in tracking.find_completed_sessions(experiment_id, low, high, max_results)
    ]


def _completed_from_stats(tracking, experiment_id, low, high, max_results):
    """find_completed_sessions as it was: every stats item of the experiment."""
    from mlflow_dynamodbstore.search.trace_metrics.traces_view import TraceRecords

    spans: dict[str, tuple[int, int]] = {}
    for r in TraceRecords(tracking.traces).from_stats([experiment_id], None, None):
        sid = r.get("session_id")
        if sid is None:
            continue
        first, last = spans.get(sid, (r["timestamp_ms"], r["timestamp_ms"]))
        spans[sid] = (min(first, r["timestamp_ms"]), max(last, r["timestamp_ms"]))
    found = sorted(
        ((last, sid, first) for sid, (first, last) in spans.items() if low <= last <= high)
    )
    return [(sid, first, last) for last, sid, first in found][:max_results]


def query_phase(tracking, experiment_id: str) -> dict[str, Any]:
    from mlflow_dynamodbstore.search.trace_metrics import query as query_module

    stats = tracking.gateway.stats
    now = END_MS
    charts = {
        "sessions tab, last 7 days": (now - 7 * DAY_MS, now, None),
        "sessions tab, last 24 hours": (now - DAY_MS, now, None),
        "sessions tab, last 30 days": (now - 30 * DAY_MS, now, None),
        "hourly, last 24 hours": (now - DAY_MS, now, 3600),
        "daily, last 7 days": (now - 7 * DAY_MS, now, 86400),
        "a past week (sessions after it are read)": (now - 21 * DAY_MS, now - 14 * DAY_MS, None),
    }
    out: dict[str, Any] = {}
    real_rows = query_module.session_count_rows
    for label, (low, high, interval) in charts.items():
        ask = partial(_session_count, tracking, experiment_id, low, high, interval)
        ours = _measure(stats, ask)
        query_module.session_count_rows = _exact_rows
        try:
            exact = _measure(stats, ask)
        finally:
            query_module.session_count_rows = real_rows
        assert ours["result"] == exact["result"], label
        out[label] = {"answer_points": len(ours["result"]), "ours": ours, "exact": exact}
        out[label]["ours"]["result"] = out[label]["exact"]["result"] = None
    windows = {
        "scoring window: last 10 minutes": (now - 10 * MIN_MS, now, None),
        "scoring window: last hour": (now - HOUR_MS, now, None),
        "last day, max_results 100": (now - DAY_MS, now, 100),
    }
    for label, (low, high, limit) in windows.items():
        ours = _measure(stats, partial(_completed, tracking, experiment_id, low, high, limit))
        before = _measure(
            stats, partial(_completed_from_stats, tracking, experiment_id, low, high, limit)
        )
        assert ours["result"] == before["result"], label
        out[f"find_completed_sessions, {label}"] = {
            "answer_points": len(ours["result"]),
            "ours": {**ours, "result": None},
            "exact": {**before, "result": None},
        }
    return out


def write_phase(tracking, traces: int) -> dict[str, Any]:
    """log_spans of traces through the store, with a session id (3 traces per session) and
    without one: the extra requests and write units of the session items."""
    from tests.differential_traces.builders import span

    stats = tracking.gateway.stats
    out = {}
    for label, with_session in (("without session", False), ("with session", True)):
        experiment_id = tracking.create_experiment(f"write-{label}-{uuid.uuid4().hex[:6]}")
        base = 5_000_000 if with_session else 4_000_000

        def go(base=base, with_session=with_session, experiment_id=experiment_id):
            for i in range(traces):
                attrs = {"session.id": f"w{i // 3}"} if with_session else None
                at = i * 7 * MIN_MS
                tracking.log_spans(
                    experiment_id, [span(base + i, 1, None, "root", at, at + 50, attrs)]
                )
            return traces

        measured = _measure(stats, go)
        out[label] = {
            "per_trace_requests": round(measured["requests"] / traces, 2),
            "per_trace_wcu": round(measured["wcu"] / traces, 2),
            "per_trace_rcu": round(measured["rcu"] / traces, 2),
            "by_operation": measured["by_operation"],
        }
    return out


def markdown(report: dict[str, Any]) -> str:
    load = report["load"]
    lines = [
        f"{load['traces']:,} traces over {report['days']} days, {load['sessions']:,} sessions "
        f"({load['traces_in_sessions']:,} traces in sessions).",
        "",
        "| query | points | ours: requests | ours: RCU | exact path: requests | exact: RCU |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, row in report["queries"].items():
        ours, exact = row["ours"], row["exact"]
        lines.append(
            f"| {label} | {row['answer_points']} | {ours['requests']} | {ours['rcu']} | "
            f"{exact['requests']} | {exact['rcu']} |"
        )
    lines += ["", "| write (log_spans) | requests / trace | WCU / trace | RCU / trace |"]
    lines.append("| --- | --- | --- | --- |")
    for label, row in report["writes"].items():
        lines.append(
            f"| {label} | {row['per_trace_requests']} | {row['per_trace_wcu']} | "
            f"{row['per_trace_rcu']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--write-traces", type=int, default=150)
    parser.add_argument("--out", default="benchmarks/results/sessions.json")
    args = parser.parse_args(argv)

    from mlflow_dynamodbstore.local.dynamodb_local import DynamoDBLocal
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    with DynamoDBLocal() as ddb:
        uri = f"dynamodb://127.0.0.1:{ddb.port}/bench-{uuid.uuid4().hex[:8]}"
        tracking = DynamoDBTrackingStore(uri, "s3://bench/artifacts")
        report: dict[str, Any] = {"days": args.days}
        report["writes"] = write_phase(tracking, args.write_traces)
        print(json.dumps(report, indent=2), flush=True)
        experiment_id, report["load"] = load_phase(tracking, args.traces, args.days)
        report["queries"] = query_phase(tracking, experiment_id)
    text = json.dumps(report, indent=2)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
