"""The X-Ray span source on the tracking store: moto's server plays X-Ray, DynamoDB Local
holds the table. X-Ray calls are counted with a botocore event hook on the store's client."""

from __future__ import annotations

import logging
import time
import uuid

import boto3
import pytest
from botocore.stub import ANY, Stubber
from mlflow.entities import TraceInfo, TraceLocation, TraceState
from mlflow.exceptions import MlflowTracingException

from mlflow_dynamodbstore.local.dynamodb_local import free_port
from mlflow_dynamodbstore.repositories.traces.span_facts import FACTS
from mlflow_dynamodbstore.schema import xray_keys
from mlflow_dynamodbstore.stores.tracking import trace_ops_xray
from mlflow_dynamodbstore.stores.tracking.trace_ops_xray import (
    REASON_TAG,
    UNAVAILABLE,
    UNAVAILABLE_TAG,
)
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.xray_segments import llm_trace, nested_documents, new_otel_hex, separate_documents


@pytest.fixture
def xray_endpoint(moto_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_XRAY", moto_server)
    return moto_server


@pytest.fixture
def xstore(store_uri, xray_endpoint, monkeypatch):
    monkeypatch.setenv("MLFLOW_DYNAMODB_TRACE_RETENTION", "30d")
    return DynamoDBTrackingStore(f"{store_uri}?xray=true", "s3://bucket/artifacts")


class XRayCalls:
    def __init__(self, client):
        self.names: list[str] = []
        self.params: list[dict] = []
        client.meta.events.register("before-parameter-build.xray.*", self._count)

    def _count(self, model, params, **_):
        self.names.append(model.name)
        self.params.append(params)

    def count(self, name: str | None = None) -> int:
        return len([n for n in self.names if name is None or n == name])


def _put_segments(endpoint: str, documents: list[str]) -> None:
    client = boto3.client("xray", endpoint_url=endpoint, region_name="us-east-1")
    response = client.put_trace_segments(TraceSegmentDocuments=documents)
    assert not response.get("UnprocessedTraceSegments")


def _new_trace(store, experiment_id: str, otel_hex: str, base_ns: int) -> str:
    trace_id = f"tr-{otel_hex}"
    store.start_trace(
        TraceInfo(
            trace_id=trace_id,
            trace_location=TraceLocation.from_experiment_id(experiment_id),
            request_time=base_ns // 1_000_000,
            execution_duration=900,
            state=TraceState.OK,
            trace_metadata={},
            tags={},
        )
    )
    return trace_id


def _fresh_hex(now: float | None = None) -> str:
    return new_otel_hex(int(now or time.time()) - 120, uuid.uuid4().hex[:24])


def _assert_same_spans(trace, specs):
    spans = {s.span_id: s for s in trace.data.spans}
    assert set(spans) == {s.span_id for s in specs}
    for spec in specs:
        span = spans[spec.span_id]
        assert (span.parent_id, span.name, span.span_type) == (
            spec.parent_id,
            spec.name,
            spec.span_type,
        )
        assert (span.start_time_ns, span.end_time_ns) == (spec.start_ns, spec.end_ns)
        assert span.status.status_code == spec.status
        assert (span.inputs, span.outputs) == (spec.inputs, spec.outputs)


@pytest.mark.parametrize("layout", [separate_documents, nested_documents])
def test_first_read_caches_x_ray_spans_and_later_reads_make_no_call(xstore, xray_endpoint, layout):
    exp = xstore.create_experiment(f"x-{uuid.uuid4().hex[:6]}")
    otel = _fresh_hex()
    base = (int(otel[:8], 16)) * 1_000_000_000 + 123_456_789
    specs = llm_trace(base)
    _put_segments(xray_endpoint, layout(otel, specs))
    trace_id = _new_trace(xstore, exp, otel, base)
    calls = XRayCalls(xstore.xray_source.client)

    first = xstore.get_trace(trace_id)
    _assert_same_spans(first, specs)
    assert calls.count("BatchGetTraces") == 1
    assert UNAVAILABLE_TAG not in first.info.tags

    stats = xstore.gateway.stats
    stats.reset()
    second = xstore.get_trace(trace_id)
    _assert_same_spans(second, specs)
    assert calls.count() == 1  # zero X-Ray calls on the second read
    assert stats.total_requests == 1 and stats.requests("Query") == 1
    assert [s.to_dict() for s in second.data.spans] == [s.to_dict() for s in first.data.spans]

    # The spans live in the table with the trace's TTL; META has their facts.
    meta, items = xstore.traces.read_partition(trace_id)
    assert meta["ttl"] and {i["ttl"] for i in items if i["SK"].startswith("SPAN")} == {meta["ttl"]}
    assert sorted(f[1] for f in meta[FACTS].values()) == sorted(s.span_type for s in specs)
    # log_spans' aggregation ran: token usage from the chat span is on the trace.
    assert first.info.token_usage["total_tokens"] == 15
    assert xstore.batch_get_traces([trace_id])[0].data.spans
    assert calls.count() == 1


def test_missing_trace_has_the_marker_backs_off_and_is_retried(xstore, xray_endpoint):
    exp = xstore.create_experiment(f"x-{uuid.uuid4().hex[:6]}")
    otel = _fresh_hex()
    base = int(otel[:8], 16) * 1_000_000_000
    trace_id = _new_trace(xstore, exp, otel, base)
    calls = XRayCalls(xstore.xray_source.client)
    now = time.time()
    xstore._xray_clock = lambda: now

    stats = xstore.gateway.stats
    stats.reset()
    trace = xstore.get_trace(trace_id)
    # The partition Query, then the state item's PutItem.
    assert stats.requests("Query") == 1 and stats.requests("PutItem") == 1
    assert stats.total_requests == 2
    assert trace.data.spans == []
    assert trace.info.tags[UNAVAILABLE_TAG] == UNAVAILABLE
    assert "missing" in trace.info.tags[REASON_TAG]
    assert calls.count("BatchGetTraces") == 1
    state = xstore.gateway.get_item(xray_keys.xray_state_key(trace_id))
    assert state["attempts"] == 1 and state["retry_after"] == int(now) + 60

    # Within the back-off: no call, one Query.
    stats.reset()
    assert xstore.get_trace(trace_id).info.tags[UNAVAILABLE_TAG] == UNAVAILABLE
    assert calls.count() == 1
    assert stats.total_requests == 1

    # After it: asked again (still missing: the back-off doubles).
    xstore._xray_clock = lambda: now + 61
    xstore.get_trace(trace_id)
    assert calls.count() == 2
    state = xstore.gateway.get_item(xray_keys.xray_state_key(trace_id))
    assert state["attempts"] == 2 and state["retry_after"] == int(now + 61) + 120

    # X-Ray gets the trace (indexed late); the next read after the back-off caches it.
    specs = llm_trace(base)
    _put_segments(xray_endpoint, separate_documents(otel, specs))
    xstore._xray_clock = lambda: now + 200
    _assert_same_spans(xstore.get_trace(trace_id), specs)
    assert calls.count() == 3
    assert xstore.gateway.get_item(xray_keys.xray_state_key(trace_id)) is None
    assert UNAVAILABLE_TAG not in xstore.get_trace(trace_id).info.tags
    assert calls.count() == 3


def test_endpoint_down_answers_with_the_marker_and_one_warning(store_uri, monkeypatch, caplog):
    monkeypatch.setenv("AWS_ENDPOINT_URL_XRAY", f"http://127.0.0.1:{free_port()}")
    store = DynamoDBTrackingStore(f"{store_uri}?xray=true", "s3://bucket/artifacts")
    exp = store.create_experiment("down")
    otel = _fresh_hex()
    trace_id = _new_trace(store, exp, otel, int(otel[:8], 16) * 1_000_000_000)
    with caplog.at_level(logging.WARNING):
        trace = store.get_trace(trace_id)
        again = store.get_trace(trace_id)  # within the back-off: no second warning
    assert trace.data.spans == [] and again.data.spans == []
    assert trace.info.tags[UNAVAILABLE_TAG] == UNAVAILABLE
    assert "failed" in trace.info.tags[REASON_TAG]
    warnings = [r for r in caplog.records if "X-Ray" in r.getMessage()]
    assert len(warnings) == 1


def test_access_denied_answers_with_the_marker(xstore):
    exp = xstore.create_experiment("denied")
    otel = _fresh_hex()
    trace_id = _new_trace(xstore, exp, otel, int(otel[:8], 16) * 1_000_000_000)
    with Stubber(xstore.xray_source.client) as stub:
        stub.add_client_error(
            "batch_get_traces",
            service_error_code="AccessDeniedException",
            service_message="not authorized to perform: xray:BatchGetTraces",
            http_status_code=403,
        )
        trace = xstore.get_trace(trace_id)
    assert trace.data.spans == []
    assert "AccessDeniedException" in trace.info.tags[REASON_TAG]
    # batch_get_traces answers the same way (within the back-off, without a call).
    (batched,) = xstore.batch_get_traces([trace_id])
    assert batched.info.tags[UNAVAILABLE_TAG] == UNAVAILABLE


def test_batch_get_traces_asks_x_ray_once_for_up_to_five_traces(xstore, xray_endpoint):
    exp = xstore.create_experiment("batch")
    ids, all_specs = [], {}
    for n in range(6):
        otel = _fresh_hex()
        base = int(otel[:8], 16) * 1_000_000_000 + n
        if n != 3:  # one of them X-Ray does not have
            all_specs[f"tr-{otel}"] = llm_trace(base)
            _put_segments(xray_endpoint, separate_documents(otel, all_specs[f"tr-{otel}"]))
        ids.append(_new_trace(xstore, exp, otel, base))
    calls = XRayCalls(xstore.xray_source.client)
    traces = xstore.batch_get_traces(ids)
    assert [t.info.trace_id for t in traces] == ids
    assert calls.count("BatchGetTraces") == 2  # 6 ids: 5 + 1
    for trace in traces:
        if trace.info.trace_id in all_specs:
            _assert_same_spans(trace, all_specs[trace.info.trace_id])
        else:
            assert trace.info.tags[UNAVAILABLE_TAG] == UNAVAILABLE
    # Reported as tracking-store spans, so MLflow's client asks the store for them.
    assert xstore.get_trace_info(ids[3]).tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"


def test_switched_off_never_creates_an_x_ray_client(store, monkeypatch):
    def refuse(uri):
        raise AssertionError("an X-Ray client was created")

    monkeypatch.setattr(trace_ops_xray, "make_xray_client", refuse)
    exp = store.create_experiment("off")
    otel = _fresh_hex()
    trace_id = _new_trace(store, exp, otel, int(otel[:8], 16) * 1_000_000_000)
    assert store.xray_source is None
    with pytest.raises(MlflowTracingException):
        store.get_trace(trace_id)
    assert "mlflow.trace.spansLocation" not in store.get_trace_info(trace_id).tags
    store.search_traces([exp], filter_string="span.type = 'LLM'")


def test_search_span_filters_through_x_ray_then_from_meta(xstore):
    """GetTraceSummaries with a FilterExpression is stubbed (moto answers it with a 500);
    so is the BatchGetTraces that follows, with ADOT-shaped documents."""
    exp = xstore.create_experiment("search")
    otel_hit, otel_other = _fresh_hex(), _fresh_hex()
    base = int(otel_hit[:8], 16) * 1_000_000_000
    specs = llm_trace(base)
    hit = _new_trace(xstore, exp, otel_hit, base)
    _new_trace(xstore, exp, otel_other, base - 5_000_000_000)
    xray_hit = f"1-{otel_hit[:8]}-{otel_hit[8:]}"
    documents = separate_documents(otel_hit, specs)
    flt = "span.type = 'RETRIEVER' AND span.name = 'retrieve'"
    with Stubber(xstore.xray_source.client) as stub:
        stub.add_response(
            "get_trace_summaries",
            {"TraceSummaries": [{"Id": xray_hit}]},
            {
                "StartTime": ANY,
                "EndTime": ANY,
                "TimeRangeType": "TraceId",
                "FilterExpression": 'annotation.mlflow_span_type = "RETRIEVER" AND '
                'annotation.mlflow_span_name = "retrieve"',
            },
        )
        stub.add_response(
            "batch_get_traces",
            {
                "Traces": [
                    {
                        "Id": xray_hit,
                        "Segments": [
                            {"Id": d.split('"id": "')[1][:16], "Document": d} for d in documents
                        ],
                    }
                ]
            },
            {"TraceIds": [xray_hit]},
        )
        found, _ = xstore.search_traces([exp], filter_string=flt)
        stub.assert_no_pending_responses()
    # ``other`` was excluded by X-Ray's answer: never looked up one by one.
    assert [t.trace_id for t in found] == [hit]
    calls = XRayCalls(xstore.xray_source.client)
    # Cached now: the hit is answered from META's facts. ``other`` still has no spans, so
    # it is asked about again (moto's 500 for the filter makes it a one-by-one lookup).
    found, _ = xstore.search_traces([exp], filter_string=flt)
    assert [t.trace_id for t in found] == [hit]
    meta = xstore.traces.get(hit)
    # facts are [name, type, status, start ms, latency ms] (span_facts.py)
    assert {tuple(f[:3]) for f in meta[FACTS].values()} >= {("retrieve", "RETRIEVER", "OK")}
    looked_up = [
        p["TraceIds"]
        for n, p in zip(calls.names, calls.params, strict=True)
        if n == "BatchGetTraces"
    ]
    assert looked_up == [[f"1-{otel_other[:8]}-{otel_other[8:]}"]]
    # ``other`` is now in its back-off: one GetTraceSummaries and nothing else.
    found, _ = xstore.search_traces([exp], filter_string=flt)
    assert [t.trace_id for t in found] == [hit]
    assert calls.names[2:] == ["GetTraceSummaries"]


def test_search_summaries_window_is_the_experiments_traces(xstore):
    exp = xstore.create_experiment("window")
    now = time.time()
    otel_old, otel_new = _fresh_hex(now - 7200), _fresh_hex(now)
    old_s, new_s = int(otel_old[:8], 16), int(otel_new[:8], 16)
    _new_trace(xstore, exp, otel_old, old_s * 1_000_000_000)
    _new_trace(xstore, exp, otel_new, new_s * 1_000_000_000)
    calls = XRayCalls(xstore.xray_source.client)
    with Stubber(xstore.xray_source.client) as stub:
        # Two hours of traces fit in one window: one call, no BatchGetTraces after an
        # empty answer.
        stub.add_response("get_trace_summaries", {"TraceSummaries": []}, None)
        found, _ = xstore.search_traces([exp], filter_string="span.status = 'ERROR'")
        stub.assert_no_pending_responses()
    assert found == []
    (params,) = calls.params
    assert params["FilterExpression"] == 'annotation.mlflow_span_status = "ERROR"'
    assert params["StartTime"].timestamp() == old_s - 1
    assert params["EndTime"].timestamp() == new_s + 1


def test_ids_x_ray_cannot_hold_are_missing_without_a_call(xstore):
    exp = xstore.create_experiment("old")
    old = _fresh_hex(time.time() - 40 * 86400)
    random_id = "ffffffff" + uuid.uuid4().hex[:24]  # not made by the X-Ray id generator
    ids = [_new_trace(xstore, exp, o, int(time.time()) * 1_000_000_000) for o in (old, random_id)]
    calls = XRayCalls(xstore.xray_source.client)
    for trace in xstore.batch_get_traces(ids):
        assert trace.info.tags[UNAVAILABLE_TAG] == UNAVAILABLE
        assert "30-day" in trace.info.tags[REASON_TAG]
    assert calls.count() == 0


def test_spans_are_returned_when_caching_them_fails(xstore, xray_endpoint):
    from mlflow.exceptions import MlflowException

    exp = xstore.create_experiment("uncacheable")
    otel = _fresh_hex()
    base = int(otel[:8], 16) * 1_000_000_000
    specs = llm_trace(base)
    _put_segments(xray_endpoint, separate_documents(otel, specs))
    trace_id = _new_trace(xstore, exp, otel, base)

    def busy(*args, **kwargs):
        raise MlflowException("Trace is being updated concurrently; please retry.")

    xstore.log_spans = busy  # the table refuses the write this once
    _assert_same_spans(xstore.get_trace(trace_id), specs)
    assert xstore.spans.read(trace_id) == []  # not cached: the next read asks X-Ray again
    del xstore.log_spans
    calls = XRayCalls(xstore.xray_source.client)
    _assert_same_spans(xstore.get_trace(trace_id), specs)
    assert calls.count("BatchGetTraces") == 1 and xstore.spans.read(trace_id)
