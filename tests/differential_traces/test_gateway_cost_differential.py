"""sum_gateway_trace_cost against SqlAlchemyStore (SQLite) and DynamoDBTrackingStore: the same
sums for every range (start inclusive, end exclusive, across the cost listing's 30-day
periods) and filter (workspace, endpoint, auth username), after traces gain cost from spans,
are deleted, or are not gateway traces at all.

Costs are binary fractions (0.5, 0.25...), so a sum is exact in any order: the SQL store
adds floats in SQLite's row order, this store in its listing's order."""

from __future__ import annotations

import json

from mlflow.entities import SpanType
from mlflow.tracing.constant import SpanAttributeKey, TraceMetadataKey

from tests.compat import requires_mlflow
from tests.differential_traces.builders import BASE_MS, info, span, tid

HOUR = 3600 * 1000
DAY = 24 * HOUR
ENDPOINT, USER, COST = (
    TraceMetadataKey.GATEWAY_ENDPOINT_ID,
    TraceMetadataKey.AUTH_USERNAME,
    TraceMetadataKey.COST,
)


def _gateway_trace(store, n, experiment_id, at_ms, endpoint, user=None, cost=None):
    metadata = {ENDPOINT: endpoint}
    if user is not None:
        metadata[USER] = user
    if cost is not None:
        metadata[COST] = json.dumps({"total_cost": cost})
    store.start_trace(info(tid(n), experiment_id, at_ms, metadata=metadata))


def corpus(store) -> None:
    e1, e2 = store.create_experiment("gateway"), store.create_experiment("other")
    t0 = BASE_MS
    _gateway_trace(store, 1, e1, t0, "e-a", "alice", 0.5)
    _gateway_trace(store, 2, e1, t0 + HOUR, "e-b", "bob", 0.25)
    _gateway_trace(store, 3, e2, t0 + 2 * HOUR, "e-a", None, 0.125)
    _gateway_trace(store, 4, e1, t0 + 3 * HOUR, "e-a", "alice")  # no cost
    # not a gateway trace: never counted
    store.start_trace(info(tid(5), e1, t0 + HOUR, metadata={COST: json.dumps({"total_cost": 8.0})}))
    # a month later: another listing period
    _gateway_trace(store, 6, e1, t0 + 40 * DAY, "e-b", "alice", 2.0)
    _gateway_trace(store, 7, e1, t0 + 5 * HOUR, "e-a", "bob", 1.0)
    store.delete_traces(e1, trace_ids=[tid(7)])  # deleted: gone from the sums
    # cost arriving later, from an LLM span of the trace
    _gateway_trace(store, 8, e2, t0 + 6 * HOUR, "e-b", "carol")
    store.log_spans(
        e2,
        [
            span(8, 1, None, "gateway", 6 * HOUR, 6 * HOUR + 50,
                 {"mlflow.spanType": SpanType.LLM,
                  SpanAttributeKey.LLM_COST: {"input_cost": 0.5, "output_cost": 0.5,
                                              "total_cost": 1.0}}),
        ],
    )  # fmt: skip


QUERIES = [
    (BASE_MS - DAY, BASE_MS + 60 * DAY, {}),
    (BASE_MS, BASE_MS + HOUR, {}),  # start inclusive, end exclusive
    (BASE_MS + 1, BASE_MS + HOUR + 1, {}),
    (BASE_MS, BASE_MS + 41 * DAY, {"endpoint_id": "e-b"}),
    (BASE_MS, BASE_MS + 41 * DAY, {"endpoint_id": "e-a"}),
    (BASE_MS, BASE_MS + 41 * DAY, {"username": "alice"}),
    (BASE_MS, BASE_MS + 41 * DAY, {"username": "carol", "endpoint_id": "e-b"}),
    (BASE_MS, BASE_MS + 41 * DAY, {"workspace": "default"}),
    (BASE_MS, BASE_MS + 41 * DAY, {"workspace": "elsewhere"}),
    (BASE_MS + 40 * DAY, BASE_MS + 40 * DAY + 1, {}),
    (BASE_MS + 7 * HOUR, BASE_MS + 39 * DAY, {}),
    (BASE_MS + HOUR, BASE_MS, {}),  # an empty range
    (BASE_MS, BASE_MS, {}),
]


def sums(store) -> list:
    corpus(store)
    return [
        (start - BASE_MS, end - BASE_MS, kwargs, store.sum_gateway_trace_cost(start, end, **kwargs))
        for start, end, kwargs in QUERIES
    ]


# Before 3.17 SqlAlchemyStore summed the LLM spans' cost metrics only (3.16 added `username`);
# 3.17 sums the trace's promoted total_cost (the trace's cost metadata, spans' cost included),
# as this store does on every release.
@requires_mlflow("3.17", "before it SqlAlchemyStore summed only span cost metrics")
def test_same_sums_as_sqlalchemy_store(sql_store, dynamo_store):
    expected = sums(sql_store)
    actual = sums(dynamo_store)
    assert actual == expected
    # the corpus means something: every case of the first nine adds up something else
    assert [s for *_, s in expected] == [
        3.875,
        0.5,
        0.25,
        3.25,
        0.625,
        2.5,
        1.0,
        3.875,
        0.0,
        2.0,
        0.0,
        0.0,
        0.0,
    ]
    assert all(isinstance(s, float) for *_, s in actual)
