"""``runs settle-idle`` (lifecycle/settle_idle.py): a run left RUNNING after its last step
(a crashed training script) leaves the stepping state, keeps its status and values, and
steps as before if it logs again; a run still stepping is left alone."""

from __future__ import annotations

import json

from click.testing import CliRunner
from mlflow.entities import Metric, RunStatus, ViewType
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.cli.main import cli
from mlflow_dynamodbstore.repositories.runs.live import LIVE_FLAG
from mlflow_dynamodbstore.repositories.runs.step_gate import gate_listed_runs
from mlflow_dynamodbstore.repositories.runs.stepping import IN_LIVE, STEP_MODE
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.schema.metric_rank_keys import live_key
from mlflow_dynamodbstore.schema.step_gate_keys import GATE

HOUR_MS = 3_600_000


def _steps(store, run_id: str, steps: range, stamp: int) -> None:
    for s in steps:
        metrics = [Metric(f"m{k}", s * 0.5 + k, stamp + s, s) for k in range(2)]
        store.log_batch(run_id, metrics, [], [])


def _settle(store_uri: str, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["runs", "settle-idle", store_uri, "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_idle_runs_settle_and_step_again(store, store_uri):
    gateway = store._conn.gateway
    now = get_current_time_millis()
    crashed = store.create_run("0", "u", 1, [], "crashed").info.run_id
    training = store.create_run("0", "u", 1, [], "training").info.run_id
    _steps(store, crashed, range(5), now - 3 * HOUR_MS)  # stopped 3 hours ago
    _steps(store, training, range(5), now)
    listed = {e["run_id"] for e in gate_listed_runs(gateway, "0")}
    assert listed == {crashed, training}

    dry = _settle(store_uri, "--dry-run", "--idle-minutes", "60")
    assert (dry["listed"], dry["idle"], dry["dry_run"]) == (2, 1, True)
    assert gateway.get_item(live_key(crashed)).get(GATE) == "default"  # nothing written

    report = _settle(store_uri, "--idle-minutes", "60")
    assert (report["listed"], report["idle"], report["finished"]) == (2, 1, 0)
    meta = gateway.get_item(keys.run_key(crashed))
    assert meta["status"] == "RUNNING" and STEP_MODE not in meta and LIVE_FLAG not in meta
    assert GATE not in gateway.get_item(live_key(crashed))
    assert not gateway.get_item(keys.metric_latest_key(crashed, "m0")).get(IN_LIVE)
    assert {e["run_id"] for e in gate_listed_runs(gateway, "0")} == {training}
    assert gateway.get_item(live_key(training)).get(GATE) == "default"  # left alone
    assert store.get_run(crashed).data.metrics == {"m0": 2.0, "m1": 3.0}
    ranked = store.search_runs(["0"], "", ViewType.ALL, 10, ["metrics.m1 DESC"])
    assert {r.info.run_id: r.data.metrics["m1"] for r in ranked} == {crashed: 3.0, training: 3.0}

    again = _settle(store_uri, "--idle-minutes", "60")  # idempotent
    assert (again["listed"], again["idle"]) == (1, 0)

    # the crashed script resumes: the read path puts it back in step mode, then the gate
    _steps(store, crashed, range(5, 9), now)
    assert store.get_run(crashed).data.metrics == {"m0": 4.0, "m1": 5.0}
    assert [m.step for m in store.get_metric_history(crashed, "m0")] == list(range(9))
    assert gateway.get_item(live_key(crashed)).get(GATE) == "default"
    stats = store.gateway.stats
    stats.reset()
    _steps(store, crashed, range(9, 10), now)
    assert stats.snapshot().keys() == {"UpdateItem"}


def test_a_run_whose_settling_was_cut_short_is_settled(store, store_uri, monkeypatch):
    from mlflow_dynamodbstore.repositories.runs.repository import RunRepository

    gateway = store._conn.gateway
    now = get_current_time_millis()
    ended = store.create_run("0", "u", 1, [], "ended").info.run_id
    _steps(store, ended, range(4), now)
    with monkeypatch.context() as patch:
        patch.setattr(RunRepository, "settle", lambda self, run_id: None)  # it crashed
        store.update_run_info(ended, RunStatus.FINISHED, now, None)
    assert [e["run_id"] for e in gate_listed_runs(gateway, "0")] == [ended]
    report = _settle(store_uri)
    assert (report["listed"], report["idle"], report["finished"]) == (1, 0, 1)
    assert gate_listed_runs(gateway, "0") == []
    assert LIVE_FLAG not in gateway.get_item(keys.run_key(ended))
    assert not gateway.get_item(keys.metric_latest_key(ended, "m1")).get(IN_LIVE)
    assert store.get_run(ended).data.metrics == {"m0": 1.5, "m1": 2.5}
    assert [m.step for m in store.get_metric_history(ended, "m1")] == [0, 1, 2, 3]
