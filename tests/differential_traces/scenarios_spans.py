"""start_trace, log_spans, get_trace_info, get_trace, batch_get_traces/_trace_infos."""

from __future__ import annotations

import json

from mlflow.entities import AssessmentSource, Feedback, TraceState
from mlflow.tracing.constant import TraceMetadataKey, TraceTagKey

from tests.differential.harness import attempt
from tests.differential_traces.builders import (
    info,
    info_plain,
    infos_plain,
    simple_trace,
    span,
    tid,
    trace_plain,
)
from tests.differential_traces.registry import scenario

USAGE = "mlflow.chat.tokenUsage"
COST = "mlflow.llm.cost"


def _exp(store, name="e") -> str:
    return store.create_experiment(name)


def _after(store, trace_id: str) -> dict:
    return {
        "info": attempt(lambda: info_plain(store.get_trace_info(trace_id))),
        "trace": attempt(lambda: trace_plain(store.get_trace(trace_id, allow_partial=True))),
    }


@scenario()
def start_trace_basic(store):
    e = _exp(store)
    out = store.start_trace(info("tr-1", e, tags={"a": "b"}))
    return {"returned": info_plain(out), "read": info_plain(store.get_trace_info("tr-1"))}


@scenario()
def start_trace_name_metadata_previews(store):
    e = _exp(store)
    out = store.start_trace(
        info(
            "tr-1",
            e,
            tags={TraceTagKey.TRACE_NAME: "my trace", "x": "y"},
            metadata={TraceMetadataKey.SOURCE_RUN: "r1", "m": "v"},
            request_preview='{"q": 1}',
            response_preview="answer",
            client_request_id="client-1",
        )
    )
    return info_plain(out)


@scenario()
def start_trace_promoted_metadata(store):
    e = _exp(store)
    usage = {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}
    cost = {"input_cost": 0.5, "output_cost": 0.25, "total_cost": 0.75}
    out = store.start_trace(
        info(
            "tr-1",
            e,
            metadata={
                TraceMetadataKey.TOKEN_USAGE: json.dumps(usage),
                TraceMetadataKey.COST: json.dumps(cost),
                TraceMetadataKey.TRACE_SESSION: "session-9",
            },
        )
    )
    return {"returned": info_plain(out), "read": info_plain(store.get_trace_info("tr-1"))}


@scenario()
def start_trace_odd_token_usage(store):
    e = _exp(store)
    store.start_trace(
        info("tr-1", e, metadata={TraceMetadataKey.TOKEN_USAGE: '{"input_tokens": 2.5, "x": 1}'})
    )
    store.start_trace(
        info("tr-2", e, metadata={TraceMetadataKey.TOKEN_USAGE: '{"input_tokens": "7"}'})
    )
    return [info_plain(store.get_trace_info(t)) for t in ("tr-1", "tr-2")]


@scenario()
def start_trace_in_deleted_experiment(store):
    e = _exp(store)
    store.delete_experiment(e)
    return attempt(lambda: store.start_trace(info("tr-1", e)))


@scenario()
def start_trace_in_missing_experiment(store):
    return attempt(lambda: store.start_trace(info("tr-1", "12345")))


@scenario()
def start_trace_with_assessments(store):
    e = _exp(store)
    fb = Feedback(name="f", value=0.5, source=AssessmentSource("HUMAN", "u"), trace_id="tr-1")
    out = store.start_trace(info("tr-1", e, assessments=[fb]))
    return {"returned": info_plain(out), "read": info_plain(store.get_trace_info("tr-1"))}


@scenario()
def start_trace_twice_merges(store):
    e = _exp(store)
    store.start_trace(info("tr-1", e, tags={"a": "1", "b": "2"}, metadata={"m": "1"}))
    out = store.start_trace(
        info("tr-1", e, 2000, duration=20, state=TraceState.ERROR, tags={"a": "9"})
    )
    return {"returned": info_plain(out), "read": info_plain(store.get_trace_info("tr-1"))}


@scenario()
def start_trace_then_log_spans_keeps_finalized_times(store):
    e = _exp(store)
    store.start_trace(info(tid(1), e, 5, duration=3))
    store.log_spans(e, simple_trace(1, 0, 100, **{"mlflow.spanInputs": {"q": "x"}}))
    return _after(store, tid(1))


@scenario()
def log_spans_then_start_trace_merges(store):
    e = _exp(store)
    store.log_spans(e, simple_trace(1, 0, 100, **{"mlflow.spanInputs": {"q": "x"}}))
    out = store.start_trace(
        info(tid(1), e, 7, duration=1, tags={"t": "v"}, response_preview="resp")
    )
    return {"returned": info_plain(out), **_after(store, tid(1))}


@scenario()
def log_spans_creates_trace(store):
    e = _exp(store)
    spans = simple_trace(
        1, 5, 50, **{"mlflow.spanInputs": {"question": "hi"}, "mlflow.spanOutputs": "hello"}
    )
    returned = store.log_spans(e, spans)
    return {"returned": len(returned), **_after(store, tid(1))}


@scenario()
def log_spans_in_two_batches(store):
    e = _exp(store)
    store.log_spans(e, [span(1, 2, 1, "child", 10, 20)])
    first = info_plain(store.get_trace_info(tid(1)))
    store.log_spans(e, [span(1, 1, None, "root", 0, 30)])
    return {"first": first, **_after(store, tid(1))}


@scenario()
def log_spans_widen_time_range(store):
    e = _exp(store)
    store.log_spans(e, [span(1, 2, 1, "a", 10, 20)])
    store.log_spans(e, [span(1, 3, 1, "b", 5, 40)])
    store.log_spans(e, [span(1, 4, 1, "c", 12, None)])
    return _after(store, tid(1))


@scenario()
def log_spans_error_root(store):
    e = _exp(store)
    store.log_spans(e, [span(1, 1, None, "root", 0, 5, error=True)])
    return _after(store, tid(1))


@scenario()
def log_spans_without_root_is_in_progress(store):
    e = _exp(store)
    store.log_spans(e, [span(1, 2, 1, "child", 0, 5)])
    return info_plain(store.get_trace_info(tid(1)))


@scenario()
def log_spans_missing_experiment(store):
    return attempt(lambda: store.log_spans("999", simple_trace(1)))


@scenario()
def log_spans_empty(store):
    return store.log_spans(_exp(store), [])


@scenario()
def log_spans_several_traces_in_one_batch(store):
    e = _exp(store)
    store.log_spans(e, simple_trace(1, 0) + simple_trace(2, 100) + simple_trace(3, 50))
    return [_after(store, tid(n)) for n in (1, 2, 3)]


@scenario()
def log_spans_token_usage(store):
    e = _exp(store)
    usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
    store.log_spans(
        e,
        [
            span(1, 1, None, "root", 0, 10),
            span(1, 2, 1, "llm1", 1, 4, {USAGE: usage}),
            span(1, 3, 1, "llm2", 5, 9, {USAGE: usage}),
        ],
    )
    return info_plain(store.get_trace_info(tid(1)))


@scenario()
def log_spans_token_usage_across_batches(store):
    e = _exp(store)
    usage = {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    store.log_spans(e, [span(1, 2, 1, "llm1", 1, 4, {USAGE: usage})])
    store.log_spans(e, [span(1, 3, 1, "llm2", 5, 9, {USAGE: usage})])
    store.log_spans(e, [span(1, 1, None, "root", 0, 10)])
    return info_plain(store.get_trace_info(tid(1)))


@scenario()
def log_spans_cost(store):
    e = _exp(store)
    cost = {"input_cost": 0.1, "output_cost": 0.2, "total_cost": 0.3}
    store.log_spans(e, [span(1, 1, None, "root", 0, 10), span(1, 2, 1, "llm", 1, 4, {COST: cost})])
    return info_plain(store.get_trace_info(tid(1)))


@scenario()
def log_spans_usage_does_not_override_start_trace(store):
    e = _exp(store)
    store.start_trace(
        info(tid(1), e, metadata={TraceMetadataKey.TOKEN_USAGE: '{"input_tokens": 100}'})
    )
    usage = {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    store.log_spans(e, [span(1, 1, None, "root", 0, 10, {USAGE: usage})])
    return info_plain(store.get_trace_info(tid(1)))


@scenario()
def log_spans_session_and_user(store):
    e = _exp(store)
    store.log_spans(
        e,
        [
            span(1, 1, None, "root", 0, 10, {"session.id": "s-1", "user.id": "alice"}),
            span(1, 2, 1, "c", 1, 2, {"session.id": "s-2", "user.id": "bob"}),
        ],
    )
    return info_plain(store.get_trace_info(tid(1)))


@scenario()
def log_spans_trace_tag_attributes_and_resource(store):
    e = _exp(store)
    store.log_spans(
        e,
        [
            span(
                1,
                1,
                None,
                "root",
                0,
                10,
                {"mlflow.traceTag.team": "ml", "mlflow.traceTag.mlflow.traceName": "named"},
                resource={"service.name": "svc", "mlflow.x": "no", "deployment": "prod"},
            )
        ],
    )
    return info_plain(store.get_trace_info(tid(1)))


@scenario()
def log_spans_relog_same_span(store):
    e = _exp(store)
    store.log_spans(e, [span(1, 1, None, "first", 0, 10, {"v": 1})])
    store.log_spans(e, [span(1, 1, None, "second", 0, 12, {"v": 2})])
    return _after(store, tid(1))


@scenario()
def log_spans_long_preview_is_truncated(store):
    e = _exp(store)
    long_input = {"messages": [{"role": "user", "content": "word " * 3000}]}
    store.log_spans(
        e, [span(1, 1, None, "root", 0, 10, {"mlflow.spanInputs": long_input,
                                              "mlflow.spanOutputs": "z" * 20000})]
    )  # fmt: skip
    return info_plain(store.get_trace_info(tid(1)))


@scenario()
def get_trace_info_missing(store):
    return attempt(lambda: store.get_trace_info("tr-missing"))


@scenario()
def get_trace_missing(store):
    return attempt(lambda: store.get_trace("tr-missing", allow_partial=True))


@scenario()
def get_trace_without_spans_location(store):
    e = _exp(store)
    store.start_trace(info("tr-1", e))
    return attempt(lambda: store.get_trace("tr-1", allow_partial=True))


@scenario()
def get_trace_partial_by_size_stats(store):
    e = _exp(store)
    stats = json.dumps({"total_size_bytes": 10, "num_spans": 3, "max_span_size_bytes": 5})
    store.log_spans(e, simple_trace(1))
    store.start_trace(info(tid(1), e, 0, metadata={TraceMetadataKey.SIZE_STATS: stats}))
    return trace_plain(store.get_trace(tid(1), allow_partial=True))


@scenario()
def get_trace_complete_by_size_stats(store):
    e = _exp(store)
    stats = json.dumps({"total_size_bytes": 10, "num_spans": 2, "max_span_size_bytes": 5})
    store.log_spans(e, simple_trace(1))
    store.start_trace(info(tid(1), e, 0, metadata={TraceMetadataKey.SIZE_STATS: stats}))
    return trace_plain(store.get_trace(tid(1)))


@scenario()
def batch_get_traces_order_and_missing(store):
    e = _exp(store)
    store.log_spans(e, simple_trace(1) + simple_trace(2, 30) + simple_trace(3, 60))
    traces = store.batch_get_traces([tid(3), "tr-nope", tid(1), tid(3)])
    return [trace_plain(t) for t in traces]


@scenario()
def batch_get_trace_infos_scoped(store):
    e1, e2 = _exp(store, "a"), _exp(store, "b")
    store.log_spans(e1, simple_trace(1))
    store.log_spans(e2, simple_trace(2))
    ids = [tid(1), tid(2)]
    return {
        "all": infos_plain(store.batch_get_trace_infos(ids)),
        "e2": infos_plain(store.batch_get_trace_infos(ids, experiment_ids=[e2])),
        "none": store.batch_get_trace_infos([]),
        "traces_e1": [trace_plain(t) for t in store.batch_get_traces(ids, experiment_ids=[e1])],
    }


@scenario()
def batch_get_traces_of_trace_without_spans_location(store):
    e = _exp(store)
    store.start_trace(info("tr-1", e))
    return attempt(lambda: [trace_plain(t) for t in store.batch_get_traces(["tr-1"])])


@scenario()
def log_spans_with_events_and_unicode(store):
    e = _exp(store)
    store.log_spans(
        e,
        [
            span(
                1,
                1,
                None,
                "racine ✓",
                0,
                10,
                {"mlflow.spanInputs": {"texte": "héllo 世界"}, "mlflow.spanOutputs": "ok"},
                error=True,
                events=[
                    ("exception", 5, {"exception.type": "ValueError",
                                      "exception.message": "boom ✗"}),
                    ("note", 6, {"n": 1}),
                ],
            )
        ],
    )  # fmt: skip
    return _after(store, tid(1))
