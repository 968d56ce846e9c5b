"""The trigram index against the SQL store: search_experiments and search_runs with name
LIKE / ILIKE / = filters over generated names (mixed case, accents, CJK, emoji, ``%``,
``_``, quotes, 1-2 characters), every wildcard placement, paging with small max_results,
and renames and deletes between searches. Both stores must give the same pages."""

from __future__ import annotations

from mlflow.entities import RunStatus, ViewType
from mlflow.exceptions import MlflowException

from tests.fts.names import generated_names, patterns


def _pages(search, max_results: int, **kwargs) -> list:
    """Every page of a search (names per page), or the error code."""
    pages, token = [], None
    try:
        while True:
            result = search(max_results=max_results, page_token=token, **kwargs)
            pages.append([getattr(x, "name", None) or x.info.run_name for x in result])
            token = result.token
            if not token or len(pages) > 50:
                return pages
    except MlflowException as exc:
        return [exc.error_code]


def _experiment_searches(store, names_patterns: list[str]) -> list:
    out = []
    for i, pattern in enumerate(names_patterns):
        for comparator in ("LIKE", "ILIKE"):
            flt = f"name {comparator} '{pattern}'"
            if i % 3 == 0:  # page through some of them with small pages
                out.append(_pages(store.search_experiments, 2, filter_string=flt))
            else:
                out.append(
                    [
                        e.name
                        for e in store.search_experiments(
                            filter_string=flt, view_type=ViewType.ALL, max_results=1000
                        )
                    ]
                )
    out.append(_pages(store.search_experiments, 3, filter_string="name LIKE '%mod%'",
                      order_by=["name DESC"]))  # fmt: skip
    out.append([e.name for e in store.search_experiments(filter_string="name = 'x-bert'")])
    return out


def test_search_experiments_by_name(sql_store, dynamo_store):
    names = generated_names(32)
    pats = patterns(names, 26)

    def scenario(store):
        ids = {n: store.create_experiment(n) for n in names}
        log = _experiment_searches(store, pats)
        # renames and deletes between searches
        for n in names[10:16]:
            store.rename_experiment(ids[n], n + "-renamed")
        for n in names[16:22]:
            store.delete_experiment(ids[n])
        store.restore_experiment(ids[names[16]])
        log += _experiment_searches(store, [*pats[:12], "%renamed%", "%-ren%", "%ENAMED"])
        return log

    assert scenario(dynamo_store) == scenario(sql_store)


def _run_searches(store, exp_ids: list[str], pats: list[str]) -> list:
    out = []
    for i, pattern in enumerate(pats):
        for comparator in ("LIKE", "ILIKE"):
            flt = f"attributes.run_name {comparator} '{pattern}'"
            if i % 3 == 0:
                out.append(_pages(store.search_runs, 3, experiment_ids=exp_ids,
                                  filter_string=flt, run_view_type=ViewType.ALL))  # fmt: skip
            else:
                runs = store.search_runs(exp_ids, flt, ViewType.ACTIVE_ONLY, max_results=1000)
                out.append([r.info.run_name for r in runs])
    out.append(_pages(store.search_runs, 2, experiment_ids=exp_ids,
                      filter_string="run_name LIKE '%rai%'", run_view_type=ViewType.ALL,
                      order_by=["attributes.run_name ASC"]))  # fmt: skip
    return out


def test_search_runs_by_name(sql_store, dynamo_store):
    names = generated_names(32, seed=3)
    pats = patterns(names, 26, seed=5)

    def scenario(store):
        exp_a = store.create_experiment("a")
        exp_b = store.create_experiment("b")
        runs = []
        for i, n in enumerate(names):
            exp = exp_a if i % 3 else exp_b
            runs.append(store.create_run(exp, "u", 1000 + i, [], n).info.run_id)
        # a run logged with a duplicate name in each experiment
        store.create_run(exp_a, "u", 999, [], names[5])
        log = _run_searches(store, [exp_a, exp_b], pats)
        for i, run_id in enumerate(runs[:8]):
            store.update_run_info(run_id, RunStatus.FINISHED, 5000 + i, names[i] + "·v2")
        for run_id in runs[8:14]:
            store.delete_run(run_id)
        store.restore_run(runs[8])
        log += _run_searches(store, [exp_a], [*pats[:10], "%·v2", "%V2%"])
        return log

    assert scenario(dynamo_store) == scenario(sql_store)


def test_experiment_of_deleted_stage_filtered(sql_store, dynamo_store):
    """Soft-deleted experiments keep their postings; the lifecycle filter still applies."""

    def scenario(store):
        a = store.create_experiment("my model 数据")
        store.create_experiment("other model 数据")
        store.delete_experiment(a)
        out = []
        for pattern in ("%odel%", "%数据%"):
            for view in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL):
                flt = f"name LIKE '{pattern}'"
                found = store.search_experiments(view_type=view, filter_string=flt)
                out.append([e.name for e in found])
        return out

    assert scenario(dynamo_store) == scenario(sql_store)


def test_search_logged_models_by_name(sql_store, dynamo_store):
    # logged model names cannot hold / : . % " '
    names = [n for n in generated_names(34, seed=21) if not set(n) & set("/:.%\"'")][:24]
    pats = patterns(names, 20, seed=23)

    def searches(store, exp_ids, pats):
        out = []
        for i, pattern in enumerate(pats):
            for comparator in ("LIKE", "ILIKE"):
                flt = f"name {comparator} '{pattern}'"
                token, pages = None, []
                while True:
                    by_name = [{"field_name": "name", "ascending": True}]
                    page = store.search_logged_models(
                        exp_ids, filter_string=flt, max_results=3 if i % 2 else 100,
                        page_token=token, order_by=by_name if i % 3 == 0 else None,
                    )  # fmt: skip
                    pages.append([m.name for m in page])
                    token = page.token
                    if not token:
                        break
                out.append(pages)
        return out

    def scenario(store):
        exp_a, exp_b = store.create_experiment("a"), store.create_experiment("b")
        models = [
            store.create_logged_model(exp_a if i % 2 else exp_b, name=n).model_id
            for i, n in enumerate(names)
        ]
        log = searches(store, [exp_a, exp_b], pats)
        for model_id in models[:5]:
            store.delete_logged_model(model_id)
        log += searches(store, [exp_a], pats[:8])
        return log

    assert scenario(dynamo_store) == scenario(sql_store)
