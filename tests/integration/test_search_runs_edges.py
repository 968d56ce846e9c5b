"""search_runs over values spilled out of the run META item, and across workspaces."""

from __future__ import annotations

import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.entities.workspace import Workspace
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.search_runs_data import BASE_TIME, run_uuid
from tests.sqlite_template import migrated_sqlite_uri


@pytest.fixture
def ddb(store_uri, tmp_path):
    return DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))


@pytest.fixture
def sql(tmp_path):
    store = SqlAlchemyStore(migrated_sqlite_uri(tmp_path / "m.db"), str(tmp_path / "artifacts"))
    yield store
    store.engine.dispose()


def _create(store, exp, name, start):
    from unittest import mock

    with mock.patch("uuid.uuid4", return_value=run_uuid(name)):
        return store.create_run(exp, "u", BASE_TIME + start, [], name).info.run_id


def _long(prefix: str, n: int) -> str:
    return prefix + "x" * 1500 + f"{n:03d}"  # over the 1 KB inline limit: spilled


def _write_spilled(store) -> str:
    exp = store.create_experiment("spills")
    for i in range(6):
        run_id = _create(store, exp, f"s{i}", i % 3)
        params = [Param("big", _long("a" if i % 2 else "b", i)), Param("small", str(i))]
        tags = [RunTag("bigtag", _long("t", 10 - i))] if i != 4 else []
        store.log_batch(run_id, [Metric("m", float(i % 4), 0, 0)], params, tags)
    return exp


SPILL_CASES = [
    ("params.big LIKE 'a%'", None),
    (f"params.big = '{_long('b', 2)}'", None),
    ("tags.bigtag LIKE '%007'", ["metrics.m"]),
    ("tags.bigtag IS NULL", None),
    (None, ["params.big DESC"]),
    (None, ["tags.bigtag", "metrics.m DESC"]),
    ("params.small != '3'", ["params.big"]),
]


def test_spilled_params_and_tags_filter_and_order_as_in_sql(ddb, sql):
    exps = [_write_spilled(store) for store in (sql, ddb)]
    meta = ddb.runs.get_meta(run_uuid("s1").hex)
    assert meta["params"]["big"] == {"spilled": True}  # the case under test
    for filter_string, order_by in SPILL_CASES:
        results = []
        for store, exp in zip((sql, ddb), exps, strict=True):
            runs = store.search_runs([exp], filter_string, ViewType.ALL, 100, order_by)
            results.append([(r.info.run_id, r.data.params, r.data.tags) for r in runs])
        assert results[0] and results[1] == results[0], (filter_string, order_by)


def test_metric_spilled_out_of_a_full_meta_is_searched_and_ordered(ddb, sql):
    """Once META is near DynamoDB's item limit new metrics live in their LATEST item only."""
    exps = []
    for store in (sql, ddb):
        exp = store.create_experiment("full")
        full = _create(store, exp, "full", 0)
        for batch in range(4):  # ~350 KB of params keeps META near the limit
            params = [Param(f"p{batch}-{k:03d}", "v" * 1000) for k in range(90)]
            store.log_batch(full, [], params, [])
        # a param: the read path, which spills the new key out of the full META
        store.log_batch(full, [Metric("late", 5.0, 0, 0)], [Param("x", "y")], [])
        for i in range(3):
            other = _create(store, exp, f"o{i}", i + 1)
            store.log_batch(other, [Metric("late", float(i * 3), 0, 0)], [], [])
        exps.append(exp)
    meta = ddb.runs.get_meta(run_uuid("full").hex)
    assert meta["metrics"]["late"] == {"spilled": True}  # the case under test
    for filter_string, order_by in [
        ("metrics.late > 4", None),
        (None, ["metrics.late DESC"]),
        ("metrics.late >= 0", ["metrics.late"]),
        (None, ["params.`p0-000`", "metrics.late"]),
    ]:
        got = [
            [
                (r.info.run_name, r.data.metrics.get("late"))
                for r in store.search_runs([exp], filter_string, ViewType.ALL, 100, order_by)
            ]
            for store, exp in zip((sql, ddb), exps, strict=True)
        ]
        assert got[0] and got[1] == got[0], (filter_string, order_by)


def test_experiments_of_another_workspace_are_not_searched(ddb, store_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    provider.create_workspace(Workspace(name="team-a"))
    provider.create_workspace(Workspace(name="team-b"))
    with WorkspaceContext("team-a"):
        a = ddb.create_experiment("a")
        run_a = ddb.create_run(a, "u", BASE_TIME, [], "in-a").info.run_id
        ddb.log_batch(run_a, [Metric("m", 1.0, 0, 0)], [], [])
    with WorkspaceContext("team-b"):
        b = ddb.create_experiment("b")
        ddb.create_run(b, "u", BASE_TIME, [], "in-b")
        for order_by in (None, ["metrics.m"], ["params.p"]):
            runs = ddb.search_runs([a, b], None, ViewType.ALL, 10, order_by)
            assert [r.info.run_name for r in runs] == ["in-b"]
    with WorkspaceContext("team-a"):
        runs = ddb.search_runs([a, b], None, ViewType.ALL, 10, ["metrics.m"])
        assert [r.info.run_name for r in runs] == ["in-a"]
