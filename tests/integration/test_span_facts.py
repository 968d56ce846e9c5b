"""Span facts on META: span.name/type/status filters answered without reading spans."""

from __future__ import annotations

import time
import uuid

from mlflow.entities import TraceInfo, TraceLocation, TraceState

from mlflow_dynamodbstore.repositories.traces.span_facts import FACTS, MAX_FACTS_BYTES, OVERFLOW
from mlflow_dynamodbstore.xray.convert import parse_document, spans_from_documents
from tests.xray_segments import SpanSpec, llm_trace, new_otel_hex, separate_documents


def _spans(otel: str, specs):
    docs = [parse_document(d) for d in separate_documents(otel, specs)]
    return spans_from_documents(f"tr-{otel}", docs)


def _otel() -> str:
    return new_otel_hex(int(time.time()), uuid.uuid4().hex[:24])


def test_log_spans_keeps_facts_and_span_filters_read_no_span(store):
    exp = store.create_experiment("facts")
    otel = _otel()
    base = int(otel[:8], 16) * 1_000_000_000
    store.log_spans(exp, _spans(otel, llm_trace(base)))
    meta = store.traces.get(f"tr-{otel}")
    fact = meta[FACTS]["a000000000000004"]
    # name, type, status, then start and latency in ms (the SPANS view's rollup cells).
    assert fact[:3] == ["lookup_tool", "TOOL", "ERROR"] and len(fact) == 5
    assert int(fact[3]) >= base // 1_000_000 and int(fact[4]) >= 0

    stats = store.gateway.stats
    stats.reset()
    found, _ = store.search_traces(
        [exp], filter_string="span.type = 'TOOL' AND span.status = 'ERROR'"
    )
    assert [t.trace_id for t in found] == [f"tr-{otel}"]
    assert stats.total_requests == 1 and stats.requests("Query") == 1  # the GSI3 listing
    stats.reset()
    found, _ = store.search_traces([exp], filter_string="span.type = 'TOOL' AND span.status = 'OK'")
    assert found == [] and stats.total_requests == 1
    # Content clauses still read the spans (one Query for the trace's spans).
    stats.reset()
    found, _ = store.search_traces([exp], filter_string="span.content LIKE '%X-Ray traces%'")
    assert len(found) == 1 and stats.requests("Query") == 2


def test_start_trace_then_batches_merge_facts_and_relogged_spans_replace_theirs(store):
    exp = store.create_experiment("facts-merge")
    otel = _otel()
    base = int(otel[:8], 16) * 1_000_000_000
    trace_id = f"tr-{otel}"
    store.start_trace(
        TraceInfo(
            trace_id=trace_id,
            trace_location=TraceLocation.from_experiment_id(exp),
            request_time=base // 1_000_000,
            execution_duration=1,
            state=TraceState.OK,
            trace_metadata={},
            tags={},
        )
    )
    assert store.traces.get(trace_id)[FACTS] == {}
    # No span yet: a span filter finds nothing (and X-Ray is off).
    assert store.search_traces([exp], filter_string="span.type = 'AGENT'")[0] == []
    specs = llm_trace(base)
    store.log_spans(exp, _spans(otel, specs[:2]))
    store.log_spans(exp, _spans(otel, specs[2:]))
    assert len(store.traces.get(trace_id)[FACTS]) == 4
    relogged = SpanSpec(**{**specs[3].__dict__, "status": "OK", "error": None})
    store.log_spans(exp, _spans(otel, [relogged]))
    assert store.traces.get(trace_id)[FACTS]["a000000000000004"][2] == "OK"
    assert store.search_traces([exp], filter_string="span.status = 'ERROR'")[0] == []


def test_too_many_facts_fall_back_to_reading_spans(store):
    exp = store.create_experiment("facts-overflow")
    otel = _otel()
    base = int(otel[:8], 16) * 1_000_000_000
    count = MAX_FACTS_BYTES // 400 + 5
    specs = [SpanSpec("f000000000000001", None, "root", "CHAIN", base, base + 10)] + [
        SpanSpec(f"f{n:015x}", "f000000000000001", f"step-{n}-" + "x" * 380, "TOOL",
                 base + n, base + n + 1)
        for n in range(2, count)
    ]  # fmt: skip
    store.log_spans(exp, _spans(otel, specs))
    meta = store.traces.get(f"tr-{otel}")
    assert meta[OVERFLOW] is True and FACTS not in meta
    found, _ = store.search_traces([exp], filter_string="span.name LIKE 'step-7-%'")
    assert [t.trace_id for t in found] == [f"tr-{otel}"]


def test_traces_without_facts_are_searched_through_their_spans(store):
    exp = store.create_experiment("facts-legacy")
    otel = _otel()
    base = int(otel[:8], 16) * 1_000_000_000
    store.log_spans(exp, _spans(otel, llm_trace(base)))
    # A trace stored before facts existed.
    trace_id = f"tr-{otel}"
    store.traces.mutate(trace_id, lambda item: {k: v for k, v in item.items() if k != FACTS})
    assert FACTS not in store.traces.get(trace_id)
    found, _ = store.search_traces([exp], filter_string="span.type = 'RETRIEVER'")
    assert [t.trace_id for t in found] == [trace_id]
    # Later spans do not start partial facts for it.
    store.log_spans(exp, _spans(otel, llm_trace(base)[:1]))
    assert FACTS not in store.traces.get(trace_id)
