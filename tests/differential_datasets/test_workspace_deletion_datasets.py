"""Workspace deletion with evaluation datasets, against MLflow's SQL workspace store (whose
root tables include ``evaluation_datasets``): RESTRICT counts them, CASCADE deletes them with
their records (a big record's parts too), SET_DEFAULT moves them (and refuses a name the
default workspace's datasets already use, as the SQL preflight does)."""

from __future__ import annotations

import json

from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.utils.workspace_context import WorkspaceContext

from tests.differential.test_workspace_deletion_diff import Side, attempt, compare
from tests.differential_datasets.scenarios_big_records import noise, short


def populate(side: Side, workspace: str, prefix: str = "") -> None:
    with WorkspaceContext(workspace):
        e = side.tracking.create_experiment(f"{prefix}exp")
        ds = side.tracking.create_dataset(f"{prefix}eval", tags={"t": "1"}, experiment_ids=[e])
        side.tracking.upsert_dataset_records(
            ds.dataset_id, [{"inputs": {"q": i}, "expectations": {"a": i}} for i in range(30)]
        )
        # one record too big for a DynamoDB item (its body in part items)
        side.tracking.upsert_dataset_records(
            ds.dataset_id, [{"inputs": {"q": "big"}, "outputs": noise(450_000, 1)}]
        )


def contents(side: Side, workspace: str) -> list:
    with WorkspaceContext(workspace):
        out = []
        for ds in side.tracking.search_datasets(order_by=["name"]):
            records, _ = side.tracking._load_dataset_records(ds.dataset_id, max_results=None)
            experiments = side.tracking.get_dataset_experiment_ids(ds.dataset_id)
            out.append(
                (
                    ds.name,
                    ds.tags,
                    ds.profile,
                    len(experiments),
                    sorted(json.dumps([r.inputs, short(r.outputs)]) for r in records),
                )
            )
        return out


def test_restrict_counts_datasets(sides):
    def scenario(side: Side) -> list:
        p = side.provider
        p.create_workspace(Workspace("team-a"))
        with WorkspaceContext("team-a"):
            side.tracking.create_dataset("only-a-dataset")
        return [
            attempt(lambda: p.delete_workspace("team-a", WorkspaceDeletionMode.RESTRICT)),
            contents(side, "team-a"),
        ]

    compare(sides, scenario)


def test_cascade_deletes_datasets_and_records(sides):
    def scenario(side: Side) -> list:
        p = side.provider
        p.create_workspace(Workspace("team-a"))
        populate(side, "team-a")
        populate(side, "default", prefix="d-")
        p.delete_workspace("team-a", WorkspaceDeletionMode.CASCADE)
        p.create_workspace(Workspace("team-a"))
        return [contents(side, "default"), contents(side, "team-a")]

    compare(sides, scenario)


def test_set_default_moves_datasets_with_their_records(sides):
    def scenario(side: Side) -> list:
        p = side.provider
        p.create_workspace(Workspace("team-a"))
        populate(side, "team-a")
        populate(side, "default", prefix="d-")
        p.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)
        return contents(side, "default")

    compare(sides, scenario)


def test_set_default_refuses_a_dataset_name_default_has(sides):
    def scenario(side: Side) -> list:
        p = side.provider
        p.create_workspace(Workspace("team-a"))
        with WorkspaceContext("team-a"):
            side.tracking.create_dataset("shared")
        with WorkspaceContext("default"):
            side.tracking.create_dataset("shared")
        return [
            attempt(lambda: p.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)),
            contents(side, "team-a"),
            contents(side, "default"),
        ]

    compare(sides, scenario)
