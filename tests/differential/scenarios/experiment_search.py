"""search_experiments scenarios: view types, order_by, filters, pagination, bad input."""

from __future__ import annotations

from mlflow.entities import ExperimentTag, ViewType

from tests.differential.harness import attempt
from tests.differential.scenarios._experiment_helpers import (
    _all_pages,
    _exp,
    _search,
    add,
    scenario,
)


# ---- search: view types, order, pages ------------------------------------------------
def _three_plus_deleted(store) -> None:
    for name in ("alpha", "Beta", "gamma"):
        _exp(store, name)
    store.delete_experiment(_exp(store, "deleted-one"))


for _view in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL):

    def _view_scenario(store, view=_view):
        _three_plus_deleted(store)
        return _search(store, view_type=view)

    add(f"search_view_type_{ViewType.to_string(_view)}", _view_scenario)


@scenario()
def search_default_returns_entities(store):
    _exp(store, "x", k="v")
    return store.search_experiments()


_ORDERS = {
    "name_asc": ["name ASC"],
    "name_desc": ["name DESC"],
    "name_default_direction": ["name"],
    "id_desc": ["experiment_id DESC"],
    "id_asc": ["experiment_id"],
    "creation_asc": ["creation_time ASC"],
    "creation_desc": ["creation_time DESC"],
    "last_update_desc": ["last_update_time DESC"],
    "attribute_prefix": ["attribute.name DESC"],
    "backticks": ["`name` ASC"],
    "two_keys": ["last_update_time DESC", "name ASC"],
    "lowercase_direction": ["name desc"],
}
for _label, _order in _ORDERS.items():

    def _order_scenario(store, order=_order):
        for name in ("b", "A", "c", "a", "B"):
            _exp(store, name)
        store.rename_experiment(store.get_experiment_by_name("c").experiment_id, "c2")
        return _search(store, order_by=order, view_type=ViewType.ALL)

    add(f"search_order_{_label}", _order_scenario)

_BAD_ORDERS = {
    "tag_entity": ["tags.k ASC"],
    "unknown_attribute": ["lifecycle_stage ASC"],
    "bad_direction": ["name UP"],
    "params_entity": ["params.x"],
    "empty": [""],
    "metric": ["metrics.m DESC"],
}
for _label, _order in _BAD_ORDERS.items():
    add(
        f"search_bad_order_{_label}",
        lambda store, order=_order: attempt(lambda: store.search_experiments(order_by=order)),
    )


@scenario()
def search_pagination(store):
    for i in range(7):
        _exp(store, f"page-{i}")
    return _all_pages(store, 3, view_type=ViewType.ALL)


@scenario()
def search_pagination_exact_multiple(store):
    for i in range(5):
        _exp(store, f"page-{i}")
    return _all_pages(store, 3)


@scenario()
def search_pagination_with_filter_and_order(store):
    for i in range(9):
        _exp(store, f"p{i % 3}-{i}", parity=str(i % 2))
    return _all_pages(store, 2, filter_string="tags.parity = '0'", order_by=["name DESC"])


@scenario()
def search_bad_page_token(store):
    return attempt(lambda: store.search_experiments(page_token="not-a-token"))


for _label, _max in {"zero": 0, "negative": -5, "too_large": 50001, "none": None}.items():
    add(
        f"search_max_results_{_label}",
        lambda store, m=_max: attempt(lambda: store.search_experiments(max_results=m)),
    )


@scenario()
def search_max_results_at_limit(store):
    _exp(store, "one")
    return _search(store, max_results=50000)


# ---- search: filters ----------------------------------------------------------------
def _filter_fixture(store) -> None:
    """A small zoo of experiments to filter."""
    _exp(store, "Alpha", env="prod", team="ml")
    _exp(store, "alpha_2", env="dev")
    _exp(store, "beta%", env="Prod", owner="x")
    _exp(store, "Gamma", team="")
    _exp(store, "ÄÖ-unicode", env="prød")
    store.delete_experiment(_exp(store, "deleted", env="prod"))


_FILTERS = {
    "name_eq": "name = 'Alpha'",
    "name_eq_attribute_prefix": "attribute.name = 'Alpha'",
    "name_eq_double_quotes": 'name = "Alpha"',
    "name_eq_backticks": "`name` = 'Alpha'",
    "name_ne": "name != 'Alpha'",
    "name_like_prefix": "name LIKE 'alpha%'",
    "name_like_case": "name LIKE 'Alpha%'",
    "name_like_underscore": "name LIKE 'alpha_2'",
    "name_like_single_char": "name LIKE '_amma'",
    "name_like_literal_percent_char": "name LIKE 'beta%'",
    "name_like_no_wildcard": "name LIKE 'Gamma'",
    "name_ilike": "name ILIKE 'ALPHA%'",
    "name_ilike_non_ascii": "name ILIKE 'äö%'",
    "name_ilike_non_ascii_same_case": "name ILIKE 'ÄÖ%'",
    "name_like_lowercase_keyword": "name like '%a%'",
    "tag_eq": "tags.env = 'prod'",
    "tag_eq_singular_entity": "tag.env = 'prod'",
    "tag_ne_needs_tag": "tags.env != 'prod'",
    "tag_like": "tags.env LIKE 'pr%'",
    "tag_ilike": "tags.env ILIKE 'PR%'",
    "tag_empty_value": "tags.team = ''",
    "tag_is_null": "tags.env IS NULL",
    "tag_is_not_null": "tags.team IS NOT NULL",
    "tag_backticked_key": "tags.`env` = 'dev'",
    "two_tags": "tags.env = 'prod' AND tags.team = 'ml'",
    "tag_and_name": "tags.env LIKE '%' AND name LIKE '%a%'",
    "same_tag_twice": "tags.env LIKE 'p%' AND tags.env != 'prod'",
    "id_eq": "experiment_id = '1'",
    "id_eq_padded": "experiment_id = '01'",
    "id_ne": "experiment_id != '0'",
    "id_in": "experiment_id IN ('1', '3', '99')",
    "id_not_in": "experiment_id NOT IN ('0', '2')",
    "creation_time_gt_zero": "creation_time > 0",
    "creation_time_lt_zero": "creation_time < 0",
    "last_update_time_ge": "last_update_time >= 0",
    "creation_time_ne": "creation_time != 5",
    "empty_string": "",
    "no_match": "name = 'nobody'",
}
for _label, _filter in _FILTERS.items():

    def _filter_scenario(store, f=_filter):
        _filter_fixture(store)
        return [
            _search(store, filter_string=f),
            _search(store, filter_string=f, view_type=ViewType.ALL),
        ]

    add(f"search_filter_{_label}", _filter_scenario)


@scenario()
def search_filter_creation_time_window(store):
    first = store.get_experiment(_exp(store, "first"))
    second = store.get_experiment(_exp(store, "second"))
    _exp(store, "third")
    return [
        _search(store, filter_string=f"creation_time > {first.creation_time}"),
        _search(store, filter_string=f"creation_time <= {second.creation_time}"),
        _search(store, filter_string=f"creation_time = {second.creation_time}"),
    ]


@scenario()
def search_filter_last_update_time_after_rename(store):
    a = _exp(store, "a")
    b = _exp(store, "b")
    store.rename_experiment(a, "a2")
    cut = store.get_experiment(b).last_update_time
    return _search(store, filter_string=f"last_update_time > {cut}")


_BAD_FILTERS = {
    "unknown_attribute": "lifecycle_stage = 'active'",
    "unknown_entity": "params.x = 'y'",
    "metric_entity": "metrics.m > 1",
    "name_gt": "name > 'a'",
    "name_in": "name IN ('a', 'b')",
    "unquoted_value": "name = Alpha",
    "tag_numeric_value": "tags.k = 5",
    "tag_gt": "tags.k > 'a'",
    "id_like": "experiment_id LIKE '1%'",
    "id_not_integer": "experiment_id = 'abc'",
    "id_in_not_integer": "experiment_id IN ('1', 'x')",
    "id_gt": "experiment_id > '1'",
    "creation_time_float": "creation_time > 1.5",
    "creation_time_string": "creation_time > '5'",
    "creation_time_like": "creation_time LIKE '5'",
    "name_is_null": "name IS NULL",
    "or_clause": "name = 'a' OR name = 'b'",
    "garbage": "this is not a filter",
    "dangling_and": "name = 'a' AND",
    "unbalanced_quote": "name = 'a",
}
# Bad filters MLflow's SQL store accepted before the release that refuses them.
_REFUSED_SINCE = {
    "creation_time_float": ("3.17", "before it SqlAlchemyStore compared a float literal as text"),
}
for _label, _filter in _BAD_FILTERS.items():
    add(
        f"search_bad_filter_{_label}",
        lambda store, f=_filter: attempt(lambda: store.search_experiments(filter_string=f)),
        reference_since=_REFUSED_SINCE.get(_label),
    )


@scenario()
def search_sees_rename_and_tag_changes(store):
    eid = _exp(store, "before", k="old")
    store.rename_experiment(eid, "after")
    store.set_experiment_tag(eid, ExperimentTag("k", "new"))
    return [
        _search(store, filter_string="name = 'before'"),
        _search(store, filter_string="name = 'after' AND tags.k = 'new'"),
        _search(store, filter_string="tags.k = 'old'"),
    ]


@scenario()
def search_after_restore(store):
    eid = _exp(store, "phoenix")
    store.delete_experiment(eid)
    hidden = _search(store)
    store.restore_experiment(eid)
    return [hidden, _search(store), _search(store, view_type=ViewType.DELETED_ONLY)]


# ---- search: pages in the default order (walked lazily in our store) -------------------
def _mixed_stages(store, n: int = 12) -> None:
    ids = [_exp(store, f"m{i:02d}", parity=str(i % 2)) for i in range(n)]
    for eid in ids[::3]:
        store.delete_experiment(eid)


for _view in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL):
    for _size in (1, 4, 5):

        def _default_pages(store, view=_view, size=_size):
            _mixed_stages(store)
            return _all_pages(store, size, view_type=view)

        add(f"search_default_order_pages_{ViewType.to_string(_view)}_{_size}", _default_pages)


@scenario()
def search_default_order_pages_with_sparse_filter(store):
    _mixed_stages(store, 20)
    return _all_pages(store, 2, view_type=ViewType.ALL, filter_string="name LIKE '%7' ")


@scenario()
def search_default_order_explicit(store):
    _mixed_stages(store)
    return _all_pages(
        store, 5, view_type=ViewType.ALL, order_by=["creation_time DESC", "experiment_id ASC"]
    )


@scenario()
def search_creation_time_desc_alone_pages(store):
    _mixed_stages(store)
    return _all_pages(store, 5, view_type=ViewType.ALL, order_by=["creation_time DESC"])


@scenario()
def search_pages_survive_changes_between_pages(store):
    _mixed_stages(store)
    first = store.search_experiments(max_results=3)
    store.delete_experiment(first[0].experiment_id)
    _exp(store, "newcomer")
    second = store.search_experiments(max_results=3, page_token=first.token)
    return [[e.name for e in first], [e.name for e in second]]
