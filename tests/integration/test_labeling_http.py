"""Labeling and issues through a real `mlflow server` on DynamoDB Local, over the REST routes
the MLflow UI calls (``/ajax-api/3.0/mlflow/label-schemas/*``, ``review-queues/*``,
``issues*``): what a reviewer's session does, end to end."""

from __future__ import annotations

import mlflow
import pytest
import requests

pytestmark = pytest.mark.slow


@pytest.fixture
def server(module_server):
    """The module's server (its tests each use experiments of their own), as this test's
    tracking URI."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(module_server)
    try:
        yield module_server
    finally:
        mlflow.set_tracking_uri(previous)


@mlflow.trace
def answer(question: str) -> str:
    return f"answer to {question}"


def _call(url, method, route, body=None, status=200):
    full = f"{url}/ajax-api/3.0/mlflow/{route}"
    if method == "GET":
        response = requests.get(full, params=body, timeout=30)
    else:
        response = requests.request(method, full, json=body, timeout=30)
    assert response.status_code == status, response.text
    return response.json()


def test_a_review_session_over_the_ui_routes(server):
    experiment_id = mlflow.set_experiment("labeling-http").experiment_id
    for q in ("a", "b", "c"):
        answer(q)
    mlflow.flush_trace_async_logging()
    trace_ids = [
        t.info.trace_id for t in mlflow.search_traces(locations=[experiment_id], return_type="list")
    ]
    assert len(trace_ids) == 3

    # Questions: the default one is seeded on the first list.
    listed = _call(server, "GET", "label-schemas/list", {"experiment_id": experiment_id})
    assert [s["name"] for s in listed["label_schemas"]] == ["Feedback"]
    created = _call(
        server,
        "POST",
        "label-schemas/create",
        {
            "experiment_id": experiment_id,
            "name": "Correct?",
            "type": "FEEDBACK",
            "input": {"pass_fail": {"positive_label": "Yes", "negative_label": "No"}},
            "instruction": "Is the answer right?",
        },
    )["label_schema"]
    schema_id = created["schema_id"]
    got = _call(server, "GET", "label-schemas/get", {"schema_id": schema_id})["label_schema"]
    assert got["name"] == "Correct?" and got["instruction"] == "Is the answer right?"
    by_name = _call(
        server,
        "GET",
        "label-schemas/get-by-name",
        {"experiment_id": experiment_id, "name": "Correct?"},
    )
    assert by_name["label_schema"]["schema_id"] == schema_id
    duplicate = _call(
        server,
        "POST",
        "label-schemas/create",
        {
            "experiment_id": experiment_id,
            "name": "Correct?",
            "type": "FEEDBACK",
            "input": {"text": {}},
        },
        status=400,
    )
    assert duplicate["error_code"] == "RESOURCE_ALREADY_EXISTS"
    _call(
        server,
        "PATCH",
        "label-schemas/update",
        {"schema_id": schema_id, "instruction": "Is it right?"},
    )

    # A queue with the traces, worked through by a reviewer.
    queue = _call(
        server,
        "POST",
        "review-queues/create",
        {
            "experiment_id": experiment_id,
            "name": "Sprint 1",
            "queue_type": "CUSTOM",
            "users": ["Amy"],
            "schema_ids": [schema_id],
        },
    )["review_queue"]
    queue_id = queue["queue_id"]
    assert queue["users"] == ["amy"] and queue["schema_ids"] == [schema_id]
    added = _call(
        server, "POST", "review-queues/items/add", {"queue_id": queue_id, "item_ids": trace_ids}
    )
    assert sorted(i["item_id"] for i in added["items"]) == sorted(trace_ids)
    missing_trace = _call(
        server,
        "POST",
        "review-queues/items/add",
        {"queue_id": queue_id, "item_ids": ["tr-not-there"]},
        status=404,
    )
    assert missing_trace["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    page = _call(
        server, "GET", "review-queues/items/list", {"queue_id": queue_id, "max_results": 2}
    )
    assert len(page["items"]) == 2 and page["next_page_token"]
    rest = _call(
        server,
        "GET",
        "review-queues/items/list",
        {"queue_id": queue_id, "max_results": 2, "page_token": page["next_page_token"]},
    )
    assert len(rest["items"]) == 1 and not rest.get("next_page_token")
    done = _call(
        server,
        "POST",
        "review-queues/items/set-status",
        {
            "queue_id": queue_id,
            "item_id": trace_ids[0],
            "status": "COMPLETE",
            "completed_by": "amy",
        },
    )["item"]
    assert done["status"] == "COMPLETE" and done["completed_by"] == "amy"
    pending = _call(
        server, "GET", "review-queues/items/list", {"queue_id": queue_id, "status": "PENDING"}
    )
    assert sorted(i["item_id"] for i in pending["items"]) == sorted(trace_ids[1:])
    locked = _call(
        server,
        "POST",
        "review-queues/update",
        {"queue_id": queue_id, "schema_ids": []},
    )
    assert locked["review_queue"]["schema_ids"] == [schema_id]  # empty list: no change
    mine = _call(
        server, "GET", "review-queues/list", {"experiment_id": experiment_id, "user": "AMY"}
    )
    assert [q["queue_id"] for q in mine["review_queues"]] == [queue_id]
    holding = _call(
        server,
        "GET",
        "review-queues/list",
        {"experiment_id": experiment_id, "item_id": trace_ids[1]},
    )
    assert [q["name"] for q in holding["review_queues"]] == ["Sprint 1"]
    user_queue = _call(
        server,
        "POST",
        "review-queues/get-or-create-user",
        {"experiment_id": experiment_id, "user": "Bob"},
    )["review_queue"]
    assert user_queue["name"] == "bob" and user_queue["queue_type"] == "USER"
    assert (
        _call(server, "GET", "review-queues/get", {"queue_id": queue_id})["review_queue"]["name"]
        == "Sprint 1"
    )
    assert (
        _call(
            server,
            "GET",
            "review-queues/get-by-name",
            {"experiment_id": experiment_id, "name": "sprint 1"},
        )["review_queue"]["queue_id"]
        == queue_id
    )
    _call(
        server,
        "POST",
        "review-queues/items/remove",
        {"queue_id": queue_id, "item_ids": [trace_ids[2]]},
    )
    _call(server, "POST", "review-queues/delete", {"queue_id": user_queue["queue_id"]})
    _call(server, "DELETE", "label-schemas/delete", {"schema_id": schema_id})
    gone = _call(server, "GET", "label-schemas/get", {"schema_id": schema_id}, status=404)
    assert gone["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_issues_over_the_ui_routes(server):
    experiment_id = mlflow.set_experiment("issues-http").experiment_id
    made = [
        _call(
            server,
            "POST",
            "issues",
            {
                "experiment_id": experiment_id,
                "name": f"issue {i}",
                "description": "d",
                "severity": severity,
                "categories": ["quality"],
            },
        )["issue"]
        for i, severity in enumerate(["low", "high", "medium"])
    ]
    got = _call(server, "GET", f"issues/{made[0]['issue_id']}")["issue"]
    assert got["name"] == "issue 0" and got["categories"] == ["quality"]
    updated = _call(
        server,
        "PATCH",
        f"issues/{made[0]['issue_id']}",
        {"issue_id": made[0]["issue_id"], "status": "resolved"},
    )["issue"]
    assert updated["status"] == "resolved"
    found = _call(
        server,
        "POST",
        "issues/search",
        {"experiment_id": experiment_id, "filter_string": "status = 'pending'"},
    )
    assert [i["name"] for i in found["issues"]] == ["issue 1", "issue 2"]  # high, then medium
    page = _call(
        server, "POST", "issues/search", {"experiment_id": experiment_id, "max_results": 2}
    )
    assert len(page["issues"]) == 2 and page["next_page_token"]
    # What the UI's issues list asks: with trace counts (an issue assessment on a trace).
    answer("x")
    mlflow.flush_trace_async_logging()
    trace_id = mlflow.search_traces(locations=[experiment_id], return_type="list")[0].info.trace_id
    from mlflow.entities.assessment import IssueReference

    mlflow.log_assessment(
        trace_id, IssueReference(issue_id=made[2]["issue_id"], issue_name="issue 2")
    )
    counted = _call(
        server,
        "POST",
        "issues/search",
        {"experiment_id": experiment_id, "include_trace_count": True},
    )
    assert [(i["name"], i.get("trace_count", 0)) for i in counted["issues"]] == [
        ("issue 1", 0),
        ("issue 2", 1),
        ("issue 0", 0),
    ]
    missing = _call(server, "GET", "issues/iss-nope", status=404)
    assert missing["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    bad_filter = _call(
        server,
        "POST",
        "issues/search",
        {"experiment_id": experiment_id, "filter_string": "name = 'x'"},
        status=400,
    )
    assert bad_filter["error_code"] == "INVALID_PARAMETER_VALUE"
