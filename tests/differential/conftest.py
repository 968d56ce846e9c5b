"""Fixtures of the differential tests: a SqlAlchemyStore over a fresh copy of a template
SQLite database, a DynamoDBTrackingStore on a fresh table, both with the same artifact
root, and a fake clock so that both stores see strictly increasing, distinct times."""

from __future__ import annotations

import itertools
import shutil
import sys

import pytest
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.store.tracking.sqlalchemy_workspace_store import WorkspaceAwareSqlAlchemyStore
from mlflow.utils import time as mlflow_time

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

# Far above CLOCK_FLOOR in harness.py, so the normaliser recognises clock readings.
FAKE_CLOCK_START = 2_000_000_000_000


@pytest.fixture(scope="session")
def artifact_root(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("artifacts"))


@pytest.fixture(scope="session")
def sql_template(tmp_path_factory, artifact_root) -> str:
    """Creating MLflow's schema takes about a second; do it once and copy the file."""
    path = tmp_path_factory.mktemp("sql-template") / "template.db"
    store = SqlAlchemyStore(f"sqlite:///{path}", artifact_root)
    store.engine.dispose()
    return str(path)


@pytest.fixture
def fake_clock(monkeypatch):
    """Replace mlflow.utils.time.get_current_time_millis wherever a module imported it:
    every call returns the previous reading + 1 ms. Ties in time-ordered results (e.g. the
    default experiment order) would otherwise depend on how fast each store is."""
    original = mlflow_time.get_current_time_millis
    ticks = itertools.count(FAKE_CLOCK_START)

    def now() -> int:
        return next(ticks)

    for module in list(sys.modules.values()):
        if getattr(module, "get_current_time_millis", None) is original:
            monkeypatch.setattr(module, "get_current_time_millis", now)
    return now


@pytest.fixture
def sql_store(tmp_path, sql_template, artifact_root, fake_clock):
    db = tmp_path / "m.db"
    shutil.copy(sql_template, db)
    store = SqlAlchemyStore(f"sqlite:///{db}", artifact_root)
    yield store
    store.engine.dispose()


@pytest.fixture
def dynamo_store(store_uri, artifact_root, fake_clock):
    return DynamoDBTrackingStore(store_uri, artifact_root)


@pytest.fixture
def workspaces_on(monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")


@pytest.fixture
def ws_sql_store(workspaces_on, tmp_path, sql_template, artifact_root, fake_clock):
    """The SQL store with workspaces on; its workspace provider uses the same database."""
    db = tmp_path / "m.db"
    shutil.copy(sql_template, db)
    store = WorkspaceAwareSqlAlchemyStore(f"sqlite:///{db}", artifact_root)
    yield store
    store.engine.dispose()


@pytest.fixture
def ws_dynamo_store(workspaces_on, store_uri, artifact_root, fake_clock):
    return DynamoDBTrackingStore(store_uri, artifact_root)
