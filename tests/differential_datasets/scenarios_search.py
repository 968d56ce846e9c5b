"""search_datasets: filters, orders, paging, experiment ids, bad input."""

from __future__ import annotations

from tests.differential.harness import attempt
from tests.differential_datasets.helpers import experiments
from tests.differential_datasets.registry import scenario


def _names(page) -> list[str]:
    return [d.name for d in page]


def _setup(store) -> list[str]:
    e1, e2, e3 = experiments(store, 3)
    store.create_dataset("alpha", tags={"team": "a", "mlflow.user": "alice"}, experiment_ids=[e1])
    store.create_dataset("Beta", tags={"team": "b"}, experiment_ids=[e1, e2])
    store.create_dataset("gamma_1", tags={"team": "A", "mlflow.user": "bob"})
    store.create_dataset("délta", experiment_ids=[e2])
    store.create_dataset("alpha", tags={"stage": "prod"})
    return [e1, e2, e3]


@scenario()
def default_order_is_newest_first(store):
    _setup(store)
    return store.search_datasets()


@scenario()
def orders(store):
    _setup(store)
    return [
        _names(store.search_datasets(order_by=order))
        for order in (
            ["name"],
            ["name DESC"],
            ["created_time ASC"],
            ["last_update_time DESC"],
            ["name ASC", "created_time DESC"],
        )
    ]


@scenario()
def filters(store):
    _setup(store)
    return [
        _names(store.search_datasets(filter_string=f))
        for f in (
            "name = 'alpha'",
            "name != 'alpha'",
            "name LIKE 'a%'",
            "name LIKE 'A%'",
            "name ILIKE 'A%'",
            "name LIKE 'gamma_%'",
            "name IN ('Beta', 'délta')",
            "created_by = 'alice'",
            "created_by != 'alice'",
            "last_updated_by LIKE 'b%'",
            "tags.team = 'a'",
            "tags.team != 'a'",
            "tags.team ILIKE 'a'",
            "tags.team LIKE '%'",
            "tags.`mlflow.user` = 'bob'",
            "tags.stage = 'prod' AND name = 'alpha'",
            "created_time > 0",
            "created_time < 0",
            "last_update_time >= 0 AND name LIKE '%a%'",
        )
    ]


@scenario()
def bad_filters(store):
    _setup(store)
    return [
        attempt(lambda f=f: store.search_datasets(filter_string=f))
        for f in (
            "nope = 'x'",
            "params.x = 'y'",
            "name > 'a'",
            "name NOT IN ('a')",
            "created_by IN ('a')",
            "tags.team IN ('a')",
            "tags.team > 'a'",
            "created_time = 1.5",
            "created_time = 'abc'",
            "created_time LIKE '1%'",
            "name = 'a' OR name = 'b'",
            "name = ('a', 'b')",
            "name",
        )
    ]


@scenario()
def bad_order_by_and_max_results(store):
    _setup(store)
    return (
        [
            attempt(lambda o=o: store.search_datasets(order_by=o))
            for o in (["nope"], ["tags.team"], ["dataset_id"], ["name sideways"], ["created_by"])
        ]
        + [attempt(lambda m=m: store.search_datasets(max_results=m)) for m in (0, -1, None, 50001)]
        + [attempt(lambda: store.search_datasets(page_token="not-a-token"))]
    )


@scenario()
def paging(store):
    _setup(store)
    out = []
    for order in (None, ["name ASC"]):
        token, pages = None, []
        while True:
            page = store.search_datasets(max_results=2, order_by=order, page_token=token)
            pages.append(_names(page))
            token = page.token
            if not token:
                break
        out.append(pages)
    filtered = store.search_datasets(filter_string="name LIKE '%a%'", max_results=1)
    return [
        out,
        filtered,
        store.search_datasets(
            filter_string="name LIKE '%a%'", max_results=1, page_token=filtered.token
        ),
    ]


@scenario()
def paging_one_by_one_with_changes(store):
    """Default-order pages of one, filtered and not, with datasets created and deleted
    between pages (changes after the cursor: the SQL store's offsets agree)."""
    _setup(store)
    out = []
    for filter_string in (None, "name LIKE '%a%'", "name = 'nothing'"):
        token, pages = None, []
        while True:
            page = store.search_datasets(
                filter_string=filter_string, max_results=1, page_token=token
            )
            pages.append(_names(page))
            token = page.token
            if not token:
                break
        out.append(pages)
    first = store.search_datasets(max_results=1)
    (gamma,) = store.search_datasets(filter_string="name = 'gamma_1'")
    store.delete_dataset(gamma.dataset_id)  # after the cursor; one created before it would
    # shift the SQL store's offsets (a dataset shown twice), not this store's cursor
    out.append(_names(store.search_datasets(max_results=2, page_token=first.token)))
    return out


@scenario()
def by_experiment_ids(store):
    e1, e2, e3 = _setup(store)
    return [
        _names(store.search_datasets(experiment_ids=ids))
        for ids in ([e1], [e2], [e1, e2], [e3], ["4242"], [])
    ] + [
        store.search_datasets(experiment_ids=[e1, e2], filter_string="tags.team = 'b'"),
        _names(store.search_datasets(experiment_ids=[e1, e2], order_by=["name"], max_results=2)),
    ]


@scenario()
def search_sees_tag_and_record_changes(store):
    _setup(store)
    (ds,) = store.search_datasets(filter_string="name = 'Beta'")
    store.set_dataset_tags(ds.dataset_id, {"team": "z"})
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": 1}}])
    return [
        store.search_datasets(filter_string="tags.team = 'z'"),
        _names(store.search_datasets(order_by=["last_update_time DESC"])),
    ]
