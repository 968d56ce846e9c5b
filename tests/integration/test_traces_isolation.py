"""Traces under concurrency (several store instances, as several servers, writing one trace
at once), across workspaces, and at DynamoDB's item size limit."""

from __future__ import annotations

import threading

import pytest
from mlflow.entities import AssessmentSource, Feedback, TraceState
from mlflow.entities.workspace import Workspace
from mlflow.exceptions import MlflowException
from mlflow.tracing.constant import SpansLocation, TraceTagKey
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.differential_traces.builders import BASE_MS, info, span, tid


@pytest.fixture
def store(store_uri, tmp_path):
    return DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))


def test_concurrent_writers_on_one_trace_lose_nothing(store, store_uri, tmp_path):
    exp = store.create_experiment("race")
    servers = [DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts")) for _ in range(4)]
    errors: list[BaseException] = []

    def log(n: int) -> None:
        try:
            # Each "server" logs its own spans, starting at different times, plus a tag.
            s = servers[n]
            s.log_spans(exp, [span(1, 10 + n, 1, f"child{n}", 5 + n, 50 + n)])
            s.log_spans(exp, [span(1, 20 + n, 1, f"late{n}", 2 + n, 60 + n)])
            s.set_trace_tag(tid(1), f"tag{n}", str(n))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=log, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store.log_spans(exp, [span(1, 1, None, "root", 0, 70)])

    trace = store.get_trace(tid(1), allow_partial=True)
    assert len(trace.data.spans) == 9
    assert {f"tag{n}": str(n) for n in range(4)}.items() <= trace.info.tags.items()
    assert trace.info.tags[TraceTagKey.SPANS_LOCATION] == SpansLocation.TRACKING_STORE.value
    assert trace.info.request_time == BASE_MS
    assert trace.info.execution_duration == 70
    assert trace.info.state == TraceState.OK


def test_concurrent_assessments_all_land(store, store_uri, tmp_path):
    exp = store.create_experiment("assess-race")
    store.start_trace(info("tr-1", exp))
    servers = [DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts")) for _ in range(4)]
    source = AssessmentSource("HUMAN", "u")

    def create(n: int) -> None:
        for i in range(5):
            servers[n].create_assessment(
                Feedback(name=f"f{n}-{i}", value=i, source=source, trace_id="tr-1")
            )

    threads = [threading.Thread(target=create, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(store.get_trace_info("tr-1").assessments) == 20


@pytest.fixture
def workspaces_on(monkeypatch, store_uri):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    provider.create_workspace(Workspace(name="team-a"))
    provider.create_workspace(Workspace(name="team-b"))


def test_traces_of_another_workspace_are_invisible(store, workspaces_on):
    with WorkspaceContext("team-a"):
        a = store.create_experiment("traces")
        store.log_spans(a, [span(1, 1, None, "root", 0, 5)])
        store.set_trace_tag(tid(1), "k", "v")
        assert [t.trace_id for t in store.search_traces([a])[0]] == [tid(1)]
    with WorkspaceContext("team-b"):
        b = store.create_experiment("traces")
        assert store.search_traces([a])[0] == []
        assert store.search_traces([a, b])[0] == []
        assert store.search_traces()[0] == []
        assert store.batch_get_trace_infos([tid(1)]) == []
        assert store.batch_get_traces([tid(1)]) == []
        assert store.delete_traces(a, trace_ids=[tid(1)]) == 0
        source = AssessmentSource("HUMAN", "u")
        for call in (
            lambda: store.get_trace_info(tid(1)),
            lambda: store.get_trace(tid(1), allow_partial=True),
            lambda: store.set_trace_tag(tid(1), "k", "stolen"),
            lambda: store.delete_trace_tag(tid(1), "k"),
            lambda: store.create_assessment(
                Feedback(name="f", value=1, source=source, trace_id=tid(1))
            ),
            lambda: store.log_spans(a, [span(1, 2, 1, "intruder", 1, 2)]),
            lambda: store.log_spans(b, [span(1, 3, 1, "intruder", 1, 2)]),
        ):
            with pytest.raises(MlflowException) as exc:
                call()
            assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with WorkspaceContext("team-a"):
        trace = store.get_trace(tid(1), allow_partial=True)
        assert trace.info.tags["k"] == "v" and [s.name for s in trace.data.spans] == ["root"]
        assert [t.trace_id for t in store.search_traces()[0]] == [tid(1)]


def test_meta_past_the_item_limit_is_refused_cleanly(store):
    exp = store.create_experiment("full")
    store.start_trace(info("tr-1", exp))
    with pytest.raises(MlflowException) as exc:
        for n in range(100):
            store.set_trace_tag("tr-1", f"tag{n}", "x" * 8000)
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"
    assert len(store.get_trace_info("tr-1").tags) > 40


def test_endless_contention_is_temporarily_unavailable(store, store_uri, tmp_path):
    exp = store.create_experiment("busy")
    store.start_trace(info("tr-1", exp))
    rival = DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))
    rounds = []

    def change(item: dict) -> dict:
        # Another server writes the trace between our read and our conditional write.
        rounds.append(1)
        rival.set_trace_tag("tr-1", "rival", str(len(rounds)))
        item["tags"] = {**item["tags"], "mine": "x"}
        return item

    with pytest.raises(MlflowException) as exc:
        store.traces.mutate("tr-1", change)
    assert exc.value.error_code == "TEMPORARILY_UNAVAILABLE"
    tags = store.get_trace_info("tr-1").tags
    assert "mine" not in tags and tags["rival"] == str(len(rounds))
