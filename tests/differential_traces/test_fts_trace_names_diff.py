"""The trace-name dictionary against the SQL store: search_traces with name LIKE / ILIKE / =
filters over generated names (mixed case, accents, CJK, emoji, ``%``, ``_``, quotes, 1-2
characters, one name past the indexed trigram cap), every wildcard placement, paging with
small max_results (following each store's own tokens), other orders, renames
(``mlflow.traceName`` set and deleted) and deletes between searches, in several
experiments. Both stores must give the same pages, with the index (the default) and on a
table whose index is not ready (an upgraded table before ``fts backfill``: every search
takes the listing walk)."""

from __future__ import annotations

import pytest
from mlflow.entities import TraceState
from mlflow.tracing.constant import TraceTagKey

from mlflow_dynamodbstore.fts import postings
from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.differential_traces.builders import info, tid
from tests.differential_traces.fts_search import all_pages, index_use
from tests.fts.names import generated_names, patterns

# Over 200 distinct trigrams (the index keeps the first 200): a pattern from its end is
# only found through the experiment's overflow list.
LONG_NAME = "".join(chr(0x4E00 + i) + f"{i:03d}" for i in range(80)) + "-tail-ZQX"
_FIELDS = ("name", "trace.name", "tags.`mlflow.traceName`", "attributes.name")


def _searches(store, exp_ids: list[str], pats: list[str]) -> list:
    out = []
    for i, pattern in enumerate(pats):
        for comparator in ("LIKE", "ILIKE"):
            flt = f"{_FIELDS[i % len(_FIELDS)]} {comparator} '{pattern}'"
            if i % 4 == 0:
                out.append(all_pages(store, exp_ids, flt, 2))
            elif i % 4 == 1:
                out.append(all_pages(store, exp_ids, flt, 3, order_by=["name ASC"]))
            else:
                out.append(all_pages(store, exp_ids, flt, 1000))
    out.append(all_pages(store, exp_ids, "name LIKE '%ode%' AND trace.status = 'OK'", 2))
    out.append(all_pages(store, exp_ids, "name ILIKE '%TRAIN%' AND timestamp_ms > 1005", 1000))
    out.append(all_pages(store, exp_ids, "name = 'model-train'", 1000))
    for name in pats[:4]:  # = on a pattern (its % and _ are plain characters under =)
        out.append(all_pages(store, exp_ids, f"trace.name = '{name}'", 2))
    out.append(all_pages(store, exp_ids, "name != 'model-train' AND name LIKE '%mod%'", 4))
    out.append(all_pages(store, exp_ids, "name LIKE '%tail-ZQX'", 1000))
    out.append(all_pages(store, exp_ids, "name ILIKE '%-TAIL-%'", 1000, ["timestamp_ms ASC"]))
    return out


@pytest.fixture(params=["indexed", "not ready"])
def dynamo_store(request, store_uri, artifact_root, fake_clock):
    """The store as created (trace names indexed: the default), or with the index not
    ready (a table of the previous version before ``fts backfill``)."""
    store = DynamoDBTrackingStore(store_uri, artifact_root)
    store.indexed_names = request.param == "indexed"
    if not store.indexed_names:
        READINESS.mark(store._conn.gateway, postings.TRACE_NAME, False)
    return store


def test_search_traces_by_name(sql_store, dynamo_store, monkeypatch):
    indexed = index_use(monkeypatch, "named_traces")
    names = generated_names(36, seed=31)
    # traces share names (the dictionary's case): each name on up to three traces
    names = [*names, *names[:12], *names[5:11]]
    pats = patterns(names, 30, seed=37)

    def scenario(store) -> list:
        exp_a, exp_b = store.create_experiment("a"), store.create_experiment("b")
        exp_c = store.create_experiment("c")
        for n, name in enumerate([*names, LONG_NAME], start=1):
            store.start_trace(
                info(
                    tid(n),
                    exp_a if n % 3 else (exp_b if n % 2 else exp_c),
                    1000 + n // 2,  # timestamp ties: the trace id orders them
                    state=TraceState.ERROR if n % 5 == 0 else TraceState.OK,
                    tags={TraceTagKey.TRACE_NAME: name},
                )
            )
        for n in (90, 91):  # traces without a name
            store.start_trace(info(tid(n), exp_a, 1001))
        log = _searches(store, [exp_a, exp_b, exp_c], pats)
        # renames, a removed name, a name given later, and deletes between searches
        for n in range(1, 7):
            store.set_trace_tag(tid(n), TraceTagKey.TRACE_NAME, names[n - 1] + "·v2")
        store.delete_trace_tag(tid(7), TraceTagKey.TRACE_NAME)
        store.set_trace_tag(tid(90), TraceTagKey.TRACE_NAME, "late model name")
        store.delete_traces(exp_a, trace_ids=[tid(n) for n in (8, 10, 11, len(names) + 1)])
        store.delete_traces(exp_b, trace_ids=[tid(9), tid(12), tid(15)])
        log += _searches(store, [exp_a, exp_b, exp_c], [*pats[:12], "%·v2", "%V2%", "%late%"])
        log += _searches(store, [exp_b], pats[12:20])
        log += _searches(store, [exp_c, exp_a], pats[20:26])
        return log

    assert scenario(dynamo_store) == scenario(sql_store)
    if dynamo_store.indexed_names:
        # most of the dynamo store's searches read candidates from the index, the rest
        # (short patterns, wildcards only) took the full path
        assert sum(indexed) > 40 and not all(indexed), (sum(indexed), len(indexed))
    else:
        assert indexed and not any(indexed)  # not ready: always the listing walk
