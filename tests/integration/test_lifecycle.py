"""TTL lifecycle (docs/lifecycle.md): the ``ttl`` written on deletes, restores, history and
traces; cleanup through the deletion index (items counted before and after, dry runs,
stale markers, orphans, restore after partial expiry). DynamoDB Local honours TTL only
loosely, so tests read the ``ttl`` written and drive cleanup with an injected clock."""

from __future__ import annotations

import time

import pytest
from mlflow.entities import ExperimentTag, Metric, TraceInfo, TraceLocation, TraceState, ViewType

from mlflow_dynamodbstore.lifecycle.cleanup import Cleanup
from mlflow_dynamodbstore.lifecycle.ttl import DAY_MS, OWNER_GRACE_DAYS, TRACE_RETENTION_TAG
from mlflow_dynamodbstore.repositories.runs.metric_history import buffered_sort_keys
from mlflow_dynamodbstore.repositories.runs.stepping import live_buffer
from mlflow_dynamodbstore.schema import keys, lifecycle_keys
from mlflow_dynamodbstore.schema.metric_rank_keys import live_key
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
from tests.integration.lifecycle_helpers import (
    DAY_S,
    all_items,
    clock_in,
    expire_by_ttl,
    keys_of,
    partition,
    set_policy,
)


def _requests(store) -> dict[str, int]:
    return {op: s.requests for op, s in store.gateway.stats.snapshot().items()}


def _run_with_history(store, experiment_id: str, name: str = "r") -> str:
    run_id = store.create_run(experiment_id, "u", 1000, [], name).info.run_id
    store.log_batch(
        run_id,
        metrics=[Metric("loss", 1.0 / (s + 1), 1000 + s, s) for s in range(5)]
        + [Metric("acc", 0.1 * s, 1000 + s, s) for s in range(3)],
        params=[],
        tags=[],
    )
    store.log_metric(run_id, Metric("loss", 0.01, 2000, 10))
    return run_id


def _run_pks(run_id: str, metric_keys=("loss", "acc")) -> list[str]:
    return [keys.run_pk(run_id), *(keys.metric_history_pk(run_id, k) for k in metric_keys)]


def _markers(store, day_ms: int | None = None) -> list[dict]:
    day = lifecycle_keys.day_of(day_ms or int(time.time() * 1000))
    return [
        i
        for shard in range(lifecycle_keys.DELETION_SHARDS)
        for i in partition(store, lifecycle_keys.deletions_pk(day, shard))
    ]


def _cleanup(store, days: float, **kwargs):
    return Cleanup(
        store._conn.gateway,
        store._conn.settings.current().retention,
        clock=clock_in(days),
        **kwargs,
    ).run()


# ---- ttl on writes ------------------------------------------------------------------
def test_run_delete_sets_ttl_and_marker_restore_clears_it(store):
    set_policy(store, soft_deleted_retention_days=90, metric_history_retention_days=30)
    exp = store.create_experiment("e")
    run_id = _run_with_history(store, exp)
    history_before = {
        (i["PK"], i["SK"]): i.get("ttl")
        for i in partition(store, keys.metric_history_pk(run_id, "loss"))
    }
    store.gateway.stats.reset()
    store.delete_run(run_id)
    # O(1): META read, then META + marker in one transaction
    # META and LIVE in one BatchGetItem (the marker names LIVE's keys too)
    assert _requests(store) == {"BatchGetItem": 1, "TransactWriteItems": 1}
    meta = store._conn.gateway.get_item(keys.run_key(run_id))
    deleted = int(meta["deleted_time"])
    assert int(meta["ttl"]) == (deleted + (90 + OWNER_GRACE_DAYS) * DAY_MS) // 1000
    (marker,) = _markers(store)
    assert marker["owner_id"] == run_id and int(marker["deleted_time"]) == deleted
    assert set(marker["metric_keys"]) == {"loss", "acc"} and marker["owner_workspace"] == "default"

    store.gateway.stats.reset()
    store.restore_run(run_id)
    assert _requests(store) == {"GetItem": 1, "PutItem": 1}
    assert "ttl" not in store._conn.gateway.get_item(keys.run_key(run_id))
    # the history keeps the ttl its own retention gave it; LATEST never has one
    history_after = {
        (i["PK"], i["SK"]): i.get("ttl")
        for i in partition(store, keys.metric_history_pk(run_id, "loss"))
    }
    assert history_after == history_before
    points = {k: v for k, v in history_after.items() if k[1] != keys.METRIC_LATEST_SK}
    assert points and all(v is not None for v in points.values())
    assert history_after[(keys.metric_history_pk(run_id, "loss"), keys.METRIC_LATEST_SK)] is None


def test_experiment_delete_sets_ttl_and_marker_restore_clears_it(store):
    set_policy(store, soft_deleted_retention_days=10)
    exp = store.create_experiment("gone-soon")
    store.delete_experiment(exp)
    meta = store._conn.gateway.get_item(keys.experiment_key(exp))
    assert (
        int(meta["ttl"]) == (int(meta["deleted_time"]) + (10 + OWNER_GRACE_DAYS) * DAY_MS) // 1000
    )
    (marker,) = _markers(store)
    assert (marker["kind"], marker["owner_id"], marker["name"]) == ("EXP", exp, "gone-soon")
    store.gateway.stats.reset()
    store.restore_experiment(exp)
    assert _requests(store) == {"UpdateItem": 1}
    assert "ttl" not in store._conn.gateway.get_item(keys.experiment_key(exp))


def test_policy_off_writes_no_ttl_but_still_indexes_the_delete(store):
    set_policy(store, soft_deleted_retention_days=0)
    exp = store.create_experiment("keep")
    run_id = _run_with_history(store, exp)
    store.delete_run(run_id)
    store.delete_experiment(exp)
    assert "ttl" not in store._conn.gateway.get_item(keys.run_key(run_id))
    assert "ttl" not in store._conn.gateway.get_item(keys.experiment_key(exp))
    assert len(_markers(store)) == 2  # a later policy (or `ttl apply`) can find them
    assert all("ttl" not in i for i in partition(store, keys.metric_history_pk(run_id, "loss")))


def test_deleted_model_version_gets_ttl(store_uri):
    registry = DynamoDBRegistryStore(store_uri)
    set_policy(registry, soft_deleted_retention_days=30)
    registry.create_registered_model("m")
    registry.create_model_version("m", "s3://b/m")
    registry.create_model_version("m", "s3://b/m")
    registry.delete_model_version("m", "1")
    model_id = registry._conn.gateway.get_item(keys.registered_model_name_key("default", "m"))[
        "model_id"
    ]
    versions = {
        int(i["version"]): i
        for i in partition(registry, keys.registered_model_pk(model_id))
        if i["SK"] != keys.META
    }
    assert int(versions[1]["ttl"]) == (int(versions[1]["last_updated_time"]) + 30 * DAY_MS) // 1000
    assert "ttl" not in versions[2]


def test_metric_history_ttl_follows_the_policy_of_the_write(store):
    exp = store.create_experiment("h")
    set_policy(store, metric_history_retention_days=7)
    run_id = _run_with_history(store, exp)
    before = time.time()
    items = partition(store, keys.metric_history_pk(run_id, "loss"))
    points = [i for i in items if i["SK"] != keys.METRIC_LATEST_SK]
    assert {i["SK"][:2] == "B#" for i in points} == {True, False}  # a block and a single point
    for item in points:
        assert abs(int(item["ttl"]) - (before + 7 * DAY_S)) < 120
    latest = next(i for i in items if i["SK"] == keys.METRIC_LATEST_SK)
    assert "ttl" not in latest
    assert "ttl" not in store._conn.gateway.get_item(keys.run_key(run_id))
    # the ttl costs no request: the training loop's log_metric is still one transaction
    store.gateway.stats.reset()
    store.log_metric(run_id, Metric("loss", 0.002, 2500, 10))
    assert _requests(store) == {"TransactWriteItems": 1}
    set_policy(store, metric_history_retention_days=0)
    store.log_metric(run_id, Metric("loss", 0.001, 3000, 11))
    # without a retention the training loop's point rides in the run's LIVE item
    # (repositories/runs/live_step.py), which never gets a ttl
    live = store._conn.gateway.get_item(live_key(run_id))
    assert "ttl" not in live
    assert buffered_sort_keys({"recent": live_buffer(live, "loss")}) == [
        keys.metric_history_sk(3000, 11, 0.001)
    ]
    assert [m.step for m in store.get_metric_history(run_id, "loss")][-2:] == [10, 11]


def test_trace_ttl_tag_wins_over_table_policy(store):
    set_policy(store, trace_retention_days=3)

    def start(exp, trace_id):
        store.start_trace(
            TraceInfo(
                trace_id=trace_id,
                trace_location=TraceLocation.from_experiment_id(exp),
                request_time=1_000_000,
                state=TraceState.OK,
            )
        )
        return store._conn.gateway.get_item(keys.trace_key(trace_id))

    plain = store.create_experiment("table-policy")
    assert int(start(plain, "tr-a")["ttl"]) == (1_000_000 + 3 * DAY_MS) // 1000
    tagged = store.create_experiment("tagged")
    store.set_experiment_tag(tagged, ExperimentTag(TRACE_RETENTION_TAG, "1h"))
    assert int(start(tagged, "tr-b")["ttl"]) == (1_000_000 + 3_600_000) // 1000
    set_policy(store, trace_retention_days=0)
    assert "ttl" not in start(plain, "tr-c")


# ---- cleanup --------------------------------------------------------------------------
def _scene(store):
    """A deleted run with history, a deleted experiment (runs, a trace), live neighbours."""
    live_exp = store.create_experiment("live")
    dead_run = _run_with_history(store, live_exp, "dead")
    live_run = _run_with_history(store, live_exp, "alive")
    doomed = store.create_experiment("doomed")
    doomed_runs = [_run_with_history(store, doomed, f"d{i}") for i in range(2)]
    store.start_trace(
        TraceInfo(
            trace_id="tr-doomed",
            trace_location=TraceLocation.from_experiment_id(doomed),
            request_time=1000,
            state=TraceState.OK,
        )
    )
    store.delete_run(dead_run)
    store.delete_experiment(doomed)
    return live_exp, dead_run, live_run, doomed, doomed_runs


def test_cleanup_removes_every_item_of_expired_entities_and_nothing_else(store):
    set_policy(store, soft_deleted_retention_days=90)
    live_exp, dead_run, live_run, doomed, doomed_runs = _scene(store)
    dead_items = [i for pk in _run_pks(dead_run) for i in partition(store, pk)]
    assert len(dead_items) >= 5  # META, LIVE, histories (blocks, LATEST items)
    before = all_items(store)

    # not yet due: nothing happens
    summary = _cleanup(store, 80)
    assert (summary.runs, summary.experiments, summary.items_deleted) == (0, 0, 0)
    assert keys_of(all_items(store)) == keys_of(before)

    # a dry run reports what the real one deletes and changes nothing
    dry = _cleanup(store, 91, dry_run=True)
    assert keys_of(all_items(store)) == keys_of(before)
    assert (dry.runs, dry.experiments) == (1, 1)

    done = _cleanup(store, 91)
    after = all_items(store)
    removed = keys_of(before) - keys_of(after)
    assert (done.runs, done.experiments) == (1, 1)
    assert done.items_deleted == dry.items_deleted
    assert keys_of(dead_items) <= removed
    assert not any(partition(store, pk) for pk in _run_pks(dead_run))
    for run_id in doomed_runs:
        assert not any(partition(store, pk) for pk in _run_pks(run_id))
    assert not partition(store, keys.trace_pk("tr-doomed"))
    assert not partition(store, keys.experiment_pk(doomed))
    assert store._conn.gateway.get_item(keys.experiment_name_key("default", "doomed")) is None
    # nothing of the live experiment or run, nothing else; markers went with their owners
    removed_other = {
        k
        for k in removed
        if not k[0].startswith((f"RUN#{dead_run}", f"EXP#{doomed}", "TRACE#tr-doomed"))
        and not any(k[0].startswith(f"RUN#{r}") for r in doomed_runs)
        and not k[0].startswith(lifecycle_keys.DELETIONS_PREFIX)
        and k != tuple(keys.experiment_name_key("default", "doomed").values())
        and not (k[0].startswith("FTS#") and k[1] in {dead_run, doomed, *doomed_runs})
    }
    assert removed_other == set()
    # the trigram postings of the expired names went too; the live ones stayed
    postings_left = {k[1] for k in keys_of(after) if k[0].startswith("FTS#")}
    assert not postings_left & {dead_run, doomed, *doomed_runs}
    assert {live_exp, live_run} <= postings_left
    assert store.get_run(live_run).data.metrics["loss"] == 0.01
    assert store.get_experiment(live_exp).lifecycle_stage == "active"
    assert not _markers(store)
    # the name is free again, as after the SQL store's gc
    store.create_experiment("doomed")
    # done: a second pass finds nothing, and the record moved past the processed day
    again = _cleanup(store, 91)
    assert (again.runs, again.experiments, again.items_deleted) == (0, 0, 0)
    assert store._conn.gateway.get_item(lifecycle_keys.cleanup_job_key()) is not None


def test_restored_owners_survive_cleanup_and_lose_their_ttl(store):
    set_policy(store, soft_deleted_retention_days=90)
    exp = store.create_experiment("e")
    restored = _run_with_history(store, exp, "restored")
    resurrected = _run_with_history(store, exp, "resurrected")
    store.delete_run(restored)
    store.restore_run(restored)
    # deleted alone, then brought back by restoring its experiment (which touches no run)
    store.delete_run(resurrected)
    store.delete_experiment(exp)
    store.restore_experiment(exp)
    assert store.get_run(resurrected).info.lifecycle_stage == "active"
    assert "ttl" in store._conn.gateway.get_item(keys.run_key(resurrected))
    before = keys_of(all_items(store))
    summary = _cleanup(store, 91)
    assert (summary.runs, summary.experiments, summary.stale) == (0, 0, 3)
    after = keys_of(all_items(store))
    assert {
        k for k in before - after if not k[0].startswith(lifecycle_keys.DELETIONS_PREFIX)
    } == set()
    assert "ttl" not in store._conn.gateway.get_item(keys.run_key(resurrected))
    assert store.get_run(restored).data.metrics["loss"] == 0.01


def test_cleanup_removes_orphans_of_an_owner_ttl_already_took(store):
    set_policy(store, soft_deleted_retention_days=1)
    exp = store.create_experiment("e")
    run_id = _run_with_history(store, exp, "orphaned")
    store.delete_run(run_id)
    # DynamoDB TTL removed META (and nothing else: it never cascades)
    assert expire_by_ttl(store, [keys.run_pk(run_id)], time.time() + 9 * DAY_S) == 1
    assert any(partition(store, pk) for pk in _run_pks(run_id))
    assert any(k[1] == run_id for k in keys_of(all_items(store)) if k[0].startswith("FTS#"))
    summary = _cleanup(store, 9)
    assert (summary.runs, summary.orphans) == (0, 1)
    assert not any(partition(store, pk) for pk in _run_pks(run_id))
    # the marker's experiment id and run name still led to the name's postings
    assert not any(k[1] == run_id for k in keys_of(all_items(store)) if k[0].startswith("FTS#"))


def test_restore_after_partial_expiry_keeps_meta_and_latest_metrics(store):
    exp = store.create_experiment("e")
    set_policy(store, soft_deleted_retention_days=90, metric_history_retention_days=1)
    run_id = _run_with_history(store, exp)  # history that expires after a day
    set_policy(store, soft_deleted_retention_days=90, metric_history_retention_days=0)
    store.log_metric(run_id, Metric("loss", 0.005, 3000, 20))  # history kept forever
    store.delete_run(run_id)
    # two days on: TTL took the expired history points, nothing else
    taken = expire_by_ttl(store, _run_pks(run_id), time.time() + 2 * DAY_S)
    assert taken >= 3
    # cleanup does not touch a run still within its soft-deleted retention
    assert _cleanup(store, 2).items_deleted == 0
    store.restore_run(run_id)
    run = store.get_run(run_id)
    assert run.info.lifecycle_stage == "active"
    assert run.data.metrics == {"loss": 0.005, "acc": pytest.approx(0.2)}
    history = store.get_metric_history(run_id, "loss")
    assert [(m.value, m.step) for m in history] == [(0.005, 20)]
    assert store.get_metric_history(run_id, "acc") == []
    ranked = store.search_runs([exp], "", ViewType.ACTIVE_ONLY, order_by=["metrics.loss DESC"])
    assert [r.info.run_id for r in ranked] == [run_id]
