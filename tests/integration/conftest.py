"""Stores most integration tests share: this plugin's tracking store on the test's fresh
table, and MLflow's SqlAlchemyStore on SQLite to compare it with."""

from __future__ import annotations

import pytest
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.sqlite_template import migrated_sqlite_uri


@pytest.fixture
def store(store_uri):
    return DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")


@pytest.fixture
def sql(tmp_path):
    return SqlAlchemyStore(migrated_sqlite_uri(tmp_path / "m.db"), str(tmp_path / "a"))
