"""The trace-name dictionary (repositories/traces/name_dictionary.py): postings once per
distinct (experiment, name), traces found through the name listing. Request counts of the
writes (nothing extra once a name is known) and of a search (proportional to the matches,
not to the traces), and the upgrade path: a table of the previous version answers by the
full path until ``fts backfill`` (interrupted, then rerun) has built the dictionary."""

from __future__ import annotations

import pytest
from mlflow.entities import TraceInfo, TraceLocation, TraceState
from mlflow.tracing.constant import TraceTagKey

from mlflow_dynamodbstore.backfills import fts as backfill_module
from mlflow_dynamodbstore.backfills.fts import backfill_fts
from mlflow_dynamodbstore.fts import postings
from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.lifecycle.purge import purge_experiment
from mlflow_dynamodbstore.repositories.traces.name_dictionary import (
    SEEN,
    NameDictionary,
    posting_items,
)
from mlflow_dynamodbstore.schema import fts_keys, indexes, trace_name_keys
from mlflow_dynamodbstore.schema.fts_keys import FTS_SHARDS
from mlflow_dynamodbstore.search.traces import search as trace_search

NAMES = [f"agent-step-{i:02d}" for i in range(12)]


def _start(store, exp: str, n: int, name: str | None, when: int | None = None) -> str:
    trace_id = f"tr-{n:032x}"
    store.start_trace(
        TraceInfo(
            trace_id=trace_id,
            trace_location=TraceLocation.from_experiment_id(exp),
            request_time=when if when is not None else 1000 + n,
            state=TraceState.OK,
            tags={TraceTagKey.TRACE_NAME: name} if name is not None else {},
        )
    )
    return trace_id


def _ops(store) -> dict[str, int]:
    return {name: op.requests for name, op in store.gateway.stats.snapshot().items()}


def _scan(gateway, keep) -> list[dict]:
    """Items of the table (a Scan: test code only)."""
    found, start = [], None
    while True:
        kwargs = {
            "TableName": gateway.table_name,
            **({"ExclusiveStartKey": start} if start else {}),
        }
        page = gateway.client.scan(**kwargs)
        found += [gateway.deserialize(raw) for raw in page["Items"] if keep(raw)]
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def _dictionary_items(gateway) -> set[tuple[str, str]]:
    def keep(raw) -> bool:
        pk = raw["PK"]["S"]
        return pk.startswith("TNAMES#") or f"#{trace_name_keys.DICTIONARY_FIELD}#" in pk

    return {(i["PK"], i["SK"]) for i in _scan(gateway, keep)}


def _names(infos) -> list[str]:
    return [i.tags.get(TraceTagKey.TRACE_NAME) for i in infos]


def test_a_known_name_costs_a_trace_write_nothing(store):
    exp = store.create_experiment("e")
    _start(store, exp, 1, None)  # warm: experiment checks, settings
    store.gateway.stats.reset()
    _start(store, exp, 2, None)
    unnamed = _ops(store)
    store.gateway.stats.reset()
    _start(store, exp, 3, "ChatModel.invoke v2x")
    first = _ops(store)
    store.gateway.stats.reset()
    _start(store, exp, 4, "ChatModel.invoke v2x")
    again = _ops(store)
    # the first trace of a name: 1 GetItem of its entry, its 18 postings (1 BatchWriteItem),
    # the entry (1 PutItem); every later one: exactly an unnamed trace's requests
    assert again == unnamed
    assert first["GetItem"] == unnamed["GetItem"] + 1
    assert first["BatchWriteItem"] == unnamed.get("BatchWriteItem", 0) + 1
    assert first["PutItem"] == unnamed["PutItem"] + 1
    # a process that never saw the name reads its entry once (0.5 RCU), writes nothing
    SEEN.clear()
    store.gateway.stats.reset()
    _start(store, exp, 5, "ChatModel.invoke v2x")
    cold = _ops(store)
    assert cold["GetItem"] == unnamed["GetItem"] + 1 and cold["PutItem"] == unnamed["PutItem"]
    assert "BatchWriteItem" not in cold
    # one entry and the name's postings (18 distinct trigrams), whatever the traces
    assert len(_dictionary_items(store.gateway.unscoped)) == 1 + 18


@pytest.mark.parametrize("traces", [120, 480])
def test_a_selective_search_costs_its_matches_not_the_traces(store, traces):
    exp = store.create_experiment("e")
    for n in range(traces):
        _start(store, exp, n, NAMES[n % len(NAMES)] if n not in (7, 77) else "rare-zqx-tool")
    store.search_traces([exp], "name LIKE '%warm%'")  # readiness cached
    store.gateway.stats.reset()
    page, token = store.search_traces([exp], "name LIKE '%zqx%'", max_results=10)
    assert [i.request_time for i in page] == [1077, 1007] and token is None
    # 1 trigram list (a Query per shard) + the overflow list, the 1 entry named, then the
    # name's listing (1 Query): the same at 120 and 480 traces
    assert _ops(store) == {"Query": FTS_SHARDS + 1 + 1, "BatchGetItem": 1}
    # = needs no postings: the name's listing only
    store.gateway.stats.reset()
    page, _ = store.search_traces([exp], "trace.name = 'rare-zqx-tool'")
    assert len(page) == 2 and _ops(store) == {"Query": 1}
    # a common name, paged: one listing Query per page (Limit = page size)
    store.gateway.stats.reset()
    page, token = store.search_traces([exp], "name = 'agent-step-03'", max_results=5)
    assert len(page) == 5 and token and _ops(store) == {"Query": 1}


def test_paging_through_several_names_and_experiments(store):
    exps = [store.create_experiment(f"e{i}") for i in range(3)]
    made = []
    for n in range(60):
        exp = exps[n % 3]
        made.append((1000 + n // 4, _start(store, exp, n, NAMES[n % 5], when=1000 + n // 4)))
    pages, token = [], None
    while True:
        page, token = store.search_traces(
            exps, "name ILIKE '%STEP-0_%'", max_results=7, page_token=token
        )
        pages.append(page)
        if not token:
            break
    got = [i.trace_id for p in pages for i in p]
    expected = [t for _, t in sorted(made, key=lambda m: (-m[0], m[1]))]
    assert got == expected and len(pages) == 9


def _make_old(gateway) -> None:
    """The table as the previous version left it: no dictionary, no name listing keys, the
    earlier marker and (opt-in) per-trace postings of one trace."""
    for pk, sk in _dictionary_items(gateway):
        gateway.delete_item({"PK": pk, "SK": sk})
    listing = indexes.TRACES_BY_NAME

    def named_trace(raw) -> bool:

        pk, sk = raw["PK"]["S"], raw["SK"]["S"]
        return listing.pk in raw and pk.startswith("TRACE#") and sk == "META"

    for meta in _scan(gateway, named_trace):
        gateway.update_item(
            {"PK": meta["PK"], "SK": meta["SK"]},
            "REMOVE #upk, #usk",
            names={"#upk": listing.pk, "#usk": listing.sk},
        )
    READINESS.mark(gateway, postings.TRACE_NAME, False)
    gateway.put_item({**fts_keys.marker_key(fts_keys.LEGACY_TRACE_NAME_MARKER), "complete": True})


def test_previous_version_table_full_path_until_backfill(store, monkeypatch):
    monkeypatch.setattr(backfill_module, "PAGE", 5)
    gateway = store.gateway.unscoped
    exps = [store.create_experiment(f"e{i}") for i in range(2)]
    for n in range(40):
        _start(store, exps[n % 2], n, NAMES[n % 6] if n % 9 else None)
    # the earlier opt-in postings of one trace (trace 2: exps[0], "agent-step-02")
    legacy = postings.Document("default", postings.TRACE_NAME, exps[0], f"tr-{2:032x}")
    gateway.batch_write(puts=legacy.keys("agent-step-02"))
    built = _dictionary_items(gateway)
    _make_old(gateway)
    SEEN.clear()

    used = []
    original = trace_search.named_traces
    monkeypatch.setattr(
        trace_search, "named_traces", lambda *a: used.append(original(*a)) or used[-1]
    )

    def search() -> list[str]:
        page, _ = store.search_traces(exps, "name LIKE '%step-03%'", max_results=100)
        return [i.trace_id for i in page]

    expected = [f"tr-{n:032x}" for n in sorted((3, 15, 21, 33, 39), key=lambda n: -n)]
    assert search() == expected and used[-1] is None  # full path: not ready

    calls = []

    def interrupt(n: int) -> None:
        calls.append(n)
        if len(calls) == 10:  # after 2 pages of the first new experiment's traces
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill_fts(gateway, interrupt, settle_seconds=0)
    assert not READINESS.is_ready(gateway, postings.TRACE_NAME)
    assert search() == expected and used[-1] is None
    partial = _dictionary_items(gateway)
    assert set() < partial < built

    report = backfill_fts(gateway, settle_seconds=0)
    assert report.resumed
    assert _dictionary_items(gateway) == built
    assert READINESS.is_ready(gateway, postings.TRACE_NAME)
    assert gateway.get_item(legacy.key_of("age")) is None  # earlier postings deleted
    assert gateway.get_item(fts_keys.marker_key(fts_keys.LEGACY_TRACE_NAME_MARKER)) is None
    assert search() == expected and used[-1] is not None  # the dictionary now
    # every named META is on its name listing again: a rename moves it
    store.set_trace_tag(f"tr-{3:032x}", TraceTagKey.TRACE_NAME, "renamed-zqx")
    assert search() == expected[:-1]
    page, _ = store.search_traces(exps, "name LIKE '%d-zqx'")
    assert _names(page) == ["renamed-zqx"]
    # the new name is in the dictionary; a rerun changes nothing
    renamed = _dictionary_items(gateway)
    assert renamed > built
    backfill_fts(gateway, settle_seconds=0)
    assert _dictionary_items(gateway) == renamed


def test_purge_deletes_the_experiments_dictionary(store):
    keep, gone = store.create_experiment("keep"), store.create_experiment("gone")
    for n in range(6):
        _start(store, keep if n % 2 else gone, n, NAMES[n % 3])
    before = _dictionary_items(store.gateway.unscoped)
    kept = {i for i in before if f"#{keep}#" in i[0]}
    assert kept and kept < before
    purge_experiment(store.gateway.unscoped, "default", gone, "gone")
    assert _dictionary_items(store.gateway.unscoped) == kept


def test_a_crash_between_postings_and_entry_is_repaired_by_the_next_trace(store, monkeypatch):
    exp = store.create_experiment("e")
    original = NameDictionary.write

    def crash_after_postings(self, experiment_id, name):
        self.gateway.batch_write(puts=posting_items(experiment_id, name))
        raise ConnectionError("server died before the entry")

    monkeypatch.setattr(NameDictionary, "write", crash_after_postings)
    with pytest.raises(ConnectionError):
        _start(store, exp, 1, "crashy-zqx-name")
    # META was never written: nothing to find, and the orphan postings find nothing
    assert store.search_traces([exp], "name LIKE '%zqx%'")[0] == []
    monkeypatch.setattr(NameDictionary, "write", original)
    _start(store, exp, 2, "crashy-zqx-name")
    assert _names(store.search_traces([exp], "name LIKE '%zqx%'")[0]) == ["crashy-zqx-name"]


def test_a_stale_entry_costs_one_empty_listing_query(store):
    exp = store.create_experiment("e")
    gone = _start(store, exp, 1, "stale-zqx-name")
    store.set_trace_tag(_start(store, exp, 2, "moved-zqx-name"), TraceTagKey.TRACE_NAME, "other")
    store.delete_traces(exp, trace_ids=[gone])
    store.search_traces([exp], "name LIKE '%warm%'")
    store.gateway.stats.reset()
    assert store.search_traces([exp], "name LIKE '%zqx%'")[0] == []
    # postings (4 shards) + overflow, 2 entries, then each stale name's empty listing
    assert _ops(store) == {"Query": FTS_SHARDS + 1 + 2, "BatchGetItem": 1}
    assert _names(store.search_traces([exp], "name = 'other'")[0]) == ["other"]
