"""Experiment scenarios: create/get/get-by-name/rename/delete/restore/tags/search."""

from __future__ import annotations

from functools import partial

from mlflow.entities import ExperimentTag, ViewType

from tests.differential import harness
from tests.differential.harness import attempt

# Experiments are this store's own area: compare error messages too, not only codes.
add = partial(harness.add, messages=True)
scenario = partial(harness.scenario, messages=True)


def _exp(store, name: str, **tags: str) -> str:
    return store.create_experiment(name, tags=[ExperimentTag(k, v) for k, v in tags.items()])


def _search(store, **kwargs):
    """A search reduced to what identifies the page: names in order and whether a token
    came back (tokens are opaque and need not be equal)."""
    page = store.search_experiments(**kwargs)
    return {"names": [e.name for e in page], "has_token": page.token is not None}


def _all_pages(store, max_results: int, **kwargs) -> list[list[str]]:
    pages, token = [], None
    while True:
        page = store.search_experiments(max_results=max_results, page_token=token, **kwargs)
        pages.append([e.name for e in page])
        token = page.token
        if not token:
            return pages


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
for _label, _filter in _BAD_FILTERS.items():
    add(
        f"search_bad_filter_{_label}",
        lambda store, f=_filter: attempt(lambda: store.search_experiments(filter_string=f)),
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
