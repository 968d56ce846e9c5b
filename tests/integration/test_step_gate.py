"""The step gate (repositories/runs/step_gate.py): a steady training step is one UpdateItem
of the run's LIVE item, and every write that would make the transaction's checks false
closes the gate first: a deleted run, a deleted experiment (also while steps race the
delete), another workspace, a moved run; a spilled key never passes it. Each case starts
from a run whose gate was open, so the step really tried the gate."""

from __future__ import annotations

import threading

import pytest
from mlflow.entities import Metric, Param
from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.exceptions import MlflowException
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.repositories.runs.step_gate import (
    close_experiment_gates,
    gate_listed_runs,
)
from mlflow_dynamodbstore.repositories.runs.stepping import LIVE_ANNOUNCED
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.schema.metric_rank_keys import live_key
from mlflow_dynamodbstore.schema.step_gate_keys import CLOSING_GATES, GATE
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.integration.live_step_helpers import history, step_metrics

KEYS = 3


def _open_gate(store, run_id: str, steps: int = 3) -> None:
    """Steps until the gate is open (the first announces, the next go through it)."""
    for s in range(steps):
        store.log_batch(run_id, step_metrics(s, KEYS), [], [])
    assert _live(store, run_id).get(GATE) == "default"


def _live(store, run_id: str) -> dict:
    return store._conn.gateway.get_item(live_key(run_id)) or {}


def _step_requests(store, run_id: str, step: int) -> tuple[int, dict]:
    stats = store.gateway.stats
    stats.reset()
    store.log_batch(run_id, step_metrics(step, KEYS), [], [])
    return stats.total_requests, stats.snapshot()


def _refused(call, code: str) -> None:
    with pytest.raises(MlflowException) as err:
        call()
    assert err.value.error_code == code, err.value.message


@pytest.fixture
def run_id(store):
    run = store.create_run("0", "u", 1, [], "r").info.run_id
    _open_gate(store, run)
    return run


def test_an_open_gate_takes_a_step_as_one_update_item(store, run_id):
    requests, snapshot = _step_requests(store, run_id, 3)
    assert requests == 1 and set(snapshot) == {"UpdateItem"}
    entries = gate_listed_runs(store._conn.gateway, "0")
    assert [e["run_id"] for e in entries] == [run_id]


def test_a_deleted_run_closes_its_gate_and_a_restore_reopens_it(store, run_id):
    store.delete_run(run_id)
    assert GATE not in _live(store, run_id)
    assert gate_listed_runs(store._conn.gateway, "0") == []
    _refused(
        lambda: store.log_batch(run_id, step_metrics(3, KEYS), [], []), "INVALID_PARAMETER_VALUE"
    )
    store.restore_run(run_id)
    store.log_batch(run_id, step_metrics(3, KEYS), [], [])  # the transaction reopens it
    assert _live(store, run_id).get(GATE) == "default"
    requests, _ = _step_requests(store, run_id, 4)
    assert requests == 1
    assert [h[1] for h in history(store, run_id, "m0")] == [0, 1, 2, 3, 4]


def test_a_deleted_experiment_closes_its_runs_gates(store):
    exp = store.create_experiment("e")
    runs = [store.create_run(exp, "u", 1, [], f"r{i}").info.run_id for i in range(3)]
    for run in runs:
        _open_gate(store, run)
    store.delete_experiment(exp)
    for run in runs:
        assert GATE not in _live(store, run)
        _refused(
            lambda run=run: store.log_batch(run, step_metrics(3, KEYS), [], []),
            "INVALID_PARAMETER_VALUE",
        )
    assert gate_listed_runs(store._conn.gateway, exp) == []
    meta = store._conn.gateway.get_item(keys.experiment_key(exp))
    assert CLOSING_GATES not in meta  # the flip cleared it
    store.restore_experiment(exp)
    store.log_batch(runs[0], step_metrics(3, KEYS), [], [])
    assert _live(store, runs[0]).get(GATE) == "default"


def test_a_delete_interrupted_after_closing_leaves_steps_exact_then_finishes(store):
    exp = store.create_experiment("e")
    run = store.create_run(exp, "u", 1, [], "r").info.run_id
    _open_gate(store, run)
    # the delete's first half (it crashed before the flip): the flag and closed gates
    assert close_experiment_gates(store._conn.gateway, exp) == 1
    # the experiment is still active: steps are accepted, through the read path
    store.log_batch(run, step_metrics(3, KEYS), [], [])
    store.log_batch(run, step_metrics(4, KEYS), [], [])
    assert GATE not in _live(store, run)
    assert [h[1] for h in history(store, run, "m0")] == [0, 1, 2, 3, 4]
    store.delete_experiment(exp)  # run again: it finishes
    _refused(lambda: store.log_batch(run, step_metrics(5, KEYS), [], []), "INVALID_PARAMETER_VALUE")
    assert CLOSING_GATES not in store._conn.gateway.get_item(keys.experiment_key(exp))


def test_no_step_lands_after_the_experiment_delete_returns(store_uri):
    """Writers keep stepping several runs while another store deletes their experiment:
    once the delete has returned, every step is refused and none was stored."""
    writer = DynamoDBTrackingStore(store_uri, "s3://b/a")
    deleter = DynamoDBTrackingStore(store_uri, "s3://b/a")
    exp = writer.create_experiment("race")
    runs = [writer.create_run(exp, "u", 1, [], f"r{i}").info.run_id for i in range(4)]
    for run in runs:
        _open_gate(writer, run)
    deleted = threading.Event()
    after_delete: list[tuple[str, int]] = []
    errors: list[Exception] = []

    def step(run: str) -> None:
        for s in range(3, 60):
            done = deleted.is_set()
            try:
                writer.log_batch(run, step_metrics(s, KEYS), [], [])
            except MlflowException as exc:
                if exc.error_code != "INVALID_PARAMETER_VALUE":
                    errors.append(exc)
                return
            if done:
                after_delete.append((run, s))

    threads = [threading.Thread(target=step, args=(run,)) for run in runs]
    for t in threads:
        t.start()
    deleter.delete_experiment(exp)
    deleted.set()
    for t in threads:
        t.join()
    assert errors == [] and after_delete == []


def test_another_workspace_does_not_pass_the_gate(monkeypatch, store_uri):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    provider.create_workspace(Workspace(name="team-a"))
    provider.create_workspace(Workspace(name="team-b"))
    store = DynamoDBTrackingStore(store_uri, "s3://b/a")
    with WorkspaceContext("team-a"):
        exp = store.create_experiment("e")
        run = store.create_run(exp, "u", 1, [], "r").info.run_id
        for s in range(3):
            store.log_batch(run, step_metrics(s, KEYS), [], [])
        assert _live(store, run).get(GATE) == "team-a"
    with WorkspaceContext("team-b"):
        _refused(
            lambda: store.log_batch(run, step_metrics(3, KEYS), [], []),
            "RESOURCE_DOES_NOT_EXIST",
        )
    with WorkspaceContext("team-a"):
        assert [h[1] for h in history(store, run, "m0")] == [0, 1, 2]
    # SET_DEFAULT moves the run: its gate (naming team-a) closes, default's steps reopen it
    provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)
    assert GATE not in _live(store, run)
    with WorkspaceContext("default"):
        store.log_batch(run, step_metrics(3, KEYS), [], [])
        assert _live(store, run).get(GATE) == "default"
        assert [h[1] for h in history(store, run, "m0")] == [0, 1, 2, 3]


def test_a_key_spilled_before_it_steps_is_never_announced(store, run_id, monkeypatch):
    """Over META's size budget a new entry spills and its value is resolved through the
    key's LATEST item, which steps through the gate do not write: the announcing
    transaction checks META, so a spilled key never passes the gate."""
    from mlflow_dynamodbstore.repositories.runs import changes

    monkeypatch.setattr(changes, "META_SOFT_LIMIT_BYTES", 1)
    store.log_batch(run_id, [Metric("early", 1.0, 1, 0)], [Param("p", "1")], [])  # spills
    store.log_batch(run_id, [Metric("early", 2.0, 2, 1)], [], [])
    store.log_batch(run_id, [Metric("early", 3.0, 3, 2)], [], [])
    assert "early" not in (_live(store, run_id).get(LIVE_ANNOUNCED) or ())
    assert store.get_run(run_id).data.metrics["early"] == 3.0
    assert [h[2] for h in history(store, run_id, "early")] == [1.0, 2.0, 3.0]
