"""Workspace scenarios (MLFLOW_ENABLE_WORKSPACES=true): experiments and runs of another
workspace are invisible; names are unique per workspace; artifact locations follow the
workspace."""

from __future__ import annotations

from functools import partial

from mlflow.entities import ExperimentTag, RunTag, ViewType
from mlflow.entities.workspace import Workspace
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.differential import harness
from tests.differential.harness import attempt

add = partial(harness.add, messages=True, workspaces=True)
scenario = partial(harness.scenario, messages=True, workspaces=True)


def _workspaces(store, *workspaces: Workspace) -> None:
    """Create workspaces with the store's own provider."""
    if isinstance(store, SqlAlchemyStore):
        provider = store._get_workspace_provider_instance()
    else:
        provider = DynamoDBWorkspaceProvider(store.store_uri)
    for w in workspaces:
        provider.create_workspace(w)


def _names(store, **kwargs) -> list[str]:
    return [e.name for e in store.search_experiments(**kwargs)]


@scenario()
def experiment_in_its_workspace(store):
    _workspaces(store, Workspace(name="team-a"))
    with WorkspaceContext("team-a"):
        eid = store.create_experiment("mine", tags=[ExperimentTag("k", "v")])
        inside = [store.get_experiment(eid), store.get_experiment_by_name("mine"), _names(store)]
    with WorkspaceContext("default"):
        outside = [
            attempt(lambda: store.get_experiment(eid)),
            store.get_experiment_by_name("mine"),
            _names(store, view_type=ViewType.ALL),
        ]
    return [inside, outside]


# SQL's duplicate-name message carries the driver's IntegrityError text.
@scenario(messages=False)
def same_name_in_two_workspaces(store):
    _workspaces(store, Workspace(name="team-a"), Workspace(name="team-b"))
    out = []
    for ws in ("team-a", "team-b"):
        with WorkspaceContext(ws):
            eid = store.create_experiment("shared")
            out.append(store.get_experiment(eid))
            out.append(attempt(lambda: store.create_experiment("shared")))
    return out


@scenario()
def workspace_artifact_root(store):
    _workspaces(store, Workspace(name="team-b", default_artifact_root="s3://team-b-bucket"))
    with WorkspaceContext("team-b"):
        return store.get_experiment(store.create_experiment("placed")).artifact_location


@scenario()
def artifact_location_refused(store):
    _workspaces(store, Workspace(name="team-a"))
    with WorkspaceContext("team-a"):
        return attempt(lambda: store.create_experiment("x", artifact_location="s3://elsewhere"))


@scenario()
def changes_from_another_workspace(store):
    _workspaces(store, Workspace(name="team-a"))
    with WorkspaceContext("team-a"):
        eid = store.create_experiment("guarded", tags=[ExperimentTag("k", "v")])
    with WorkspaceContext("default"):
        attempts = [
            attempt(lambda: store.rename_experiment(eid, "stolen")),
            attempt(lambda: store.delete_experiment(eid)),
            attempt(lambda: store.restore_experiment(eid)),
            attempt(lambda: store.set_experiment_tag(eid, ExperimentTag("k", "x"))),
            attempt(lambda: store.delete_experiment_tag(eid, "k")),
            attempt(lambda: store.create_run(eid, "u", 1, [], "r")),
        ]
    with WorkspaceContext("team-a"):
        return [attempts, store.get_experiment(eid)]


@scenario()
def search_in_workspace(store):
    _workspaces(store, Workspace(name="team-a"))
    with WorkspaceContext("team-a"):
        for name in ("a1", "a2", "b1"):
            store.create_experiment(name)
        store.delete_experiment(store.get_experiment_by_name("a2").experiment_id)
        return [
            _names(store),
            _names(store, view_type=ViewType.ALL, filter_string="name LIKE 'a%'"),
            _names(store, view_type=ViewType.DELETED_ONLY),
        ]


@scenario()
def runs_of_another_workspace(store):
    _workspaces(store, Workspace(name="team-a"))
    with WorkspaceContext("team-a"):
        eid = store.create_experiment("runs-here")
        rid = store.create_run(eid, "u", 5, [], "r").info.run_id
    with WorkspaceContext("default"):
        return [
            attempt(lambda: store.get_run(rid)),
            attempt(lambda: store.set_tag(rid, RunTag("k", "v"))),
            [r.info.run_id for r in store.search_runs([eid], "", ViewType.ALL)],
        ]
