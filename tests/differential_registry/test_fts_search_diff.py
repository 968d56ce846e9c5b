"""The trigram index against the SQL store: search_registered_models and
search_model_versions with name LIKE / ILIKE over generated names (mixed case, accents,
CJK, emoji, ``%``, ``_``, quotes, short names), every wildcard placement, paging with small
max_results, and renames and deletes between searches."""

from __future__ import annotations

from tests.fts.names import generated_names, patterns


def _all_pages(search, **kwargs) -> None:
    """Page through a search (each page is recorded by the harness)."""
    token = None
    for _ in range(40):
        result = search(page_token=token, **kwargs)
        token = result.token if result is not None else None
        if not token:
            return


def _searches(s, pats: list[str]) -> None:
    for i, pattern in enumerate(pats):
        for comparator in ("LIKE", "ILIKE"):
            flt = f"name {comparator} '{pattern}'"
            if i % 3 == 0:
                _all_pages(s.search_registered_models, filter_string=flt, max_results=3)
            else:
                s.search_registered_models(filter_string=flt, max_results=1000)
            if i % 4 == 0:
                _all_pages(s.search_model_versions, filter_string=flt, max_results=4)


def test_search_models_and_versions_by_name(compare):
    names = generated_names(30, seed=13)
    pats = patterns(names, 26, seed=17)

    def scenario(s):
        for n in names:
            s.create_registered_model(n)
        for n in names[::4]:
            s.create_model_version(n, "s3://b/x", run_id="r1")
            s.create_model_version(n, "s3://b/y", run_id="r2")
        _searches(s, pats)
        for n in names[4:10]:
            s.rename_registered_model(n, n + "-renamed")
        for n in names[10:14]:
            s.delete_registered_model(n)
        s.delete_model_version(names[16], 1)
        _searches(s, [*pats[:12], "%renamed%", "%-REN%", "%amed"])

    compare(scenario)
