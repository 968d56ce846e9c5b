"""The lifecycle's admin side: the ``ttl`` commands (show, set, apply, cleanup with
confirmation, dry run, JSON summary) and MLflow's own ``mlflow gc`` against the store."""

from __future__ import annotations

import json
import time

from click.testing import CliRunner
from mlflow.entities import Metric, TraceInfo, TraceLocation, TraceState

from mlflow_dynamodbstore.cli.main import cli
from mlflow_dynamodbstore.config.items import ConfigItems
from mlflow_dynamodbstore.lifecycle import clock
from mlflow_dynamodbstore.lifecycle.apply import TtlApply
from mlflow_dynamodbstore.lifecycle.ttl import DAY_MS, OWNER_GRACE_DAYS
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.integration.lifecycle_helpers import (
    DAY_S,
    all_items,
    keys_of,
    partition,
    set_policy,
)


def _run(store, exp: str, name: str) -> str:
    run_id = store.create_run(exp, "u", 1000, [], name).info.run_id
    store.log_batch(run_id, [Metric("m", float(s), 1000 + s, s) for s in range(3)], [], [])
    return run_id


def _history(store, run_id: str) -> list[dict]:
    return [
        i
        for i in partition(store, keys.metric_history_pk(run_id, "m"))
        if i["SK"] != keys.METRIC_LATEST_SK
    ]


def test_ttl_show_and_set(store, store_uri):
    set_policy(store, soft_deleted_retention_days=90)
    runner = CliRunner()
    shown = json.loads(runner.invoke(cli, ["ttl", "show", store_uri, "--json"]).output)
    assert shown["soft_deleted_retention_days"] == 90 and shown["trace_retention_days"] == 0
    result = runner.invoke(
        cli,
        [
            "ttl",
            "set",
            store_uri,
            "--trace-retention-days",
            "14",
            "--metric-history-retention-days",
            "30",
        ],
    )
    assert result.exit_code == 0, result.output
    stored = ConfigItems(store._conn.gateway).load()
    assert (
        stored.retention.trace_retention_days,
        stored.retention.metric_history_retention_days,
    ) == (
        14,
        30,
    )
    assert stored.retention.soft_deleted_retention_days == 90  # untouched
    shown = json.loads(runner.invoke(cli, ["ttl", "show", store_uri, "--json"]).output)
    assert shown["stored_in_table"]["trace_retention_days"] == 14
    bad = runner.invoke(cli, ["ttl", "set", store_uri, "--trace-retention-days", "-1"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    assert runner.invoke(cli, ["ttl", "set", store_uri]).exit_code != 0


def test_ttl_cleanup_command_confirms_dry_runs_and_summarises(store, store_uri, monkeypatch):
    set_policy(store, soft_deleted_retention_days=30)
    exp = store.create_experiment("e")
    gone = _run(store, exp, "gone")
    kept = _run(store, exp, "kept")
    store.delete_run(gone)
    monkeypatch.setattr(clock, "system_clock", lambda: time.time() + 31 * DAY_S)
    before = keys_of(all_items(store))
    runner = CliRunner()
    aborted = runner.invoke(cli, ["ttl", "cleanup", store_uri], input="n\n")
    assert aborted.exit_code == 1 and keys_of(all_items(store)) == before
    dry = runner.invoke(cli, ["ttl", "cleanup", store_uri, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    dry_summary = json.loads(dry.stdout)
    assert dry_summary["runs"] == 1 and dry_summary["dry_run"] is True
    assert keys_of(all_items(store)) == before
    done = runner.invoke(cli, ["ttl", "cleanup", store_uri, "--yes", "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["runs"] == 1 and summary["items_deleted"] == dry_summary["items_deleted"]
    assert not partition(store, keys.run_pk(gone)) and not _history(store, gone)
    assert store.get_run(kept).data.metrics == {"m": 2.0}


def test_ttl_apply_rewrites_existing_items_to_the_policy(store, store_uri):
    set_policy(store, soft_deleted_retention_days=0)
    exp = store.create_experiment("e")
    run_id = _run(store, exp, "r")
    deleted = _run(store, exp, "d")
    store.delete_run(deleted)
    # deleted on its own, then brought back by restoring its experiment: must get no ttl
    other = store.create_experiment("other")
    resurrected = _run(store, other, "back")
    store.delete_run(resurrected)
    store.delete_experiment(other)
    store.restore_experiment(other)
    store.start_trace(
        TraceInfo(
            trace_id="tr-1",
            trace_location=TraceLocation.from_experiment_id(exp),
            request_time=5_000,
            state=TraceState.OK,
        )
    )
    assert all("ttl" not in i for i in _history(store, run_id))
    policy = set_policy(
        store,
        soft_deleted_retention_days=20,
        trace_retention_days=2,
        metric_history_retention_days=10,
    )
    before = all_items(store)
    dry = TtlApply(store._conn.gateway, policy, dry_run=True).run()
    assert dry.items_rewritten > 0 and all_items(store) == before

    result = CliRunner().invoke(cli, ["ttl", "apply", store_uri, "--yes", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["items_rewritten"] == dry.items_rewritten
    assert (summary["deleted_owners"], summary["traces"]) == (1, 1)
    for item in _history(store, run_id):  # a block: its newest point + 10 days
        assert int(item["ttl"]) == (1002 + 10 * DAY_MS) // 1000
    meta = store._conn.gateway.get_item(keys.run_key(deleted))
    assert (
        int(meta["ttl"]) == (int(meta["deleted_time"]) + (20 + OWNER_GRACE_DAYS) * DAY_MS) // 1000
    )
    assert "ttl" not in store._conn.gateway.get_item(keys.run_key(run_id))
    assert "ttl" not in store._conn.gateway.get_item(keys.run_key(resurrected))
    assert (
        int(store._conn.gateway.get_item(keys.trace_key("tr-1"))["ttl"])
        == (5_000 + 2 * DAY_MS) // 1000
    )
    # the job record is gone, and a second apply has nothing left to change
    again = TtlApply(store._conn.gateway, policy).run()
    assert again.items_rewritten == 0


def test_mlflow_gc_hard_deletes_through_mlflows_cli(store_uri, tmp_path):
    from mlflow.cli import cli as mlflow_cli

    store = DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))
    live_exp = store.create_experiment("live")
    live = _run(store, live_exp, "live")
    deleted = _run(store, live_exp, "deleted")
    store.delete_run(deleted)
    doomed = store.create_experiment("doomed")
    doomed_runs = [_run(store, doomed, f"d{i}") for i in range(2)]
    store.start_trace(
        TraceInfo(
            trace_id="tr-gc",
            trace_location=TraceLocation.from_experiment_id(doomed),
            request_time=1000,
            state=TraceState.OK,
        )
    )
    model = store.create_logged_model(experiment_id=live_exp, name="lm")
    store.delete_logged_model(model.model_id)
    kept_model = store.create_logged_model(experiment_id=live_exp, name="kept")
    store.delete_experiment(doomed)
    before = keys_of(all_items(store))
    # the deleted run's history of "m": its LATEST item (a first step's points wait in the
    # run's LIVE item, in the run partition, until a flush writes blocks)
    history = keys.metric_history_pk(deleted, "m")
    assert partition(store, history) and partition(store, keys.trace_pk("tr-gc"))
    runner = CliRunner()
    args = ["gc", "--backend-store-uri", store_uri, "--tracking-uri", store_uri]
    # nothing is old enough yet
    young = runner.invoke(mlflow_cli, [*args, "--older-than", "1d"])
    assert young.exit_code == 0, young.output
    assert keys_of(all_items(store)) == before

    # one experiment first (with --run-ids, else gc takes every deleted run): it and its
    # runs go, the other deleted run stays
    only = runner.invoke(
        mlflow_cli, [*args, "--experiment-ids", doomed, "--run-ids", doomed_runs[0]]
    )
    assert only.exit_code == 0, only.output
    assert not partition(store, keys.experiment_pk(doomed))
    assert partition(store, history) and store.get_run(deleted).info.lifecycle_stage == "deleted"
    # an active run cannot be collected (asked only now: with a deleted experiment left, gc
    # would also take that experiment's runs, in set order, before refusing this one)
    refused = runner.invoke(mlflow_cli, [*args, "--run-ids", live])
    assert refused.exit_code != 0 and store.get_run(live)
    assert partition(store, history)

    result = runner.invoke(mlflow_cli, args)
    assert result.exit_code == 0, result.output
    assert f"Run with ID {deleted} has been permanently deleted." in result.output
    for run_id in [deleted, *doomed_runs]:
        assert not partition(store, keys.run_pk(run_id)) and not _history(store, run_id)
        assert not partition(store, keys.metric_history_pk(run_id, "m"))
    assert not partition(store, keys.experiment_pk(doomed))
    assert not partition(store, keys.trace_pk("tr-gc"))
    assert not partition(store, keys.logged_model_pk(model.model_id))
    assert store._conn.gateway.get_item(keys.experiment_name_key("default", "doomed")) is None
    # live things untouched
    assert store.get_run(live).data.metrics == {"m": 2.0}
    assert store.get_logged_model(kept_model.model_id).name == "kept"
    assert store.get_experiment(live_exp).name == "live"
    store.create_experiment("doomed")  # the name is free again, as after SQL's gc
