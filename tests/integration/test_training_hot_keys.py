"""Issue #20, hot keys: a training step writes only its run's LIVE item (option D: neither
META, so not the experiment's GSI1 run listing, nor rank entries, which are sharded and
written once per run and key when it starts stepping); every reader still
sees the latest values (get_run, search filters and order, older/tied points through the
read-plan-write path), at the same request counts, and rank entries written before sharding
are still found."""

from __future__ import annotations

from boto3.dynamodb.conditions import Key
from mlflow.entities import Metric, Param, RunStatus, ViewType

from mlflow_dynamodbstore.gateway.partition_writes import PartitionWrites
from mlflow_dynamodbstore.schema import keys, table
from mlflow_dynamodbstore.schema.metric_rank_keys import (
    RANK_SHARDS,
    SHARDED_RANKS_ATTRIBUTE,
    live_key,
    rank_shard,
    sharded_rank_pk,
)

KEYS = 10


def _step(step: int, run: int = 0, keys_: int = KEYS) -> list[Metric]:
    return [
        Metric(f"m{k}", (run * 7 + step * 3 + k) % 101 / 100, 1000 + step, step)
        for k in range(keys_)
    ]


def _counter(store) -> PartitionWrites:
    counter = PartitionWrites({table.gsi_name(n): table.gsi_pk(n) for n in range(1, 6)})
    store.gateway.observers.append(counter.observe)
    return counter


def test_a_step_writes_live_only(store):
    exp = store.create_experiment("steps")
    run_id = store.create_run(exp, "u", 1, [], "r").info.run_id
    counter = _counter(store)
    store.log_batch(run_id, _step(0), [], [])  # announces the keys: LIVE + 10 LATEST items
    shard = rank_shard(run_id)
    announced = {(w, k): c for (w, k), c in counter.counts.items() if w != "table"}
    assert announced == {("GSI2", sharded_rank_pk(exp, f"m{k}", shard)): 1 for k in range(KEYS)}
    store.log_batch(run_id, _step(1), [], [])
    counter.reset()
    stats = store.gateway.stats
    stats.reset()
    store.log_batch(run_id, _step(2), [], [])
    # one UpdateItem behind the run's step gate (opened by the announcing transaction)
    assert stats.requests("UpdateItem") == 1 and stats.total_requests == 1
    # 1 item: LIVE, in the run partition; no index write (neither GSI1 nor the ranks)
    assert dict(counter.counts) == {("table", keys.run_pk(run_id)): 1}
    # as DynamoDB Local bills it: LIVE's size, not doubled by a transaction
    assert stats.write_capacity <= 7
    live = store.gateway.get_item(live_key(run_id))
    assert {k: float(v["value"]) for k, v in live["metrics"].items()} == {
        m.key: m.value for m in _step(2)
    }


def test_no_partition_key_takes_more_than_a_fiftieth_of_a_sweep(store):
    exp = store.create_experiment("sweep")
    runs = [store.create_run(exp, "u", 1 + i, [], f"r{i}").info.run_id for i in range(40)]
    counter = _counter(store)  # from the first step on: its announcements included
    for step in (0, 1, 2):
        for i, run_id in enumerate(runs):
            store.log_batch(run_id, _step(step, i), [], [])
    hottest_where, hottest_key, count = counter.hottest(1)[0]
    assert count / counter.total <= 1 / 50, (hottest_where, hottest_key, count, counter.total)
    assert not any(where == "GSI1" for where, _ in counter.counts)


def test_readers_see_live_values_at_their_request_counts(store):
    exp = store.create_experiment("readers")
    run_ids = [store.create_run(exp, "u", 1 + i, [], f"r{i}").info.run_id for i in range(6)]
    for step in range(4):
        for i, run_id in enumerate(run_ids):
            store.log_batch(run_id, _step(step, i, 2), [], [])
    latest = {run_id: {m.key: m.value for m in _step(3, i, 2)} for i, run_id in enumerate(run_ids)}
    # META holds none of the values: the steps wrote LIVE only
    meta = store.gateway.get_item(keys.run_key(run_ids[0]))
    assert "m0" not in meta["metrics"]

    stats = store.gateway.stats
    stats.reset()
    run = store.get_run(run_ids[0])
    assert run.data.metrics == latest[run_ids[0]]
    assert [m.step for m in store.get_metric_history(run_ids[0], "m1")] == [0, 1, 2, 3]
    # get_run: 1 Query + 1 GetItem (experiment); get_metric_history of a stepping key: 1
    # Query + 1 GetItem (LIVE's buffer)
    assert stats.requests("Query") == 2 and stats.requests("GetItem") == 2

    found = store.search_runs([exp], "metrics.m0 > 0.3", ViewType.ALL, max_results=100)
    assert {r.info.run_id for r in found} == {r for r in run_ids if latest[r]["m0"] > 0.3}
    for r in found:
        assert r.data.metrics == latest[r.info.run_id]

    for ascending in (True, False):
        order = f"metrics.m1 {'ASC' if ascending else 'DESC'}"
        got, token = [], None
        while True:
            page = store.search_runs([exp], "", ViewType.ALL, 4, [order], token)
            got += [(r.data.metrics["m1"], r.info.run_id) for r in page]
            token = page.token
            if not token:
                break
        values = [v for v, _ in got]
        assert values == sorted((latest[r]["m1"] for r in run_ids), reverse=not ascending)


def test_older_and_tied_points_after_steps_keep_the_latest(store):
    exp = store.create_experiment("older")
    run_id = store.create_run(exp, "u", 1, [], "r").info.run_id
    for step in range(3):
        store.log_batch(run_id, [Metric("m", float(step), 1000 + step, step)], [], [])
    # an older point, with a param: the read-plan-write path, which only knows META's value
    store.log_batch(run_id, [Metric("m", 100.0, 5, 1)], [Param("p", "v")], [])
    assert store.get_run(run_id).data.metrics == {"m": 2.0}
    # a tie in (step, timestamp) with a greater value wins, as in the SQL store
    store.log_metric(run_id, Metric("m", 7.0, 1002, 2))
    assert store.get_run(run_id).data.metrics == {"m": 7.0}
    store.log_metric(run_id, Metric("m", 3.0, 1002, 2))
    assert store.get_run(run_id).data.metrics == {"m": 7.0}
    ranked = store.search_runs([exp], "", ViewType.ALL, 10, ["metrics.m DESC"])
    assert [r.data.metrics["m"] for r in ranked] == [7.0]
    latest = store.gateway.get_item(keys.metric_latest_key(run_id, "m"))
    assert float(latest["value"]) == 7.0
    # and the fast path continues from there
    store.log_metric(run_id, Metric("m", 8.0, 1003, 3))
    assert store.get_run(run_id).data.metrics == {"m": 8.0}


def test_a_search_by_metric_reads_each_shard_once(store):
    exp = store.create_experiment("shards")
    runs = [store.create_run(exp, "u", 1 + i, [], f"r{i}").info.run_id for i in range(30)]
    for i, run_id in enumerate(runs):
        store.log_batch(run_id, [Metric("loss", float(i), 1, 0)], [], [])
    stats = store.gateway.stats
    stats.reset()
    page = store.search_runs([exp], "", ViewType.ALL, 5, ["metrics.loss DESC"])
    assert [r.data.metrics["loss"] for r in page] == [29.0, 28.0, 27.0, 26.0, 25.0]
    # the experiment's META says it has no unsharded entries: per shard one Query of its
    # value range and one of its stepping runs (side by side), then one BatchGetItem of the
    # stepping runs' META and LIVE items
    assert stats.requests("Query") == 2 * RANK_SHARDS
    assert stats.requests("BatchGetItem") <= 2  # + the experiment


def test_rank_entries_from_before_sharding_are_still_found(store):
    exp = store.create_experiment("legacy")
    # an experiment from before: no flag on its META
    store.gateway.update_item(
        keys.experiment_key(exp), "REMOVE #f", names={"#f": SHARDED_RANKS_ATTRIBUTE}
    )
    runs = [store.create_run(exp, "u", 1 + i, [], f"r{i}").info.run_id for i in range(4)]
    for i, run_id in enumerate(runs):
        store.log_batch(run_id, [Metric("acc", float(i), 1, 0)], [], [])
        store.update_run_info(run_id, RunStatus.FINISHED, 10, None)  # settled: value ranks
    # the first two runs' entries as an older version wrote them: the unsharded key
    legacy_pk = keys.metric_rank_pk(exp, "acc")
    for run_id in runs[:2]:
        store.gateway.update_item(
            keys.metric_latest_key(run_id, "acc"),
            "SET #pk = :pk",
            names={"#pk": table.gsi_pk(2)},
            values={":pk": legacy_pk},
        )
    legacy = store.gateway.query(Key(table.gsi_pk(2)).eq(legacy_pk), index=table.gsi_name(2))
    assert len(list(legacy)) == 2
    for direction, expected in (("ASC", [0.0, 1.0, 2.0, 3.0]), ("DESC", [3.0, 2.0, 1.0, 0.0])):
        found = store.search_runs([exp], "", ViewType.ALL, 10, [f"metrics.acc {direction}"])
        assert [r.data.metrics["acc"] for r in found] == expected
    # the next step of a legacy run moves its entry into its shard
    store.log_metric(runs[0], Metric("acc", 9.0, 2, 1))
    shard_pk = sharded_rank_pk(exp, "acc", rank_shard(runs[0]))
    moved = store.gateway.query(Key(table.gsi_pk(2)).eq(shard_pk), index=table.gsi_name(2))
    assert runs[0] in {item["run_id"] for item in moved}
    found = store.search_runs([exp], "", ViewType.ALL, 10, ["metrics.acc DESC"])
    assert [r.data.metrics["acc"] for r in found] == [9.0, 3.0, 2.0, 1.0]


def test_search_by_metric_page_costs_about_the_same_at_20_and_200_runs(store):
    """A page of 20 ordered by a metric, in an experiment of 20 and of 200 running runs
    (their latest values in LIVE): the requests stay within 2x."""
    counts = {}
    for size in (20, 200):
        exp = store.create_experiment(f"pages-{size}")
        runs = [store.create_run(exp, "u", 1 + i, [], f"r{i}").info.run_id for i in range(size)]
        for i, run_id in enumerate(runs):
            store.log_batch(run_id, [Metric("m", float(i % 97), 1, 0)], [], [])
            store.log_batch(run_id, [Metric("m", float(i % 89), 2, 1)], [], [])  # into LIVE
        stats = store.gateway.stats
        stats.reset()
        page = store.search_runs([exp], "", ViewType.ALL, 20, ["metrics.m DESC"])
        values = [r.data.metrics["m"] for r in page]
        assert values == sorted((float(i % 89) for i in range(size)), reverse=True)[:20]
        counts[size] = stats.total_requests
    assert counts[200] <= 2 * counts[20], counts


def test_backfill_moves_unsharded_entries_and_marks_the_experiment(store, store_uri):
    import json

    from click.testing import CliRunner

    from mlflow_dynamodbstore.cli.main import cli

    exp = store.create_experiment("old")
    store.gateway.update_item(
        keys.experiment_key(exp), "REMOVE #f", names={"#f": SHARDED_RANKS_ATTRIBUTE}
    )
    runs = [store.create_run(exp, "u", 1 + i, [], f"r{i}").info.run_id for i in range(3)]
    legacy_pk = keys.metric_rank_pk(exp, "acc")
    for i, run_id in enumerate(runs):
        # runs from before sharding logged through the read path: META holds the key
        store.log_batch(run_id, [Metric("acc", float(i), 1, 0)], [Param("p", "v")], [])
        store.gateway.update_item(
            keys.metric_latest_key(run_id, "acc"),
            "SET #pk = :pk",
            names={"#pk": table.gsi_pk(2)},
            values={":pk": legacy_pk},
        )
    dry = CliRunner().invoke(cli, ["runs", "backfill-ranks", store_uri, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["entries"] == 3
    result = CliRunner().invoke(cli, ["runs", "backfill-ranks", store_uri, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["entries"] == 3
    legacy = store.gateway.query(Key(table.gsi_pk(2)).eq(legacy_pk), index=table.gsi_name(2))
    assert list(legacy) == []
    assert store.gateway.get_item(keys.experiment_key(exp))[SHARDED_RANKS_ATTRIBUTE] == RANK_SHARDS
    found = store.search_runs([exp], "", ViewType.ALL, 10, ["metrics.acc DESC"])
    assert [r.data.metrics["acc"] for r in found] == [2.0, 1.0, 0.0]
    # a rerun finds the experiment marked and moves nothing
    again = CliRunner().invoke(cli, ["runs", "backfill-ranks", store_uri, "--json"])
    assert json.loads(again.stdout)["entries"] == 0
