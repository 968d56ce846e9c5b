"""Trace deletion under faults (issue #14): whatever request of ``delete_traces`` fails,
no item of a trace is left that nothing can reach (the table is checked item by item), the
trace stays readable until its META goes, deleting it again finishes the job, and the
rollup cells end at exactly zero (never subtracted twice)."""

from __future__ import annotations

import os

import pytest
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.gateway.faults import FaultInjector
from mlflow_dynamodbstore.repositories.traces import rollups
from mlflow_dynamodbstore.schema import analytics_keys, keys
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.differential_traces.builders import BASE_MS, span, tid
from tests.integration import table_invariants


@pytest.fixture
def store(store_uri, tmp_path, monkeypatch):
    # No botocore retries: the first injected failure reaches the store.
    monkeypatch.setenv("MLFLOW_DYNAMODB_MAX_ATTEMPTS", "0")
    return DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))


def _log_traces(store, exp: str, first: int, n: int) -> list[str]:
    for t in range(first, first + n):
        big = {"blob": os.urandom(200_000).hex()}  # chunked: a head and chunk items
        store.log_spans(
            exp,
            [
                span(t, 1, None, f"root{t}", BASE_MS + t, BASE_MS + t + 50, big),
                span(t, 2, 1, "child", BASE_MS + t + 1, BASE_MS + t + 9),
            ],
        )
    return [tid(t) for t in range(first, first + n)]


def _trace_items(store, trace_ids: list[str]) -> list[dict]:
    pks = {keys.trace_pk(t) for t in trace_ids}
    return [i for i in table_invariants.scan(store._conn.gateway) if i["PK"] in pks]


def _cells(store) -> list[dict]:
    return [
        i
        for i in table_invariants.scan(store._conn.gateway)
        if keys.SEP + "ROLLUP" + keys.SEP in i["PK"]
    ]


def _assert_no_orphans(store) -> None:
    problems, _, _ = table_invariants.check(store._conn.gateway)
    assert problems == []


def _assert_cells_zero(store) -> None:
    counters = [
        (attr, int(value))
        for cell in _cells(store)
        for attr, value in cell.items()
        if attr == rollups.COUNT_ATTR or (attr[:1] in ("s", "c") and attr[1:].isdigit())
    ]
    assert counters and all(value == 0 for _, value in counters), counters


def test_a_failure_between_children_and_meta_leaves_the_trace_whole_enough_to_finish(store):
    exp = store.create_experiment("e")
    trace_ids = _log_traces(store, exp, 1, 3)
    assert _cells(store)  # the traces are counted in rollup cells
    with FaultInjector(store._conn.client) as faults:
        # The children (spans, chunks) are deleted; the META transaction fails.
        faults.inject("internal_error", 1, operations=["TransactWriteItems"])
        with pytest.raises(MlflowException) as failed:
            store.delete_traces(exp, trace_ids=trace_ids)
        assert failed.value.error_code == "TEMPORARILY_UNAVAILABLE"
        assert faults.injected["internal_error"] == 1
    _assert_no_orphans(store)
    # Every trace is still there (listed, its info readable): nothing is out of reach.
    infos = store.batch_get_trace_infos(trace_ids)
    assert sorted(i.trace_id for i in infos) == sorted(trace_ids)
    left = _trace_items(store, trace_ids)
    assert {i["SK"] for i in left} == {keys.META, analytics_keys.TRACE_STATS_SK}  # spans went
    # Deleting again finishes: not one item of the traces is left, the cells are at zero.
    assert store.delete_traces(exp, trace_ids=trace_ids) == 3
    assert _trace_items(store, trace_ids) == []
    _assert_no_orphans(store)
    _assert_cells_zero(store)


@pytest.mark.parametrize("kind", ["internal_error", "lost_response"])
def test_every_request_of_a_deletion_failing_in_turn(store, kind):
    """Fail request k of ``delete_traces`` for k = 0, 1, ...: after each failure no item is
    out of reach; the rerun deletes everything and the cells end at zero (a lost response
    to the transaction that subtracted them included)."""
    exp = store.create_experiment("e")
    k = 0
    while True:
        trace_ids = _log_traces(store, exp, 100 * (k + 1), 2)
        with FaultInjector(store._conn.client) as faults:
            fault = faults.inject(kind, 1, skip=k)
            try:
                store.delete_traces(exp, trace_ids=trace_ids)
            except MlflowException as exc:
                assert exc.error_code == "TEMPORARILY_UNAVAILABLE", (k, exc.message)
        _assert_no_orphans(store)
        if fault.injected == 0:
            assert _trace_items(store, trace_ids) == []
            break
        store.delete_traces(exp, trace_ids=trace_ids)
        assert _trace_items(store, trace_ids) == [], k
        _assert_no_orphans(store)
        _assert_cells_zero(store)
        k += 1
    assert k >= 3  # the partition reads, the children's batch write, the transaction


def test_a_span_write_between_the_steps_is_deleted_too(store):
    """A span logged after the children were read and deleted (a concurrent log_spans)
    changes META's version: the transaction's condition fails, the partition is read and
    emptied again, and no span of it is left."""
    exp = store.create_experiment("e")
    (trace_id,) = _log_traces(store, exp, 1, 1)
    repo = store.traces
    original = repo._read_for_delete
    raced = []

    def read_then_race(tid_: str):
        found = original(tid_)
        if not raced:
            raced.append(tid_)
            store.log_spans(exp, [span(1, 3, 1, "late", BASE_MS + 5, BASE_MS + 6)])
        return found

    repo._read_for_delete = read_then_race
    assert store.delete_traces(exp, trace_ids=[trace_id]) == 1
    assert raced == [trace_id]
    assert _trace_items(store, [trace_id]) == []
    _assert_no_orphans(store)
    _assert_cells_zero(store)


def test_spans_written_to_a_trace_deleted_meanwhile_are_taken_back_out(store):
    """log_spans writes its span items before META's update; a deletion landing between
    the two leaves them unreachable, so the writer deletes them and answers as the SQL
    store does for a trace that no longer exists."""
    exp = store.create_experiment("e")
    (trace_id,) = _log_traces(store, exp, 1, 1)
    spans = store.spans
    original = spans.write

    def write_then_delete(rows, ttl):
        original(rows, ttl)
        spans.write = original
        assert store.delete_traces(exp, trace_ids=[trace_id]) == 1

    spans.write = write_then_delete
    with pytest.raises(MlflowException, match="no longer exist") as refused:
        store.log_spans(exp, [span(1, 3, 1, "late", BASE_MS + 5, BASE_MS + 6)])
    assert refused.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert _trace_items(store, [trace_id]) == []
    _assert_no_orphans(store)
