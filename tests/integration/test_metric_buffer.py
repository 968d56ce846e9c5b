"""Training steps' buffered points (since option D in the run's LIVE item,
repositories/runs/live_step.py; the step's own costs are pinned in test_live_step.py): every
read (history, pages, bulk interval, max step) sees buffered, flushed and older points alike,
the read-plan-write path keeps buffers, concurrent writers lose and duplicate nothing, and
``ttl apply`` flushes buffers into blocks with a ``ttl``."""

from __future__ import annotations

import threading

import pytest
from mlflow.entities import Metric, Param, RunTag

from mlflow_dynamodbstore.lifecycle.apply import TtlApply
from mlflow_dynamodbstore.repositories.runs.metric_history import RECENT
from mlflow_dynamodbstore.repositories.runs.stepping import BUFFER_POINTS
from mlflow_dynamodbstore.schema import keys
from tests.integration.lifecycle_helpers import partition, set_policy
from tests.integration.live_step_helpers import expected, history, step_metrics

KEYS = 3


@pytest.fixture
def run_id(store):
    return store.create_run("0", "u", 1, [], "r").info.run_id


def _step(step: int, keys_: int = KEYS) -> list[Metric]:
    return step_metrics(step, keys_)


def test_pages_and_samples_across_buffer_and_blocks(store, run_id):
    steps = range(2 * BUFFER_POINTS + 5)
    for s in steps:
        store.log_batch(run_id, _step(s, 1), [], [])
    want = expected(steps, 0)
    got, token = [], None
    while True:
        page = store.get_metric_history(run_id, "m0", max_results=7, page_token=token)
        got += [(m.timestamp, m.step, m.value) for m in page]
        token = page.token
        if not token:
            break
    assert got == want
    assert store.get_max_step_for_metric(run_id, "m0") == steps[-1]
    sampled = store.get_metric_history_bulk_interval([run_id], "m0", 1000, 3, 30)
    assert [m.step for m in sampled] == list(range(3, min(31, steps[-1] + 1)))


def test_read_plan_write_path_keeps_buffered_points(store, run_id):
    for s in range(5):
        store.log_batch(run_id, _step(s), [], [])
    # params make the write take the read path, which updates LATEST items in place
    store.log_batch(run_id, _step(5), [Param("p", "v")], [RunTag("t", "v")])
    # an older point takes the read path too; it is a history item of its own
    store.log_metric(run_id, Metric("m0", 42.0, 999, -1))
    for s in range(6, 9):
        store.log_batch(run_id, _step(s), [], [])
    assert history(store, run_id, "m0") == [(999, -1, 42.0), *expected(range(9), 0)]
    for k in range(1, KEYS):
        assert history(store, run_id, f"m{k}") == expected(range(9), k)


def test_concurrent_writers_lose_and_duplicate_nothing(store, run_id):
    store.log_batch(run_id, _step(0), [], [])
    writers, per_writer = 4, 2 * BUFFER_POINTS

    def write(w: int) -> None:
        for i in range(per_writer):
            s = 1 + i * writers + w
            store.log_batch(run_id, _step(s), [], [])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    steps = range(writers * per_writer + 1)
    for k in range(KEYS):
        assert history(store, run_id, f"m{k}") == expected(steps, k)
    assert store.get_run(run_id).data.metrics["m0"] == steps[-1] * 0.5


def test_with_retention_points_are_items_with_ttl(store, run_id):
    set_policy(store, metric_history_retention_days=7)
    store.log_batch(run_id, _step(0), [], [])
    for s in range(1, 4):
        store.log_batch(run_id, _step(s), [], [])
    items = partition(store, keys.metric_history_pk(run_id, "m0"))
    latest = next(i for i in items if i["SK"] == keys.METRIC_LATEST_SK)
    assert RECENT not in latest and "ttl" not in latest
    assert all("ttl" in i for i in items if i["SK"] != keys.METRIC_LATEST_SK)
    assert history(store, run_id, "m0") == expected(range(4), 0)


def test_ttl_apply_flushes_buffers_into_blocks_with_ttl(store, run_id):
    for s in range(8):
        store.log_batch(run_id, _step(s), [], [])
    policy = set_policy(store, metric_history_retention_days=7)
    summary = TtlApply(store._conn.gateway, policy).run()
    assert summary.history_items >= KEYS
    for k in range(KEYS):
        items = partition(store, keys.metric_history_pk(run_id, f"m{k}"))
        latest = next(i for i in items if i["SK"] == keys.METRIC_LATEST_SK)
        assert not latest.get(RECENT) and "ttl" not in latest
        others = [i for i in items if i["SK"] != keys.METRIC_LATEST_SK]
        assert others and all("ttl" in i for i in others)
        assert history(store, run_id, f"m{k}") == expected(range(8), k)
