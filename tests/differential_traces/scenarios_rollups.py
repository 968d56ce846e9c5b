"""query_trace_metrics calls the rollup cells answer (the Overview page's unfiltered charts):
ranges that start and end inside an hour (edges), hour / day / 30-day buckets, name and
status dimensions and filters, token sums from LLM span attributes, after deletions, after
retried and racing writes. Registered in ROLLUP_SCENARIOS, run by
test_trace_rollups_differential.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlflow.entities import TraceState
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation
from mlflow.tracing.constant import TraceMetadataKey, TraceTagKey

from tests.differential_traces.builders import BASE_MS, info, span, tid
from tests.differential_traces.registry import TraceScenario
from tests.differential_traces.scenarios_metrics import DAY, HOUR, TRACES, _llm, ask

ROLLUP_SCENARIOS: list[TraceScenario] = []

COUNT = [MetricAggregation(AggregationType.COUNT)]
SUM_AVG = [MetricAggregation(AggregationType.SUM), MetricAggregation(AggregationType.AVG)]
AVG = [MetricAggregation(AggregationType.AVG)]
TOKENS = ("input_tokens", "output_tokens", "total_tokens", "cache_read_input_tokens")


def rollup_scenario(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    ROLLUP_SCENARIOS.append(TraceScenario(fn.__name__, fn))
    return fn


def _trace(store, experiment_id: str, n: int, start: int, *, error: bool = False) -> None:
    """Trace ``n`` at ``start`` ms after BASE_MS: a root span and an LLM span whose usage
    attributes MLflow turns into the trace's token usage."""
    usage = {"input_tokens": 7 * n, "output_tokens": n % 5, "total_tokens": 7 * n + n % 5}
    if n % 3 == 0:
        usage["cache_read_input_tokens"] = n
    cost = {"input_cost": 0.001, "output_cost": 0.002, "total_cost": 0.003}
    spans = [
        span(n, 1, None, "root", start, start + 37 * n, error=error),
        _llm(n, 2, 1, start, usage, cost, "gpt-4o" if n % 2 else "claude"),
    ]
    store.log_spans(experiment_id, spans)


def corpus(store) -> tuple[str, str]:
    """Two experiments; in the first 40 traces over three days at uneven minutes, names
    "agent"/"chat"/none, every seventh an error."""
    e1, e2 = store.create_experiment("rollups"), store.create_experiment("rollups-2")
    for n in range(1, 41):
        start = n * 109 * 60 * 1000 + n * 977  # ~1.8 h apart, off the hour
        _trace(store, e1, n, start, error=n % 7 == 0)
        if n % 4:
            store.set_trace_tag(tid(n), TraceTagKey.TRACE_NAME, "agent" if n % 2 else "chat")
    for n in range(50, 56):
        _trace(store, e2, n, n * 3 * HOUR + 5)
    return e1, e2


# Ranges the UI sends: "last N days" from a moment inside an hour, and aligned ones.
UNALIGNED = {"start_time_ms": BASE_MS + 5 * HOUR + 1234, "end_time_ms": BASE_MS + 2 * DAY + 789}
ALIGNED = {"start_time_ms": BASE_MS - BASE_MS % DAY, "end_time_ms": BASE_MS + 4 * DAY - 1}
NARROW = {"start_time_ms": BASE_MS + 7 * HOUR + 1, "end_time_ms": BASE_MS + 7 * HOUR + 600_000}


def overview(store, experiments: list[str], **range_: Any) -> dict[str, Any]:
    """The Overview page's rollup-answered calls over one range."""
    out: dict[str, Any] = {}
    for label, interval in (("hourly", 3600), ("daily", 86400), ("monthly", 2592000)):
        out[f"count_by_status_{label}"] = ask(
            store, experiments, TRACES, "trace_count", COUNT, time_interval_seconds=interval,
            dimensions=["trace_status"], **range_,
        )  # fmt: skip
    out["count"] = ask(store, experiments, TRACES, "trace_count", COUNT, **range_)
    out["count_by_name_status"] = ask(
        store, experiments, TRACES, "trace_count", COUNT,
        dimensions=["trace_name", "trace_status"], **range_,
    )  # fmt: skip
    out["latency_avg"] = ask(store, experiments, TRACES, "latency", AVG, **range_)
    out["latency_avg_daily_by_name"] = ask(
        store, experiments, TRACES, "latency", AVG, time_interval_seconds=86400,
        dimensions=["trace_name"], **range_,
    )  # fmt: skip
    for metric in TOKENS:
        out[f"{metric}_sum_daily"] = ask(
            store, experiments, TRACES, metric, [MetricAggregation(AggregationType.SUM)],
            time_interval_seconds=86400, **range_,
        )  # fmt: skip
    out["total_tokens_sum_avg"] = ask(store, experiments, TRACES, "total_tokens", SUM_AVG, **range_)
    out["errors_only"] = ask(
        store, experiments, TRACES, "trace_count", COUNT, time_interval_seconds=3600,
        filters=["trace.status = 'ERROR'"], **range_,
    )  # fmt: skip
    out["agent_tokens"] = ask(
        store, experiments, TRACES, "total_tokens", SUM_AVG, time_interval_seconds=86400,
        filters=[f"trace.tag.{TraceTagKey.TRACE_NAME} = 'agent'"], **range_,
    )  # fmt: skip
    return out


@rollup_scenario
def rollups_overview_ranges(store):
    e1, e2 = corpus(store)
    return {
        "unaligned": overview(store, [e1], **UNALIGNED),
        "aligned": overview(store, [e1], **ALIGNED),
        "narrow": overview(store, [e1], **NARROW),
        "open": overview(store, [e1]),
        "open_start": overview(store, [e1], end_time_ms=UNALIGNED["end_time_ms"]),
        "two_experiments": overview(store, [e1, e2], **UNALIGNED),
        "limited": ask(store, [e1], TRACES, "trace_count", COUNT, time_interval_seconds=3600,
                       max_results=5, **UNALIGNED),
    }  # fmt: skip


@rollup_scenario
def rollups_after_deletes(store):
    e1, _ = corpus(store)
    store.delete_traces(e1, trace_ids=[tid(n) for n in (3, 7, 14, 15, 22)])
    after_ids = overview(store, [e1], **UNALIGNED)
    store.delete_traces(e1, max_timestamp_millis=BASE_MS + 30 * HOUR)
    after_time = overview(store, [e1], **ALIGNED)
    # Deleting again, and deleting what is gone, changes nothing.
    store.delete_traces(e1, trace_ids=[tid(3), tid(30)])
    return {"ids": after_ids, "time": after_time, "again": overview(store, [e1], **ALIGNED)}


@rollup_scenario
def rollups_after_retries_and_changes(store):
    """A client retrying log_spans / start_trace, a name that changes, a trace that ends
    after it started, a timestamp moved to another hour by a later, earlier span."""
    e1, _ = corpus(store)
    for n in (2, 5, 9):
        _trace(store, e1, n, n * 109 * 60 * 1000 + n * 977, error=n % 7 == 0)  # retried
    store.set_trace_tag(tid(2), TraceTagKey.TRACE_NAME, "renamed")
    store.set_trace_tag(tid(5), TraceTagKey.TRACE_NAME, "renamed")
    store.delete_trace_tag(tid(9), TraceTagKey.TRACE_NAME)
    started = info(
        tid(60), e1, BASE_MS + 20 * HOUR + 17, duration=None, state=TraceState.IN_PROGRESS,
        tags={TraceTagKey.TRACE_NAME: "agent"},
        metadata={TraceMetadataKey.TOKEN_USAGE: '{"input_tokens": 5, "output_tokens": 1, '
                  '"total_tokens": 6}'},
    )  # fmt: skip
    store.start_trace(started)
    store.start_trace(started)  # retried
    # The trace's spans arrive: it ends, gets a duration and an earlier start (another hour).
    store.log_spans(e1, [span(60, 1, None, "root", 19 * HOUR + 59 * 60 * 1000, 20 * HOUR + 5)])
    store.set_trace_tag(tid(7), "unrelated", "tag")  # no dimension: nothing moves
    return overview(store, [e1], **UNALIGNED) | {"open": overview(store, [e1])}


@rollup_scenario
def rollups_bad_and_empty(store):
    e1, _ = corpus(store)
    empty = store.create_experiment("empty")
    return {
        "empty": overview(store, [empty], **UNALIGNED),
        "empty_open": overview(store, [empty]),
        "unknown": overview(store, ["123456"], **UNALIGNED),
        "reversed": ask(store, [e1], TRACES, "trace_count", COUNT, start_time_ms=BASE_MS + DAY,
                        end_time_ms=BASE_MS),
        "interval_without_range": ask(store, [e1], TRACES, "trace_count", COUNT,
                                      time_interval_seconds=3600),
    }  # fmt: skip
