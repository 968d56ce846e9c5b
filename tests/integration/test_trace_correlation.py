"""calculate_trace_filter_correlation on DynamoDB Local: what it reads. A windowed
correlation on stats columns reads only the stats keys of its window; filters on tags read
the META items of the window (one GSI3 Query per MB); span clauses add one Query per trace of
the window; traces outside the window are never read."""

from __future__ import annotations

import pytest
from mlflow.entities.workspace import Workspace
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.schema import analytics_keys
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.differential_traces.builders import BASE_MS, span, tid

HOUR = 3600 * 1000


@pytest.fixture
def store(store_uri, tmp_path):
    return DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))


def _populate(store) -> str:
    exp = store.create_experiment("corr")
    for n in range(1, 41):
        at = n * HOUR
        store.log_spans(
            exp,
            [
                span(n, 1, None, "agent" if n % 2 else "chat", at, at + 10 * n, error=n % 4 == 0),
                span(n, 2, 1, "llm", at + 1, at + 5, {"mlflow.spanType": "LLM"}),
            ],
        )
        store.set_trace_tag(tid(n), "group", "a" if n % 3 else "b")
        store.set_trace_tag(tid(n), "mlflow.traceName", "agent" if n % 2 else "chat")
    return exp


def _window(first: int, last: int) -> str:
    return f"timestamp_ms >= {BASE_MS + first * HOUR} and timestamp_ms <= {BASE_MS + last * HOUR}"


def test_windowed_correlation_on_stats_columns_reads_only_the_stats_keys_of_the_window(store):
    exp = _populate(store)
    base = _window(11, 20)  # traces 11..20, inside one 30-day period
    stats = store.gateway.stats
    stats.reset()
    result = store.calculate_trace_filter_correlation(
        [exp], "status = 'ERROR'", "name = 'chat'", base_filter=base
    )
    assert (result.total_count, result.filter1_count, result.filter2_count) == (10, 3, 5)
    assert result.joint_count == 3  # 12, 16 and 20 errored, all even: all "chat"
    assert stats.requests("Query") == stats.total_requests == analytics_keys.STATS_SHARDS
    assert stats.read_capacity < 4  # ten ~200-byte stats items

    # Without a window: the experiment's range is found first (2 one-item Queries).
    stats.reset()
    whole = store.calculate_trace_filter_correlation([exp], "status = 'ERROR'", "name = 'chat'")
    assert whole.total_count == 40
    assert stats.total_requests == 2 + analytics_keys.STATS_SHARDS


def test_tag_filters_read_the_window_meta_and_span_filters_its_spans(store):
    exp = _populate(store)
    base = _window(11, 20)
    stats = store.gateway.stats
    stats.reset()
    result = store.calculate_trace_filter_correlation(
        [exp], "tags.group = 'b'", "status = 'OK'", base_filter=base
    )
    assert (result.total_count, result.filter1_count) == (10, 3)  # 12, 15, 18
    assert stats.requests("Query") == stats.total_requests == 1  # one GSI3 page of 10 METAs

    stats.reset()
    spans = store.calculate_trace_filter_correlation(
        [exp], "span.name = 'agent'", "span.type = 'LLM'", base_filter=base
    )
    assert (spans.total_count, spans.filter1_count, spans.filter2_count) == (10, 5, 10)
    # The window's stats (4 shards) + each of its 10 traces' spans, read once for both filters.
    assert stats.total_requests == analytics_keys.STATS_SHARDS + 10


def test_unknown_and_other_workspaces_experiments_count_nothing(store, store_uri, monkeypatch):
    result = store.calculate_trace_filter_correlation(["424242"], "status = 'OK'", "name = 'x'")
    assert result.total_count == 0
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    provider.create_workspace(Workspace(name="team-a"))
    provider.create_workspace(Workspace(name="team-b"))
    with WorkspaceContext("team-a"):
        exp = store.create_experiment("a")
        store.log_spans(exp, [span(1, 1, None, "root", 0, 10)])
        store.log_spans(exp, [span(2, 1, None, "root", 5, 10, error=True)])
        for filters in (("status = 'OK'", "status = 'ERROR'"), ("tags.x = 'y'", "status = 'OK'")):
            assert store.calculate_trace_filter_correlation([exp], *filters).total_count == 2
    with WorkspaceContext("team-b"):
        for filters in (("status = 'OK'", "status = 'ERROR'"), ("tags.x = 'y'", "status = 'OK'")):
            assert store.calculate_trace_filter_correlation([exp], *filters).total_count == 0
