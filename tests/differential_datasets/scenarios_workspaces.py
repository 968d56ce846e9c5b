"""Datasets with workspaces on (the SQL side is WorkspaceAwareSqlAlchemyStore): a dataset
is visible and changeable only in its workspace."""

from __future__ import annotations

from mlflow.entities.workspace import Workspace
from mlflow.utils.workspace_context import WorkspaceContext

from tests.differential.harness import attempt
from tests.differential.scenarios.workspaces import _workspaces
from tests.differential_datasets.helpers import records_of
from tests.differential_datasets.registry import scenario


@scenario(workspaces=True)
def dataset_in_its_workspace(store):
    _workspaces(store, Workspace(name="team-a"))
    with WorkspaceContext("team-a"):
        e = store.create_experiment("exp-a")
        ds = store.create_dataset("mine", experiment_ids=[e])
        store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": 1}}])
        inside = [
            store.get_dataset(ds.dataset_id),
            store.search_datasets(),
            store.search_datasets(experiment_ids=[e]),
            store.get_dataset_experiment_ids(ds.dataset_id),
            records_of(store, ds.dataset_id),
        ]
    with WorkspaceContext("default"):
        outside = [
            attempt(lambda: store.get_dataset(ds.dataset_id)),
            store.search_datasets(),
            store.search_datasets(experiment_ids=[e]),
            store.get_dataset_experiment_ids(ds.dataset_id),
            attempt(lambda: store._load_dataset_records(ds.dataset_id)),
            attempt(lambda: store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": 2}}])),
            attempt(lambda: store.delete_dataset_records(ds.dataset_id, ["dr-x"])),
            attempt(lambda: store.set_dataset_tags(ds.dataset_id, {"k": "v"})),
            attempt(lambda: store.delete_dataset_tag(ds.dataset_id, "k")),
            attempt(lambda: store.add_dataset_to_experiments(ds.dataset_id, ["0"])),
            attempt(lambda: store.remove_dataset_from_experiments(ds.dataset_id, [e])),
            attempt(lambda: store.delete_dataset(ds.dataset_id)),
        ]
    with WorkspaceContext("team-a"):
        after = [store.get_dataset(ds.dataset_id), records_of(store, ds.dataset_id)]
    return [inside, outside, after]


@scenario(workspaces=True)
def links_to_another_workspaces_experiment(store):
    _workspaces(store, Workspace(name="team-a"))
    with WorkspaceContext("default"):
        other = store.create_experiment("exp-default")
    with WorkspaceContext("team-a"):
        e = store.create_experiment("exp-a")
        ds = store.create_dataset("mine", experiment_ids=[e, other])
        return [
            store.get_dataset_experiment_ids(ds.dataset_id),
            store.search_datasets(experiment_ids=[other]),
            attempt(lambda: store.add_dataset_to_experiments(ds.dataset_id, [other])),
        ]
