"""X-Ray segment documents -> MLflow spans, feature by feature."""

from __future__ import annotations

import json

import pytest
from mlflow.entities.span_status import SpanStatusCode

from mlflow_dynamodbstore.xray import annotations as ann
from mlflow_dynamodbstore.xray.convert import parse_document, spans_from_documents
from tests.xray_segments import (
    SpanSpec,
    llm_trace,
    nested_documents,
    new_otel_hex,
    separate_documents,
)

OTEL = new_otel_hex(1_790_000_000)
TRACE_ID = f"tr-{OTEL}"
BASE = 1_790_000_000_123_456_789


def _convert(texts):
    return spans_from_documents(TRACE_ID, [parse_document(t) for t in texts])


@pytest.mark.parametrize("layout", [separate_documents, nested_documents])
def test_llm_trace_round_trip(layout):
    specs = llm_trace(BASE)
    spans = {s.span_id: s for s in _convert(layout(OTEL, specs))}
    assert set(spans) == {s.span_id for s in specs}
    for spec in specs:
        span = spans[spec.span_id]
        assert span.trace_id == TRACE_ID
        assert span.parent_id == spec.parent_id
        assert span.name == spec.name  # the root's segment name is the service's
        assert span.span_type == spec.span_type
        assert span.start_time_ns == spec.start_ns  # exact to the nanosecond
        assert span.end_time_ns == spec.end_ns
        assert span.inputs == spec.inputs
        assert span.outputs == spec.outputs
        assert span.status.status_code == spec.status
    chat = spans["a000000000000003"]
    assert chat.get_attribute("mlflow.chat.tokenUsage")["total_tokens"] == 15


def test_both_layouts_in_one_answer_keep_one_span_each():
    specs = llm_trace(BASE)
    texts = nested_documents(OTEL, specs) + separate_documents(OTEL, specs)
    assert sorted(s.span_id for s in _convert(texts)) == sorted(s.span_id for s in specs)


def test_subsegments_at_several_depths():
    ms = 1_000_000
    chain = [
        SpanSpec(f"b00000000000000{d}", f"b00000000000000{d - 1}" if d > 1 else None,
                 f"level{d}", "CHAIN", BASE + d * ms, BASE + (100 - d) * ms)
        for d in range(1, 6)
    ]  # fmt: skip
    spans = {s.span_id: s for s in _convert(nested_documents(OTEL, chain))}
    assert [spans[f"b00000000000000{d}"].parent_id for d in range(1, 6)] == [
        None,
        *[f"b00000000000000{d}" for d in range(1, 5)],
    ]


@pytest.mark.parametrize("flag", ["error", "fault"])
def test_error_and_fault_with_exceptions_become_error_status_and_events(flag):
    doc = {
        "id": "c000000000000001",
        "name": "svc",
        "trace_id": f"1-{OTEL[:8]}-{OTEL[8:]}",
        "start_time": 1790000000.5,
        "end_time": 1790000001.5,
        flag: True,
        "cause": {
            "exceptions": [
                {"id": "e1", "type": "KeyError", "message": "'x'", "stack": [{"path": "a.py"}]},
                {"id": "e2", "type": "RuntimeError", "message": "wrapped"},
            ]
        },
    }
    (span,) = spans_from_documents(TRACE_ID, [doc])
    assert span.status.status_code == SpanStatusCode.ERROR
    assert span.status.description == "KeyError: 'x'"
    assert [e.name for e in span.events] == ["exception", "exception"]
    assert span.events[0].attributes["exception.type"] == "KeyError"
    assert "a.py" in span.events[0].attributes["exception.stacktrace"]
    assert span.events[1].attributes["exception.message"] == "wrapped"
    assert span.get_attribute(f"xray.{flag}") is True


def test_throttle_alone_is_not_an_error():
    doc = {"id": "c000000000000002", "name": "svc", "start_time": 1, "end_time": 2,
           "throttle": True}  # fmt: skip
    (span,) = spans_from_documents(TRACE_ID, [doc])
    assert span.status.status_code == SpanStatusCode.OK
    assert span.get_attribute("xray.throttle") is True


def test_annotations_of_each_type_and_metadata_namespaces():
    doc = {
        "id": "c000000000000003",
        "name": "svc",
        "start_time": 1,
        "end_time": 2,
        "annotations": {"customer": "acme", "retries": 3, "ratio": 0.5, "cached": False},
        "metadata": {
            "default": {"plain": "text", "mlflow.spanInputs": '{"a": 1}', "n": 7},
            "debug": {"payload": {"k": [1, 2]}},
        },
        "http": {"response": {"status": 200}},
    }
    (span,) = spans_from_documents(TRACE_ID, [doc])
    assert span.get_attribute("customer") == "acme"
    assert span.get_attribute("retries") == 3
    assert span.get_attribute("ratio") == 0.5
    assert span.get_attribute("cached") is False
    assert span.get_attribute("plain") == "text"
    assert span.inputs == {"a": 1}
    assert span.get_attribute("n") == 7
    assert span.get_attribute("debug.payload") == {"k": [1, 2]}
    assert span.get_attribute("xray.http") == {"response": {"status": 200}}


def test_indexed_mlflow_attribute_is_recovered_from_its_annotation():
    doc = {"id": "c000000000000004", "name": "svc", "start_time": 1, "end_time": 2,
           "annotations": {"mlflow_spanType": json.dumps("RETRIEVER")}}  # fmt: skip
    (span,) = spans_from_documents(TRACE_ID, [doc])
    assert span.span_type == "RETRIEVER"


def test_processor_annotations_give_the_type_when_metadata_lacks_it():
    doc = {"id": "c000000000000005", "name": "svc", "start_time": 1, "end_time": 2,
           "annotations": {ann.SPAN_TYPE: "LLM", ann.SPAN_NAME: "call_llm"}}  # fmt: skip
    (span,) = spans_from_documents(TRACE_ID, [doc])
    assert span.span_type == "LLM"
    assert span.name == "call_llm"


def test_in_progress_segment_has_no_end_and_unset_status():
    doc = {"id": "c000000000000006", "name": "svc", "start_time": 1.25, "in_progress": True}
    (span,) = spans_from_documents(TRACE_ID, [doc])
    assert span.end_time_ns is None
    assert span.start_time_ns == 1_250_000_000
    assert span.status.status_code == SpanStatusCode.UNSET


def test_in_progress_copy_loses_to_the_finished_one():
    spec = SpanSpec("c000000000000007", None, "root", "CHAIN", BASE, BASE + 5)
    done = separate_documents(OTEL, [spec])
    running = separate_documents(OTEL, [SpanSpec(**{**spec.__dict__, "end_ns": None})])
    for texts in (running + done, done + running):
        (span,) = _convert(texts)
        assert span.end_time_ns == BASE + 5


def test_clock_skew_between_parent_and_child_is_kept_as_recorded():
    ms = 1_000_000
    specs = [
        SpanSpec("d000000000000001", None, "parent", "CHAIN", BASE + 10 * ms, BASE + 20 * ms),
        # The child's host clock runs early: it starts before and ends after its parent.
        SpanSpec("d000000000000002", "d000000000000001", "child", "LLM", BASE, BASE + 30 * ms),
    ]
    spans = {s.span_id: s for s in _convert(nested_documents(OTEL, specs))}
    child = spans["d000000000000002"]
    assert child.parent_id == "d000000000000001"
    assert (child.start_time_ns, child.end_time_ns) == (BASE, BASE + 30 * ms)
    # Parents still come first, whatever the clocks say.
    assert _convert(nested_documents(OTEL, specs))[0].span_id == "d000000000000001"


def test_parent_outside_the_trace_makes_a_root_and_bad_ids_are_skipped():
    docs = [
        {"id": "e000000000000001", "name": "svc", "parent_id": "ffffffffffffffff",
         "start_time": 1, "end_time": 2},
        {"id": "not-a-span-id", "name": "x", "start_time": 1, "end_time": 2},
    ]  # fmt: skip
    (span,) = spans_from_documents(TRACE_ID, docs)
    assert span.parent_id is None
