"""Stores most integration tests share: this plugin's tracking store on the test's fresh
table, and MLflow's SqlAlchemyStore on SQLite to compare it with; and one plain
`mlflow server` per test module for modules whose tests each work in experiments of their
own (starting a server is the most expensive step of an HTTP test)."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.mlflow_server import mlflow_server
from tests.sqlite_template import migrated_sqlite_uri


@pytest.fixture
def store(store_uri):
    return DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")


@pytest.fixture
def sql(tmp_path):
    return SqlAlchemyStore(migrated_sqlite_uri(tmp_path / "m.db"), str(tmp_path / "a"))


@pytest.fixture(scope="module")
def module_server(dynamodb_local, tmp_path_factory):
    """The URL of a plain `mlflow server` (no extra flags or environment) that every test of
    the module shares, on a table of its own, dropped afterwards. Only for tests that each
    create and read their own experiments (distinct names), so that none sees another's
    data; its log is ``mlflow-server-<port>.log`` in a temporary directory."""
    import boto3

    table = f"t{uuid.uuid4().hex[:16]}"
    uri = f"dynamodb://127.0.0.1:{dynamodb_local.port}/{table}"
    with mlflow_server(uri, tmp_path_factory.mktemp("module-server")) as url:
        yield url
    client = boto3.client(
        "dynamodb", endpoint_url=dynamodb_local.endpoint_url, region_name="us-east-1"
    )
    with contextlib.suppress(client.exceptions.ResourceNotFoundException):
        client.delete_table(TableName=table)
