"""search_traces: filters, ordering and pagination across experiments."""

from __future__ import annotations

import json

from mlflow.entities import AssessmentSource, Feedback, SpanType, TraceState
from mlflow.tracing.constant import TraceMetadataKey, TraceTagKey

from tests.differential.harness import attempt
from tests.differential_traces.builders import info, search_plain, span, tid
from tests.differential_traces.registry import scenario

USAGE = {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}


def _corpus(store) -> tuple[str, str]:
    """Two experiments: traces 1-6 from spans, 7-9 from start_trace, with tags, metadata,
    assessments and a timestamp tie (traces 2 and 3)."""
    e1, e2 = store.create_experiment("one"), store.create_experiment("two")
    starts = {1: 0, 2: 100, 3: 100, 4: 300, 5: 50, 6: 400}
    for n, start in starts.items():
        exp = e1 if n % 2 else e2
        attrs = {"mlflow.spanInputs": {"q": f"question {n}"}, "mlflow.spanOutputs": f"out{n}"}
        if n == 4:
            attrs["mlflow.chat.tokenUsage"] = USAGE
        if n == 5:
            attrs["session.id"] = "sess-1"
        store.log_spans(
            exp,
            [
                span(n, 1, None, f"root{n}", start, start + 10 * n, attrs, error=n == 6),
                span(
                    n,
                    2,
                    1,
                    "retrieve" if n % 3 else "generate",
                    start + 1,
                    start + 2,
                    {"mlflow.spanType": SpanType.RETRIEVER if n % 3 else SpanType.LLM,
                     "model": f"gpt-{n}"},
                ),
            ],
        )  # fmt: skip
        store.set_trace_tag(tid(n), "group", "odd" if n % 2 else "even")
    for n in (7, 8, 9):
        store.start_trace(
            info(
                tid(n),
                e1,
                1_600_000_000_000 + 1000 * n,
                duration=None if n == 9 else n,
                state=TraceState.IN_PROGRESS if n == 8 else TraceState.OK,
                tags={TraceTagKey.TRACE_NAME: f"started {n}", "env": "prod" if n < 9 else "dev"},
                metadata={TraceMetadataKey.SOURCE_RUN: "run-7"} if n == 7 else {"m": str(n)},
                client_request_id=f"client-{n}",
            )
        )
    store.create_assessment(
        Feedback(name="score", value=0.8, source=AssessmentSource("HUMAN", "u"), trace_id=tid(1))
    )
    store.create_assessment(
        Feedback(name="score", value=0.3, source=AssessmentSource("HUMAN", "u"), trace_id=tid(2))
    )
    store.create_assessment(
        Feedback(name="ok", value="yes", source=AssessmentSource("HUMAN", "u"), trace_id=tid(3))
    )
    return e1, e2


def _search(store, exps, filter_string=None, **kw):
    return attempt(lambda: search_plain(store.search_traces(exps, filter_string, **kw)))


def _filters(store, *filters: str):
    e1, e2 = _corpus(store)
    return {f: _search(store, [e1, e2], f) for f in filters}


@scenario()
def search_default_order_all(store):
    e1, e2 = _corpus(store)
    return {"both": _search(store, [e1, e2]), "one": _search(store, [e2])}


@scenario()
def search_pages_through_everything(store):
    e1, e2 = _corpus(store)
    pages, token = [], None
    while True:
        infos, token = store.search_traces([e1, e2], max_results=2, page_token=token)
        pages.append([i.trace_id for i in infos])
        if not token:
            return pages


@scenario()
def search_pages_with_filter_and_order(store):
    e1, e2 = _corpus(store)
    pages, token = [], None
    while True:
        infos, token = store.search_traces(
            [e1, e2], "tags.group = 'odd'", max_results=2, order_by=["timestamp ASC"],
            page_token=token,
        )  # fmt: skip
        pages.append([i.trace_id for i in infos])
        if not token:
            return pages


@scenario()
def search_order_by_variants(store):
    e1, e2 = _corpus(store)
    orders = [
        ["timestamp_ms ASC"],
        ["execution_time_ms DESC"],
        ["execution_time ASC"],
        ["status"],
        ["name ASC"],
        ["name DESC"],
        ["request_id DESC"],
        ["tags.group ASC", "timestamp_ms ASC"],
        ["metadata.m DESC"],
        ["experiment_id DESC", "timestamp ASC"],
        ["run_id"],
        ["timestamp_ms DESC", "request_id DESC"],
    ]
    return {json.dumps(o): _search(store, [e1, e2], order_by=o) for o in orders}


@scenario()
def search_order_by_errors(store):
    e1, _ = _corpus(store)
    orders = [
        ["nope ASC"],
        ["tags.a", "tags.a"],
        [f"metadata.`{TraceMetadataKey.TOKEN_USAGE}`"],
        ["span.name"],
    ]
    return {json.dumps(o): _search(store, [e1], order_by=o) for o in orders}


@scenario()
def search_filter_attributes(store):
    return _filters(
        store,
        "trace.status = 'OK'",
        "trace.status != 'OK'",
        "status IN ('ERROR', 'IN_PROGRESS')",
        "trace.timestamp_ms > 1600000000100",
        "trace.timestamp_ms >= 1600000000100 AND timestamp_ms <= 1600000000300",
        "timestamp < 1600000000050",
        "trace.timestamp_ms = 1600000000100",
        "trace.execution_time_ms > 30",
        "execution_time <= 20",
        "end_time_ms > 1600000000350",
        "trace.request_id = 'tr-00000000000000000000000000000002'",
        "request_id IN ('tr-00000000000000000000000000000003', 'nope')",
        "client_request_id = 'client-7'",
        "client_request_id NOT IN ('client-7')",
    )


@scenario()
def search_filter_names_and_tags(store):
    return _filters(
        store,
        "trace.name = 'started 7'",
        "name LIKE 'started%'",
        "name ILIKE 'STARTED 8'",
        "name RLIKE '^start.*9$'",
        "name != 'started 7'",
        f"tags.`{TraceTagKey.TRACE_NAME}` IS NULL",
        "tags.group = 'odd'",
        "tags.group != 'odd'",
        "tags.env IS NULL",
        "tags.env IS NOT NULL",
        "tags.env LIKE 'pr%'",
        "tags.group = 'odd' AND trace.status = 'OK'",
    )


@scenario()
def search_filter_metadata(store):
    return _filters(
        store,
        "metadata.m = '8'",
        "metadata.m IS NULL",
        "metadata.m IS NOT NULL",
        "metadata.m LIKE '%9'",
        f"metadata.`{TraceMetadataKey.SOURCE_RUN}` = 'run-7'",
        "run_id = 'run-7'",
        # An empty run id filters nothing in SQL (`if run_id_filter:`).
        "run_id = ''",
        f"metadata.`{TraceMetadataKey.SOURCE_RUN}` = ''",
        f"metadata.`{TraceMetadataKey.TRACE_SESSION}` = 'sess-1'",
        f"metadata.`{TraceMetadataKey.TRACE_SESSION}` IS NULL",
        f"metadata.`{TraceMetadataKey.TOKEN_USAGE}` IS NOT NULL",
        f"metadata.`{TraceMetadataKey.TOKEN_USAGE}` = '{json.dumps(USAGE)}'",
        f"metadata.`{TraceMetadataKey.TOKEN_USAGE}` != '{json.dumps(USAGE)}'",
        f"metadata.`{TraceMetadataKey.TOKEN_USAGE}` LIKE '%'",
    )


@scenario()
def search_filter_spans(store):
    return _filters(
        store,
        "span.name = 'generate'",
        "span.name LIKE 'ret%'",
        "span.type = 'LLM'",
        "span.type IN ('RETRIEVER')",
        "span.status = 'ERROR'",
        "span.name = 'generate' AND span.type = 'LLM'",
        "span.name = 'generate' AND span.type = 'RETRIEVER'",
        "span.attributes.model LIKE '%gpt-4%'",
        "span.attributes.model ILIKE '%GPT-5%'",
        "span.attributes.model RLIKE 'gpt-[12]'",
        "span.attributes.model = 'gpt-1'",
        "span.content LIKE '%question 3%'",
        "trace.text LIKE '%out5%'",
        "span.name = 'retrieve' AND tags.group = 'even'",
    )


@scenario()
def search_filter_assessments(store):
    return _filters(
        store,
        "feedback.score > 0.5",
        "feedback.score <= 0.5",
        "feedback.score = 0.8",
        "feedback.score IS NOT NULL",
        "feedback.score IS NULL",
        "feedback.ok = 'yes'",
        "feedback.ok != 'yes'",
        "feedback.ok LIKE '%ye%'",
        "expectation.answer IS NULL",
    )


@scenario()
def search_filter_errors(store):
    return _filters(
        store,
        "trace.nope = 'x'",
        "foo.bar = 'x'",
        "tags.x > 'a'",
        "trace.status < 3",
        "span.bogus = 'x'",
        "trace.timestamp_ms = 'abc'",
        "name = ",
        "issue.id = 'iss-1'",
        "trace.timestamp_ms > '5'",
        "trace.execution_time_ms = '10'",
        "trace.execution_time_ms < 'abc'",
        "trace.timestamp_ms >= ' 1600000000300 '",
    )


@scenario()
def search_arguments(store):
    e1, e2 = _corpus(store)
    return [
        _search(store, [e1], max_results=0),
        _search(store, [e1], max_results=50001),
        attempt(lambda: store.search_traces(experiment_ids=[e1], locations=[e2])),
        attempt(lambda: store.search_traces(locations=["catalog.schema"])),
        _search(store, []),
        _search(store, ["424242"]),
        search_plain(store.search_traces(locations=[e2])),
    ]


@scenario()
def search_after_deletes_and_tag_changes(store):
    e1, e2 = _corpus(store)
    store.delete_traces(e1, trace_ids=[tid(1), tid(7)])
    store.set_trace_tag(tid(2), "group", "odd")
    return [_search(store, [e1, e2]), _search(store, [e1, e2], "tags.group = 'odd'")]


@scenario()
def search_with_previews_and_infos(store):
    e1, _ = _corpus(store)
    infos, _ = store.search_traces([e1], max_results=3)
    return [i.to_dict() for i in infos]


@scenario()
def search_without_locations_covers_every_experiment(store):
    _corpus(store)
    return search_plain(store.search_traces(max_results=100))


@scenario()
def search_pages_default_order_with_filters(store):
    e1, e2 = _corpus(store)
    out = {}
    for f in (
        "trace.timestamp_ms >= 1600000000050",
        "span.type = 'RETRIEVER'",
        "tags.group IS NULL",
    ):
        pages, token = [], None
        while True:
            infos, token = store.search_traces([e1, e2], f, max_results=2, page_token=token)
            pages.append([i.trace_id for i in infos])
            if not token:
                break
        out[f] = pages
    return out


@scenario(messages=False)  # SQL's message for span.attributes IN is SQLAlchemy's text
def search_filter_more_comparators(store):
    return _filters(
        store,
        "tags.group IN ('odd')",
        "name NOT IN ('started 7', 'started 8')",
        "span.attributes.model IN ('gpt-1')",
        "span.name != 'generate'",
        "span.name NOT IN ('generate', 'retrieve')",
        "feedback.score = '0.8'",
        "feedback.score != 0.8",
        "feedback.score RLIKE '^0\\.[0-9]$'",
        "metadata.m RLIKE '[0-9]'",
        "client_request_id LIKE 'client%'",
        "trace.text ILIKE '%OUT5%'",
        "span.content ILIKE '%QUESTION 2%'",
        "span.attributes.`mlflow.spanType` LIKE '%LLM%'",
        "trace.status = 'OK' AND trace.timestamp_ms < 1600000000300 AND tags.group = 'even'",
    )
