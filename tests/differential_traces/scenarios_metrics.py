"""query_trace_metrics: every metric, aggregation, dimension, time bucket and filter of the
TRACES view, the ASSESSMENTS and SPANS views, and bad input. Registered in their own list
(METRIC_SCENARIOS), run by test_trace_metrics_differential.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mlflow.entities import AssessmentSource, Expectation, Feedback, SpanType, TraceState
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType
from mlflow.tracing.constant import (
    SpanAttributeKey,
    TraceMetadataKey,
    TraceMetricKey,
    TraceTagKey,
)

from mlflow_dynamodbstore.compat import mlflow_at_least
from tests.differential.harness import attempt
from tests.differential_traces.builders import BASE_MS, info, span, tid
from tests.differential_traces.registry import TraceScenario

METRIC_SCENARIOS: list[TraceScenario] = []

HOUR = 3600 * 1000
DAY = 24 * HOUR
TRACES, SPANS, ASSESSMENTS = MetricViewType.TRACES, MetricViewType.SPANS, MetricViewType.ASSESSMENTS
COUNT = [MetricAggregation(AggregationType.COUNT)]
STATS = [
    MetricAggregation(AggregationType.AVG),
    MetricAggregation(AggregationType.MIN),
    MetricAggregation(AggregationType.MAX),
    MetricAggregation(AggregationType.PERCENTILE, 50),
    MetricAggregation(AggregationType.PERCENTILE, 95),
    MetricAggregation(AggregationType.PERCENTILE, 99.9),
]
SUMS = [MetricAggregation(AggregationType.SUM), *STATS]
WHOLE = {"start_time_ms": BASE_MS - DAY, "end_time_ms": BASE_MS + 10 * DAY}


def metric_scenario(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    METRIC_SCENARIOS.append(TraceScenario(fn.__name__, fn))
    return fn


def _as_3_17_sums(values: dict[str, Any]) -> dict[str, Any]:
    """Before 3.17 SqlAlchemyStore summed token counts from a float column (trace_metrics.value)
    and answered 487.0; 3.17 sums its integer token columns and answers 487, as this store does
    on every release. The type reaches no client (the REST answer is a proto double, the
    in-process answer compares equal), so before 3.17 a whole-number SUM is compared as an int.
    From 3.17 on the types are compared as they are."""
    if mlflow_at_least("3.17"):
        return values
    return {
        k: int(v) if k == AggregationType.SUM.value and isinstance(v, float) and v.is_integer()
        else v
        for k, v in values.items()
    }  # fmt: skip


def _as_3_17_assessment_buckets(result: Any) -> Any:
    """Before 3.17 SqlAlchemyStore put an ASSESSMENTS data point in the time bucket of the
    assessment's creation (``created_timestamp``: ``get_time_bucket_expression`` in
    mlflow/store/tracking/utils/sql_trace_metrics_utils.py) while its range filter reads the
    trace's time; 3.17 buckets by the trace's time (``trace_timestamp_ms``), as this store does
    on every release. So before 3.17 a bucketed assessment chart is compared by the series it
    answers for (metric and dimensions without the bucket), not by bucket; from 3.17 on as it
    is."""
    if mlflow_at_least("3.17") or not isinstance(result, list):
        return result  # from 3.17 on, or a Failed
    series = set()
    for p in result:
        dims = {k: v for k, v in p["dimensions"].items() if k != "time_bucket"}
        series.add((p["metric"], tuple(sorted(dims.items()))))
    return sorted(series)


def points(result: Any) -> Any:
    """Comparable data points: values exactly, and their types."""
    if not isinstance(result, list) and not hasattr(result, "token"):
        return result  # a Failed
    out = []
    for p in result:
        values = _as_3_17_sums(dict(sorted(p.values.items())))
        out.append(
            {
                "metric": p.metric_name,
                "dimensions": p.dimensions,
                "values": values,
                "types": {k: type(v).__name__ for k, v in values.items()},
            }
        )
    return out


def ask(store, experiment_ids, view, metric, aggs, **kwargs) -> Any:
    return points(
        attempt(lambda: store.query_trace_metrics(experiment_ids, view, metric, aggs, **kwargs))
    )


def _llm(trace: int, span_id: int, parent: int, start: int, usage: dict, cost: dict, model: str):
    return span(
        trace,
        span_id,
        parent,
        f"llm-{model}",
        start + 1,
        start + 1 + 7 * span_id,
        {
            "mlflow.spanType": SpanType.LLM,
            SpanAttributeKey.CHAT_USAGE: usage,
            SpanAttributeKey.LLM_COST: cost,
            SpanAttributeKey.MODEL: model,
            SpanAttributeKey.MODEL_PROVIDER: "openai" if model.startswith("gpt") else "anthropic",
        },
    )


def corpus(store) -> tuple[str, str]:
    """Two experiments. In the first, traces 1-8 from spans over four days (names agent /
    chat, sessions, token usage and cost on LLM spans, errors), 9-11 from start_trace (one
    in progress, one without duration), tags, metadata, a run link and assessments."""
    e1, e2 = store.create_experiment("metrics"), store.create_experiment("other")
    for n in range(1, 9):
        start = (n - 1) * 13 * HOUR + n * 1000
        attrs: dict[str, Any] = {"mlflow.spanInputs": {"q": n}}
        if n % 3:
            attrs["session.id"] = f"s{n % 3}"
        usage = {"input_tokens": 10 * n, "output_tokens": n, "total_tokens": 11 * n}
        if n % 2:
            usage["cache_read_input_tokens"] = n
        cost = {"input_cost": 0.001 * n, "output_cost": 0.0005 * n, "total_cost": 0.0015 * n}
        spans = [
            span(n, 1, None, "agent" if n % 2 else "chat", start, start + 100 * n, attrs,
                 error=n == 4),
            _llm(n, 2, 1, start, usage, cost, "gpt-4o" if n < 5 else "claude"),
        ]  # fmt: skip
        if n == 6:
            spans.append(_llm(n, 3, 1, start + 5, {"input_tokens": 3, "output_tokens": 4,
                                                   "total_tokens": 7}, cost, "gpt-4o"))  # fmt: skip
        store.log_spans(e1, spans)
        store.set_trace_tag(tid(n), "group", "odd" if n % 2 else "even")
        if n != 8:
            store.set_trace_tag(tid(n), TraceTagKey.TRACE_NAME, "agent" if n % 2 else "chat")
    store.log_spans(e2, [span(20, 1, None, "elsewhere", 0, 50)])
    for n in (9, 10, 11):
        store.start_trace(
            info(
                tid(n),
                e1,
                BASE_MS + n * 7 * HOUR,
                duration=None if n == 11 else 40 * n,
                state=TraceState.IN_PROGRESS if n == 10 else TraceState.OK,
                tags={TraceTagKey.TRACE_NAME: "started", "env": "prod"},
                metadata={
                    TraceMetadataKey.SOURCE_RUN: "run-9" if n == 9 else "",
                    TraceMetadataKey.TRACE_SESSION: "s1",
                    TraceMetadataKey.TOKEN_USAGE: json.dumps(
                        {"input_tokens": n, "output_tokens": 1, "total_tokens": n + 1}
                    ),
                },
            )
        )
    source = AssessmentSource("HUMAN", "u")
    for n, value in ((1, 0.5), (2, 1.0), (3, True), (5, "great"), (6, 0.25)):
        store.create_assessment(
            Feedback(name="quality", value=value, source=source, trace_id=tid(n))
        )
    store.create_assessment(
        Feedback(name="latency_ok", value=False, source=source, trace_id=tid(1))
    )
    store.create_assessment(Expectation(name="answer", value="42", source=source, trace_id=tid(2)))
    old = store.create_assessment(
        Feedback(name="quality", value=0.1, source=source, trace_id=tid(7))
    )
    store.create_assessment(
        Feedback(name="quality", value=0.9, source=source, trace_id=tid(7),
                 overrides=old.assessment_id)
    )  # fmt: skip
    return e1, e2


@metric_scenario
def traces_count_plain_and_bucketed(store):
    e1, e2 = corpus(store)
    return {
        "all": ask(store, [e1, e2], TRACES, "trace_count", COUNT),
        "e1": ask(store, [e1], TRACES, "trace_count", COUNT, **WHOLE),
        "daily": ask(store, [e1], TRACES, "trace_count", COUNT, time_interval_seconds=86400,
                     **WHOLE),
        "hourly_by_name_status": ask(
            store, [e1], TRACES, "trace_count", COUNT, time_interval_seconds=3600,
            dimensions=["trace_name", "trace_status"], **WHOLE,
        ),
        "by_status": ask(store, [e1], TRACES, "trace_count", COUNT, dimensions=["trace_status"]),
        "narrow": ask(store, [e1], TRACES, "trace_count", COUNT,
                      start_time_ms=BASE_MS + 13 * HOUR, end_time_ms=BASE_MS + 39 * HOUR + 3000),
        "before_all": ask(store, [e1], TRACES, "trace_count", COUNT, start_time_ms=0,
                          end_time_ms=BASE_MS - 1),
        "open_start": ask(store, [e1], TRACES, "trace_count", COUNT,
                          end_time_ms=BASE_MS + 30 * HOUR),
        "open_end": ask(store, [e1], TRACES, "trace_count", COUNT,
                        start_time_ms=BASE_MS + 30 * HOUR),
        "limited": ask(store, [e1], TRACES, "trace_count", COUNT, time_interval_seconds=3600,
                       max_results=3, **WHOLE),
        "weekly_over_years": ask(store, [e1], TRACES, "trace_count", COUNT,
                                 time_interval_seconds=7 * 86400, start_time_ms=0,
                                 end_time_ms=BASE_MS + 400 * DAY),
    }  # fmt: skip


@metric_scenario
def traces_sessions(store):
    e1, _ = corpus(store)
    return {
        "all": ask(store, [e1], TRACES, "session_count", COUNT),
        "daily": ask(store, [e1], TRACES, "session_count", COUNT, time_interval_seconds=86400,
                     **WHOLE),
    }  # fmt: skip


@metric_scenario
def traces_latency(store):
    e1, _ = corpus(store)
    return {
        "all": ask(store, [e1], TRACES, "latency", STATS),
        "by_name": ask(store, [e1], TRACES, "latency", STATS, dimensions=["trace_name"]),
        "six_hourly": ask(store, [e1], TRACES, "latency", STATS, time_interval_seconds=6 * 3600,
                          dimensions=["trace_name"], **WHOLE),
    }  # fmt: skip


@metric_scenario
def traces_tokens(store):
    e1, _ = corpus(store)
    return {
        key: {
            "all": ask(store, [e1], TRACES, key, SUMS),
            "daily_by_name": ask(store, [e1], TRACES, key, SUMS, time_interval_seconds=86400,
                                 dimensions=["trace_name"], **WHOLE),
        }
        for key in TraceMetricKey.token_usage_keys()
    }  # fmt: skip


@metric_scenario
def traces_filters(store):
    e1, e2 = corpus(store)
    usage3 = json.dumps({"input_tokens": 30, "output_tokens": 3, "total_tokens": 33,
                         "cache_read_input_tokens": 3})  # fmt: skip
    cases = {
        "status_ok": ["trace.status = 'OK'"],
        "status_error": ["trace.status = 'ERROR'"],
        "name": ["trace.tag.mlflow.traceName = 'agent'"],
        "tag": ["trace.tag.group = 'odd'"],
        "tag_and_status": ["trace.tag.group = 'even'", "trace.status = 'OK'"],
        "env": ["trace.tag.env = 'prod'"],
        "session": ["trace.metadata.mlflow.trace.session = 's1'"],
        "source_run": ["trace.metadata.mlflow.sourceRun = 'run-9'"],
        "metadata_other": ["trace.metadata.mlflow.sourceRun = ''"],
        "usage_canonical": [f"trace.metadata.mlflow.trace.tokenUsage = '{usage3}'"],
        "usage_other": ["trace.metadata.mlflow.trace.tokenUsage = '{\"input_tokens\": 30}'"],
        "nothing": ["trace.status = 'NOPE'"],
        "backticks": ["trace.tag.`group` = 'odd'"],
    }
    out = {}
    for name, filters in cases.items():
        out[name] = {
            "count": ask(store, [e1, e2], TRACES, "trace_count", COUNT, filters=filters),
            "latency_daily": ask(store, [e1], TRACES, "latency", STATS, filters=filters,
                                 time_interval_seconds=86400, **WHOLE),
        }  # fmt: skip
    return out


@metric_scenario
def traces_follow_updates_and_deletes(store):
    e1, _ = corpus(store)
    store.set_trace_tag(tid(1), TraceTagKey.TRACE_NAME, "renamed")
    store.delete_traces(e1, trace_ids=[tid(2), tid(9)])
    store.log_spans(e1, [span(1, 5, 1, "late", 50, 90_000)])  # widens trace 1's latency
    return {
        "by_name": ask(store, [e1], TRACES, "trace_count", COUNT, dimensions=["trace_name"]),
        "latency": ask(store, [e1], TRACES, "latency", STATS, dimensions=["trace_name"]),
        "old_deleted": ask(store, [e1], TRACES, "trace_count", COUNT,
                           end_time_ms=BASE_MS + 20 * HOUR),
    }  # fmt: skip


@metric_scenario
def traces_empty_and_unknown_experiments(store):
    empty = store.create_experiment("empty")
    return {
        "count": ask(store, [empty], TRACES, "trace_count", COUNT),
        "avg": ask(store, [empty], TRACES, "latency", STATS),
        "unknown": ask(store, ["123456"], TRACES, "trace_count", COUNT),
        "bucketed": ask(store, [empty], TRACES, "trace_count", COUNT, time_interval_seconds=60,
                        **WHOLE),
    }  # fmt: skip


@metric_scenario
def traces_bad_input(store):
    e1 = store.create_experiment("bad")
    pct = MetricAggregation(AggregationType.PERCENTILE, 50)
    return {
        "unknown_metric": ask(store, [e1], TRACES, "nope", COUNT),
        "span_metric_on_traces": ask(store, [e1], TRACES, "span_count", COUNT),
        "bad_aggregation": ask(store, [e1], TRACES, "trace_count", [pct]),
        "sum_latency": ask(store, [e1], TRACES, "latency",
                           [MetricAggregation(AggregationType.SUM)]),
        "bad_dimension": ask(store, [e1], TRACES, "latency", STATS, dimensions=["trace_status"]),
        "interval_without_start": ask(store, [e1], TRACES, "trace_count", COUNT,
                                      time_interval_seconds=60, end_time_ms=5),
        "interval_without_end": ask(store, [e1], TRACES, "trace_count", COUNT,
                                    time_interval_seconds=60, start_time_ms=5),
        "bad_filter_syntax": ask(store, [e1], TRACES, "trace_count", COUNT, filters=["status"]),
        "bad_filter_entity": ask(store, [e1], TRACES, "trace_count", COUNT,
                                 filters=["trace.nope = 'x'"]),
        "bad_filter_comparator": ask(store, [e1], TRACES, "trace_count", COUNT,
                                     filters=["trace.status != 'OK'"]),
        "bad_filter_view": ask(store, [e1], TRACES, "trace_count", COUNT,
                               filters=["run.status = 'OK'"]),
        "two_clauses": ask(store, [e1], TRACES, "trace_count", COUNT,
                           filters=["trace.status = 'OK' AND trace.tag.a = 'b'"]),
        "span_filter_on_traces": ask(store, [e1], TRACES, "trace_count", COUNT,
                                     filters=["span.name = 'x'"]),
        "assessment_filter_on_spans": ask(store, [e1], SPANS, "span_count", COUNT,
                                          filters=["assessment.name = 'x'"]),
        "tag_without_key": ask(store, [e1], TRACES, "trace_count", COUNT,
                               filters=["trace.tag = 'x'"]),
        "unquoted_value": ask(store, [e1], TRACES, "trace_count", COUNT,
                              filters=["trace.status = 5"]),
        "bad_experiment_id": ask(store, ["abc"], TRACES, "trace_count", COUNT),
    }  # fmt: skip


@metric_scenario
def assessments_view(store):
    e1, _ = corpus(store)
    value = [MetricAggregation(AggregationType.AVG), MetricAggregation(AggregationType.MIN),
             MetricAggregation(AggregationType.MAX),
             MetricAggregation(AggregationType.PERCENTILE, 75)]  # fmt: skip
    return {
        "count": ask(store, [e1], ASSESSMENTS, "assessment_count", COUNT),
        "by_name_value": ask(store, [e1], ASSESSMENTS, "assessment_count", COUNT,
                             dimensions=["assessment_name", "assessment_value"]),
        "daily": _as_3_17_assessment_buckets(
            ask(store, [e1], ASSESSMENTS, "assessment_count", COUNT,
                time_interval_seconds=86400, dimensions=["assessment_name"], **WHOLE)),
        "values": ask(store, [e1], ASSESSMENTS, "assessment_value", value,
                      dimensions=["assessment_name"]),
        "filtered": ask(store, [e1], ASSESSMENTS, "assessment_count", COUNT,
                        filters=["assessment.name = 'quality'", "trace.tag.group = 'odd'"]),
        "by_type": ask(store, [e1], ASSESSMENTS, "assessment_count", COUNT,
                       filters=["assessment.type = 'expectation'"]),
        "status": ask(store, [e1], ASSESSMENTS, "assessment_value", value,
                      filters=["trace.status = 'OK'"]),
    }  # fmt: skip


@metric_scenario
def spans_view(store):
    e1, _ = corpus(store)
    costs = {
        key: ask(store, [e1], SPANS, key, SUMS, dimensions=["span_model_name"])
        for key in ("input_cost", "output_cost", "total_cost")
    }
    return {
        **costs,
        "count": ask(store, [e1], SPANS, "span_count", COUNT),
        "by_type_status": ask(store, [e1], SPANS, "span_count", COUNT,
                              dimensions=["span_type", "span_status"]),
        "by_model": ask(store, [e1], SPANS, "span_count", COUNT,
                        dimensions=["span_model_name", "span_model_provider"]),
        "latency": ask(store, [e1], SPANS, "latency", STATS, dimensions=["span_name"]),
        "daily_cost": ask(store, [e1], SPANS, "total_cost", SUMS, time_interval_seconds=86400,
                          dimensions=["span_model_provider"], **WHOLE),
        "llm_only": ask(store, [e1], SPANS, "span_count", COUNT, filters=["span.type = 'LLM'"]),
        "range": ask(store, [e1], SPANS, "latency", STATS, start_time_ms=BASE_MS + 20 * HOUR,
                     end_time_ms=BASE_MS + 60 * HOUR, time_interval_seconds=3600),
        "trace_filter": ask(store, [e1], SPANS, "span_count", COUNT,
                            filters=["trace.tag.group = 'odd'", "span.status = 'OK'"]),
    }  # fmt: skip


@metric_scenario
def prompt_links(store):
    from mlflow.entities.model_registry import PromptVersion

    from tests.differential_traces.builders import search_plain

    e1, _ = corpus(store)

    def pv(name: str, version: int) -> PromptVersion:
        return PromptVersion(name, version, "Hello {{x}}")

    store.link_prompts_to_trace(tid(1), [pv("greet", 1), pv("qa", 2)])
    store.link_prompts_to_trace(tid(1), [pv("greet", 1)])  # again: no duplicate
    store.link_prompts_to_trace(tid(3), [pv("greet", 1)])
    store.link_prompts_to_trace(tid(4), [])

    def search(f: str):
        return attempt(lambda: search_plain(store.search_traces([e1], filter_string=f)))

    return {
        "missing_trace": attempt(lambda: store.link_prompts_to_trace("tr-nope", [pv("a", 1)])),
        "greet": search('tags.mlflow.linkedPrompts = "greet/1"'),
        "qa": search('tags.mlflow.linkedPrompts = "qa/2"'),
        "none": search('tags.mlflow.linkedPrompts = "qa/1"'),
        "and_other": search('tags.mlflow.linkedPrompts = "greet/1" AND tags.group = "odd"'),
        "bad_comparator": search('tags.mlflow.linkedPrompts != "greet/1"'),
        "bad_value": search('tags.mlflow.linkedPrompts = "greet"'),
        "info": attempt(lambda: store.get_trace_info(tid(1)).tags.get("mlflow.linkedPrompts")),
    }


@metric_scenario
def completed_sessions(store):
    e1, e2 = corpus(store)
    # More sessions: s9 spans a wide window, s10 has a tie on its first timestamp.
    for n, (session, at) in enumerate(
        [("s9", 0), ("s9", 80 * HOUR), ("s10", 5 * HOUR), ("s10", 5 * HOUR), ("s10", 6 * HOUR)],
        start=30,
    ):
        store.log_spans(e1, [span(n, 1, None, f"r{n}", at, at + 5, {"session.id": session})])
        store.set_trace_tag(tid(n), "first", "yes" if n in (32, 30) else "no")
    store.log_spans(e2, [span(40, 1, None, "r", 0, 5, {"session.id": "s1"})])

    def find(lo, hi, **kwargs):
        return attempt(
            lambda: [
                (s.session_id, s.first_trace_timestamp_ms, s.last_trace_timestamp_ms)
                for s in store.find_completed_sessions(e1, lo, hi, **kwargs)
            ]
        )

    end = BASE_MS + 100 * HOUR
    return {
        "all": find(0, end),
        "window": find(BASE_MS + 20 * HOUR, BASE_MS + 60 * HOUR),
        "ongoing_excluded": find(0, BASE_MS + 50 * HOUR),
        "limited": find(0, end, max_results=2),
        "filter_tag": find(0, end, filter_string="tags.first = 'yes'"),
        "filter_name": find(0, end, filter_string="trace.name = 'r32'"),
        "filter_status": find(0, end, filter_string="trace.status = 'OK'"),
        "filter_span": find(0, end, filter_string="span.name = 'r30'"),
        "filter_later_span": find(0, end, filter_string="span.name = 'r31'"),
        "bad_filter": find(0, end, filter_string="nope.x = 'y'"),
        "bad_experiment": attempt(lambda: store.find_completed_sessions("abc", 0, 1)),
        "other_experiment": attempt(
            lambda: [s.session_id for s in store.find_completed_sessions(e2, 0, end)]
        ),
        "unknown_experiment": attempt(lambda: store.find_completed_sessions("98765", 0, end)),
    }
