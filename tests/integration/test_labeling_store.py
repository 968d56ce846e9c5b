"""Labeling and issues on DynamoDB Local: request counts of the common calls (as
docs/access-patterns.md states them), races on names and attaches, big queues, and what
deleting traces costs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from mlflow.entities import TraceInfo, TraceLocation, TraceState
from mlflow.entities.issue import IssueSeverity
from mlflow.exceptions import MlflowException
from mlflow.genai.label_schemas.label_schemas import InputText

from mlflow_dynamodbstore.schema import labeling_keys


def _schema(store, e, name="q"):
    return store.create_label_schema(e, name=name, type="feedback", input=InputText())


def _requests(store, call):
    store.gateway.stats.reset()
    result = call()
    snapshot = {op: s.requests for op, s in store.gateway.stats.snapshot().items()}
    return result, snapshot


def test_request_counts_of_the_common_calls(store):
    e = store.create_experiment("e")
    schema = _schema(store, e)
    store.list_label_schemas(e)  # seeds the default question
    queue = store.create_review_queue(e, name="Q", queue_type="custom")
    store.add_items_to_review_queue(queue.queue_id, item_ids=[f"tr-{i}" for i in range(30)])
    for i in range(12):
        store.create_issue(e, f"i{i}", "d", severity=IssueSeverity.HIGH if i % 2 else None)

    _, counts = _requests(store, lambda: store.get_label_schema(schema.schema_id))
    assert counts == {"GetItem": 1}

    page, counts = _requests(
        store, lambda: store.list_review_queue_items(queue.queue_id, max_results=10)
    )
    assert len(page) == 10 and page.token
    assert counts == {"GetItem": 1, "Query": 1}  # the queue, then one page of its items

    page, counts = _requests(
        store,
        lambda: store.list_review_queue_items(
            queue.queue_id, status="pending", max_results=10, page_token=page.token
        ),
    )
    assert len(page) == 10 and counts == {"GetItem": 1, "Query": 1}

    page, counts = _requests(store, lambda: store.search_issues(e, max_results=5))
    assert len(page) == 5 and page.token and counts == {"Query": 1}

    page, counts = _requests(
        store, lambda: store.search_issues(e, filter_string="status = 'pending'", max_results=5)
    )
    assert len(page) == 5 and counts == {"Query": 1}

    _, counts = _requests(store, lambda: store.list_label_schemas(e))
    assert counts == {"GetItem": 2, "Query": 1}  # experiment, default's guard, the page

    _, counts = _requests(store, lambda: store.get_review_queue(queue.queue_id))
    assert counts == {"GetItem": 1}

    _, counts = _requests(
        store,
        lambda: store.set_review_queue_item_status(
            queue.queue_id, item_id="tr-1", status="complete", completed_by="amy"
        ),
    )
    assert counts == {"GetItem": 2, "UpdateItem": 1}

    _, counts = _requests(
        store, lambda: store.add_items_to_review_queue(queue.queue_id, item_ids=["tr-x", "tr-1"])
    )
    assert counts == {"GetItem": 1, "BatchGetItem": 1, "TransactWriteItems": 1}


def test_first_list_seeds_the_default_once(store):
    e = store.create_experiment("e")
    _, counts = _requests(store, lambda: store.list_label_schemas(e))
    assert counts == {"GetItem": 2, "TransactWriteItems": 1, "Query": 1}
    assert [s.name for s in store.list_label_schemas(e)] == ["Feedback"]


def test_a_big_queue_pages_through_every_item(store):
    e = store.create_experiment("e")
    qid = store.create_review_queue(e, name="big", queue_type="custom").queue_id
    ids = [f"tr-{i:03d}" for i in range(130)]  # three attach transactions
    added = store.add_items_to_review_queue(qid, item_ids=ids)
    assert [i.item_id for i in added] == ids
    seen, token = [], None
    while True:
        page = store.list_review_queue_items(qid, max_results=50, page_token=token)
        seen += [i.item_id for i in page]
        token = page.token
        if not token:
            break
    assert seen == sorted(ids)  # one batch: one creation time, then item id ascending
    queue_item = store.gateway.get_item(labeling_keys.review_queue_key(qid))
    assert queue_item["item_count"] == 130
    store.remove_items_from_review_queue(qid, item_ids=ids[:60])
    assert store.gateway.get_item(labeling_keys.review_queue_key(qid))["item_count"] == 70
    store.delete_review_queue(qid)
    assert (
        store.gateway.query_page(
            labeling_keys.indexes.REVIEW_QUEUE_ITEMS_BY_CREATION.pk_eq(
                labeling_keys.queue_items_gsi2pk(qid)
            ),
            index=labeling_keys.indexes.REVIEW_QUEUE_ITEMS_BY_CREATION.index,
        )[0]
        == []
    )


def _race(n, call):
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(call, i) for i in range(n)]
    outcomes = []
    for f in futures:
        try:
            outcomes.append(f.result())
        except MlflowException as exc:
            outcomes.append(exc.error_code)
    return outcomes


def test_concurrent_creators_of_one_name_one_wins(store):
    e = store.create_experiment("e")
    schemas = _race(6, lambda i: _schema(store, e, "same"))
    assert sum(1 for s in schemas if not isinstance(s, str)) == 1
    assert sorted(s for s in schemas if isinstance(s, str)) == ["RESOURCE_ALREADY_EXISTS"] * 5

    queues = _race(
        6,
        lambda i: store.create_review_queue(
            e, name="Team" if i % 2 else "TEAM", queue_type="custom"
        ),
    )
    assert sum(1 for q in queues if not isinstance(q, str)) == 1
    assert sorted(q for q in queues if isinstance(q, str)) == ["RESOURCE_ALREADY_EXISTS"] * 5

    users = _race(6, lambda i: store.get_or_create_user_queue(e, user="Amy"))
    assert len({q.queue_id for q in users}) == 1


def test_concurrent_attaches_keep_the_count_exact(store):
    e = store.create_experiment("e")
    qid = store.create_review_queue(e, name="q", queue_type="custom").queue_id
    _race(4, lambda i: store.add_items_to_review_queue(qid, item_ids=[f"t{j}" for j in range(20)]))
    assert store.gateway.get_item(labeling_keys.review_queue_key(qid))["item_count"] == 20
    assert len(store.list_review_queue_items(qid)) == 20
    schema = _schema(store, e)
    with pytest.raises(MlflowException, match="locked"):
        store.update_review_queue(qid, schema_ids=[schema.schema_id])


def _trace(store, e, trace_id, ts):
    store.start_trace(
        TraceInfo(
            trace_id=trace_id,
            trace_location=TraceLocation.from_experiment_id(e),
            request_time=ts,
            execution_duration=1,
            state=TraceState.OK,
        )
    )


def test_deleting_traces_costs_one_batch_read_when_no_queue_holds_them(store):
    e = store.create_experiment("e")
    for i in range(5):
        _trace(store, e, f"tr-{i}", 1000 + i)
    qid = store.create_review_queue(e, name="q", queue_type="custom").queue_id
    store.add_items_to_review_queue(qid, item_ids=["tr-0"])

    _, with_queue = _requests(store, lambda: store._delete_traces(e, trace_ids=["tr-0"]))
    _, without = _requests(store, lambda: store._delete_traces(e, trace_ids=["tr-1", "tr-2"]))
    assert without["BatchGetItem"] == with_queue["BatchGetItem"] == 2  # the traces, their refs
    # one transaction removes the traces' META and stats items with their rollup cells
    # (docs/trace-analytics.md); the queue adds one that takes its item out
    assert without["TransactWriteItems"] == 1
    assert with_queue["TransactWriteItems"] == 2
    assert store.list_review_queue_items(qid).to_list() == []
    assert store.gateway.get_item(labeling_keys.review_queue_key(qid))["item_count"] == 0
