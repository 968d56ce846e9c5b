"""Trace analytics on DynamoDB Local: what the charts cost in requests, and that the stats
items follow the traces through every path that changes or removes them."""

from __future__ import annotations

import pytest
from boto3.dynamodb.conditions import Key
from mlflow.entities import AssessmentSource, Feedback
from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType
from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.repositories.traces.rollups import experiment_cell_keys
from mlflow_dynamodbstore.schema import analytics_keys, keys, trace_rollup_keys
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.differential_traces.builders import BASE_MS, span, tid

HOUR = 3600 * 1000
COUNT = [MetricAggregation(AggregationType.COUNT)]
TRACES = MetricViewType.TRACES


@pytest.fixture
def store(store_uri, tmp_path):
    return DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))


def _count(store, experiment_ids, **kwargs) -> int:
    points = store.query_trace_metrics(experiment_ids, TRACES, "trace_count", COUNT, **kwargs)
    return sum(p.values["COUNT"] for p in points)


def _log(store, exp: str, n: int, at_ms: int, **attrs) -> None:
    store.log_spans(exp, [span(n, 1, None, f"root{n}", at_ms, at_ms + 10 * n, attrs or None)])


def test_traces_page_count_reads_only_the_cells_of_its_range(store):
    """The Traces tab asks trace_count/COUNT for its time range on every load: one Query per
    (period, shard) of rollup cells the range covers, plus one trace-listing Query per edge
    (the parts of its first and last hour), whatever the trace count."""
    exp = store.create_experiment("page")
    for n in range(1, 41):
        _log(store, exp, n, n * HOUR)
    stats = store.gateway.stats
    window = {"start_time_ms": BASE_MS, "end_time_ms": BASE_MS + 7 * 24 * HOUR}
    periods = (
        analytics_keys.stats_period(window["end_time_ms"])
        - analytics_keys.stats_period(window["start_time_ms"])
        + 1
    )
    stats.reset()
    assert _count(store, [exp], **window) == 40
    # The window starts and ends inside an hour: two edges.
    reads = periods * trace_rollup_keys.ROLLUP_SHARDS + 2
    assert stats.requests("Query") == stats.total_requests == reads
    assert stats.read_capacity < 8  # ~40 cells of ~200 bytes, strongly consistent

    # Twice the traces: the same requests.
    for n in range(41, 81):
        _log(store, exp, n, n * HOUR)
    stats.reset()
    assert _count(store, [exp], **window) == 80
    assert stats.total_requests == reads

    # An open range first finds the experiment's oldest and newest trace (one Query each);
    # nothing lies beyond them, so their hours are whole cells: no edge.
    stats.reset()
    assert _count(store, [exp]) == 80
    assert stats.requests("Query") == stats.total_requests == 2 + trace_rollup_keys.ROLLUP_SHARDS


def test_overview_percentiles_and_sums_read_the_cells(store):
    exp = store.create_experiment("overview")
    for n in range(1, 21):
        usage = {"input_tokens": n, "output_tokens": 1, "total_tokens": n + 1}
        _log(store, exp, n, n * HOUR, **{"mlflow.chat.tokenUsage": usage})
    window = {"start_time_ms": BASE_MS, "end_time_ms": BASE_MS + 24 * HOUR}
    stats = store.gateway.stats
    stats.reset()
    points = store.query_trace_metrics(
        [exp], TRACES, "latency",
        [MetricAggregation(AggregationType.PERCENTILE, 50),
         MetricAggregation(AggregationType.PERCENTILE, 95)],
        time_interval_seconds=3600, **window,
    )  # fmt: skip
    assert len(points) == 20
    # The cells' value sketches: the cells of the whole hours + the two edges of the window.
    assert stats.total_requests == trace_rollup_keys.ROLLUP_SHARDS + 2
    stats.reset()
    tokens = store.query_trace_metrics(
        [exp], TRACES, "input_tokens", [MetricAggregation(AggregationType.SUM)], **window
    )
    assert tokens[0].values == {"SUM": sum(range(1, 21))}
    # The cells of the whole hours + the two edges of the window.
    assert stats.total_requests == trace_rollup_keys.ROLLUP_SHARDS + 2


def _stats_item(store, trace_id: str) -> dict | None:
    return store.gateway.unscoped.get_item(analytics_keys.trace_stats_key(trace_id))


def test_stats_item_follows_every_write_and_goes_with_the_trace(store):
    exp = store.create_experiment("follow")
    _log(store, exp, 1, 0)
    first = _stats_item(store, tid(1))
    assert first["timestamp_ms"] == BASE_MS and first["execution_time_ms"] == 10
    store.set_trace_tag(tid(1), "mlflow.traceName", "named")
    assert _stats_item(store, tid(1))["trace_name"] == "named"
    version = _stats_item(store, tid(1))["version"]
    # A tag the charts do not use leaves the stats item alone (no write).
    store.set_trace_tag(tid(1), "unrelated", "x")
    assert _stats_item(store, tid(1))["version"] == version
    store.create_assessment(
        Feedback(name="f", value=1.0, source=AssessmentSource("HUMAN", "u"), trace_id=tid(1))
    )
    # An older projection never overwrites a newer one (a slow server finishing late).
    meta = store.traces.get(tid(1))
    assert store.traces.stats.put({**meta, "version": 1, "execution_time_ms": 999}) is False
    assert _stats_item(store, tid(1))["execution_time_ms"] == 10
    store.delete_traces(exp, trace_ids=[tid(1)])
    assert _stats_item(store, tid(1)) is None
    assert _count(store, [exp]) == 0


def test_metrics_are_workspace_scoped_and_follow_a_set_default_move(store, store_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    provider.create_workspace(Workspace(name="team-a"))
    provider.create_workspace(Workspace(name="team-b"))
    with WorkspaceContext("team-a"):
        a = store.create_experiment("a")
        _log(store, a, 1, 0)
        _log(store, a, 2, 5)
        assert _count(store, [a]) == 2
        assert _stats_item(store, tid(1))["workspace"] == "team-a"
    with WorkspaceContext("team-b"):
        assert _count(store, [a]) == 0
    provider.delete_workspace("team-a", mode=WorkspaceDeletionMode.SET_DEFAULT)
    with WorkspaceContext("default"):
        assert _count(store, [a]) == 2
        assert _stats_item(store, tid(1))["workspace"] == "default"


def test_stats_items_are_in_the_trace_partition(store):
    """So every deletion of the partition (trace deletion, workspace cascade, TTL) takes it."""
    exp = store.create_experiment("partition")
    _log(store, exp, 1, 0)
    sks = [i["SK"] for i in store.gateway.query(Key("PK").eq(keys.trace_pk(tid(1))))]
    assert analytics_keys.TRACE_STATS_SK in sks


def test_backfill_writes_missing_stats_and_resumes_after_an_interruption(
    store, store_uri, monkeypatch
):
    from click.testing import CliRunner

    from mlflow_dynamodbstore.backfills import trace_stats
    from mlflow_dynamodbstore.cli.main import cli

    exps = [store.create_experiment(f"old{i}") for i in range(2)]
    for n in range(1, 8):
        _log(store, exps[n % 2], n, n * HOUR)
    # As if logged before stats items (and rollup cells) existed.
    cells = [k for e in exps for k in experiment_cell_keys(store.gateway.unscoped, e)]
    store.gateway.unscoped.batch_write(
        deletes=[analytics_keys.trace_stats_key(tid(n)) for n in range(1, 8)] + cells
    )
    assert _count(store, exps) == 0

    monkeypatch.setattr(trace_stats, "SAVE_EVERY", 2)
    calls = []

    def crash_on_second_save(n: int) -> None:
        calls.append(n)
        if len(calls) == 2:
            raise KeyboardInterrupt

    gateway = store.gateway.unscoped
    with pytest.raises(KeyboardInterrupt):
        trace_stats.backfill_trace_stats(gateway, crash_on_second_save)
    assert gateway.get_item(analytics_keys.trace_stats_backfill_key()) is not None
    done_before = _count(store, exps)
    assert 0 < done_before < 7

    result = CliRunner().invoke(cli, ["traces", "backfill-stats", store_uri])
    assert result.exit_code == 0, result.output
    assert _count(store, exps) == 7
    # The rerun resumed: it did not visit the traces the first run had saved past.
    visited = int(result.stdout.split(" traces visited")[0].split()[-1])
    assert visited < 7
    assert gateway.get_item(analytics_keys.trace_stats_backfill_key()) is None
    # A further run finds everything current and writes nothing.
    again = CliRunner().invoke(cli, ["traces", "backfill-stats", store_uri])
    assert again.exit_code == 0 and "7 traces visited, 0 stats items written" in again.stdout
