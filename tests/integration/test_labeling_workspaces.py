"""Workspace deletion and labeling: a CASCADE leaves nothing of a workspace's label schemas,
review queues (rows, refs) and issues; a SET_DEFAULT move takes them along, still readable,
listable and writable in ``default`` (checked with a Scan, which only a test may use)."""

from __future__ import annotations

import pytest
from mlflow.entities.issue import IssueSeverity
from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.genai.label_schemas.label_schemas import InputText
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.integration.test_workspace_deletion import keys_of, mentions, scan


@pytest.fixture
def workspaces_on(monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")


def _populate(store: DynamoDBTrackingStore, workspace: str) -> str:
    with WorkspaceContext(workspace):
        e = store.create_experiment(f"{workspace}-labels")
        schema = store.create_label_schema(e, name="q", type="feedback", input=InputText())
        store.list_label_schemas(e)  # the default question too
        queue = store.create_review_queue(
            e, name="Q", queue_type="custom", schema_ids=[schema.schema_id]
        )
        store.add_items_to_review_queue(queue.queue_id, item_ids=["tr-1", "tr-2"])
        user_queue = store.get_or_create_user_queue(e, user="amy")
        store.add_items_to_review_queue(user_queue.queue_id, item_ids=["tr-1"])
        store.create_issue(e, "bug", "d", severity=IssueSeverity.HIGH)
    return e


def test_cascade_deletes_labeling_and_issues(workspaces_on, store_uri, ddb_client, table_name):
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    provider = DynamoDBWorkspaceProvider(store_uri)
    _populate(store, "default")
    before = keys_of(scan(ddb_client, table_name))
    provider.create_workspace(Workspace("team-a"))
    _populate(store, "team-a")
    assert len(keys_of(scan(ddb_client, table_name)) - before) > 10

    provider.delete_workspace("team-a", WorkspaceDeletionMode.CASCADE)

    after = scan(ddb_client, table_name)
    assert keys_of(after) == before
    assert mentions(after, "team-a") == []


def test_set_default_moves_labeling_and_issues(workspaces_on, store_uri, ddb_client, table_name):
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    provider = DynamoDBWorkspaceProvider(store_uri)
    provider.create_workspace(Workspace("team-a"))
    e = _populate(store, "team-a")

    provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)

    assert mentions(scan(ddb_client, table_name), "team-a") == []
    with WorkspaceContext("default"):
        assert sorted(s.name for s in store.list_label_schemas(e)) == ["Feedback", "q"]
        assert store.get_label_schema_by_name(e, "q").name == "q"
        queue = store.get_review_queue_by_name(e, name="q")
        assert sorted(i.item_id for i in store.list_review_queue_items(queue.queue_id)) == [
            "tr-1",
            "tr-2",
        ]
        assert sorted(q.name for q in store.list_review_queues(e, item_id="tr-1")) == ["Q", "amy"]
        assert [i.name for i in store.search_issues()] == ["bug"]
        # Still writable, and names still unique, in the new workspace.
        store.set_review_queue_item_status(
            queue.queue_id, item_id="tr-2", status="complete", completed_by="amy"
        )
        store.remove_items_from_review_queue(queue.queue_id, item_ids=["tr-1"])
        assert [q.name for q in store.list_review_queues(e, item_id="tr-1")] == ["amy"]
        renamed = store.update_review_queue(queue.queue_id, name="Q2")
        assert renamed.name == "Q2"
