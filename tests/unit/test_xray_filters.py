"""MLflow span clauses -> X-Ray filter expressions; time windows."""

from __future__ import annotations

from mlflow_dynamodbstore.search.traces.filter import parse_trace_filter
from mlflow_dynamodbstore.xray.filters import MAX_WINDOW_SECONDS, to_filter_expression, windows


def _expression(filter_string: str):
    return to_filter_expression(parse_trace_filter(filter_string).span_clauses)


def test_equalities_on_name_type_status_are_translated():
    assert _expression("span.type = 'LLM'") == 'annotation.mlflow_span_type = "LLM"'
    assert _expression("span.name = 'chat' AND span.status = 'ERROR'") == (
        'annotation.mlflow_span_name = "chat" AND annotation.mlflow_span_status = "ERROR"'
    )


def test_values_are_escaped():
    assert _expression("span.name = 'say \"hi\"'") == (
        'annotation.mlflow_span_name = "say \\"hi\\""'
    )


def test_untranslatable_clauses_are_left_to_the_exact_check():
    assert _expression("span.name LIKE 'ch%'") is None
    assert _expression("span.type != 'LLM'") is None
    assert _expression("span.attributes.model = 'x'") is None
    assert _expression("span.type = 'LLM' AND span.name LIKE 'c%'") == (
        'annotation.mlflow_span_type = "LLM"'
    )
    assert _expression("trace.status = 'OK'") is None


def test_windows_cover_the_range_in_six_hour_pieces():
    pieces = list(windows(0, 2 * MAX_WINDOW_SECONDS + 5))
    assert pieces == [
        (0, MAX_WINDOW_SECONDS),
        (MAX_WINDOW_SECONDS, 2 * MAX_WINDOW_SECONDS),
        (2 * MAX_WINDOW_SECONDS, 2 * MAX_WINDOW_SECONDS + 5),
    ]
    assert list(windows(10, 10)) == []
