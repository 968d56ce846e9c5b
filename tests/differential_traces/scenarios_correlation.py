"""calculate_trace_filter_correlation: NPMI counts of two search_traces filters over the
metrics corpus (stats-servable filters, META-only filters, span and assessment clauses, time
windows, several experiments, empty results) and bad input. Registered in their own list
(CORRELATION_SCENARIOS), run by test_trace_correlation_differential.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tests.differential.harness import attempt
from tests.differential_traces.builders import BASE_MS
from tests.differential_traces.registry import TraceScenario
from tests.differential_traces.scenarios_metrics import HOUR, corpus

CORRELATION_SCENARIOS: list[TraceScenario] = []


def correlation_scenario(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    CORRELATION_SCENARIOS.append(TraceScenario(fn.__name__, fn))
    return fn


def corr(store, experiment_ids, f1, f2, base=None) -> Any:
    result = attempt(
        lambda: store.calculate_trace_filter_correlation(experiment_ids, f1, f2, base_filter=base)
    )
    return dataclasses.asdict(result) if dataclasses.is_dataclass(result) else result


WINDOW = f"timestamp_ms >= {BASE_MS + 13 * HOUR} and timestamp_ms <= {BASE_MS + 60 * HOUR}"


@correlation_scenario
def correlation_on_stats_columns(store):
    e1, e2 = corpus(store)
    return {
        "status_vs_name": corr(store, [e1], "trace.status = 'ERROR'", "name = 'chat'"),
        "ok_vs_agent": corr(store, [e1], "status = 'OK'", "tags.mlflow.traceName = 'agent'"),
        "latency_vs_session": corr(
            store, [e1], "execution_time_ms > 300", "metadata.`mlflow.trace.session` = 's1'"
        ),
        "end_time_vs_request_id": corr(
            store, [e1], f"end_time_ms < {BASE_MS + 40 * HOUR}", "request_id LIKE 'tr-%'"
        ),
        "two_experiments": corr(store, [e1, e2], "status = 'OK'", "name = 'agent'"),
        "session_null": corr(
            store, [e1], "metadata.`mlflow.trace.session` IS NULL", "status = 'OK'"
        ),
        "token_usage": corr(
            store,
            [e1],
            'metadata.`mlflow.trace.tokenUsage` = \'{"input_tokens": 9, "output_tokens": 1, '
            '"total_tokens": 10}\'',
            "name = 'started'",
        ),
    }


@correlation_scenario
def correlation_with_time_window(store):
    e1, _ = corpus(store)
    return {
        "window": corr(store, [e1], "status = 'OK'", "name = 'agent'", base=WINDOW),
        "window_meta": corr(store, [e1], "tags.group = 'odd'", "status = 'OK'", base=WINDOW),
        "window_empty": corr(
            store, [e1], "status = 'OK'", "name = 'agent'", base="timestamp_ms < 5"
        ),
        "base_status": corr(store, [e1], "name = 'agent'", "name = 'chat'", base="status = 'OK'"),
        "exact_time": corr(
            store, [e1], "status = 'OK'", "name = 'agent'", base=f"timestamp_ms = {BASE_MS + 1000}"
        ),
        "negative_bound": corr(
            store, [e1], "status = 'OK'", "name = 'agent'", base="timestamp_ms > -10"
        ),
    }


@correlation_scenario
def correlation_on_meta_columns(store):
    e1, _ = corpus(store)
    return {
        "tag_vs_status": corr(store, [e1], "tags.group = 'odd'", "status = 'ERROR'"),
        "tag_vs_tag": corr(store, [e1], "tags.group = 'odd'", "tags.env = 'prod'"),
        "feedback": corr(store, [e1], "feedback.quality > 0.3", "tags.group = 'even'"),
        "feedback_null": corr(store, [e1], "feedback.quality IS NOT NULL", "name = 'agent'"),
        "run": corr(store, [e1], "run_id = 'run-9'", "status = 'OK'"),
        "metadata": corr(store, [e1], "metadata.`mlflow.sourceRun` = ''", "tags.env = 'prod'"),
        "expectation": corr(store, [e1], "expectation.answer = '42'", "status = 'OK'"),
    }


@correlation_scenario
def correlation_on_spans(store):
    e1, _ = corpus(store)
    return {
        "span_name": corr(store, [e1], "span.name = 'llm-gpt-4o'", "status = 'OK'"),
        "span_type_vs_tag": corr(store, [e1], "span.type = 'LLM'", "tags.group = 'odd'"),
        "span_vs_span": corr(store, [e1], "span.name = 'agent'", "span.name = 'llm-claude'"),
        "span_content": corr(store, [e1], "span.content LIKE '%gpt-4o%'", "name = 'agent'"),
        "span_in_window": corr(store, [e1], "span.name = 'chat'", "span.type = 'LLM'", base=WINDOW),
    }


@correlation_scenario
def correlation_without_matches(store):
    e1, e2 = corpus(store)
    return {
        "none_first": corr(store, [e1], "name = 'missing'", "status = 'OK'"),
        "none_both": corr(store, [e1], "name = 'missing'", "tags.group = 'nope'"),
        "all_both": corr(store, [e1], "status != 'nothing'", "timestamp_ms > 0"),
        "empty_experiment": corr(store, [store.create_experiment("empty")], "status = 'OK'",
                                 "name = 'agent'"),
        "unknown_experiment": corr(store, ["987654"], "status = 'OK'", "name = 'agent'"),
        "no_experiments": corr(store, [], "status = 'OK'", "name = 'agent'"),
        "empty_filter": corr(store, [e1, e2], "", "name = 'agent'"),
    }  # fmt: skip


@correlation_scenario
def correlation_bad_input(store):
    e1, _ = corpus(store)
    return {
        "bad_experiment_id": corr(store, ["abc"], "status = 'OK'", "name = 'a'"),
        "bad_key": corr(store, [e1], "foo = 'bar'", "status = 'OK'"),
        "bad_syntax": corr(store, [e1], "status = ", "status = 'OK'"),
        "bad_second": corr(store, [e1], "status = 'OK'", "attributes.nope = 1"),
        "bad_base": corr(store, [e1], "status = 'OK'", "name = 'a'", base="tags.x >>> 1"),
        "bad_comparator": corr(
            store, [e1], "metadata.`mlflow.trace.session` LIKE 's%'", "status = 'OK'"
        ),
        "empty_with_base": corr(store, [e1], "", "name = 'a'", base="status = 'OK'"),
        "bad_prompt": corr(store, [e1], "prompt = 'nover'", "status = 'OK'"),
        "bad_both_reports_first": corr(store, [e1], "foo = 1", "bar = 2"),
    }
