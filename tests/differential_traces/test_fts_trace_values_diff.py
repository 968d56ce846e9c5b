"""Trace tag and metadata values in the trigram index against the SQL store: search_traces
with ``tags.<key>`` / ``metadata.<key>`` (``tag.``, ``request_metadata.``) LIKE / ILIKE / =
over generated values (mixed case, accents, CJK, emoji, ``%``, ``_``, quotes, backslashes,
1-2 characters, one value past the indexed trigram cap), every wildcard placement, paging
with small max_results (following each store's own tokens), other orders, and tags
overwritten and deleted and traces deleted between searches, in several experiments. Both
stores give the same pages with the fields on (configured and built) and off (every search
takes the listing walk)."""

from __future__ import annotations

import pytest
from mlflow.entities import TraceState

from mlflow_dynamodbstore.backfills.fts import backfill_fts
from mlflow_dynamodbstore.config.settings import FTS_TRIGRAM_FIELDS_ENV
from mlflow_dynamodbstore.fts.field_postings import TRACE_VALUE_FIELDS
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.differential_traces.builders import info, tid
from tests.differential_traces.fts_search import all_pages, index_use
from tests.fts.names import generated_names, patterns

# Over 200 distinct trigrams (the index keeps the first 200): a pattern from its end is
# only found through the (experiment, key) overflow list.
LONG_VALUE = "".join(chr(0x4E00 + i) + f"{i:03d}" for i in range(80)) + "-tail-ZQX"
# (filter key, store key, "tag" | "meta"): every alias MLflow accepts
_KEYS = (
    ("tags.team", "team", "tag"),
    ("tag.note", "note", "tag"),
    ("metadata.env", "env", "meta"),
    ("request_metadata.prompt", "prompt", "meta"),
    ("tags.`team`", "team", "tag"),
)


def _searches(store, exp_ids: list[str], pats: list[str]) -> list:
    out = []
    for i, pattern in enumerate(pats):
        key = _KEYS[i % len(_KEYS)][0]
        for comparator in ("LIKE", "ILIKE"):
            flt = f"{key} {comparator} '{pattern}'"
            if i % 4 == 0:
                out.append(all_pages(store, exp_ids, flt, 2))
            elif i % 4 == 1:
                out.append(all_pages(store, exp_ids, flt, 3, order_by=["name ASC"]))
            elif i % 4 == 2:
                out.append(all_pages(store, exp_ids, flt, 2, order_by=["timestamp_ms ASC"]))
            else:
                out.append(all_pages(store, exp_ids, flt, 1000))
    out.append(all_pages(store, exp_ids, "tags.team LIKE '%ode%' AND trace.status = 'OK'", 2))
    out.append(all_pages(store, exp_ids, "metadata.env ILIKE '%TRAIN%' AND timestamp_ms > 1005", 9))
    out.append(all_pages(store, exp_ids, "tags.team ILIKE '%mod%' AND metadata.env LIKE '%e%'", 2))
    out.append(all_pages(store, exp_ids, "tags.team LIKE '%a%' AND tags.note ILIKE '%BERT%'", 2))
    for value in pats[:4]:  # = on a pattern (its % and _ are plain characters under =)
        out.append(all_pages(store, exp_ids, f"tags.team = '{value}'", 2))
    both = "tags.team != 'model-train' AND tags.team LIKE '%mod%'"
    out.append(all_pages(store, exp_ids, both, 4))
    out.append(all_pages(store, exp_ids, "tags.note LIKE '%tail-ZQX'", 1000))
    out.append(all_pages(store, exp_ids, "tags.note ILIKE '%-TAIL-%'", 1000, ["timestamp_ms ASC"]))
    out.append(all_pages(store, exp_ids, "tags.missing LIKE '%model%'", 5))
    out.append(all_pages(store, exp_ids, "tags.team IS NOT NULL AND tags.team LIKE '%ain%'", 3))
    return out


@pytest.fixture(params=["on", "off"])
def dynamo_store(request, monkeypatch, store_uri, artifact_root, fake_clock):
    """The store with both trace value fields configured and built, or without them."""
    if request.param == "on":
        monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, ",".join(TRACE_VALUE_FIELDS))
    store = DynamoDBTrackingStore(store_uri, artifact_root)
    store.values_on = request.param == "on"
    if store.values_on:
        backfill_fts(store.gateway.unscoped, settle_seconds=0)
    return store


def test_search_traces_by_tag_and_metadata_values(sql_store, dynamo_store, monkeypatch):
    indexed = index_use(monkeypatch, "valued_traces")
    values = generated_names(40, seed=43)
    values = [*values, "back\\slash model", "50\\% off", *values[:10]]  # shared values
    pats = patterns(values, 36, seed=47)

    def scenario(store) -> list:
        exps = [store.create_experiment(x) for x in ("a", "b", "c")]
        for n, value in enumerate([*values, LONG_VALUE], start=1):
            other = values[(n * 7) % len(values)]
            tags = {"team": value} if n % 4 else {"team": value, "note": other}
            if n == len(values) + 1:
                tags = {"note": value}
            metadata = {"env": other} if n % 3 else {"env": other, "prompt": value}
            store.start_trace(
                info(
                    tid(n),
                    exps[n % 3],
                    1000 + n // 2,  # timestamp ties: the trace id orders them
                    state=TraceState.ERROR if n % 5 == 0 else TraceState.OK,
                    tags={**tags, "mlflow.traceName": f"name-{n % 4}"},
                    metadata=metadata,
                )
            )
        log = _searches(store, exps, pats)
        # overwrites, deletes of tags and traces between searches
        for n in range(1, 9):
            store.set_trace_tag(tid(n), "team", values[n + 3] + "·v2")
        store.set_trace_tag(tid(9), "note", "late bert model")
        store.delete_trace_tag(tid(10), "team")
        store.delete_trace_tag(tid(4), "note")
        store.delete_traces(exps[1], trace_ids=[tid(n) for n in (13, 16, len(values) + 1)])
        store.delete_traces(exps[2], trace_ids=[tid(12), tid(15)])
        log += _searches(store, exps, [*pats[:12], "%·v2", "%V2%", "%late%", "%bert%"])
        log += _searches(store, [exps[1]], pats[12:20])
        log += _searches(store, [exps[2], exps[0]], pats[20:28])
        return log

    expected = scenario(sql_store)
    assert scenario(dynamo_store) == expected
    # the scenario is not vacuous: many searches find traces, several over more pages
    found = [pages for pages in expected if pages and isinstance(pages[0], list) and pages[0]]
    assert len(found) > 60 and sum(len(pages) > 1 for pages in found) > 20
    if dynamo_store.values_on:
        # most searches read candidates from the postings, the rest (short patterns,
        # wildcards only, `!=`) took the listing walk
        assert sum(indexed) > 60 and not all(indexed), (sum(indexed), len(indexed))
    else:
        assert indexed and not any(indexed)  # off: always the listing walk
