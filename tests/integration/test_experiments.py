"""Experiments on DynamoDB Local: the items written, the requests each call costs and
workspace isolation. Behaviour against the SQL store is covered by tests/differential."""

from __future__ import annotations

import base64
import json

import pytest
from mlflow.entities import ExperimentTag, ViewType
from mlflow.entities.workspace import Workspace
from mlflow.exceptions import MlflowException
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider


@pytest.fixture
def store(store_uri):
    return DynamoDBTrackingStore(store_uri, "s3://bucket/root")


def _requests(store) -> dict[str, int]:
    return {op: s.requests for op, s in store.gateway.stats.snapshot().items()}


def _meta(store, experiment_id: str) -> dict:
    return store.gateway.get_item(keys.experiment_key(experiment_id))


def test_delete_and_restore_touch_only_meta(store):
    eid = store.create_experiment("cycle")
    store.gateway.stats.reset()
    store.delete_experiment(eid)
    # META read; its runs' step gates closed (the closing flag, the gate list's 8 shards,
    # none listed here); then its update and the deletion-index marker in one transaction
    assert _requests(store) == {
        "GetItem": 1,
        "UpdateItem": 1,
        "Query": 8,
        "TransactWriteItems": 1,
    }
    item = _meta(store, eid)
    assert item["lifecycle_stage"] == "deleted"
    assert item["GSI1PK"] == keys.experiments_gsi1pk("default", "deleted")
    assert int(item["deleted_time"]) == int(item["last_update_time"])
    assert "restored_time" not in item

    store.gateway.stats.reset()
    store.restore_experiment(eid)
    assert _requests(store) == {"UpdateItem": 1}
    item = _meta(store, eid)
    assert item["lifecycle_stage"] == "active"
    assert item["GSI1PK"] == keys.experiments_gsi1pk("default", "active")
    assert int(item["restored_time"]) >= int(item["deleted_time"])
    # the name stays taken while deleted and after restore, as in SQL
    with pytest.raises(MlflowException, match="already exists"):
        store.create_experiment("cycle")


def test_failed_lifecycle_moves_cost_one_request(store):
    eid = store.create_experiment("x")
    store.gateway.stats.reset()
    with pytest.raises(MlflowException) as info:
        store.restore_experiment(eid)
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert _requests(store) == {"UpdateItem": 1}


def test_tags_are_one_update_each(store):
    eid = store.create_experiment("tags")
    store.gateway.stats.reset()
    store.set_experiment_tag(eid, ExperimentTag("mlflow.note.content", "a note"))
    store.set_experiment_tag(eid, ExperimentTag("k", "v"))
    store.delete_experiment_tag(eid, "k")
    # an indexed key (mlflow.*) writes its tag index entry in the same request, a
    # transaction (docs/tag-index.md); the others are one UpdateItem each
    assert _requests(store) == {"TransactWriteItems": 1, "UpdateItem": 2}
    # a dotted key is one map entry, not a nested path
    assert _meta(store, eid)["tags"] == {"mlflow.note.content": "a note"}


def test_rename_moves_the_name_guard_in_one_transaction(store):
    eid = store.create_experiment("before")
    store.gateway.stats.reset()
    store.rename_experiment(eid, "after")
    assert _requests(store) == {"GetItem": 1, "TransactWriteItems": 1}
    assert store.gateway.get_item(keys.experiment_name_key("default", "before")) is None
    guard = store.gateway.get_item(keys.experiment_name_key("default", "after"))
    assert guard["experiment_id"] == eid
    assert _meta(store, eid)["name"] == "after"


def test_rename_clash_leaves_everything_in_place(store):
    store.create_experiment("taken")
    eid = store.create_experiment("mine")
    with pytest.raises(MlflowException) as info:
        store.rename_experiment(eid, "taken")
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert (
        store.gateway.get_item(keys.experiment_name_key("default", "mine"))["experiment_id"] == eid
    )
    assert store.get_experiment_by_name("mine").experiment_id == eid
    assert store.get_experiment_by_name("taken").experiment_id != eid


def test_create_costs_two_requests_and_a_taken_name_no_id(store):
    stats = store.gateway.stats
    stats.reset()
    first = store.create_experiment("a")
    # GetItem of the id counter + TransactWriteItems (counter, name guard, experiment)
    assert (stats.requests("GetItem"), stats.requests("TransactWriteItems")) == (1, 1)
    assert stats.total_requests == 2
    with pytest.raises(MlflowException) as info:
        store.create_experiment("a")
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert store.create_experiment("b") == str(int(first) + 1)


def test_get_experiment_costs_one_get(store):
    eid = store.create_experiment("one")
    store.gateway.stats.reset()
    store.get_experiment(eid)
    assert _requests(store) == {"GetItem": 1}


def test_default_order_pages_read_only_what_they_show(store):
    ids = [store.create_experiment(f"e{i:02d}") for i in range(40)]
    store.delete_experiment(ids[-1])
    store.gateway.stats.reset()
    page = store.search_experiments(max_results=3)
    assert [e.experiment_id for e in page] == ids[-2:-5:-1]
    # one Query of max_results + 1 items: a few KB, not the whole workspace
    assert _requests(store) == {"Query": 1}
    assert store.gateway.stats.read_capacity <= 1.0
    # keyset tokens resume where the page ended, in every view type
    seen, token = [], None
    while True:
        page = store.search_experiments(
            view_type=ViewType.ALL, max_results=7, page_token=token, filter_string="name LIKE 'e%'"
        )
        seen += [e.experiment_id for e in page]
        token = page.token
        if not token:
            break
    assert seen == ids[::-1]
    with pytest.raises(MlflowException) as info:  # a keyset token in another order
        store.search_experiments(
            order_by=["name"], page_token=store.search_experiments(max_results=1).token
        )
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    for forged in ({"after": [10**30, "1"]}, {"after": [1, "99999999999999999999999"]}):
        token = base64.b64encode(json.dumps(forged).encode())
        with pytest.raises(MlflowException) as info:
            store.search_experiments(page_token=token)
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_reads_one_lifecycle_partition(store):
    for i in range(5):
        store.create_experiment(f"e{i}")
    store.delete_experiment(store.create_experiment("gone"))
    store.gateway.stats.reset()
    page = store.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert [e.name for e in page] == ["gone"]
    assert _requests(store) == {"Query": 1}


@pytest.fixture
def workspaces_on(monkeypatch, store_uri):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    provider.create_workspace(Workspace(name="team-a"))
    provider.create_workspace(Workspace(name="team-b", default_artifact_root="s3://team-b"))


def test_experiments_in_another_workspace_are_invisible(store, workspaces_on):
    with WorkspaceContext("team-a"):
        a = store.create_experiment("shared-name", tags=[ExperimentTag("k", "v")])
        assert (
            store.get_experiment(a).artifact_location == f"s3://bucket/root/workspaces/team-a/{a}"
        )
    with WorkspaceContext("team-b"):
        b = store.create_experiment("shared-name")  # names are unique per workspace only
        assert store.get_experiment(b).artifact_location == f"s3://team-b/{b}"
        assert store.get_experiment_by_name("shared-name").experiment_id == b
        assert [e.experiment_id for e in store.search_experiments()] == [b]
        for call in (
            lambda: store.get_experiment(a),
            lambda: store.delete_experiment(a),
            lambda: store.rename_experiment(a, "stolen"),
            lambda: store.set_experiment_tag(a, ExperimentTag("k", "x")),
            lambda: store.delete_experiment_tag(a, "k"),
        ):
            with pytest.raises(MlflowException) as info:
                call()
            assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        with pytest.raises(MlflowException) as info:
            store.create_experiment("x", artifact_location="s3://elsewhere")
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with WorkspaceContext("team-a"):
        experiment = store.get_experiment(a)
        assert (experiment.name, experiment.tags, experiment.lifecycle_stage) == (
            "shared-name",
            {"k": "v"},
            "active",
        )
    with WorkspaceContext("default"):
        names = {e.name for e in store.search_experiments(view_type=ViewType.ALL)}
        assert names == {"Default"}


def test_tags_past_the_item_limit_are_refused_cleanly(store):
    eid = store.create_experiment("big")
    with pytest.raises(MlflowException) as info:
        for i in range(100):
            store.set_experiment_tag(eid, ExperimentTag(f"k{i}", "v" * 5000))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert 70 <= len(store.get_experiment(eid).tags) < 100
