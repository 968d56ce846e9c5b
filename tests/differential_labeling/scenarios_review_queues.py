"""Review queues and their items: create/get/list/update/delete, user queues, attach and
detach, item status, paging, what deleting traces does, bad input."""

from __future__ import annotations

from mlflow.genai.label_schemas.label_schemas import InputText

from tests.differential.harness import attempt
from tests.differential_labeling.registry import scenario
from tests.differential_traces.builders import info


def _schema(store, e, name):
    return store.create_label_schema(e, name=name, type="feedback", input=InputText()).schema_id


def _custom(store, e, name, **kwargs):
    return store.create_review_queue(e, name=name, queue_type="custom", **kwargs)


@scenario()
def create_and_get(store):
    e = store.create_experiment("e")
    s1, s2 = _schema(store, e, "q1"), _schema(store, e, "q2")
    q = _custom(
        store,
        e,
        "  Sprint Review ✓ ",
        created_by="Owner",
        users=["Bob", "alice ", "bob"],
        schema_ids=[s2, s1],
    )
    return {
        "created": q,
        "get": store.get_review_queue(q.queue_id),
        "by_name": store.get_review_queue_by_name(e, name="sprint review ✓"),
        "by_name_other_case": store.get_review_queue_by_name(e, name="SPRINT REVIEW ✓"),
    }


@scenario()
def names_unique_case_insensitively(store):
    e = store.create_experiment("e")
    other = store.create_experiment("other")
    _custom(store, e, "Team")
    return {
        "same": attempt(lambda: _custom(store, e, "Team")),
        "other_case": attempt(lambda: _custom(store, e, "team")),
        "other_experiment": _custom(store, other, "team").name,
        "reserved": attempt(lambda: _custom(store, e, "Default")),
    }


@scenario()
def user_queues(store):
    e = store.create_experiment("e")
    first = store.get_or_create_user_queue(e, user=" Alice@Example.com ")
    again = store.get_or_create_user_queue(e, user="alice@example.com")
    _custom(store, e, "bob")
    return {
        "first": first,
        "same_queue": again.queue_id == first.queue_id,
        "custom_squatter": attempt(lambda: store.get_or_create_user_queue(e, user="bob")),
        "update_user_queue": attempt(
            lambda: store.update_review_queue(first.queue_id, users=["x"])
        ),
        "user_queue_with_schemas": attempt(
            lambda: store.create_review_queue(
                e, name="carol", queue_type="user", schema_ids=[_schema(store, e, "s")]
            )
        ),
        "user_queue_other_user": attempt(
            lambda: store.create_review_queue(e, name="carol", queue_type="user", users=["dan"])
        ),
        "missing_experiment": attempt(lambda: store.get_or_create_user_queue("12345", user="a")),
    }


@scenario()
def list_filters_and_pages(store):
    e = store.create_experiment("e")
    other = store.create_experiment("other")
    for i in range(5):
        _custom(store, e, f"q{i}", users=["alice"] if i % 2 else ["bob", "alice"] if i else [])
    _custom(store, other, "elsewhere", users=["alice"])
    store.get_or_create_user_queue(e, user="alice")
    queues = {q.name: q.queue_id for q in store.list_review_queues(e)}
    store.add_items_to_review_queue(queues["q1"], item_ids=["tr-1", "tr-2"])
    store.add_items_to_review_queue(queues["q3"], item_ids=["tr-1"])
    store.add_items_to_review_queue(queues["alice"], item_ids=["tr-1"])

    def pages(**kwargs):
        out, token = [], None
        while True:
            page = store.list_review_queues(e, max_results=2, page_token=token, **kwargs)
            out.append([q.name for q in page])
            token = page.token
            if not token:
                return out

    return {
        "all": [q.name for q in store.list_review_queues(e)],
        "pages": pages(),
        "alice": pages(user="ALICE"),
        "bob": [q.name for q in store.list_review_queues(e, user="bob")],
        "nobody": [q.name for q in store.list_review_queues(e, user="nobody")],
        "holding_tr1": pages(item_id="tr-1"),
        "holding_tr2": [q.name for q in store.list_review_queues(e, item_id="tr-2")],
        "alice_holding_tr1": [
            q.name for q in store.list_review_queues(e, user="alice", item_id="tr-1")
        ],
        "other_holding_tr1": [q.name for q in store.list_review_queues(other, item_id="tr-1")],
        "bad_max": attempt(lambda: store.list_review_queues(e, max_results=0)),
        "bad_token": attempt(lambda: store.list_review_queues(e, page_token="garbage")),
        "missing_experiment": attempt(lambda: store.list_review_queues("12345")),
    }


@scenario()
def update_queue(store):
    e = store.create_experiment("e")
    s1, s2 = _schema(store, e, "q1"), _schema(store, e, "q2")
    other_schema = _schema(store, store.create_experiment("other"), "x")
    q = _custom(store, e, "a", schema_ids=[s1])
    _custom(store, e, "b")
    qid = q.queue_id
    return {
        "noop": store.update_review_queue(qid),
        "rename_taken": attempt(lambda: store.update_review_queue(qid, name="B")),
        "rename_case_only": store.update_review_queue(qid, name="A"),
        "rename": store.update_review_queue(qid, name="c", users=["Zed", "amy"]),
        "old_name_free": _custom(store, e, "a").name,
        "owner": store.update_review_queue(qid, new_owner=" New Owner "),
        "schemas": store.update_review_queue(qid, schema_ids=[s2, s1]),
        "foreign_schema": attempt(
            lambda: store.update_review_queue(qid, schema_ids=[other_schema])
        ),
        "missing_schema": attempt(lambda: store.update_review_queue(qid, schema_ids=["ls-nope"])),
        "reserved": attempt(lambda: store.update_review_queue(qid, name="default")),
        "too_many_users": attempt(
            lambda: store.update_review_queue(qid, users=[f"u{i}" for i in range(11)])
        ),
        "missing": attempt(lambda: store.update_review_queue("rq-nope", name="x")),
        "after": store.get_review_queue(qid),
    }


@scenario()
def questions_lock_once_items_are_attached(store):
    e = store.create_experiment("e")
    s1, s2 = _schema(store, e, "q1"), _schema(store, e, "q2")
    qid = _custom(store, e, "a", schema_ids=[s1]).queue_id
    store.add_items_to_review_queue(qid, item_ids=["tr-1"])
    locked = attempt(lambda: store.update_review_queue(qid, schema_ids=[s2]))
    users_ok = store.update_review_queue(qid, users=["amy"]).users
    store.remove_items_from_review_queue(qid, item_ids=["tr-1"])
    return {
        "locked": locked,
        "users_still_editable": users_ok,
        "unlocked": store.update_review_queue(qid, schema_ids=[s2]).schema_ids,
    }


@scenario()
def attach_list_and_detach_items(store):
    e = store.create_experiment("e")
    qid = _custom(store, e, "a").queue_id
    first = store.add_items_to_review_queue(qid, item_ids=["tr-b", " tr-a ", "tr-b"])
    store.set_review_queue_item_status(qid, item_id="tr-a", status="complete", completed_by="Amy")
    again = store.add_items_to_review_queue(qid, item_ids=["tr-c", "tr-a", "tr-ü"])
    listed = store.list_review_queue_items(qid)
    store.remove_items_from_review_queue(qid, item_ids=["tr-b", "tr-missing"])
    return {
        "first": first,
        "again_keeps_status": again,
        "listed": listed,
        "after_remove": [i.item_id for i in store.list_review_queue_items(qid)],
        "holding_tr_b": [q.name for q in store.list_review_queues(e, item_id="tr-b")],
    }


@scenario()
def items_page_and_filter_by_status(store):
    e = store.create_experiment("e")
    qid = _custom(store, e, "a").queue_id
    for batch in (["t3", "t1", "t2"], ["t5", "t4"], ["t6"]):
        store.add_items_to_review_queue(qid, item_ids=batch)
    store.set_review_queue_item_status(qid, item_id="t1", status="declined", completed_by="x")
    store.set_review_queue_item_status(qid, item_id="t5", status="complete", completed_by="x")

    def pages(**kwargs):
        out, token = [], None
        while True:
            page = store.list_review_queue_items(qid, max_results=2, page_token=token, **kwargs)
            out.append([i.item_id for i in page])
            token = page.token
            if not token:
                return out

    return {
        "all": pages(),
        "pending": pages(status="pending"),
        "complete": pages(status="COMPLETE"),
        "declined": [i.item_id for i in store.list_review_queue_items(qid, status="declined")],
        "bad_status": attempt(lambda: store.list_review_queue_items(qid, status="done")),
        "bad_max": attempt(lambda: store.list_review_queue_items(qid, max_results=-1)),
        "bad_token": attempt(lambda: store.list_review_queue_items(qid, page_token="x")),
        "missing_queue": attempt(lambda: store.list_review_queue_items("rq-nope")),
    }


@scenario()
def item_status_transitions(store):
    e = store.create_experiment("e")
    qid = _custom(store, e, "a").queue_id
    store.add_items_to_review_queue(qid, item_ids=["t1"])
    done = store.set_review_queue_item_status(
        qid, item_id="t1", status="complete", completed_by="Amy"
    )
    repeat = store.set_review_queue_item_status(
        qid, item_id="t1", status="complete", completed_by="bob"
    )
    declined = store.set_review_queue_item_status(
        qid, item_id=" t1 ", status="declined", completed_by="bob"
    )
    reopened = store.set_review_queue_item_status(qid, item_id="t1", status="pending")
    return {
        "done": done,
        "repeat_keeps_attribution": repeat,
        "repeat_is_a_noop": repeat.last_update_time_ms == done.last_update_time_ms,
        "declined": declined,
        "reopened": reopened,
        "reopen_with_user": attempt(
            lambda: store.set_review_queue_item_status(
                qid, item_id="t1", status="pending", completed_by="x"
            )
        ),
        "complete_without_user": attempt(
            lambda: store.set_review_queue_item_status(qid, item_id="t1", status="complete")
        ),
        "long_user": attempt(
            lambda: store.set_review_queue_item_status(
                qid, item_id="t1", status="complete", completed_by="u" * 251
            )
        ),
        "bad_status": attempt(
            lambda: store.set_review_queue_item_status(
                qid, item_id="t1", status="approved", completed_by="x"
            )
        ),
        "not_attached": attempt(
            lambda: store.set_review_queue_item_status(
                qid, item_id="t9", status="complete", completed_by="x"
            )
        ),
        "missing_queue": attempt(
            lambda: store.set_review_queue_item_status(
                "rq-nope", item_id="t1", status="complete", completed_by="x"
            )
        ),
    }


@scenario()
def bad_input(store):
    e = store.create_experiment("e")
    qid = _custom(store, e, "a").queue_id
    return {
        "bad_type": attempt(lambda: store.create_review_queue(e, name="x", queue_type="team")),
        "empty_name": attempt(lambda: _custom(store, e, "  ")),
        "long_name": attempt(lambda: _custom(store, e, "n" * 251)),
        "users_not_list": attempt(lambda: _custom(store, e, "x", users="amy")),
        "missing_schema": attempt(lambda: _custom(store, e, "x", schema_ids=["ls-nope"])),
        "missing_experiment": attempt(lambda: _custom(store, "12345", "x")),
        "non_integer_experiment": attempt(lambda: _custom(store, "abc", "x")),
        "get_missing": attempt(lambda: store.get_review_queue("rq-" + "0" * 32)),
        "by_name_missing": attempt(lambda: store.get_review_queue_by_name(e, name="zz")),
        "add_empty": attempt(lambda: store.add_items_to_review_queue(qid, item_ids=[])),
        "add_long_id": attempt(lambda: store.add_items_to_review_queue(qid, item_ids=["x" * 51])),
        "add_bad_type": attempt(
            lambda: store.add_items_to_review_queue(qid, item_ids=["t"], item_type="span")
        ),
        "add_missing_queue": attempt(
            lambda: store.add_items_to_review_queue("rq-nope", item_ids=["t"])
        ),
        "remove_missing_queue": attempt(
            lambda: store.remove_items_from_review_queue("rq-nope", item_ids=["t"])
        ),
        "remove_not_list": attempt(lambda: store.remove_items_from_review_queue(qid, item_ids="t")),
        "delete_missing": store.delete_review_queue("rq-nope"),
    }


@scenario()
def delete_queue(store):
    e = store.create_experiment("e")
    qid = _custom(store, e, "a").queue_id
    store.add_items_to_review_queue(qid, item_ids=["t1", "t2"])
    store.delete_review_queue(qid)
    return {
        "get": attempt(lambda: store.get_review_queue(qid)),
        "items": attempt(lambda: store.list_review_queue_items(qid)),
        "name_free": _custom(store, e, "A").name,
        "holding_t1": [q.name for q in store.list_review_queues(e, item_id="t1")],
        "again": store.delete_review_queue(qid),
    }


@scenario()
def deleting_traces_removes_their_items(store):
    e = store.create_experiment("e")
    for i in range(4):
        store.start_trace(info(f"tr-{i}", e, 1000 + 10 * i))
    q1 = _custom(store, e, "a").queue_id
    q2 = store.get_or_create_user_queue(e, user="amy").queue_id
    store.add_items_to_review_queue(q1, item_ids=["tr-0", "tr-1", "tr-2"])
    store.add_items_to_review_queue(q2, item_ids=["tr-1", "tr-3"])
    by_ids = store._delete_traces(e, trace_ids=["tr-1"])
    by_time = store._delete_traces(e, max_timestamp_millis=1000)
    s = _schema(store, e, "s")
    return {
        "deleted": [by_ids, by_time],
        "q1": [i.item_id for i in store.list_review_queue_items(q1)],
        "q2": [i.item_id for i in store.list_review_queue_items(q2)],
        "holding_tr1": [q.name for q in store.list_review_queues(e, item_id="tr-1")],
        "q1_after_emptying": attempt(
            lambda: (
                store.remove_items_from_review_queue(q1, item_ids=["tr-2"]),
                store.update_review_queue(q1, schema_ids=[s]).schema_ids,
            )[1]
        ),
    }
