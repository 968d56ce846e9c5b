"""Workspaces on (MLFLOW_ENABLE_WORKSPACES=true): label schemas, review queues, their items
and issues of another workspace are invisible and unchangeable, as in
WorkspaceAwareSqlAlchemyStore."""

from __future__ import annotations

from mlflow.entities.issue import IssueStatus
from mlflow.entities.workspace import Workspace
from mlflow.genai.label_schemas.label_schemas import InputText
from mlflow.utils.workspace_context import WorkspaceContext

from tests.differential.harness import attempt
from tests.differential.scenarios.workspaces import _workspaces
from tests.differential_labeling.registry import scenario


def _setup(store):
    _workspaces(store, Workspace(name="team-a"))
    with WorkspaceContext("team-a"):
        e = store.create_experiment("mine")
        schema = store.create_label_schema(e, name="q", type="feedback", input=InputText())
        queue = store.create_review_queue(e, name="Q", queue_type="custom")
        store.add_items_to_review_queue(queue.queue_id, item_ids=["tr-1"])
        issue = store.create_issue(e, "bug", "d")
    return e, schema.schema_id, queue.queue_id, issue.issue_id


@scenario(workspaces=True)
def labeling_of_another_workspace(store):
    e, sid, qid, _ = _setup(store)
    with WorkspaceContext("default"):
        outside = {
            "schema": attempt(lambda: store.get_label_schema(sid)),
            "schema_by_name": attempt(lambda: store.get_label_schema_by_name(e, "q")),
            "schemas": attempt(lambda: store.list_label_schemas(e)),
            "update_schema": attempt(lambda: store.update_label_schema(sid, instruction="x")),
            "delete_schema": attempt(lambda: store.delete_label_schema(sid)),
            "queue": attempt(lambda: store.get_review_queue(qid)),
            "queues": attempt(lambda: store.list_review_queues(e)),
            "update_queue": attempt(lambda: store.update_review_queue(qid, name="x")),
            "items": attempt(lambda: store.list_review_queue_items(qid)),
            "add": attempt(lambda: store.add_items_to_review_queue(qid, item_ids=["tr-2"])),
            "remove": attempt(lambda: store.remove_items_from_review_queue(qid, item_ids=["tr-1"])),
            "status": attempt(
                lambda: store.set_review_queue_item_status(
                    qid, item_id="tr-1", status="complete", completed_by="x"
                )
            ),
            "delete_queue": attempt(lambda: store.delete_review_queue(qid)),
        }
    with WorkspaceContext("team-a"):
        inside = {
            "schema": store.get_label_schema(sid).name,
            "queue": store.get_review_queue(qid).name,
            "items": [i.item_id for i in store.list_review_queue_items(qid)],
        }
    return {"outside": outside, "inside": inside}


@scenario(workspaces=True)
def issues_of_another_workspace(store):
    e, _, _, iid = _setup(store)
    with WorkspaceContext("default"):
        store.create_issue("0", "default's", "d")
        outside = {
            "get": attempt(lambda: store.get_issue(iid)),
            "update": attempt(lambda: store.update_issue(iid, status=IssueStatus.RESOLVED)),
            "search_experiment": [i.name for i in store.search_issues(e)],
            "search_all": [i.name for i in store.search_issues()],
        }
    with WorkspaceContext("team-a"):
        inside = {
            "get": store.get_issue(iid).status,
            "search_all": [i.name for i in store.search_issues()],
        }
    return {"outside": outside, "inside": inside}
