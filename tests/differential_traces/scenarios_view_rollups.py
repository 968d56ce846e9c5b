"""query_trace_metrics calls the SPANS and ASSESSMENTS view cells answer (the Overview page's
tool and quality charts): tool span counts by name and status, tool latency, span counts by
type, assessment counts by name and value, average feedback values; over ranges with edges,
hour / day / 30-day buckets, open ranges; after deletions, retried and re-logged spans,
assessment overrides, updates and deletions, and with hours the cells cannot sum (a
non-integer feedback value). Registered in VIEW_ROLLUP_SCENARIOS, run by
test_view_rollups_differential.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlflow.entities import AssessmentSource, Expectation, Feedback, SpanType, TraceState
from mlflow.entities.assessment import FeedbackValue
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation

from tests.differential_traces.builders import BASE_MS, info, span, tid
from tests.differential_traces.registry import TraceScenario
from tests.differential_traces.scenarios_metrics import (
    ASSESSMENTS,
    DAY,
    HOUR,
    SPANS,
    _as_3_17_assessment_buckets,
    ask,
)

VIEW_ROLLUP_SCENARIOS: list[TraceScenario] = []

COUNT = [MetricAggregation(AggregationType.COUNT)]
AVG = [MetricAggregation(AggregationType.AVG)]
SUM_AVG = [MetricAggregation(AggregationType.SUM), MetricAggregation(AggregationType.AVG)]
ALL = [*COUNT, *SUM_AVG]
TOOL = ["span.type = 'TOOL'"]
FEEDBACK = ["assessment.type = 'feedback'"]
SOURCE = AssessmentSource("HUMAN", "u")


def view_scenario(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    VIEW_ROLLUP_SCENARIOS.append(TraceScenario(fn.__name__, fn))
    return fn


def _spans(n: int, start: int, *, slow_tool: int = 0) -> list:
    """Trace ``n``: a root, two tool calls (one failing every fifth trace), an LLM call, and
    every sixth trace a tool call that starts in the next hour."""
    tool = {"mlflow.spanType": SpanType.TOOL}
    spans = [
        span(n, 1, None, "agent", start, start + 500 + n),
        span(n, 2, 1, "search", start + 3, start + 40 + n + slow_tool, tool),
        span(n, 3, 1, "calc" if n % 2 else "search", start + 50, start + 61, tool,
             error=n % 5 == 0),
        span(n, 4, 1, "llm", start + 70, start + 90 + 3 * n, {"mlflow.spanType": SpanType.LLM}),
    ]  # fmt: skip
    if n % 6 == 0:
        later = start - start % HOUR + HOUR + 17
        spans.append(span(n, 5, 1, "late-tool", later, later + n, tool))
    return spans


def corpus(store) -> tuple[str, str]:
    """Two experiments; in the first 30 traces over ~2.5 days at uneven minutes, with
    feedback (booleans, 1-5 ratings), expectations and an override."""
    e1, e2 = store.create_experiment("views"), store.create_experiment("views-2")
    for n in range(1, 31):
        start = n * 127 * 60 * 1000 + n * 991  # ~2.1 h apart, off the hour
        store.log_spans(e1, _spans(n, start))
        if n % 2:
            store.create_assessment(
                Feedback(name="correct", value=n % 3 != 0, source=SOURCE, trace_id=tid(n))
            )
        if n % 3 == 1:
            store.create_assessment(
                Feedback(name="rating", value=1 + n % 5, source=SOURCE, trace_id=tid(n))
            )
        if n % 7 == 0:
            store.create_assessment(
                Expectation(name="answer", value="42", source=SOURCE, trace_id=tid(n))
            )
    old = store.create_assessment(Feedback(name="rating", value=1, source=SOURCE, trace_id=tid(4)))
    store.create_assessment(
        Feedback(name="rating", value=5, source=SOURCE, trace_id=tid(4),
                 overrides=old.assessment_id)
    )  # fmt: skip
    for n in range(40, 44):
        store.log_spans(e2, _spans(n, n * 2 * HOUR + 5))
        store.create_assessment(
            Feedback(name="correct", value=True, source=SOURCE, trace_id=tid(n))
        )
    return e1, e2


UNALIGNED = {"start_time_ms": BASE_MS + 5 * HOUR + 1234, "end_time_ms": BASE_MS + 2 * DAY + 789}
ALIGNED = {"start_time_ms": BASE_MS - BASE_MS % DAY, "end_time_ms": BASE_MS + 4 * DAY - 1}
NARROW = {"start_time_ms": BASE_MS + 7 * HOUR + 1, "end_time_ms": BASE_MS + 7 * HOUR + 600_000}


def overview(store, experiments: list[str], **range_: Any) -> dict[str, Any]:
    """The Overview page's SPANS / ASSESSMENTS calls over one range (and a few more)."""
    bucketed = len(range_) == 2  # an interval needs both ends of the range (as in SQL)
    out: dict[str, Any] = {
        "tools_by_name_status": ask(store, experiments, SPANS, "span_count", COUNT,
                                    dimensions=["span_name", "span_status"], filters=TOOL,
                                    **range_),
        "tool_latency_by_name": ask(store, experiments, SPANS, "latency", AVG,
                                    dimensions=["span_name"], filters=TOOL, **range_),
        "tool_latency": ask(store, experiments, SPANS, "latency", AVG, filters=TOOL, **range_),
        "spans": ask(store, experiments, SPANS, "span_count", COUNT, **range_),
        "latency_by_status": ask(store, experiments, SPANS, "latency", AVG,
                                 dimensions=["span_status"], **range_),
        "errors_by_type": ask(store, experiments, SPANS, "span_count", COUNT,
                              dimensions=["span_type"], filters=["span.status = 'ERROR'"],
                              **range_),
        "search_spans": ask(store, experiments, SPANS, "span_count", COUNT,
                            filters=["span.name = 'search'"], **range_),
        "assessments_by_name_value": ask(store, experiments, ASSESSMENTS, "assessment_count",
                                         COUNT, dimensions=["assessment_name",
                                                            "assessment_value"],
                                         filters=FEEDBACK, **range_),
        "assessments_by_name": ask(store, experiments, ASSESSMENTS, "assessment_count", COUNT,
                                   dimensions=["assessment_name"], filters=FEEDBACK, **range_),
        "assessments": ask(store, experiments, ASSESSMENTS, "assessment_count", COUNT,
                           **range_),
        "values_by_name": ask(store, experiments, ASSESSMENTS, "assessment_value", AVG,
                              dimensions=["assessment_name"], **range_),
        "rating_values": ask(store, experiments, ASSESSMENTS, "assessment_value", AVG,
                             filters=["assessment.name = 'rating'"], **range_),
    }  # fmt: skip
    if bucketed:
        for label, interval in (("hourly", 3600), ("daily", 86400), ("monthly", 2592000)):
            out[f"tools_{label}"] = ask(
                store, experiments, SPANS, "span_count", COUNT, dimensions=["span_name"],
                filters=TOOL, time_interval_seconds=interval, **range_,
            )  # fmt: skip
            out[f"values_{label}"] = _as_3_17_assessment_buckets(ask(
                store, experiments, ASSESSMENTS, "assessment_value", AVG,
                dimensions=["assessment_name"], filters=FEEDBACK,
                time_interval_seconds=interval, **range_,
            ))  # fmt: skip
        out["tool_latency_daily"] = ask(
            store, experiments, SPANS, "latency", AVG, dimensions=["span_name"], filters=TOOL,
            time_interval_seconds=86400, **range_,
        )  # fmt: skip
    return out


def ranges(store, experiments: list[str]) -> dict[str, Any]:
    return {
        "unaligned": overview(store, experiments, **UNALIGNED),
        "aligned": overview(store, experiments, **ALIGNED),
        "narrow": overview(store, experiments, **NARROW),
        "open": overview(store, experiments),
        "open_start": overview(store, experiments, end_time_ms=UNALIGNED["end_time_ms"]),
    }


@view_scenario
def view_rollups_overview_ranges(store):
    e1, e2 = corpus(store)
    return {
        **ranges(store, [e1]),
        "two_experiments": overview(store, [e1, e2], **UNALIGNED),
        "limited": ask(store, [e1], SPANS, "span_count", COUNT, dimensions=["span_name"],
                       time_interval_seconds=3600, max_results=5, **UNALIGNED),
    }  # fmt: skip


@view_scenario
def view_rollups_after_deletes(store):
    e1, _ = corpus(store)
    store.delete_traces(e1, trace_ids=[tid(n) for n in (3, 7, 12, 13, 22)])
    after_ids = overview(store, [e1], **UNALIGNED)
    store.delete_traces(e1, max_timestamp_millis=BASE_MS + 30 * HOUR)
    after_time = overview(store, [e1], **ALIGNED)
    store.delete_traces(e1, trace_ids=[tid(3), tid(30)])
    return {"ids": after_ids, "time": after_time, "again": overview(store, [e1], **ALIGNED)}


@view_scenario
def view_rollups_after_retries_and_changes(store):
    """Retried log_spans, a span re-logged with another end and status, spans arriving in a
    second batch, a retried start_trace whose spans come later, assessments updated,
    overridden and deleted."""
    e1, _ = corpus(store)
    for n in (2, 5, 9):
        store.log_spans(e1, _spans(n, n * 127 * 60 * 1000 + n * 991))  # retried
    start = 8 * 127 * 60 * 1000 + 8 * 991
    store.log_spans(e1, _spans(8, start, slow_tool=300))  # the search call ended later
    tool = {"mlflow.spanType": SpanType.TOOL}
    store.log_spans(e1, [span(8, 9, 1, "calc", start + 200, start + 260, tool, error=True)])
    started = info(tid(60), e1, BASE_MS + 20 * HOUR + 17, duration=None,
                   state=TraceState.IN_PROGRESS)  # fmt: skip
    store.start_trace(started)
    store.start_trace(started)  # retried
    store.log_spans(e1, _spans(60, 20 * HOUR + 17))
    first = store.create_assessment(
        Feedback(name="rating", value=2, source=SOURCE, trace_id=tid(10))
    )
    store.update_assessment(tid(10), first.assessment_id, feedback=FeedbackValue(value=4))
    store.update_assessment(tid(10), first.assessment_id, name="rating-v2")
    doomed = store.create_assessment(
        Feedback(name="correct", value=False, source=SOURCE, trace_id=tid(11))
    )
    store.delete_assessment(tid(11), doomed.assessment_id)
    old = store.create_assessment(Feedback(name="rating", value=3, source=SOURCE, trace_id=tid(14)))
    store.create_assessment(
        Feedback(name="rating", value=1, source=SOURCE, trace_id=tid(14),
                 overrides=old.assessment_id)
    )  # fmt: skip
    store.delete_assessment(tid(4), _overriding(store, tid(4)))  # the old one is valid again
    return ranges(store, [e1])


def _overriding(store, trace_id: str) -> str:
    info_ = store.get_trace_info(trace_id)
    return next(a.assessment_id for a in info_.assessments if a.overrides)


@view_scenario
def view_rollups_with_unsummed_hours(store):
    """Non-integer feedback values cannot be summed exactly: their hours come from the
    traces (and a chart they share a group with takes the exact path)."""
    e1, _ = corpus(store)
    for n in (5, 17):
        store.create_assessment(
            Feedback(name="score", value=0.1 * n, source=SOURCE, trace_id=tid(n))
        )
    # Labels a key cannot hold as they are (a "#", over 256 bytes): digested, carried.
    store.create_assessment(Feedback(name="grade#1", value="A#", source=SOURCE, trace_id=tid(9)))
    tool = {"mlflow.spanType": SpanType.TOOL}
    start = 11 * 127 * 60 * 1000 + 11 * 991
    store.log_spans(e1, [span(11, 7, 1, "t" * 300, start + 9, start + 19, tool)])
    return ranges(store, [e1])


@view_scenario
def view_rollups_bad_and_empty(store):
    e1, _ = corpus(store)
    empty = store.create_experiment("empty")
    return {
        "empty": overview(store, [empty], **UNALIGNED),
        "empty_open": overview(store, [empty]),
        "unknown": overview(store, ["123456"], **UNALIGNED),
        "reversed": ask(store, [e1], SPANS, "span_count", COUNT, start_time_ms=BASE_MS + DAY,
                        end_time_ms=BASE_MS),
        "interval_without_range": ask(store, [e1], SPANS, "span_count", COUNT,
                                      time_interval_seconds=3600),
        "bad_dimension": ask(store, [e1], ASSESSMENTS, "assessment_count", COUNT,
                             dimensions=["span_name"]),
        "bad_aggregation": ask(store, [e1], SPANS, "latency", ALL),
    }  # fmt: skip
