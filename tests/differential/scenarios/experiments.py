"""Experiment scenarios: create/get/get-by-name/rename/delete/restore/tags, odd input."""

from __future__ import annotations

from mlflow.entities import ExperimentTag, ViewType

from tests.differential.harness import attempt
from tests.differential.scenarios._experiment_helpers import (
    _exp,
    _search,
    scenario,
)


# ---- create / get ---------------------------------------------------------------------
@scenario()
def default_experiment(store):
    return [store.get_experiment("0"), store.get_experiment_by_name("Default")]


@scenario()
def create_and_get(store):
    eid = _exp(store, "first")
    return {"experiment_id": eid, "experiment": store.get_experiment(eid)}


@scenario()
def create_with_tags(store):
    eid = _exp(store, "tagged", a="1", b="two", **{"mlflow.note.content": "hello"})
    return store.get_experiment(eid)


@scenario()
def create_with_artifact_location(store):
    eid = store.create_experiment("located", artifact_location="s3://bucket/custom/path")
    return store.get_experiment(eid)


@scenario()
def create_ids_are_sequential(store):
    return [_exp(store, f"e{i}") for i in range(4)]


# The SQL store appends the driver's IntegrityError text to the message; we do not.
@scenario(messages=False)
def create_duplicate_name(store):
    _exp(store, "dup")
    return attempt(lambda: _exp(store, "dup"))


@scenario(messages=False)
def create_name_of_deleted_experiment(store):
    store.delete_experiment(_exp(store, "gone"))
    return attempt(lambda: _exp(store, "gone"))


@scenario()
def create_names_are_case_sensitive(store):
    return [_exp(store, "Case"), _exp(store, "case"), store.get_experiment_by_name("CASE")]


@scenario()
def create_empty_name(store):
    return attempt(lambda: store.create_experiment(""))


@scenario()
def create_none_name(store):
    return attempt(lambda: store.create_experiment(None))


@scenario()
def create_non_string_name(store):
    return attempt(lambda: store.create_experiment(123))


@scenario()
def create_name_too_long(store):
    return [attempt(lambda: store.create_experiment("x" * 501)), _exp(store, "y" * 500)]


@scenario()
def create_bad_tag_key(store):
    return attempt(lambda: _exp(store, "bad-tag", **{"../etc": "v"}))


@scenario()
def create_tag_value_too_long(store):
    return attempt(lambda: _exp(store, "long-tag", k="v" * 5001))


@scenario()
def create_unicode_name(store):
    eid = _exp(store, "données 実験 🧪")
    return [store.get_experiment(eid), store.get_experiment_by_name("données 実験 🧪")]


@scenario()
def get_missing_id(store):
    return attempt(lambda: store.get_experiment("12345"))


@scenario()
def get_non_integer_id(store):
    return attempt(lambda: store.get_experiment("abc"))


@scenario()
def get_none_id_is_default(store):
    return store.get_experiment(None)


@scenario()
def get_padded_id(store):
    eid = _exp(store, "padded")
    return [store.get_experiment(f"0{eid}"), store.get_experiment(int(eid))]


@scenario()
def get_negative_id(store):
    return attempt(lambda: store.get_experiment("-1"))


@scenario()
def get_deleted_experiment(store):
    eid = _exp(store, "to-delete")
    store.delete_experiment(eid)
    return [store.get_experiment(eid), store.get_experiment_by_name("to-delete")]


@scenario()
def get_by_name_missing(store):
    return store.get_experiment_by_name("nope")


# ---- rename ---------------------------------------------------------------------------
@scenario()
def rename(store):
    eid = _exp(store, "old")
    store.rename_experiment(eid, "new")
    return [
        store.get_experiment(eid),
        store.get_experiment_by_name("old"),
        store.get_experiment_by_name("new"),
    ]


@scenario()
def rename_frees_old_name(store):
    eid = _exp(store, "old")
    store.rename_experiment(eid, "new")
    other = _exp(store, "old")
    return [store.get_experiment(other), store.get_experiment(eid)]


@scenario()
def rename_to_same_name(store):
    eid = _exp(store, "same")
    store.rename_experiment(eid, "same")
    return store.get_experiment(eid)


# Deliberate: SQL lets its UNIQUE violation through as BAD_REQUEST with the driver's text;
# we answer RESOURCE_ALREADY_EXISTS, as create_experiment does (docs/access-patterns.md).
@scenario(deviations={"BAD_REQUEST": "RESOURCE_ALREADY_EXISTS"})
def rename_to_taken_name(store):
    _exp(store, "a")
    b = _exp(store, "b")
    return [attempt(lambda: store.rename_experiment(b, "a")), store.get_experiment(b)]


@scenario()
def rename_deleted(store):
    eid = _exp(store, "del")
    store.delete_experiment(eid)
    return attempt(lambda: store.rename_experiment(eid, "renamed"))


@scenario()
def rename_missing(store):
    return attempt(lambda: store.rename_experiment("999", "x"))


@scenario()
def rename_invalid_id(store):
    return attempt(lambda: store.rename_experiment("abc", "x"))


@scenario()
def rename_empty_name(store):
    eid = _exp(store, "keep")
    return [attempt(lambda: store.rename_experiment(eid, "")), store.get_experiment(eid)]


@scenario()
def rename_default(store):
    store.rename_experiment("0", "Renamed default")
    return [store.get_experiment("0"), store.get_experiment_by_name("Default")]


@scenario()
def rename_twice(store):
    eid = _exp(store, "one")
    store.rename_experiment(eid, "two")
    store.rename_experiment(eid, "three")
    return [store.get_experiment_by_name(n) for n in ("one", "two", "three")] + [_exp(store, "two")]


# ---- delete / restore -----------------------------------------------------------------
@scenario()
def delete_and_restore(store):
    eid = _exp(store, "cycle")
    store.delete_experiment(eid)
    deleted = store.get_experiment(eid)
    store.restore_experiment(eid)
    return [deleted, store.get_experiment(eid)]


@scenario()
def delete_twice(store):
    eid = _exp(store, "twice")
    store.delete_experiment(eid)
    return attempt(lambda: store.delete_experiment(eid))


@scenario()
def restore_active(store):
    eid = _exp(store, "active")
    return attempt(lambda: store.restore_experiment(eid))


@scenario()
def delete_missing(store):
    return attempt(lambda: store.delete_experiment("4242"))


@scenario()
def delete_invalid_id(store):
    return attempt(lambda: store.delete_experiment("not-an-id"))


@scenario()
def restore_missing(store):
    return attempt(lambda: store.restore_experiment("4242"))


@scenario()
def delete_default(store):
    store.delete_experiment("0")
    return [store.get_experiment("0"), _search(store), _search(store, view_type=ViewType.ALL)]


@scenario()
def delete_updates_last_update_time(store):
    eid = _exp(store, "lut")
    before = store.get_experiment(eid)
    store.delete_experiment(eid)
    after = store.get_experiment(eid)
    return after.last_update_time > before.last_update_time == before.creation_time


# ---- tags -----------------------------------------------------------------------------
@scenario()
def set_tag(store):
    eid = _exp(store, "t")
    store.set_experiment_tag(eid, ExperimentTag("k", "v"))
    store.set_experiment_tag(eid, ExperimentTag("k", "v2"))
    store.set_experiment_tag(eid, ExperimentTag("other", ""))
    return store.get_experiment(eid)


@scenario()
def set_tag_dotted_key(store):
    eid = _exp(store, "t")
    store.set_experiment_tag(eid, ExperimentTag("mlflow.note.content", "note"))
    store.set_experiment_tag(eid, ExperimentTag("a/b c-d", "x"))
    return store.get_experiment(eid).tags


@scenario()
def set_tag_on_deleted(store):
    eid = _exp(store, "t")
    store.delete_experiment(eid)
    return attempt(lambda: store.set_experiment_tag(eid, ExperimentTag("k", "v")))


@scenario()
def set_tag_on_missing(store):
    return attempt(lambda: store.set_experiment_tag("777", ExperimentTag("k", "v")))


@scenario()
def set_tag_invalid_key(store):
    eid = _exp(store, "t")
    return [
        attempt(lambda: store.set_experiment_tag(eid, ExperimentTag("", "v"))),
        attempt(lambda: store.set_experiment_tag(eid, ExperimentTag("a/../b", "v"))),
        attempt(lambda: store.set_experiment_tag(eid, ExperimentTag(None, "v"))),
    ]


@scenario()
def set_tag_value_too_long(store):
    eid = _exp(store, "t")
    return [
        attempt(lambda: store.set_experiment_tag(eid, ExperimentTag("k", "v" * 5001))),
        attempt(lambda: store.set_experiment_tag(eid, ExperimentTag("k2", "v" * 5000))),
        sorted(store.get_experiment(eid).tags),
    ]


@scenario()
def set_tag_does_not_touch_last_update_time(store):
    eid = _exp(store, "t")
    before = store.get_experiment(eid)
    store.set_experiment_tag(eid, ExperimentTag("k", "v"))
    return store.get_experiment(eid).last_update_time == before.last_update_time


@scenario()
def delete_tag(store):
    eid = _exp(store, "t", a="1", b="2")
    store.delete_experiment_tag(eid, "a")
    return store.get_experiment(eid)


@scenario()
def delete_tag_missing_key(store):
    eid = _exp(store, "t", a="1")
    return [attempt(lambda: store.delete_experiment_tag(eid, "zzz")), store.get_experiment(eid)]


@scenario()
def delete_tag_on_deleted(store):
    eid = _exp(store, "t", a="1")
    store.delete_experiment(eid)
    return attempt(lambda: store.delete_experiment_tag(eid, "a"))


@scenario()
def delete_tag_on_missing(store):
    return attempt(lambda: store.delete_experiment_tag("888", "a"))


@scenario()
def delete_tag_twice(store):
    eid = _exp(store, "t", a="1")
    store.delete_experiment_tag(eid, "a")
    return attempt(lambda: store.delete_experiment_tag(eid, "a"))


# ---- odd input ---------------------------------------------------------------------------
# SQL's message carries the driver's IntegrityError text.
@scenario(messages=False)
def create_with_duplicate_tag_keys(store):
    tags = [ExperimentTag("k", "1"), ExperimentTag("k", "2")]
    result = attempt(lambda: store.create_experiment("dup-tags", tags=tags))
    return [result, store.get_experiment_by_name("dup-tags")]


@scenario()
def set_tag_none_value(store):
    eid = _exp(store, "t")
    result = attempt(lambda: store.set_experiment_tag(eid, ExperimentTag("k", None)))
    return [result, store.get_experiment(eid).tags]


@scenario()
def search_invalid_view_type(store):
    return attempt(lambda: store.search_experiments(view_type=99))


@scenario()
def search_dotted_tag_key(store):
    _exp(store, "noted", **{"mlflow.note.content": "hello"})
    _exp(store, "plain")
    return [
        _search(store, filter_string="tags.`mlflow.note.content` = 'hello'"),
        _search(store, filter_string="tags.\"mlflow.note.content\" LIKE 'he%'"),
        _search(store, filter_string="tags.`mlflow.note.content` IS NULL"),
    ]


@scenario()
def search_name_with_quote(store):
    _exp(store, "it's")
    _exp(store, 'say "hi"')
    return [
        _search(store, filter_string='name = "it\'s"'),
        _search(store, filter_string="name LIKE '%\"%'"),
    ]


@scenario()
def rename_name_too_long(store):
    eid = _exp(store, "short")
    result = attempt(lambda: store.rename_experiment(eid, "n" * 501))
    return [result, store.get_experiment(eid).name]


@scenario()
def get_by_name_after_rename_back(store):
    eid = _exp(store, "a")
    store.rename_experiment(eid, "b")
    store.rename_experiment(eid, "a")
    return [store.get_experiment_by_name("a"), store.get_experiment_by_name("b")]


@scenario(messages=False)
def ids_after_failed_creates(store):
    first = _exp(store, "a")
    failures = [attempt(lambda: _exp(store, "a")) for _ in range(3)]
    return [first, failures, _exp(store, "b"), store.get_experiment_by_name("b")]
