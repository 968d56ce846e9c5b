"""Run one scenario on MLflow's auth SqlAlchemyStore (SQLite) and on DynamoDBAuthStore, and
record every call's normalised result or error, for comparison.

Results are compared as MLflow's REST API would show them: entities through ``to_json()``
(users without their password hash: it is salted, so it differs on every write; scenarios
check passwords through ``authenticate_user``), sets sorted, Permissions by name. Errors
are compared by code and message; the SQL store appends its driver's error text (which
for a duplicate user quotes the password hash) after " Error: ", which this store never
does, so messages are compared up to there.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import pytest
from mlflow.exceptions import MlflowException
from mlflow.server.auth.entities import User
from mlflow.server.auth.permissions import Permission

RAW = "raw exception: "
# Methods whose SQL query has no ORDER BY (the order is whatever plan SQLite picks); their
# results are compared as sorted lists.
UNORDERED = {"list_grants", "list_role_grants_for_user_in_workspace"}


def normalise(value: Any) -> Any:
    if isinstance(value, User):
        return {"user": value.to_json()}
    if isinstance(value, Permission):
        return {"permission": value.name}
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, set | frozenset):
        return sorted(normalise(v) for v in value)
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    return value


class Recorder:
    """Proxy over a store: each method call is recorded as ("ok", result) or ("error", code,
    message); errors are swallowed so that a scenario goes on (the call returns None)."""

    def __init__(self, store: Any):
        self._store = store
        self.log: list[tuple] = []

    def __getattr__(self, name: str) -> Callable:
        method = getattr(self._store, name)

        def call(*args, **kwargs):
            try:
                result = method(*args, **kwargs)
            except MlflowException as e:
                self.log.append((name, "error", e.error_code, e.message))
                return None
            except Exception as e:  # a crash inside the SQL store: a 500
                self.log.append((name, "error", "INTERNAL_ERROR", f"{RAW}{type(e).__name__}"))
                return None
            value = normalise(result)
            if name in UNORDERED:
                value = sorted(value)
            self.log.append((name, "ok", value))
            return result

        return call


def _message(message: str) -> str:
    return message.split(" Error: ")[0]


def assert_same(sql_log: list[tuple], ddb_log: list[tuple]) -> None:
    assert len(sql_log) == len(ddb_log)
    for i, (expected, actual) in enumerate(zip(sql_log, ddb_log, strict=True)):
        if expected[1] == "error" and actual[1] == "error":
            assert expected[2] == actual[2], (i, expected, actual)
            if not expected[3].startswith(RAW):
                assert _message(expected[3]) == _message(actual[3]), (i, expected, actual)
        else:
            assert expected == actual, f"step {i}: {expected} != {actual}"


@pytest.fixture(scope="session")
def auth_sqlite_template(tmp_path_factory) -> str:
    """A migrated, empty basic-auth SQLite database; each test copies it."""
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    path = tmp_path_factory.mktemp("auth-template") / "auth.db"
    SqlAlchemyStore().init_db(f"sqlite:///{path}")
    return str(path)


@pytest.fixture
def compare(tmp_path, store_uri, monkeypatch, auth_sqlite_template):
    """compare(scenario): run it on both stores and assert the logs match; returns the
    DynamoDB store's log."""
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    from mlflow_dynamodbstore.auth.store import DynamoDBAuthStore

    def check(scenario: Callable[[Recorder], None], *, workspaces: bool = False) -> list[tuple]:
        if workspaces:
            monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
        shutil.copyfile(auth_sqlite_template, tmp_path / "auth.db")
        sql = SqlAlchemyStore()
        sql.init_db(f"sqlite:///{tmp_path}/auth.db")
        ddb = DynamoDBAuthStore(store_uri)
        sql_rec, ddb_rec = Recorder(sql), Recorder(ddb)
        scenario(sql_rec)
        scenario(ddb_rec)
        assert sql_rec.log, "a scenario must make calls"
        assert_same(sql_rec.log, ddb_rec.log)
        return ddb_rec.log

    return check
