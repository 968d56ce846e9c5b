"""Records: upsert (deduplication by inputs, merges), delete, paged loading; the dataset's
schema, profile and last update as upserts and deletes change them."""

from __future__ import annotations

from tests.differential.harness import attempt
from tests.differential_datasets.helpers import records_of
from tests.differential_datasets.registry import scenario

MISSING = "d-00000000000000000000000000000000"


@scenario()
def upsert_inserts_then_merges(store):
    ds = store.create_dataset("r")
    first = store.upsert_dataset_records(
        ds.dataset_id,
        [
            {"inputs": {"q": "a"}, "expectations": {"x": 1}, "tags": {"t": "1"}},
            {"inputs": {"q": "b"}, "outputs": {"text": "plain"}},
            {"inputs": {"q": "c", "n": [1, 2]}, "outputs": {"answer": 3.5}},
        ],
    )
    after_first = store.get_dataset(ds.dataset_id)
    second = store.upsert_dataset_records(
        ds.dataset_id,
        [
            {"inputs": {"q": "a"}, "expectations": {"y": 2}, "tags": {"mlflow.user": "bob"}},
            {"inputs": {"q": "b"}, "outputs": None},
            {"inputs": {"q": "d"}, "source": {"source_type": "HUMAN", "source_data": {"u": 1}}},
        ],
    )
    return [
        first,
        after_first,
        second,
        store.get_dataset(ds.dataset_id),
        records_of(store, ds.dataset_id),
    ]


@scenario()
def same_inputs_twice_in_one_call(store):
    ds = store.create_dataset("r")
    counts = store.upsert_dataset_records(
        ds.dataset_id,
        [
            {"inputs": {"b": 1, "a": 2}, "expectations": {"e": 1}},
            {"inputs": {"a": 2, "b": 1}, "expectations": {"f": 2}, "tags": {"k": "v"}},
            {"inputs": {"a": 2, "b": 1}},
        ],
    )
    return [counts, store.get_dataset(ds.dataset_id), records_of(store, ds.dataset_id)]


@scenario()
def records_without_inputs_share_one_hash(store):
    ds = store.create_dataset("r")
    return [
        store.upsert_dataset_records(
            ds.dataset_id, [{"expectations": {"a": 1}}, {"tags": {"x": "y"}}]
        ),
        records_of(store, ds.dataset_id),
    ]


@scenario()
def upsert_user_tags_set_created_and_updated_by(store):
    ds = store.create_dataset("r", tags={"mlflow.user": "creator"})
    store.upsert_dataset_records(
        ds.dataset_id, [{"inputs": {"q": 1}, "tags": {"mlflow.user": "u1"}}]
    )
    by_u1 = store.get_dataset(ds.dataset_id)
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": 2}}])
    return [by_u1, store.get_dataset(ds.dataset_id), records_of(store, ds.dataset_id)]


@scenario()
def upsert_empty_list(store):
    ds = store.create_dataset("r")
    empty = store.upsert_dataset_records(ds.dataset_id, [])
    after_empty = store.get_dataset(ds.dataset_id)
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": 1}}])
    return [
        empty,
        after_empty,
        store.upsert_dataset_records(ds.dataset_id, []),
        store.get_dataset(ds.dataset_id),
    ]


@scenario()
def unicode_and_nested_values(store):
    ds = store.create_dataset("r")
    store.upsert_dataset_records(
        ds.dataset_id,
        [
            {
                "inputs": {
                    "question": "Qu'est-ce que c'est ✓ 数据 🙂",
                    "nested": {"a": [1, {"b": None}]},
                },
                "expectations": {"answer": "réponse", "score": 0.5, "ok": True},
                "outputs": ["list", "output"],
            }
        ],
    )
    return [store.get_dataset(ds.dataset_id), records_of(store, ds.dataset_id)]


@scenario()
def large_compressible_record(store):
    # ~1 MB of JSON: SQL stores it; here it compresses to far below one item.
    ds = store.create_dataset("r")
    text = "the same sentence again. " * 40_000
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": "big"}, "outputs": text}])
    (record,) = records_of(store, ds.dataset_id)
    return [len(record.outputs), record.outputs == text, store.get_dataset(ds.dataset_id).profile]


@scenario()
def outputs_as_plain_values(store):
    ds = store.create_dataset("r")
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": 1}, "outputs": "text"}])
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": 2}, "outputs": [1, 2]}])
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": 1}, "outputs": None}])
    return [store.get_dataset(ds.dataset_id), records_of(store, ds.dataset_id)]


# MLflow's schema inference raises on a dict after a plain value: SQL answers 500 (rolled
# back); here INVALID_PARAMETER_VALUE, nothing written either.
@scenario(deviations={"INTERNAL_ERROR": "INVALID_PARAMETER_VALUE"})
def outputs_value_then_dict_is_refused(store):
    ds = store.create_dataset("r")
    refused = attempt(
        lambda: store.upsert_dataset_records(
            ds.dataset_id,
            [{"inputs": {"q": 1}, "outputs": "text"}, {"inputs": {"q": 2}, "outputs": {"a": 1}}],
        )
    )
    return [refused, store.get_dataset(ds.dataset_id), records_of(store, ds.dataset_id)]


# SQL lets the foreign key fail (BAD_REQUEST with the driver's text); here the missing
# dataset is named.
@scenario(deviations={"BAD_REQUEST": "RESOURCE_DOES_NOT_EXIST"})
def upsert_into_missing_dataset(store):
    return attempt(lambda: store.upsert_dataset_records(MISSING, [{"inputs": {"q": 1}}]))


@scenario()
def delete_records(store):
    ds = store.create_dataset("r")
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": i}} for i in range(4)])
    ids = [r.dataset_record_id for r in records_of(store, ds.dataset_id)]
    deleted = store.delete_dataset_records(ds.dataset_id, [ids[0], ids[2], "dr-nope", ids[0]])
    after = store.get_dataset(ds.dataset_id)
    none = store.delete_dataset_records(ds.dataset_id, [ids[0], "x"])
    return [deleted, after, none, records_of(store, ds.dataset_id)]


@scenario()
def delete_every_record_then_upsert_again(store):
    ds = store.create_dataset("r")
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": i}} for i in range(2)])
    ids = [r.dataset_record_id for r in records_of(store, ds.dataset_id)]
    store.delete_dataset_records(ds.dataset_id, ids)
    emptied = store.get_dataset(ds.dataset_id)
    store.upsert_dataset_records(ds.dataset_id, [])
    still_empty = store.get_dataset(ds.dataset_id)
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": 0}}])
    return [
        emptied,
        still_empty,
        store.get_dataset(ds.dataset_id),
        records_of(store, ds.dataset_id),
    ]


@scenario()
def records_of_missing_dataset(store):
    # The SQL store (workspaces off) answers from the rows it finds: none.
    return [
        store._load_dataset_records(MISSING),
        store.delete_dataset_records(MISSING, ["dr-00000000000000000000000000000000"]),
    ]


@scenario()
def load_records_page_by_page(store):
    ds = store.create_dataset("r")
    for i in range(5):  # one upsert per record: distinct creation times, a defined order
        store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"i": i}}])
    pages, token = [], None
    while True:
        records, token = store._load_dataset_records(ds.dataset_id, max_results=2, page_token=token)
        pages.append([r.inputs for r in records])
        if token is None:
            break
    everything, none = store._load_dataset_records(ds.dataset_id, max_results=None)
    default, _ = store._load_dataset_records(ds.dataset_id)
    zero, zero_token = store._load_dataset_records(ds.dataset_id, max_results=0)
    return [pages, [r.inputs for r in everything], none, len(default), len(zero), zero_token]


@scenario()
def ties_in_creation_time_page_in_id_order(store):
    ds = store.create_dataset("r")
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"i": i}} for i in range(5)])
    records, token = store._load_dataset_records(ds.dataset_id, max_results=3)
    rest, end = store._load_dataset_records(ds.dataset_id, max_results=3, page_token=token)
    ids = [r.dataset_record_id for r in records + rest]
    return [ids == sorted(ids), len(ids), len(set(ids)), end]


@scenario()
def odd_record_ids_to_delete(store):
    ds = store.create_dataset("r")
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": 1}}])
    return [
        store.delete_dataset_records(ds.dataset_id, []),
        store.delete_dataset_records(ds.dataset_id, ["", "x" * 3000, "dr-" + "0" * 32]),
        store.get_dataset(ds.dataset_id),
    ]


@scenario()
def bad_records_page_tokens(store):
    ds = store.create_dataset("r")
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": i}} for i in range(3)])
    import base64

    far = base64.b64encode(b"99999999999999:dr-x").decode()
    records, token = store._load_dataset_records(ds.dataset_id, max_results=2, page_token=far)
    return [len(records), token]
