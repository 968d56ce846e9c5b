"""Traces on DynamoDB Local through the tracking store: spans round-trip, trace info from the
root span, tags, assessments, run links, deletion, search and request counts."""

from __future__ import annotations

import json
import uuid

import pytest
from mlflow.entities import (
    AssessmentSource,
    Expectation,
    ExperimentTag,
    Feedback,
    SpanType,
    TraceInfo,
    TraceLocation,
    TraceState,
)
from mlflow.entities.span import create_mlflow_span
from mlflow.exceptions import MlflowException
from mlflow.tracing.constant import SpansLocation, TraceMetadataKey, TraceTagKey
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

BASE_NS = 1_700_000_000_000 * 1_000_000


def make_span(
    trace_hex: str,
    span_int: int,
    parent_int: int | None,
    name: str,
    start_ms: int,
    end_ms: int | None,
    attributes: dict | None = None,
    error: bool = False,
):
    """An MLflow Span built from an OTel ReadableSpan (as the OTLP endpoint builds them)."""
    context = SpanContext(
        trace_id=int(trace_hex, 16), span_id=span_int, is_remote=False,
        trace_flags=TraceFlags(1),
    )  # fmt: skip
    parent = (
        SpanContext(trace_id=int(trace_hex, 16), span_id=parent_int, is_remote=False)
        if parent_int
        else None
    )
    attrs = {"mlflow.traceRequestId": json.dumps(f"tr-{trace_hex}")}
    attrs.update({k: json.dumps(v) for k, v in (attributes or {}).items()})
    otel = ReadableSpan(
        name=name,
        context=context,
        parent=parent,
        attributes=attrs,
        start_time=BASE_NS + start_ms * 1_000_000,
        end_time=None if end_ms is None else BASE_NS + end_ms * 1_000_000,
        status=Status(StatusCode.ERROR if error else StatusCode.OK),
    )
    return create_mlflow_span(otel, f"tr-{trace_hex}")


@pytest.fixture
def store(store_uri, tmp_path):
    return DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))


def new_trace_hex() -> str:
    return uuid.uuid4().hex


def test_log_spans_creates_trace_from_root_span(store):
    exp = store.create_experiment("traces")
    t = new_trace_hex()
    spans = [
        make_span(t, 1, None, "root", 0, 50, {"mlflow.spanInputs": {"q": "hi"},
                                              "mlflow.spanOutputs": "hello"}),
        make_span(t, 2, 1, "child", 10, 40, {"mlflow.spanType": SpanType.LLM}),
    ]  # fmt: skip
    store.log_spans(exp, spans)
    info = store.get_trace_info(f"tr-{t}")
    assert info.experiment_id == exp
    assert info.state == TraceState.OK
    assert info.request_time == BASE_NS // 1_000_000
    assert info.execution_duration == 50
    assert info.tags[TraceTagKey.SPANS_LOCATION] == SpansLocation.TRACKING_STORE.value
    assert json.loads(info.request_preview) == {"q": "hi"}
    trace = store.get_trace(f"tr-{t}")
    assert [s.name for s in trace.data.spans] == ["root", "child"]
    assert trace.data.spans[0].inputs == {"q": "hi"}
    assert trace.data.spans[1].span_type == SpanType.LLM


def test_missing_trace_errors(store):
    with pytest.raises(MlflowException) as exc:
        store.get_trace_info("tr-nope")
    assert exc.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_start_trace_tags_assessments_and_search(store):
    exp = store.create_experiment("traces")
    info = TraceInfo(
        trace_id="tr-abc",
        trace_location=TraceLocation.from_experiment_id(exp),
        request_time=1000,
        execution_duration=5,
        state=TraceState.OK,
        tags={"k": "v", TraceTagKey.TRACE_NAME: "named"},
        trace_metadata={TraceMetadataKey.SOURCE_RUN: "run1"},
    )
    out = store.start_trace(info)
    assert out.tags["k"] == "v" and out.tags[TraceTagKey.TRACE_NAME] == "named"
    store.set_trace_tag("tr-abc", "k2", "v2")
    store.delete_trace_tag("tr-abc", "k")
    fb = store.create_assessment(
        Feedback(name="good", value=True, source=AssessmentSource("HUMAN", "me"),
                 trace_id="tr-abc")
    )  # fmt: skip
    ex = store.create_assessment(
        Expectation(name="answer", value="42", source=AssessmentSource("HUMAN", "me"),
                    trace_id="tr-abc")
    )  # fmt: skip
    got = store.get_trace_info("tr-abc")
    assert {a.assessment_id for a in got.assessments} == {fb.assessment_id, ex.assessment_id}
    assert "k" not in got.tags and got.tags["k2"] == "v2"
    found, token = store.search_traces([exp], "tags.k2 = 'v2' AND trace.name = 'named'")
    assert [t.trace_id for t in found] == ["tr-abc"] and token is None
    found, _ = store.search_traces([exp], "run_id = 'run1'")
    assert [t.trace_id for t in found] == ["tr-abc"]
    found, _ = store.search_traces([exp], "feedback.good = 'true'")
    assert [t.trace_id for t in found] == ["tr-abc"]
    assert store._delete_traces(exp, trace_ids=["tr-abc"]) == 1
    assert store.search_traces([exp])[0] == []


def test_big_span_round_trips_byte_for_byte(store):
    exp = store.create_experiment("big")
    t = new_trace_hex()
    big = "x" * 10 + uuid.uuid4().hex * 100_000  # 3.2 MB, barely compressible
    store.log_spans(exp, [make_span(t, 1, None, "root", 0, 1, {"blob": big})])
    trace = store.get_trace(f"tr-{t}")
    assert trace.data.spans[0].attributes["blob"] == big


def test_latest_page_is_one_query(store):
    exp = store.create_experiment("many")
    for i in range(30):
        store.start_trace(
            TraceInfo(
                trace_id=f"tr-{i:03d}",
                trace_location=TraceLocation.from_experiment_id(exp),
                request_time=1000 + i,
                execution_duration=1,
                state=TraceState.OK,
            )
        )
    stats = store.gateway.stats
    stats.reset()
    found, token = store.search_traces([exp], max_results=10)
    assert [t.trace_id for t in found] == [f"tr-{i:03d}" for i in range(29, 19, -1)]
    assert token
    assert stats.total_requests == 1 and stats.requests("Query") == 1


def test_get_trace_and_trace_info_request_counts(store):
    exp = store.create_experiment("counts")
    t = new_trace_hex()
    store.log_spans(
        exp, [make_span(t, i, None if i == 1 else 1, f"s{i}", i, i + 5) for i in range(1, 21)]
    )
    stats = store.gateway.stats
    stats.reset()
    trace = store.get_trace(f"tr-{t}")
    assert len(trace.data.spans) == 20
    assert stats.total_requests == 1 and stats.requests("Query") == 1
    stats.reset()
    store.get_trace_info(f"tr-{t}")
    assert stats.total_requests == 1 and stats.requests("GetItem") == 1


def test_five_thousand_spans_and_a_3mb_attribute_round_trip(store):
    exp = store.create_experiment("huge")
    t = new_trace_hex()
    blob = "".join(uuid.uuid4().hex for _ in range(100_000))  # 3.2 MB of random hex
    spans = [make_span(t, 1, None, "root", 0, 10_000, {"payload": blob})]
    spans += [
        make_span(t, i, 1 + (i // 100), f"span-{i}", i, i + 1, {"i": i, "text": "é" * (i % 7)})
        for i in range(2, 5001)
    ]
    # The exporter sends spans in several batches; so do we.
    for start in range(0, len(spans), 1000):
        store.log_spans(exp, spans[start : start + 1000])
    trace = store.get_trace(f"tr-{t}")
    assert len(trace.data.spans) == 5000
    stored = {s.span_id: s.to_dict() for s in trace.data.spans}
    for original in spans:
        assert stored[original.span_id] == original.to_dict()
    assert trace.data.spans[0].attributes["payload"] == blob
    info = store.get_trace_info(f"tr-{t}")
    assert info.state == TraceState.OK and info.execution_duration == 10_000


def test_trace_retention_sets_ttl_on_every_item(store, monkeypatch):
    from boto3.dynamodb.conditions import Key

    from mlflow_dynamodbstore.schema import keys
    from mlflow_dynamodbstore.stores.tracking.trace_ops import TRACE_RETENTION_TAG

    exp = store.create_experiment("ttl")
    store.set_experiment_tag(exp, ExperimentTag(TRACE_RETENTION_TAG, "2d"))
    t = new_trace_hex()
    store.log_spans(exp, [make_span(t, 1, None, "root", 0, 5), make_span(t, 2, 1, "c", 1, 2)])
    items = list(store.gateway.query(Key("PK").eq(keys.trace_pk(f"tr-{t}"))))
    expected = (BASE_NS // 1_000_000 + 2 * 86_400_000) // 1000
    # META, two span heads and the analytics stats item, all with one ttl.
    assert len(items) == 4 and {int(i["ttl"]) for i in items} == {expected}

    other = store.create_experiment("no-ttl")
    store.start_trace(
        TraceInfo(
            trace_id="tr-plain",
            trace_location=TraceLocation.from_experiment_id(other),
            request_time=1000,
            state=TraceState.OK,
        )
    )
    assert "ttl" not in store.gateway.get_item(keys.trace_key("tr-plain"))
    monkeypatch.setenv("MLFLOW_DYNAMODB_TRACE_RETENTION", "1h")
    store.start_trace(
        TraceInfo(
            trace_id="tr-env",
            trace_location=TraceLocation.from_experiment_id(other),
            request_time=1000,
            state=TraceState.OK,
        )
    )
    assert (
        int(store.gateway.get_item(keys.trace_key("tr-env"))["ttl"]) == (1000 + 3_600_000) // 1000
    )


def test_log_spans_request_counts(store):
    exp = store.create_experiment("log-counts")
    t = new_trace_hex()
    stats = store.gateway.stats
    stats.reset()
    store.log_spans(exp, [make_span(t, 1, None, "root", 0, 9), make_span(t, 2, 1, "c", 1, 2)])
    # META read (absent), experiment, META written first, the span items, then its
    # analytics stats item with its rollup cells (docs/trace-analytics.md).
    assert stats.snapshot().keys() == {
        "BatchGetItem",
        "GetItem",
        "BatchWriteItem",
        "PutItem",
        "TransactWriteItems",
    }
    assert stats.total_requests == 5 and stats.requests("PutItem") == 1
    stats.reset()
    store.log_spans(exp, [make_span(t, 3, 1, "late", 3, 12)])
    # META read, the span items, META updated (conditioned on the version read), and the
    # stats item with its cells, since the trace's latency changed.
    assert stats.snapshot().keys() == {
        "BatchGetItem",
        "BatchWriteItem",
        "PutItem",
        "TransactWriteItems",
    }
    assert stats.total_requests == 4
    assert store.get_trace_info(f"tr-{t}").execution_duration == 12


def test_search_pages_cost_one_query_per_experiment(store):
    first, second = store.create_experiment("a"), store.create_experiment("b")
    for i in range(12):
        store.start_trace(
            TraceInfo(
                trace_id=f"tr-{i:03d}",
                trace_location=TraceLocation.from_experiment_id(first if i % 2 else second),
                request_time=1000 + i,
                state=TraceState.OK,
            )
        )
    stats = store.gateway.stats
    stats.reset()
    found, token = store.search_traces([first, second], max_results=5)
    assert [t.trace_id for t in found] == [f"tr-{i:03d}" for i in range(11, 6, -1)]
    assert stats.snapshot().keys() == {"Query"} and stats.total_requests == 2
    stats.reset()
    found, token = store.search_traces([first, second], max_results=5, page_token=token)
    assert [t.trace_id for t in found] == [f"tr-{i:03d}" for i in range(6, 1, -1)]
    assert stats.total_requests == 2
    stats.reset()
    store.set_trace_tag("tr-000", "k", "v")
    assert stats.snapshot().keys() == {"GetItem", "PutItem"} and stats.total_requests == 2
