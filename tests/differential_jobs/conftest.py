"""Fixtures of the job store differential tests: MLflow's SqlAlchemyJobStore over a fresh
copy of the template SQLite database and DynamoDBJobStore on a fresh table, both on the
fake clock of tests/differential."""

from __future__ import annotations

import shutil

import pytest
from mlflow.store.jobs.sqlalchemy_store import SqlAlchemyJobStore
from mlflow.store.jobs.sqlalchemy_workspace_store import WorkspaceAwareSqlAlchemyJobStore

from mlflow_dynamodbstore.stores.job_store import DynamoDBJobStore
from tests.differential.conftest import (  # noqa: F401
    artifact_root,
    fake_clock,
    sql_template,
    workspaces_on,
)


def _sql_job_store(tmp_path, template, cls):
    db = tmp_path / "jobs.db"
    shutil.copy(template, db)
    return cls(f"sqlite:///{db}")


@pytest.fixture
def job_stores(tmp_path, sql_template, store_uri, fake_clock):  # noqa: F811
    sql = _sql_job_store(tmp_path, sql_template, SqlAlchemyJobStore)
    return sql, DynamoDBJobStore(store_uri)


@pytest.fixture
def ws_job_stores(workspaces_on, tmp_path, sql_template, store_uri, fake_clock):  # noqa: F811
    sql = _sql_job_store(tmp_path, sql_template, WorkspaceAwareSqlAlchemyJobStore)
    return sql, DynamoDBJobStore(store_uri)
