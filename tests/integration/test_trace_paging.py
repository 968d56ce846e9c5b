"""search_traces' keyset paging on DynamoDB Local: tokens bound to their search, page cost
independent of the collection in the indexed orders, the execution-time listing kept in
step by trace writes, and its backfill for older tables (docs/trace-paging.md)."""

from __future__ import annotations

import base64
import json

import pytest
from mlflow.entities import TraceInfo, TraceLocation, TraceState
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.repositories.traces import listings
from mlflow_dynamodbstore.schema import indexes, keys
from tests.integration.test_traces_store import make_span
from tests.integration.trace_paging_helpers import second_page_cost, strip_listing_keys

BASE = 1_700_000_000_000


def _start(store, experiment_id: str, n: int, *, offset: int | None = None, duration=None):
    store.start_trace(
        TraceInfo(
            trace_id=f"tr-{n:032x}",
            trace_location=TraceLocation.from_experiment_id(experiment_id),
            request_time=BASE + (n if offset is None else offset),
            execution_duration=duration,
            state=TraceState.OK if duration is not None else TraceState.IN_PROGRESS,
        )
    )


def _ids(infos) -> list[str]:
    return [i.trace_id for i in infos]


@pytest.fixture
def two_experiments(store):
    first, second = store.create_experiment("p1"), store.create_experiment("p2")
    for n in range(1, 13):
        _start(store, first if n % 2 else second, n, offset=n // 3, duration=n % 4 or None)
    return [first, second]


def _token_parts(token: str) -> dict:
    return json.loads(base64.b64decode(token))


def test_token_is_refused_by_another_order_filter_or_experiment_list(store, two_experiments):
    first, second = two_experiments
    _, token = store.search_traces(two_experiments, max_results=2, order_by=["status"])
    # The same search resumes, whatever the order of the experiment ids.
    resumed, _ = store.search_traces([second, first], max_results=2, order_by=["status"],
                                     page_token=token)  # fmt: skip
    assert len(resumed) == 2
    refused = [
        {"order_by": ["status DESC"]},
        {"order_by": ["timestamp_ms ASC"]},
        {"order_by": None},
        {"order_by": ["status"], "filter_string": "trace.status = 'OK'"},
        {"order_by": ["status"], "experiment_ids": [first]},
    ]
    for change in refused:
        kwargs = {"experiment_ids": two_experiments, "max_results": 2, **change}
        with pytest.raises(MlflowException, match="Invalid page token") as exc:
            store.search_traces(page_token=token, **kwargs)
        assert exc.value.error_code == "INVALID_PARAMETER_VALUE", change


def test_forged_and_truncated_tokens_are_refused(store, two_experiments):
    _, token = store.search_traces(two_experiments, max_results=2, order_by=["execution_time"])
    parts = _token_parts(token)
    doctored = [
        token[: len(token) // 2],
        "not a token",
        base64.b64encode(b'{"offset": 2}').decode(),
        base64.b64encode(json.dumps({**parts, "after": ["x", 1, "tr-1"]}).encode()).decode(),
        base64.b64encode(json.dumps({**parts, "after": parts["after"][:2]}).encode()).decode(),
        base64.b64encode(json.dumps({**parts, "after": [True, 1, "tr"]}).encode()).decode(),
    ]
    for bad in doctored:
        with pytest.raises(MlflowException, match="Invalid page token") as exc:
            store.search_traces(two_experiments, max_results=2, order_by=["execution_time"],
                                page_token=bad)  # fmt: skip
        assert exc.value.error_code == "INVALID_PARAMETER_VALUE", bad
    # A position that is well formed but names no trace is only a position.
    moved = {**parts, "after": [None, BASE + 10, "tr-0"]}
    found, _ = store.search_traces(
        two_experiments, max_results=20, order_by=["execution_time"],
        page_token=base64.b64encode(json.dumps(moved).encode()).decode(),
    )  # fmt: skip
    assert all(i.execution_duration is None for i in found) and found


def test_the_default_order_pages_with_the_same_tokens(store, two_experiments):
    pages, token = [], None
    while True:
        infos, token = store.search_traces(two_experiments, max_results=5, page_token=token)
        pages.append(_ids(infos))
        if not token:
            break
        assert _token_parts(token)["order"] == [
            ["attribute.timestamp_ms", False],
            ["attribute.request_id", True],
        ]
    everything, _ = store.search_traces(two_experiments, max_results=100)
    assert [t for page in pages for t in page] == _ids(everything)


INDEXED_ORDERS = [
    ["timestamp_ms ASC"],
    ["timestamp_ms DESC", "request_id DESC"],
    ["execution_time_ms ASC"],
    ["execution_time_ms DESC"],
]


@pytest.mark.parametrize("order", INDEXED_ORDERS, ids=lambda o: " ".join(o))
def test_indexed_orders_cost_the_page_not_the_collection(store, order):
    small, large = store.create_experiment("small"), store.create_experiment("large")
    for n in range(12):
        _start(store, small, 1000 + n, duration=n)
    for n in range(120):
        _start(store, large, 2000 + n, duration=n)
    small_cost = second_page_cost(store, small, order)
    large_cost = second_page_cost(store, large, order)
    assert small_cost == large_cost
    assert small_cost[0] == 1  # one Query of the page (plus one entry), no offset re-read


def test_an_unindexed_order_reads_the_collection(store):
    """Documented cost (docs/access-patterns.md): status, names, tags... read every trace."""
    small, large = store.create_experiment("small"), store.create_experiment("large")
    for n in range(12):
        _start(store, small, 1000 + n, duration=n)
    for n in range(120):
        _start(store, large, 2000 + n, duration=n)
    assert second_page_cost(store, large, ["status"]) > second_page_cost(store, small, ["status"])


def _duration_entry(store, trace_id: str) -> str | None:
    item = store.gateway.get_item(keys.trace_key(trace_id))
    listing = indexes.TRACES_BY_EXECUTION_TIME
    return None if item is None else item.get(listing.sk)


def test_trace_writes_keep_the_execution_time_listing_in_step(store):
    exp = store.create_experiment("writes")
    hex_id = f"{77:032x}"
    trace_id = f"tr-{hex_id}"
    _start(store, exp, 77)  # in progress: listed among the traces without an execution time
    assert _duration_entry(store, trace_id).startswith("N#")
    found, _ = store.search_traces([exp], order_by=["execution_time_ms DESC"])
    assert _ids(found) == [trace_id]
    # log_spans ends it: it moves to the values, by its execution time.
    store.log_spans(exp, [make_span(hex_id, 1, None, "root", 0, 42)])
    assert store.get_trace_info(trace_id).execution_duration == 42
    assert _duration_entry(store, trace_id).startswith("V#")
    _start(store, exp, 78, duration=7)
    found, _ = store.search_traces([exp], order_by=["execution_time_ms DESC"])
    assert _ids(found) == [trace_id, f"tr-{78:032x}"]
    store.set_trace_tag(trace_id, "k", "v")  # any META write keeps the keys
    assert _duration_entry(store, trace_id).startswith("V#")
    store.delete_traces(exp, trace_ids=[trace_id])
    found, _ = store.search_traces([exp], order_by=["execution_time_ms ASC"])
    assert _ids(found) == [f"tr-{78:032x}"]


def test_older_table_is_exact_before_and_indexed_after_the_backfill(store, store_uri, monkeypatch):
    from click.testing import CliRunner

    from mlflow_dynamodbstore.backfills import trace_order as backfill_module
    from mlflow_dynamodbstore.cli.main import cli

    exp = store.create_experiment("old")
    for n in range(1, 8):
        _start(store, exp, n, duration=n % 3 or None)
    trace_ids = [f"tr-{n:032x}" for n in range(1, 8)]
    before = {t: _duration_entry(store, t) for t in trace_ids}
    expected, _ = store.search_traces([exp], max_results=100, order_by=["execution_time DESC"])
    # A table from before the listing: no keys, no ready marker.
    strip_listing_keys(store, trace_ids, indexes.TRACES_BY_EXECUTION_TIME)
    listings.READINESS.mark(store._conn.gateway, False)
    try:
        pages, token = [], None
        while True:
            infos, token = store.search_traces([exp], max_results=2, page_token=token,
                                               order_by=["execution_time DESC"])  # fmt: skip
            pages.extend(_ids(infos))
            if not token:
                break
        assert pages == _ids(expected)  # exact: the timestamp listing is read instead

        dry = CliRunner().invoke(cli, ["traces", "backfill-order", store_uri, "--dry-run",
                                       "--json"])  # fmt: skip
        assert dry.exit_code == 0, dry.output
        assert json.loads(dry.stdout) == {
            "traces": 7, "keyed": 7, "resumed": False, "dry_run": True,
        }  # fmt: skip
        assert all(_duration_entry(store, t) is None for t in trace_ids)

        monkeypatch.setattr(backfill_module, "SAVE_EVERY", 2)  # the cursor moves
        result = CliRunner().invoke(cli, ["traces", "backfill-order", store_uri, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["keyed"] == 7
        assert {t: _duration_entry(store, t) for t in trace_ids} == before
        assert store.gateway.get_item(backfill_module.trace_order_keys.backfill_key()) is None
        listings.READINESS.forget()
        assert listings.READINESS.is_ready(store._conn.gateway)
        again = CliRunner().invoke(cli, ["traces", "backfill-order", store_uri, "--json"])
        assert json.loads(again.stdout)["keyed"] == 0  # idempotent
        found, _ = store.search_traces([exp], max_results=100, order_by=["execution_time DESC"])
        assert _ids(found) == _ids(expected)
    finally:
        listings.READINESS.forget()
