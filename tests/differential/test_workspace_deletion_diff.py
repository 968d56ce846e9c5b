"""Workspace provider against MLflow's SQL workspace store: create/get/list/update with their
validation, and delete in each mode, compared call by call (values or error code and
message) and by what each mode leaves behind in the default workspace."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.entities.webhook import WebhookEvent
from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.exceptions import MlflowException
from mlflow.store.model_registry.sqlalchemy_workspace_store import (
    WorkspaceAwareSqlAlchemyStore as SqlRegistry,
)
from mlflow.store.tracking.sqlalchemy_workspace_store import WorkspaceAwareSqlAlchemyStore
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

EVENT = WebhookEvent.from_str("registered_model.created")


@dataclass
class Side:
    tracking: Any
    registry: Any
    provider: Any


@pytest.fixture
def sides(monkeypatch, tmp_path, sql_template, artifact_root, store_uri, fake_clock):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")  # no DNS in tests
    db = tmp_path / "w.db"
    shutil.copy(sql_template, db)
    tracking = WorkspaceAwareSqlAlchemyStore(f"sqlite:///{db}", artifact_root)
    sql = Side(
        tracking, SqlRegistry(f"sqlite:///{db}"), tracking._get_workspace_provider_instance()
    )
    ddb = Side(
        DynamoDBTrackingStore(store_uri, artifact_root),
        DynamoDBRegistryStore(store_uri),
        DynamoDBWorkspaceProvider(store_uri),
    )
    yield sql, ddb
    tracking.engine.dispose()


def attempt(call: Callable[[], Any], message: bool = True) -> Any:
    try:
        return call()
    except MlflowException as exc:
        return ("error", exc.error_code, exc.message if message else None)


def ws(w: Workspace) -> tuple:
    return (
        w.name,
        w.description,
        w.default_artifact_root,
        w.trace_archival_location,
        w.trace_archival_retention,
    )


def compare(sides, scenario: Callable[[Side], list]) -> list:
    sql, ddb = sides
    expected, actual = scenario(sql), scenario(ddb)
    assert actual == expected
    return actual


def populate(side: Side, workspace: str, prefix: str = "") -> None:
    """Experiments (one deleted), runs with data, a trace-free registry with versions and an
    alias, webhooks (one deleted) in ``workspace``."""
    with WorkspaceContext(workspace):
        keep = side.tracking.create_experiment(f"{prefix}exp")
        gone = side.tracking.create_experiment(f"{prefix}old")
        for n in range(3):
            run = side.tracking.create_run(keep, "u", n, [], f"r{n}").info.run_id
            side.tracking.log_batch(
                run,
                [Metric("m", n, n, 0), Metric("m", n + 1, n, 1)],
                [Param("p", "1")],
                [RunTag("t", "v")],
            )
        side.tracking.delete_experiment(gone)
        side.registry.create_registered_model(f"{prefix}model")
        for _ in range(2):
            side.registry.create_model_version(f"{prefix}model", "s3://b/m")
        side.registry.set_registered_model_alias(f"{prefix}model", "champion", "2")
        side.registry.create_webhook(f"{prefix}hook", "https://localhost/h", [EVENT])
        old = side.registry.create_webhook(f"{prefix}old-hook", "https://localhost/h", [EVENT])
        side.registry.delete_webhook(old.webhook_id)


def contents(side: Side, workspace: str) -> list:
    """What a user of ``workspace`` sees."""
    with WorkspaceContext(workspace):
        experiments = side.tracking.search_experiments(view_type=ViewType.ALL)
        ids = [e.experiment_id for e in experiments]
        runs = side.tracking.search_runs(ids, "", ViewType.ALL) if ids else []
        models = side.registry.search_registered_models()
        return [
            sorted((e.name, e.lifecycle_stage) for e in experiments),
            sorted((r.info.run_name, dict(r.data.metrics), dict(r.data.params)) for r in runs),
            [(m.name, m.aliases) for m in models],
            sorted(v.version for v in side.registry.search_model_versions()),
            sorted(w.name for w in side.registry.list_webhooks()),
        ]


def test_crud_and_validation(sides):
    def scenario(side: Side) -> list:
        p = side.provider
        return [
            ws(p.create_workspace(Workspace("team-a", "first", "s3://bucket/a"))),
            attempt(lambda: p.create_workspace(Workspace("team-a")), message=False),
            attempt(lambda: p.create_workspace(Workspace("Bad_Name"))),
            attempt(lambda: p.create_workspace(Workspace("x"))),
            attempt(lambda: p.create_workspace(Workspace("api"))),
            attempt(lambda: p.create_workspace(Workspace("team-r", trace_archival_retention="x"))),
            ws(p.get_workspace("team-a")),
            attempt(lambda: p.get_workspace("nope")),
            ws(p.update_workspace(Workspace("team-a", description="second"))),
            ws(p.update_workspace(Workspace("team-a", default_artifact_root=""))),
            ws(p.update_workspace(Workspace("team-a", description=""))),
            ws(p.update_workspace(Workspace("team-a", trace_archival_retention="30d"))),
            ws(p.update_workspace(Workspace("team-a", trace_archival_retention=""))),
            attempt(lambda: p.update_workspace(Workspace("team-a", trace_archival_retention="x"))),
            attempt(lambda: p.update_workspace(Workspace("nope", description="d"))),
            sorted(ws(w) for w in p.list_workspaces()),
            p.resolve_artifact_root("s3://root", "team-a"),
            ws(p.get_default_workspace()),
        ]

    compare(sides, scenario)


def test_restrict(sides):
    def scenario(side: Side) -> list:
        p = side.provider
        p.create_workspace(Workspace("team-a"))
        p.create_workspace(Workspace("team-e"))
        populate(side, "team-a")
        out = [
            attempt(lambda: p.delete_workspace("team-a", WorkspaceDeletionMode.RESTRICT)),
            attempt(lambda: p.delete_workspace("default", WorkspaceDeletionMode.CASCADE)),
            attempt(lambda: p.delete_workspace("nope", WorkspaceDeletionMode.RESTRICT)),
            contents(side, "team-a"),
        ]
        # Only the registered models gone: the experiments are the next table reported.
        with WorkspaceContext("team-a"):
            side.registry.delete_registered_model("model")
        out.append(attempt(lambda: p.delete_workspace("team-a", WorkspaceDeletionMode.RESTRICT)))
        p.delete_workspace("team-e", WorkspaceDeletionMode.RESTRICT)
        out.append(sorted(w.name for w in p.list_workspaces()))
        out.append(attempt(lambda: p.get_workspace("team-e")))
        return out

    compare(sides, scenario)


def test_cascade_removes_everything(sides):
    def scenario(side: Side) -> list:
        p = side.provider
        p.create_workspace(Workspace("team-a"))
        populate(side, "team-a")
        populate(side, "default", prefix="d-")
        with WorkspaceContext("team-a"):
            first = side.tracking.search_experiments(view_type=ViewType.ALL)[0].experiment_id
        p.delete_workspace("team-a", WorkspaceDeletionMode.CASCADE)
        with WorkspaceContext("default"):
            lookups = [
                attempt(lambda: side.tracking.get_experiment(first)),
                attempt(lambda: side.registry.get_registered_model("model")),
            ]
        return [
            sorted(w.name for w in p.list_workspaces()),
            attempt(lambda: p.get_workspace("team-a")),
            contents(side, "default"),
            lookups,
            # The name is free again: a new workspace of that name starts empty.
            ws(p.create_workspace(Workspace("team-a"))),
            contents(side, "team-a"),
        ]

    compare(sides, scenario)


def test_set_default_moves_everything(sides):
    def scenario(side: Side) -> list:
        p = side.provider
        p.create_workspace(Workspace("team-a"))
        populate(side, "team-a")
        populate(side, "default", prefix="d-")
        p.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)
        with WorkspaceContext("default"):
            moved = side.registry.get_model_version_by_alias("model", "champion").version
            # Moved names are taken in default now.
            taken = attempt(lambda: side.tracking.create_experiment("exp"), message=False)
        return [
            sorted(w.name for w in p.list_workspaces()),
            contents(side, "default"),
            moved,
            taken,
        ]

    compare(sides, scenario)


def test_set_default_refuses_name_conflicts_and_changes_nothing(sides):
    def scenario(side: Side) -> list:
        p = side.provider
        p.create_workspace(Workspace("team-a"))
        populate(side, "team-a")
        populate(side, "default")  # the same names in default
        return [
            attempt(lambda: p.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)),
            sorted(w.name for w in p.list_workspaces()),
            contents(side, "team-a"),
            contents(side, "default"),
        ]

    compare(sides, scenario)
