"""Run one scenario on MLflow's SqlAlchemyStore (SQLite) and on DynamoDBRegistryStore, and
record every call's normalised result or error, for comparison.

Both stores read the time through ``get_current_time_millis``; the harness replaces it with
the same deterministic clock (one tick per call) in both, so timestamps are compared exactly.
"""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Callable
from typing import Any

import pytest
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.entities.model_registry.prompt import Prompt
from mlflow.entities.model_registry.prompt_version import PromptVersion
from mlflow.entities.webhook import Webhook
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList

# Modules that import get_current_time_millis by name.
CLOCK_MODULES = (
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow_dynamodbstore.stores.registry.model_ops",
    "mlflow_dynamodbstore.stores.registry.version_ops",
    "mlflow_dynamodbstore.stores.registry.webhook_ops",
)

# Where this store deliberately differs from the SQL store (docs/access-patterns.md, "Model
# registry"): the SQL store raises these bad-input errors without an error code (a 500);
# this store answers 400. Messages are the same.
# Where the SQL store crashes with a bare Python exception on bad input (also a 500), this
# store raises INVALID_PARAMETER_VALUE with its own message.
KNOWN_CODE_DEVIATIONS = {("INTERNAL_ERROR", "INVALID_PARAMETER_VALUE")}
RAW = "raw exception: "


class Clock:
    def __init__(self) -> None:
        self._ticks = itertools.count(1_700_000_000_000, 1000)

    def __call__(self) -> int:
        return next(self._ticks)


def normalise(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, PagedList):
        # tokens are opaque (keyset cursors here, offsets in the SQL store): compare only
        # whether a next page exists; scenarios compare the pages they fetch
        return {
            "items": [normalise(v, ids) for v in value],
            "token": "<token>" if value.token else None,
        }
    if isinstance(value, list):
        return [normalise(v, ids) for v in value]
    if isinstance(value, PromptVersion):
        return {
            "name": value.name,
            "version": int(value.version),
            "template": value.template,
            "response_format": value.response_format,
            "model_config": value.model_config,
            "commit_message": value.commit_message,
            "tags": dict(value.tags),
            "aliases": sorted(value.aliases),
            "creation": value.creation_timestamp,
            "updated": value.last_updated_timestamp,
        }
    if isinstance(value, Prompt):
        return {
            "name": value.name,
            "description": value.description,
            "creation": value.creation_timestamp,
            "tags": dict(value.tags),
        }
    if isinstance(value, RegisteredModel):
        return {
            "name": value.name,
            "creation": value.creation_timestamp,
            "updated": value.last_updated_timestamp,
            "description": value.description,
            "tags": dict(value._tags),
            "aliases": dict(value.aliases),
            "latest": [normalise(v, ids) for v in value.latest_versions or []],
            "workspace": value.workspace,
        }
    if isinstance(value, ModelVersion):
        return {
            "name": value.name,
            "version": int(value.version),
            "creation": value.creation_timestamp,
            "updated": value.last_updated_timestamp,
            "description": value.description,
            "user_id": value.user_id,
            "stage": value.current_stage,
            "source": value.source,
            "run_id": value.run_id,
            "run_link": value.run_link,
            "status": value.status,
            "status_message": value.status_message,
            "tags": dict(value.tags),
            "aliases": sorted(value.aliases),
            "workspace": value.workspace,
        }
    if isinstance(value, Webhook):
        return {
            "id": ids.setdefault(value.webhook_id, f"webhook-{len(ids)}"),
            "name": value.name,
            "url": value.url,
            "events": [f"{e.entity.value}.{e.action.value}" for e in value.events],
            "description": value.description,
            "status": value.status.value,
            "secret": value.secret,
            "creation": value.creation_timestamp,
            "updated": value.last_updated_timestamp,
            "workspace": value.workspace,
        }
    return value


class Recorder:
    """Proxy over a store: each method call is recorded as ("ok", result) or ("error", code,
    message); errors are swallowed so that a scenario goes on (the call returns None)."""

    def __init__(self, store: Any):
        self._store = store
        self.log: list[tuple] = []
        self.ids: dict[str, str] = {}

    def __getattr__(self, name: str) -> Callable:
        method = getattr(self._store, name)

        def call(*args, **kwargs):
            try:
                result = method(*args, **kwargs)
            except MlflowException as e:
                self.log.append((name, "error", e.error_code, e.message))
                return None
            except Exception as e:  # a crash inside MLflow's own parser, say: a 500
                self.log.append((name, "error", "INTERNAL_ERROR", f"{RAW}{type(e).__name__}"))
                return None
            self.log.append((name, "ok", normalise(result, self.ids)))
            return result

        return call

    def raw(self, name: str) -> Any:
        return getattr(self._store, name)


def run(store: Any, scenario: Callable[[Recorder], None], monkeypatch) -> list[tuple]:
    clock = Clock()
    for module in CLOCK_MODULES:
        monkeypatch.setattr(f"{module}.get_current_time_millis", clock)
    recorder = Recorder(store)
    scenario(recorder)
    return recorder.log


def assert_same(sql_log: list[tuple], ddb_log: list[tuple]) -> None:
    assert len(sql_log) == len(ddb_log)
    for i, (expected, actual) in enumerate(zip(sql_log, ddb_log, strict=True)):
        if expected[1] == "error" and actual[1] == "error":
            codes = (expected[2], actual[2])
            assert codes[0] == codes[1] or codes in KNOWN_CODE_DEVIATIONS, (i, expected, actual)
            if not expected[3].startswith(RAW):
                assert _message(expected[3]) == _message(actual[3]), (i, expected, actual)
        else:
            assert expected == actual, f"step {i}: {expected} != {actual}"


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _message(message: str) -> str:
    # The SQL store appends the database driver's error text to a rename conflict; webhook
    # ids are random.
    return _UUID.sub("<id>", message.split(" Error: ")[0])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    """A migrated, empty MLflow SQLite database; each test copies it (migrating takes
    seconds)."""
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    SqlAlchemyStore(f"sqlite:///{path}")
    return str(path)


@pytest.fixture
def compare(tmp_path, store_uri, monkeypatch, sqlite_template):
    """compare(scenario): run it on both stores and assert the logs match."""
    from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore

    def check(scenario: Callable[[Recorder], None], *, workspaces: bool = False) -> list[tuple]:
        """With ``workspaces``, MLFLOW_ENABLE_WORKSPACES is on and the reference is MLflow's
        workspace-aware SQL store; the scenario enters workspaces with WorkspaceContext."""
        shutil.copyfile(sqlite_template, tmp_path / "r.db")
        if workspaces:
            from mlflow.store.model_registry.sqlalchemy_workspace_store import (
                WorkspaceAwareSqlAlchemyStore as SqlAlchemyStore,
            )

            monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
        else:
            from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
        sql = SqlAlchemyStore(f"sqlite:///{tmp_path}/r.db")
        ddb = DynamoDBRegistryStore(store_uri)
        sql_log = run(sql, scenario, monkeypatch)
        ddb_log = run(ddb, scenario, monkeypatch)
        assert_same(sql_log, ddb_log)
        assert sql_log, "a scenario must make calls"
        return ddb_log

    return check
