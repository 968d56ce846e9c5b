"""search_traces ordered by trace name on DynamoDB Local: a page costs its names' listing
reads and the experiment's name dictionary, not the experiment (docs/trace-paging.md, "Name
order"); the unnamed traces' listing kept in step by writes; older tables exact before and
indexed after `traces backfill-order`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from mlflow.entities import TraceInfo, TraceLocation, TraceState
from mlflow.tracing.constant import TraceTagKey

from mlflow_dynamodbstore.repositories.traces import listings
from mlflow_dynamodbstore.schema import indexes, keys, trace_name_order_keys
from tests.integration.trace_paging_helpers import second_page_cost, strip_listing_keys

BASE = 1_700_000_000_000
NAME = TraceTagKey.TRACE_NAME


def _tid(n: int) -> str:
    return f"tr-{n:032x}"


def _start(store, experiment_id: str, n: int, name: str | None, *, offset: int = 0) -> None:
    store.start_trace(
        TraceInfo(
            trace_id=_tid(n),
            trace_location=TraceLocation.from_experiment_id(experiment_id),
            request_time=BASE + offset,
            execution_duration=n % 7,
            state=TraceState.OK,
            tags={NAME: name} if name is not None else {},
        )
    )


def _ids(infos) -> list[str]:
    return [i.trace_id for i in infos]


def _all_pages(store, experiment_ids, order, size=2) -> list[str]:
    out, token = [], None
    while True:
        infos, token = store.search_traces(
            experiment_ids, max_results=size, order_by=order, page_token=token
        )
        out.extend(_ids(infos))
        if not token:
            return out


KEY_ORDERS = [
    ["name ASC"],
    ["name DESC"],
    ["tags.`mlflow.traceName` ASC", "timestamp_ms DESC", "request_id ASC"],
]


@pytest.mark.parametrize("order", KEY_ORDERS, ids=lambda o: " ".join(o))
def test_a_page_of_one_name_costs_the_same_at_12_and_120_traces(store, order):
    small, large = store.create_experiment("small"), store.create_experiment("large")
    for n in range(12):
        _start(store, small, 1000 + n, "predict", offset=n)
    for n in range(120):
        _start(store, large, 2000 + n, "predict", offset=n)
    small_cost = second_page_cost(store, small, order)
    assert small_cost == second_page_cost(store, large, order)
    # the dictionary's 4 shards and the name's listing, from the position
    assert small_cost[0] == 5


@pytest.mark.parametrize("order", KEY_ORDERS[:2], ids=lambda o: " ".join(o))
def test_ten_times_the_names_costs_the_same_requests(store, order):
    """12 traces of 3 names vs 120 of 30: the page crosses the same number of names."""
    small, large = store.create_experiment("small"), store.create_experiment("large")
    for n in range(12):
        _start(store, small, 1000 + n, f"name-{n % 3:02d}", offset=n)
    for n in range(120):
        _start(store, large, 2000 + n, f"name-{n % 30:02d}", offset=n)
    small_cost = second_page_cost(store, small, order)
    assert small_cost[0] == second_page_cost(store, large, order)[0]
    assert small_cost[0] == 4 + 2  # the dictionary + the two names the page spans


def test_the_unnamed_traces_page_from_their_own_listing(store):
    small, large = store.create_experiment("small"), store.create_experiment("large")
    for exp, count, first in ((small, 12, 1000), (large, 120, 2000)):
        _start(store, exp, first - 1, "named")
        for n in range(count):
            _start(store, exp, first + n, None, offset=n)
    small_cost = second_page_cost(store, small, ["name DESC"])
    assert small_cost == second_page_cost(store, large, ["name DESC"])
    assert small_cost[0] == 1  # the unnamed listing from the position (no names left)


def test_the_name_order_with_other_terms_sorts_each_name_in_memory(store):
    exp = store.create_experiment("terms")
    for n in range(9):
        _start(store, exp, n, ["b", "a", None][n % 3], offset=n // 2)
    for order in (["name ASC", "execution_time_ms DESC"], ["name DESC", "timestamp_ms ASC"]):
        whole, _ = store.search_traces([exp], max_results=100, order_by=order)
        assert _all_pages(store, [exp], order, size=2) == _ids(whole)
        assert [i.tags.get(NAME) for i in whole][-3:] == [None] * 3  # NULLs last


def _nameless_entry(store, trace_id: str) -> str | None:
    item = store.gateway.get_item(keys.trace_key(trace_id))
    listing = indexes.TRACES_WITHOUT_NAME
    return None if item is None else item.get(listing.pk)


def test_writes_keep_the_unnamed_listing_in_step(store):
    exp = store.create_experiment("writes")
    _start(store, exp, 1, None)
    _start(store, exp, 2, "b", offset=1)
    assert _nameless_entry(store, _tid(1)) == trace_name_order_keys.nameless_pk(exp)
    assert _ids(store.search_traces([exp], order_by=["name"])[0]) == [_tid(2), _tid(1)]
    store.set_trace_tag(_tid(1), NAME, "a")  # named: moves to its name's listing
    assert _nameless_entry(store, _tid(1)) != trace_name_order_keys.nameless_pk(exp)
    assert _ids(store.search_traces([exp], order_by=["name"])[0]) == [_tid(1), _tid(2)]
    store.delete_trace_tag(_tid(2), NAME)  # unnamed again
    assert _nameless_entry(store, _tid(2)) == trace_name_order_keys.nameless_pk(exp)
    assert _ids(store.search_traces([exp], order_by=["name"])[0]) == [_tid(1), _tid(2)]
    store.delete_traces(exp, trace_ids=[_tid(2)])
    assert _ids(store.search_traces([exp], order_by=["name DESC"])[0]) == [_tid(1)]


def test_older_table_is_exact_before_and_indexed_after_the_backfill(store, store_uri):
    from mlflow_dynamodbstore.cli.main import cli

    exp = store.create_experiment("old")
    for n in range(1, 9):
        _start(store, exp, n, None if n % 3 == 0 else f"n{n % 2}", offset=n // 2)
    unnamed = [_tid(3), _tid(6)]
    expected = _all_pages(store, [exp], ["name ASC"], size=100)
    # a table from before the listing
    strip_listing_keys(store, unnamed, indexes.TRACES_WITHOUT_NAME)
    listings.NAMELESS_READINESS.mark(store._conn.gateway, False)
    try:
        assert _all_pages(store, [exp], ["name ASC"]) == expected  # the read-all path
        stats = store.gateway.stats
        stats.reset()
        store.search_traces([exp], max_results=2, order_by=["name ASC"])
        assert stats.total_requests == 1  # every trace, from the timestamp listing

        dry = CliRunner().invoke(cli, ["traces", "backfill-order", store_uri, "--dry-run",
                                       "--json"])  # fmt: skip
        assert dry.exit_code == 0, dry.output
        assert json.loads(dry.stdout)["keyed"] == 2
        assert all(_nameless_entry(store, t) is None for t in unnamed)

        result = CliRunner().invoke(cli, ["traces", "backfill-order", store_uri, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["keyed"] == 2
        assert all(_nameless_entry(store, t) for t in unnamed)
        listings.NAMELESS_READINESS.forget()
        assert listings.NAMELESS_READINESS.is_ready(store._conn.gateway)
        again = CliRunner().invoke(cli, ["traces", "backfill-order", store_uri, "--json"])
        assert json.loads(again.stdout)["keyed"] == 0  # idempotent
        assert _all_pages(store, [exp], ["name ASC"]) == expected  # the name walk
        stats.reset()
        store.search_traces([exp], max_results=2, order_by=["name ASC"])
        assert stats.total_requests == 5  # the dictionary's 4 shards + the first name
    finally:
        listings.NAMELESS_READINESS.forget()


def test_a_name_filter_walks_only_the_names_it_keeps(store):
    exp = store.create_experiment("filtered")
    for n in range(30):
        _start(store, exp, n, ["a", "b", None][n % 3], offset=n)
    search = {"max_results": 3, "order_by": ["name DESC"], "filter_string": "name = 'a'"}
    first, token = store.search_traces([exp], **search)
    stats = store.gateway.stats
    stats.reset()
    second, _ = store.search_traces([exp], page_token=token, **search)
    assert stats.total_requests == 1  # the name's listing from the position; no dictionary
    every, _ = store.search_traces([exp], **{**search, "max_results": 100})
    assert _ids(first + second) == _ids(every)[:6]


def _start_cost(store, experiment_id: str, n: int, name: str | None) -> tuple[int, float]:
    stats = store.gateway.stats
    stats.reset()
    _start(store, experiment_id, n, name)
    return stats.total_requests, stats.snapshot()["PutItem"].write_capacity


def test_an_unnamed_trace_write_costs_what_a_named_one_does(store):
    """The unnamed listing is META's GSI1 replica, which named traces already had: the same
    requests, and the write units of one index copy of META more than before."""
    exp = store.create_experiment("cost")
    _start(store, exp, 1, "known")  # the name's dictionary entry exists from here on
    named = _start_cost(store, exp, 2, "known")
    unnamed = _start_cost(store, exp, 3, None)
    assert unnamed == named == (3, 5.0)  # META and its 4 index copies, 1 KB each
