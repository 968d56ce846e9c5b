"""Differential scenarios: search_registered_models and search_model_versions (filters,
ordering, paging, prompts hidden or asked for, bad input)."""

from __future__ import annotations

import pytest
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag

T, VT = RegisteredModelTag, ModelVersionTag
PROMPT = "mlflow.prompt.is_prompt"
SCENARIOS = {}


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def populate(s):
    """Models, versions in several stages, tags, a prompt with versions, a deleted version."""
    s.create_registered_model("alpha", tags=[T("team", "a"), T("env", "prod")], description="A")
    s.create_registered_model("Beta", tags=[T("team", "b")])
    s.create_registered_model("gamma_1", tags=[T("team", "A")])
    s.create_registered_model("delta%x")
    s.create_registered_model("prompt1", tags=[T(PROMPT, "true"), T("team", "a")])
    for name, n in [("alpha", 3), ("Beta", 2), ("gamma_1", 1)]:
        for i in range(n):
            s.create_model_version(
                name,
                f"s3://bucket/{name}/{i}",
                run_id=f"run{i % 2}",
                tags=[VT("i", str(i)), VT("kind", "even" if i % 2 == 0 else "odd")],
            )
    s.create_model_version(
        "prompt1", "dummy-source", tags=[VT(PROMPT, "true"), VT("mlflow.prompt.text", "hi")]
    )
    s.transition_model_version_stage("alpha", 1, "Production", False)
    s.transition_model_version_stage("Beta", 2, "Staging", False)
    s.delete_model_version("alpha", 3)
    s.update_registered_model("gamma_1", "touched")


def model_search(*filters, **kwargs):
    def run(s):
        populate(s)
        for f in filters:
            s.search_registered_models(f, **kwargs)

    return run


def version_search(*filters, **kwargs):
    def run(s):
        populate(s)
        for f in filters:
            s.search_model_versions(f, **kwargs)

    return run


MODEL_FILTERS = {
    "rm_all": [None, ""],
    "rm_name_eq": ["name = 'alpha'", "name='Beta'", "name = 'beta'", "name = 'prompt1'"],
    "rm_name_ne": ["name != 'alpha'"],
    "rm_name_like": ["name LIKE 'a%'", "name LIKE '%a%'", "name LIKE 'B%'", "name LIKE 'gamma_%'"],
    "rm_name_like_escape": ["name LIKE 'delta%'", "name LIKE '%\\%%'", "name LIKE '_eta'"],
    "rm_name_ilike": ["name ILIKE 'b%'", "name ILIKE '%A%'", "name ILIKE 'ALPHA'"],
    "rm_name_in": ["name IN ('alpha', 'Beta', 'nope')", "name NOT IN ('alpha')"],
    "rm_tag_eq": ["tags.team = 'a'", "tag.team = 'A'", "tags.`team` = 'b'", "tags.env = 'prod'"],
    "rm_tag_ne": ["tags.team != 'a'", "tags.missing != 'x'"],
    "rm_tag_like": ["tags.team LIKE 'a%'", "tags.team ILIKE 'a'", "tags.team LIKE '%'"],
    "rm_tag_and": [
        "tags.team = 'a' AND tags.env = 'prod'",
        "name LIKE '%a%' AND tags.team ILIKE 'A'",
        "tags.team LIKE '%' AND tags.team != 'b'",
    ],
    "rm_prompts_only": [
        f"tags.`{PROMPT}` = 'true'",
        f"tags.`{PROMPT}` != 'false'",
        f"tags.`{PROMPT}` = 'TRUE'",
        f"tags.`{PROMPT}` = 'true' AND tags.team = 'a'",
        f"tags.`{PROMPT}` = 'true' AND name = 'alpha'",
    ],
    "rm_prompts_excluded": [
        f"tags.`{PROMPT}` = 'false'",
        f"tags.`{PROMPT}` != 'true'",
        f"tags.`{PROMPT}` = 'false' AND tags.team = 'a'",
        f"tags.`{PROMPT}` LIKE 't%'",
    ],
    "rm_bad_filters": [
        "name > 'a'",
        "creation_timestamp > 0",
        "description = 'x'",
        "tags.team > 'a'",
        "tags.team IN ('a')",
        "name = alpha",
        "name = 'a' OR name = 'b'",
        "params.x = 'y'",
        "name IS NULL",
        "foo.bar = 'x'",
        "tags.team = 1",
        "name",
    ],
}

for _key, _filters in MODEL_FILTERS.items():
    SCENARIOS[_key] = model_search(*_filters)


@scenario
def rm_order_by(s):
    populate(s)
    for order in [
        ["name ASC"],
        ["name DESC"],
        ["last_updated_timestamp DESC"],
        ["timestamp ASC"],
        ["last_updated_timestamp ASC", "name DESC"],
        ["timestamp DESC", "name ASC"],
        [],
        None,
    ]:
        s.search_registered_models(order_by=order)


@scenario
def rm_order_by_bad(s):
    populate(s)
    for order in [
        ["creation_timestamp DESC"],
        ["name SIDEWAYS"],
        ["bogus"],
        ["name ASC", "name DESC"],
        ["timestamp ASC", "last_updated_timestamp DESC"],
        ["tags.x ASC"],
        [""],
    ]:
        s.search_registered_models(order_by=order)


@scenario
def rm_paging(s):
    for i in range(7):
        s.create_registered_model(f"m{i}")
    first = s.search_registered_models(max_results=3)
    second = s.search_registered_models(max_results=3, page_token=first.token)
    s.search_registered_models(max_results=3, page_token=second.token)
    s.search_registered_models(max_results=7)
    s.search_registered_models(max_results=6)
    s.search_registered_models(max_results=1000)
    s.search_registered_models(max_results=1001)
    s.search_registered_models(max_results=0)
    s.search_registered_models(page_token="not a token")
    s.search_registered_models(page_token="eyJvZmZzZXQiOiAxMDB9")


@scenario
def rm_paging_with_filter_and_order(s):
    for i in range(6):
        s.create_registered_model(f"m{i}", tags=[T("parity", str(i % 2))])
    page = s.search_registered_models("tags.parity = '0'", max_results=2, order_by=["name DESC"])
    s.search_registered_models(
        "tags.parity = '0'", max_results=2, order_by=["name DESC"], page_token=page.token
    )


def _page_through(s, filter_string=None, order_by=None, max_results=2):
    """Every page of a search, each fetched with the previous page's token."""
    token = None
    while True:
        page = s.search_registered_models(
            filter_string, max_results=max_results, order_by=order_by, page_token=token
        )
        if page is None or not page.token:
            return
        token = page.token


@scenario
def rm_paging_through_everything(s):
    """Small pages across the whole collection, in every order and with filters; prompts
    in the middle of the name order are skipped by the walk."""
    names = ["a", "B", "c_1", "Ca", "d%", "é", "zz", "m 1", "m_2", "p"]
    for i, name in enumerate(names):
        tags = [T("parity", str(i % 2))]
        if name == "p":
            tags.append(T(PROMPT, "true"))
        s.create_registered_model(name, tags=tags)
    s.update_registered_model("c_1", "touched")  # last_updated order differs from creation
    for order in [None, ["name ASC"], ["name DESC"], ["last_updated_timestamp DESC"],
                  ["timestamp ASC", "name DESC"]]:  # fmt: skip
        for size in (1, 3, 4):
            _page_through(s, None, order, size)
        _page_through(s, "tags.parity = '1'", order, 2)
        _page_through(s, "name LIKE 'm%'", order, 1)
        _page_through(s, f"tags.`{PROMPT}` = 'true'", order, 1)
    _page_through(s, "tags.parity = 'none'", None, 1)
    s.search_registered_models(max_results=0)
    s.search_registered_models("name = 'zz'", max_results=0)


@scenario
def rm_paging_with_changes_between_pages(s):
    """Models created, renamed and deleted between pages of a name-ordered walk: the SQL
    store's offsets and this store's cursors agree when changes land after the cursor."""
    for name in ["a", "b", "c", "d", "e", "f"]:
        s.create_registered_model(name)
    first = s.search_registered_models(max_results=2)
    s.create_registered_model("x")
    s.delete_registered_model("e")
    second = s.search_registered_models(max_results=2, page_token=first.token)
    s.rename_registered_model("f", "y")
    s.search_registered_models(max_results=2, page_token=second.token)
    first = s.search_registered_models(max_results=3, order_by=["name DESC"])
    s.search_registered_models(max_results=3, order_by=["name DESC"], page_token=first.token)
    # (a token reused with another order_by is refused here, unlike the SQL store's offsets:
    # tests/integration/test_search_paging_cost.py)


@scenario
def rm_latest_versions_in_results(s):
    populate(s)
    s.search_registered_models(order_by=["name ASC"])
    s.search_registered_models("name = 'alpha'")


VERSION_FILTERS = {
    "mv_all": [None, ""],
    "mv_name": ["name = 'alpha'", "name = 'nope'", "name != 'alpha'", "name LIKE 'a%'"],
    "mv_name_in": ["name IN ('alpha', 'Beta')", "name NOT IN ('alpha')", "name IN ('zzz')"],
    "mv_name_ilike": ["name ILIKE 'BETA'", "name ILIKE '%A%'"],
    "mv_version_number": [
        "version_number = 1",
        "version_number > 1",
        "version_number <= 2 AND name = 'alpha'",
        "version_number != 1",
        "version_number = '2'",
    ],
    "mv_run_id": [
        "run_id = 'run0'",
        "run_id = 'run1' AND name = 'Beta'",
        "run_id IN ('run0', 'run1')",
        "run_id != 'run0'",
        "run_id NOT IN ('run1')",
        "run_id LIKE 'run%'",
    ],
    "mv_source": ["source_path = 's3://bucket/alpha/0'", "source_path LIKE 's3://bucket/B%'"],
    "mv_tags": [
        "tags.kind = 'even'",
        "tag.i = '1'",
        "tags.kind != 'odd'",
        "tags.kind LIKE 'e%' AND name = 'alpha'",
        "tags.kind ILIKE 'ODD'",
    ],
    "mv_prompts": [
        f"tags.`{PROMPT}` = 'true'",
        f"name = 'prompt1' AND tag.`{PROMPT}` = 'true'",
        f"tags.`{PROMPT}` = 'false'",
        f"tags.`{PROMPT}` != 'true'",
        "name = 'prompt1'",
    ],
    "mv_bad_filters": [
        "version_number = 1.5",
        "version_number LIKE '1'",
        "version_number = 'abc'",
        "source_path IN ('a')",
        "run_id > 'a'",
        "current_stage = 'None'",
        "tags.kind > 'a'",
        "name = 'a' OR name = 'b'",
        "name = 1",
        "metrics.x > 1",
    ],
}

for _key, _filters in VERSION_FILTERS.items():
    SCENARIOS[_key] = version_search(*_filters)


@scenario
def mv_order_by(s):
    populate(s)
    for order in [
        ["name ASC"],
        ["version_number ASC"],
        ["creation_timestamp DESC"],
        ["last_updated_timestamp ASC", "version_number ASC"],
        ["name DESC", "version_number ASC"],
        None,
    ]:
        s.search_model_versions(order_by=order)


@scenario
def mv_order_by_bad(s):
    populate(s)
    for order in [
        ["run_id ASC"],
        ["name ASC", "name DESC"],
        ["bogus DESC"],
        ["tags.x ASC"],
        ["name UP"],
    ]:
        s.search_model_versions(order_by=order)


@scenario
def mv_paging(s):
    populate(s)
    first = s.search_model_versions(max_results=2)
    second = s.search_model_versions(max_results=2, page_token=first.token)
    s.search_model_versions(max_results=2, page_token=second.token)
    for bad in [0, -1, 200_001, "10"]:
        s.search_model_versions(max_results=bad)
    s.search_model_versions(max_results=200_000)
    s.search_model_versions(page_token="%%%")


@scenario
def mv_search_after_rename(s):
    populate(s)
    s.rename_registered_model("alpha", "omega")
    s.search_model_versions()
    s.search_model_versions("name = 'omega'")
    s.search_model_versions("name = 'alpha'")
    s.search_registered_models()


@scenario
def mv_prompt_model_with_mixed_versions(s):
    # A model becomes hidden from version search once any version has the prompt tag, even a
    # deleted one (the SQL store's anti-join on version tags by model name).
    s.create_registered_model("mixed")
    s.create_model_version("mixed", "s3://a")
    s.create_model_version("mixed", "s3://b", tags=[VT(PROMPT, "true")])
    s.search_model_versions()
    s.delete_model_version("mixed", 2)
    s.search_model_versions()
    s.search_model_versions(f"tags.`{PROMPT}` = 'true'")
    s.create_registered_model("other")
    s.create_model_version("other", "s3://c")
    s.set_model_version_tag("other", 1, VT(PROMPT, "true"))
    s.search_model_versions()
    s.delete_model_version_tag("other", 1, PROMPT)
    s.search_model_versions()
    s.set_model_version_tag("other", 1, VT(PROMPT, "false"))
    s.search_model_versions()


@scenario
def rm_prompt_tag_changes(s):
    s.create_registered_model("m")
    s.set_registered_model_tag("m", T(PROMPT, "true"))
    s.search_registered_models()
    s.search_registered_models(f"tags.`{PROMPT}` = 'true'")
    s.set_registered_model_tag("m", T(PROMPT, "True"))
    s.search_registered_models()
    s.search_registered_models(f"tags.`{PROMPT}` = 'true'")
    s.delete_registered_model_tag("m", PROMPT)
    s.search_registered_models()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_search(compare, name):
    compare(SCENARIOS[name])
