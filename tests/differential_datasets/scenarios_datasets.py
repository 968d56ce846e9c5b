"""Datasets: create, get, delete, tags and experiment links."""

from __future__ import annotations

from tests.differential.harness import attempt
from tests.differential_datasets.helpers import experiments
from tests.differential_datasets.registry import scenario


@scenario()
def create_and_get(store):
    e1, e2 = experiments(store, 2)
    created = store.create_dataset(
        "eval-set", tags={"mlflow.user": "alice", "team": "a"}, experiment_ids=[e2, e1]
    )
    got = store.get_dataset(created.dataset_id)
    return [created, got, store.get_dataset_experiment_ids(created.dataset_id)]


@scenario()
def create_minimal(store):
    created = store.create_dataset("plain")
    return [
        created,
        store.get_dataset(created.dataset_id),
        store.get_dataset_experiment_ids(created.dataset_id),
    ]


@scenario()
def create_with_unknown_experiment_ids(store):
    # The SQL store links without checking the experiments.
    created = store.create_dataset("x", experiment_ids=["12345", "0"])
    return [created, store.get_dataset_experiment_ids(created.dataset_id)]


@scenario()
def duplicate_names_are_allowed(store):
    a = store.create_dataset("same")
    b = store.create_dataset("same")
    return [a.dataset_id != b.dataset_id, store.search_datasets(filter_string="name = 'same'")]


@scenario()
def unicode_name_and_tags(store):
    created = store.create_dataset(
        "données ✓ 数据", tags={"clé": "välue ✓", "emoji": "🙂", "num": 5, "none": None}
    )
    return [created, store.get_dataset(created.dataset_id)]


@scenario()
def get_missing(store):
    return [
        attempt(lambda: store.get_dataset("d-00000000000000000000000000000000")),
        attempt(lambda: store.get_dataset("nope")),
    ]


@scenario()
def delete_dataset_and_everything_in_it(store):
    (e,) = experiments(store, 1)
    ds = store.create_dataset("gone", experiment_ids=[e])
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": i}} for i in range(3)])
    store.delete_dataset(ds.dataset_id)
    return [
        attempt(lambda: store.get_dataset(ds.dataset_id)),
        store.search_datasets(),
        store.search_datasets(experiment_ids=[e]),
        store._load_dataset_records(ds.dataset_id),
        store.get_dataset_experiment_ids(ds.dataset_id),
        attempt(lambda: store.delete_dataset(ds.dataset_id)),
        attempt(lambda: store.set_dataset_tags(ds.dataset_id, {"k": "v"})),
    ]


@scenario()
def delete_missing_dataset_is_a_no_op(store):
    return attempt(lambda: store.delete_dataset("d-00000000000000000000000000000000"))


@scenario()
def set_and_delete_tags(store):
    ds = store.create_dataset("t", tags={"a": "1", "b": "2"})
    store.set_dataset_tags(
        ds.dataset_id, {"a": "changed", "c": 3, "skip": None, "dots.in/key": "x"}
    )
    after_set = store.get_dataset(ds.dataset_id)
    store.delete_dataset_tag(ds.dataset_id, "b")
    store.delete_dataset_tag(ds.dataset_id, "never-there")
    store.set_dataset_tags(ds.dataset_id, {})
    return [after_set, store.get_dataset(ds.dataset_id)]


@scenario()
def tags_of_missing_dataset(store):
    missing = "d-00000000000000000000000000000000"
    return [
        attempt(lambda: store.set_dataset_tags(missing, {"k": "v"})),
        attempt(lambda: store.set_dataset_tags(missing, {})),
        attempt(lambda: store.delete_dataset_tag(missing, "k")),
    ]


@scenario()
def add_and_remove_experiments(store):
    e1, e2, e3 = experiments(store, 3)
    ds = store.create_dataset("links", experiment_ids=[e1])
    added = store.add_dataset_to_experiments(ds.dataset_id, [e3, e2, e1])
    # SQL stamps added links with the real clock (its column default escapes the fake
    # clock), so only the set is compared here; the order is in create_and_get.
    ids_after_add = sorted(store.get_dataset_experiment_ids(ds.dataset_id))
    removed = store.remove_dataset_from_experiments(ds.dataset_id, [e1, "999"])
    ids_after_remove = sorted(store.get_dataset_experiment_ids(ds.dataset_id))
    unchanged = store.remove_dataset_from_experiments(ds.dataset_id, ["999"])
    return [added, ids_after_add, removed, ids_after_remove, unchanged]


@scenario()
def add_to_unknown_experiment_or_dataset(store):
    (e,) = experiments(store, 1)
    ds = store.create_dataset("links")
    missing = "d-00000000000000000000000000000000"
    return [
        attempt(lambda: store.add_dataset_to_experiments(ds.dataset_id, [e, "4242"])),
        attempt(lambda: store.add_dataset_to_experiments(ds.dataset_id, ["abc"])),
        store.get_dataset_experiment_ids(ds.dataset_id),
        attempt(lambda: store.add_dataset_to_experiments(missing, [e])),
        attempt(lambda: store.remove_dataset_from_experiments(missing, [e])),
        store.get_dataset_experiment_ids(missing),
    ]


@scenario()
def add_to_deleted_experiment(store):
    (e,) = experiments(store, 1)
    store.delete_experiment(e)
    ds = store.create_dataset("links")
    return [
        store.add_dataset_to_experiments(ds.dataset_id, [e]),
        store.get_dataset_experiment_ids(ds.dataset_id),
    ]


@scenario()
def odd_dataset_ids_are_unknown(store):
    out = []
    for dataset_id in ("", "x" * 3000, "d-" + "é" * 600):
        out.append(
            [
                attempt(lambda d=dataset_id: store.get_dataset(d)),
                attempt(lambda d=dataset_id: store.delete_dataset(d)),
                attempt(lambda d=dataset_id: store.set_dataset_tags(d, {"k": "v"})),
                attempt(lambda d=dataset_id: store.delete_dataset_tag(d, "k")),
                attempt(lambda d=dataset_id: store.get_dataset_experiment_ids(d)),
                attempt(lambda d=dataset_id: store._load_dataset_records(d)),
                attempt(lambda d=dataset_id: store.delete_dataset_records(d, ["dr-1"])),
                attempt(lambda d=dataset_id: store.add_dataset_to_experiments(d, ["0"])),
            ]
        )
    return out


@scenario()
def odd_tag_keys_and_values(store):
    ds = store.create_dataset("t", tags={"": "empty key", "k": ""})
    store.set_dataset_tags(ds.dataset_id, {"": "changed", "long": "v" * 10_000, "b": True})
    store.delete_dataset_tag(ds.dataset_id, "")
    return store.get_dataset(ds.dataset_id)


@scenario()
def odd_names(store):
    return [
        attempt(lambda n=n: store.create_dataset(n).name)
        for n in ("", " spaced ", "x" * 1000, "名前")
    ]
