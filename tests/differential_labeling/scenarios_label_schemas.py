"""Label schemas: create/get/list/update/delete, the seeded default question, bad input."""

from __future__ import annotations

from mlflow.genai.label_schemas.label_schemas import (
    InputCategorical,
    InputNumeric,
    InputPassFail,
    InputText,
)

from tests.differential.harness import attempt
from tests.differential_labeling.registry import scenario


def _create(store, e, name, **kwargs):
    kwargs.setdefault("type", "feedback")
    kwargs.setdefault("input", InputText())
    return store.create_label_schema(e, name=name, **kwargs)


@scenario()
def every_input_type_round_trips(store):
    e = store.create_experiment("e")
    made = [
        _create(store, e, "text", input=InputText(max_length=300), instruction="why?"),
        _create(store, e, "pf", input=InputPassFail(), enable_comment=True),
        _create(
            store,
            e,
            "cat",
            type="expectation",
            input=InputCategorical(options=["a", "b"], multi_select=True),
        ),
        _create(store, e, "num", input=InputNumeric(min_value=0.5, max_value=10)),
        _create(store, e, "ünïcødé ✓ 名前", input=InputText()),
    ]
    return {
        "made": made,
        "got": [store.get_label_schema(s.schema_id) for s in made],
        "by_name": [store.get_label_schema_by_name(e, s.name) for s in made],
    }


@scenario()
def list_seeds_the_default_question_once(store):
    e = store.create_experiment("e")
    _create(store, e, "q1")
    first = store.list_label_schemas(e)
    second = store.list_label_schemas(e)
    default = next(s for s in first if s.is_default)
    return {
        "first": first,
        "second": second,
        "delete_default": attempt(lambda: store.delete_label_schema(default.schema_id)),
        "edit_default": attempt(
            lambda: store.update_label_schema(default.schema_id, instruction="x")
        ),
        "by_name": store.get_label_schema_by_name(e, "Feedback"),
    }


@scenario()
def list_pages_newest_first(store):
    e = store.create_experiment("e")
    for i in range(7):
        _create(store, e, f"q{i}")
    pages, token = [], None
    while True:
        page = store.list_label_schemas(e, max_results=3, page_token=token)
        pages.append([s.name for s in page])
        token = page.token
        if not token:
            return pages


@scenario()
def duplicate_names(store):
    e = store.create_experiment("e")
    other = store.create_experiment("other")
    _create(store, e, "q")
    return {
        "again": attempt(lambda: _create(store, e, "q")),
        "other_case": _create(store, e, "Q").name,
        "other_experiment": _create(store, other, "q").name,
        "reserved": attempt(lambda: _create(store, e, "feedback")),
    }


@scenario()
def bad_input(store):
    e = store.create_experiment("e")
    return {
        "empty_name": attempt(lambda: _create(store, e, "")),
        "long_name": attempt(lambda: _create(store, e, "n" * 251)),
        "bad_type": attempt(lambda: _create(store, e, "q", type="opinion")),
        "bad_input": attempt(lambda: _create(store, e, "q", input="text")),
        "no_options": attempt(lambda: _create(store, e, "q", input=InputCategorical(options=[]))),
        "bad_range": attempt(
            lambda: _create(store, e, "q", input=InputNumeric(min_value=5, max_value=1))
        ),
        "long_instruction": attempt(lambda: _create(store, e, "q", instruction="i" * 1001)),
        "missing_experiment": attempt(lambda: _create(store, "12345", "q")),
        "non_integer_experiment": attempt(lambda: _create(store, "abc", "q")),
        "missing_get": attempt(lambda: store.get_label_schema("ls-" + "0" * 32)),
        "missing_by_name": attempt(lambda: store.get_label_schema_by_name(e, "nope")),
        "by_name_missing_experiment": attempt(lambda: store.get_label_schema_by_name("12345", "q")),
        "list_missing_experiment": attempt(lambda: store.list_label_schemas("12345")),
        "list_bad_max": attempt(lambda: store.list_label_schemas(e, max_results=0)),
        "list_bad_token": attempt(lambda: store.list_label_schemas(e, page_token="garbage")),
        "update_missing": attempt(lambda: store.update_label_schema("ls-x", name="n")),
        "delete_missing": attempt(lambda: store.delete_label_schema("ls-x")),
    }


@scenario()
def deleted_experiment_refuses(store):
    e = store.create_experiment("e")
    s = _create(store, e, "q")
    store.delete_experiment(e)
    return {
        "create": attempt(lambda: _create(store, e, "q2")),
        "list": attempt(lambda: store.list_label_schemas(e)),
        "by_name": attempt(lambda: store.get_label_schema_by_name(e, "q")),
        "by_id": store.get_label_schema(s.schema_id),
    }


@scenario()
def update_fields_and_rename(store):
    e = store.create_experiment("e")
    a = _create(store, e, "a", input=InputPassFail())
    _create(store, e, "b")
    return {
        "rename_taken": attempt(lambda: store.update_label_schema(a.schema_id, name="b")),
        "rename": store.update_label_schema(a.schema_id, name="c", instruction="new"),
        "old_name": attempt(lambda: store.get_label_schema_by_name(e, "a")),
        "new_name": store.get_label_schema_by_name(e, "c"),
        "reuse_old_name": _create(store, e, "a").name,
        "same_name": store.update_label_schema(a.schema_id, name="c"),
        "comment_and_input": store.update_label_schema(
            a.schema_id, enable_comment=True, input=InputPassFail(positive_label="Yes")
        ),
        "bad_input": attempt(
            lambda: store.update_label_schema(a.schema_id, input=InputCategorical(options=[]))
        ),
        "change_input_kind": attempt(
            lambda: store.update_label_schema(a.schema_id, input=InputText())
        ),
        "reserved": attempt(lambda: store.update_label_schema(a.schema_id, name="Feedback")),
        "listed": [s.name for s in store.list_label_schemas(e)],
    }


@scenario()
def delete_frees_the_name(store):
    e = store.create_experiment("e")
    a = _create(store, e, "a")
    store.delete_label_schema(a.schema_id)
    return {
        "get": attempt(lambda: store.get_label_schema(a.schema_id)),
        "again": store.delete_label_schema(a.schema_id),
        "recreate": _create(store, e, "a").name,
        "listed": [s.name for s in store.list_label_schemas(e)],
    }
