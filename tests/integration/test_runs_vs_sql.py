"""The same run scenario on this store and on SqlAlchemyStore (SQLite): results, error codes
and messages must agree once run ids and artifact locations are normalised."""

from __future__ import annotations

import pytest
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.sqlite_template import migrated_sqlite_uri


@pytest.fixture
def stores(store_uri, tmp_path):
    return (
        DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts"),
        SqlAlchemyStore(migrated_sqlite_uri(tmp_path / "m.db"), str(tmp_path / "a")),
    )


def _snapshot(run) -> dict:
    info = run.info
    return {
        "experiment_id": info.experiment_id,
        "run_name": info.run_name,
        "user_id": info.user_id,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "lifecycle_stage": info.lifecycle_stage,
        "params": run.data.params,
        "tags": run.data.tags,
        "metrics": run.data.metrics,
    }


def _outcome(fn, *args):
    """The call's result, or its error code and message with run ids normalised."""
    try:
        result = fn(*args)
    except MlflowException as exc:
        return ("error", exc.error_code, exc.message)
    return ("ok", type(result).__name__)


def _scenario(store, tmp_label: str) -> list:
    out = []
    exp = store.create_experiment(f"exp-{tmp_label}")
    run = store.create_run(exp, "alice", 100, [RunTag("a", "1")], "first")
    rid = run.info.run_id

    def record(fn, *args):
        result = _outcome(fn, *args)
        out.append(tuple(str(x).replace(rid, "<RUN>") for x in result))

    out.append(("created", _snapshot(run)))
    record(store.log_param, rid, Param("p", "1"))
    record(store.log_param, rid, Param("p", "1"))
    record(store.log_param, rid, Param("p", "2"))
    record(store.log_batch, rid, [], [Param("q", "1"), Param("p", "3")], [])
    record(store.log_batch, rid, [], [Param("d", "1"), Param("d", "1")], [])
    record(store.log_batch, rid, [Metric("m", 1.0, 10, 1), Metric("m", 0.5, 20, 0)], [], [])
    record(store.log_batch, rid, [Metric("x", "bad", 1, 0)], [], [])
    record(store.log_batch, rid, [], [], [RunTag("b", "2"), RunTag(MLFLOW_RUN_NAME, "second")])
    record(store.set_tag, rid, RunTag(MLFLOW_RUN_NAME, ""))
    record(store.set_tag, rid, RunTag("bad/../key", "v"))
    record(store.delete_tag, rid, "a")
    record(store.delete_tag, rid, "a")
    record(store.update_run_info, rid, RunStatus.FINISHED, 500, None)
    out.append(("after writes", _snapshot(store.get_run(rid))))
    record(store.delete_run, rid)
    record(store.log_metric, rid, Metric("m", 2.0, 30, 5))
    record(store.set_tag, rid, RunTag("c", "3"))
    record(store.update_run_info, rid, RunStatus.FAILED, 600, None)
    out.append(("deleted", _snapshot(store.get_run(rid))))
    record(store.restore_run, rid)
    store.delete_experiment(exp)
    out.append(("experiment deleted", _snapshot(store.get_run(rid))))
    record(store.log_param, rid, Param("z", "1"))
    record(store.create_run, exp, "bob", 1, [], "r")
    store.restore_experiment(exp)
    out.append(("experiment restored", _snapshot(store.get_run(rid))))
    record(store.get_run, "0" * 32)
    record(store.create_run, "987654", "bob", 1, [], "r")
    record(store.create_run, exp, "bob", 1, [RunTag(MLFLOW_RUN_NAME, "a")], "b")
    return out


def test_run_scenario_matches_sql(stores):
    ours, theirs = (_scenario(s, "same") for s in stores)
    assert len(ours) == len(theirs)
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"step {step}: {a} != {b}"


def test_create_run_tags_are_not_name_checked_as_in_sql(stores):
    """SqlAlchemyStore.create_run stores tags as given (set_tag checks names, create does
    not); both stores accept the same tags here."""
    tags = [RunTag("with space!", "v"), RunTag("a@b", "w"), RunTag("k", "x" * 5000)]
    got = []
    for s in stores:
        run_id = s.create_run("0", "u", 1, tags, "r").info.run_id
        got.append(s.get_run(run_id).data.tags)
    assert got[0] == got[1]
    assert got[0]["k"] == "x" * 5000
    with pytest.raises(MlflowException) as info:
        stores[0].create_run("0", "u", 1, [RunTag("", "v")], "r")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
