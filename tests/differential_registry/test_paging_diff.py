"""Differential scenarios: paging search_model_versions and search_registered_models page
by page, in every order the SQL store accepts, with filters, small pages, ties of the
timestamps (many writes in the same millisecond) and writes between pages.

The token is opaque (a keyset cursor here, an offset in SQL); the harness compares whether
a next page exists and every page's rows. Writes between pages that move rows across the
cursor are compared in tests/integration/test_registry_paging.py instead (an offset and a
keyset cursor give different, both documented, pages then).
"""

from __future__ import annotations

import contextlib

import pytest
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag

from tests.differential_registry.harness import CLOCK_MODULES

T, VT = RegisteredModelTag, ModelVersionTag
PROMPT = "mlflow.prompt.is_prompt"

VERSION_ORDERS = [
    None,
    ["last_updated_timestamp DESC"],
    ["last_updated_timestamp ASC"],
    ["last_updated_timestamp ASC", "name DESC"],
    ["last_updated_timestamp DESC", "version_number ASC"],
    ["creation_timestamp ASC"],
    ["creation_timestamp DESC", "name DESC", "version_number ASC"],
    ["name ASC"],
    ["name DESC"],
    ["name ASC", "version_number ASC"],
    ["name DESC", "creation_timestamp DESC"],
    ["name ASC", "last_updated_timestamp ASC"],
    ["version_number DESC"],
    ["version_number ASC", "name DESC"],
]
VERSION_FILTERS = [
    None,
    "tags.kind = 'even'",
    "name LIKE 'm%'",
    "name = 'm03'",
    "run_id = 'r1'",
    "version_number >= 2",
    "name ILIKE '%B%' AND tags.kind != 'odd'",
    f"tags.`{PROMPT}` = 'true'",
]
MODEL_ORDERS = [
    ["last_updated_timestamp DESC"],
    ["last_updated_timestamp ASC"],
    ["timestamp DESC", "name DESC"],
    ["last_updated_timestamp ASC", "name ASC"],
    None,
]
MODEL_FILTERS = [None, "tags.team = 'a'", "name LIKE 'm0%'", "name ILIKE '%b%'"]


@contextlib.contextmanager
def frozen_clock(monkeypatch_free_time: int):
    """Every write inside happens in the same millisecond (ties of the timestamps)."""
    import importlib

    saved = []
    for name in CLOCK_MODULES:
        module = importlib.import_module(name)
        saved.append((module, module.get_current_time_millis))
        module.get_current_time_millis = lambda: monkeypatch_free_time
    try:
        yield
    finally:
        for module, clock in saved:
            module.get_current_time_millis = clock


def populate(s):
    """Twelve models (one a prompt) with 0-5 versions each, many written in the same
    millisecond; stage changes, archived siblings, described, deleted and renamed ones."""
    names = ["m00", "M01", "m02", "m03", "b_04", "B05", "m06", "m07", "zz", "m%9", "p1", "m11"]
    for i, name in enumerate(names):
        tags = [T("team", "a" if i % 3 == 0 else "b")]
        if name == "p1":
            tags.append(T(PROMPT, "true"))
        s.create_registered_model(name, tags=tags)
    with frozen_clock(1_600_000_000_000):
        for i, name in enumerate(names[:6]):
            for v in range(1 + i % 3):
                s.create_model_version(
                    name,
                    f"s3://b/{name}/{v}",
                    run_id=f"r{v % 2}",
                    tags=[VT("kind", "even" if v % 2 == 0 else "odd")],
                )
    for i, name in enumerate(names[6:]):
        prompt = [VT(PROMPT, "true")] if name == "p1" else []
        for v in range(i % 4 + 1):
            s.create_model_version(name, f"s3://b/{name}/{v}", run_id=f"r{v % 3}", tags=prompt)
    with frozen_clock(1_650_000_000_000):
        s.transition_model_version_stage("m00", 1, "Production", False)
        s.transition_model_version_stage("m02", 2, "Production", False)
        s.update_model_version("M01", 2, "described")
        s.update_registered_model("zz", "touched")
    s.transition_model_version_stage("m02", 3, "Production", True)  # archives version 2
    s.delete_model_version("m07", 1)
    s.rename_registered_model("m06", "b_06")
    s.set_model_version_tag("zz", 1, VT(PROMPT, "false"))


def page_through(search, max_results, **kwargs):
    token = None
    for _ in range(60):
        result = search(max_results=max_results, page_token=token, **kwargs)
        if result is None:  # an error, recorded (and compared) by the harness
            return
        token = result.token
        if not token:
            return
    raise AssertionError("paging did not end")


SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def _versions_paged(filters):
    def run(s):
        populate(s)
        for order in VERSION_ORDERS:
            for filter_string in filters:
                for size in (4, 9):
                    page_through(
                        s.search_model_versions, size, filter_string=filter_string, order_by=order
                    )

    return run


for _i, _f in enumerate(VERSION_FILTERS):
    SCENARIOS[f"mv_paged_{_i}"] = _versions_paged([_f])


@scenario
def rm_paged(s):
    populate(s)
    for order in MODEL_ORDERS:
        for filter_string in MODEL_FILTERS:
            for size in (1, 4):
                page_through(
                    s.search_registered_models, size, filter_string=filter_string, order_by=order
                )


@scenario
def mv_writes_between_pages_that_keep_places(s):
    """Writes that do not move rows (tags: no timestamp changes in SQL either) and new rows
    beyond the cursor (a new model in name order, read in name ASC) give the same pages."""
    populate(s)
    first = s.search_model_versions(max_results=5, order_by=["name ASC"])
    assert first is not None
    s.set_model_version_tag("zz", 2, VT("late", "1"))
    s.create_registered_model("zzz")
    s.create_model_version("zzz", "s3://late")
    second = s.search_model_versions(max_results=5, order_by=["name ASC"], page_token=first.token)
    s.search_model_versions(max_results=50, order_by=["name ASC"], page_token=second.token)
    third = s.search_model_versions(max_results=5)
    s.set_model_version_tag("m03", 1, VT("kind", "changed"))
    s.search_model_versions(max_results=50, page_token=third.token)


@scenario
def rm_writes_between_pages_that_keep_places(s):
    populate(s)
    first = s.search_registered_models(max_results=3, order_by=["last_updated_timestamp ASC"])
    s.set_registered_model_tag("m00", T("x", "y"))  # no last update change in SQL
    s.create_registered_model("late")  # newest: after the cursor ascending
    s.search_registered_models(
        max_results=50, order_by=["last_updated_timestamp ASC"], page_token=first.token
    )


@scenario
def paging_bad_tokens(s):
    populate(s)
    s.search_model_versions(max_results=3, page_token="not a token")
    s.search_registered_models(
        max_results=3, order_by=["last_updated_timestamp DESC"], page_token="%%%"
    )


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_paging(compare, name):
    compare(SCENARIOS[name])
