"""Run lifecycle under experiment deletion/restoration: the O(1) effective-lifecycle rule
against SqlAlchemyStore, which rewrites every run of the experiment."""

from __future__ import annotations

import random
import time

import pytest
from mlflow.entities import Dataset, DatasetInput, Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from mlflow_dynamodbstore.repositories.runs.repository import effective_run_lifecycle
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.sqlite_template import migrated_sqlite_uri


@pytest.mark.parametrize(
    ("run", "experiment", "expected"),
    [
        ({"lifecycle_stage": "active"}, None, ("active", None)),
        ({"lifecycle_stage": "deleted", "deleted_time": 5}, None, ("deleted", 5)),
        # experiment deleted: every run is deleted, at the experiment's time
        (
            {"lifecycle_stage": "active"},
            {"lifecycle_stage": "deleted", "deleted_time": 9},
            ("deleted", 9),
        ),
        (
            {"lifecycle_stage": "deleted", "deleted_time": 3},
            {"lifecycle_stage": "deleted", "deleted_time": 9},
            ("deleted", 9),
        ),
        # ...unless the run was restored after the experiment was deleted
        (
            {"lifecycle_stage": "active", "restored_time": 10},
            {"lifecycle_stage": "deleted", "deleted_time": 9},
            ("active", None),
        ),
        (
            {"lifecycle_stage": "active", "restored_time": 8},
            {"lifecycle_stage": "deleted", "deleted_time": 9},
            ("deleted", 9),
        ),
        # experiment restored: runs deleted before that are active again
        (
            {"lifecycle_stage": "deleted", "deleted_time": 4},
            {"lifecycle_stage": "active", "deleted_time": 3, "restored_time": 6},
            ("active", None),
        ),
        (
            {"lifecycle_stage": "deleted", "deleted_time": 7},
            {"lifecycle_stage": "active", "deleted_time": 3, "restored_time": 6},
            ("deleted", 7),
        ),
        ({"lifecycle_stage": "active"}, {"lifecycle_stage": "active"}, ("active", None)),
    ],
)
def test_effective_run_lifecycle(run, experiment, expected):
    assert effective_run_lifecycle(run, experiment) == expected


def test_random_lifecycle_sequences_match_sql(store_uri, tmp_path):
    ours = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    sql = SqlAlchemyStore(migrated_sqlite_uri(tmp_path / "m.db"), str(tmp_path / "a"))
    rng = random.Random(11)
    stores = {"ours": ours, "sql": sql}
    exp = {name: s.create_experiment("life") for name, s in stores.items()}
    runs = {
        name: [s.create_run(exp[name], "u", i, [], f"r{i}").info.run_id for i in range(3)]
        for name, s in stores.items()
    }
    for step in range(40):
        op = rng.choice(["delete_run", "restore_run", "delete_experiment", "restore_experiment"])
        index = rng.randrange(3)
        outcomes = {}
        for name, s in stores.items():
            target = runs[name][index] if op.endswith("_run") else exp[name]
            try:
                getattr(s, op)(target)
                outcomes[name] = "ok"
            except MlflowException as exc:
                outcomes[name] = exc.error_code
        assert outcomes["ours"] == outcomes["sql"], (step, op)
        stages = {
            name: [s.get_run(r).info.lifecycle_stage for r in runs[name]]
            for name, s in stores.items()
        }
        assert stages["ours"] == stages["sql"], (step, op, index)
        # the rule compares millisecond timestamps: keep operations in distinct milliseconds
        time.sleep(0.003)


def test_gc_helpers(store_uri, tmp_path):
    """What `mlflow gc` calls: _get_deleted_runs then _hard_delete_run, as in SQL."""
    ours = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    sql = SqlAlchemyStore(migrated_sqlite_uri(tmp_path / "m.db"), str(tmp_path / "a"))
    for s in (ours, sql):
        exp = s.create_experiment("gc")
        keep, gone = (s.create_run(exp, "u", 1, [], "r").info.run_id for _ in range(2))
        other = s.create_experiment("gc-other")
        in_deleted_exp = s.create_run(other, "u", 1, [], "r").info.run_id
        s.log_batch(
            gone, [Metric("m", float(i), i, i) for i in range(30)], [Param("p", "x" * 3000)], []
        )
        s.log_inputs(gone, [DatasetInput(Dataset("d", "1", "local", "{}", None, None))])
        s.delete_run(gone)
        s.delete_experiment(other)
        time.sleep(0.01)
        assert sorted(s._get_deleted_runs()) == sorted([gone, in_deleted_exp])
        assert s._get_deleted_runs(older_than=10**9) == []
        s._hard_delete_run(gone)
        with pytest.raises(MlflowException) as info:
            s.get_run(gone)
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        assert list(s.get_metric_history(gone, "m")) == []
        assert s._get_deleted_runs() == [in_deleted_exp]
        assert s.get_run(keep).info.lifecycle_stage == "active"
        with pytest.raises(MlflowException) as info:
            s._hard_delete_run(gone)
        assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    # nothing of the run is left in the table
    leftovers = ours.gateway.client.scan(TableName=ours.gateway.table_name)["Items"]
    assert not [i for i in leftovers if gone in str(i)]
