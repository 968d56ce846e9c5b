"""Tag-index searches (search_runs and search_experiments filters on indexed tags: =, IN,
LIKE prefixes, != and ILIKE (not narrowed), mixed with other clauses, paging, tags changed
or deleted between searches, deleted runs, values beyond the index's key limit). The SQL
store answers from its tables; this store from the tag index then META: results must agree.
"""

from __future__ import annotations

from functools import partial

from mlflow.entities import ExperimentTag, Metric, RunStatus, RunTag, ViewType

from tests.differential import harness

add = partial(harness.add, messages=True)
scenario = partial(harness.scenario, messages=True)

LONG = "é" * 400  # 800 bytes: cut in the index key
USERS = ["alice", "bob", "Alice", "al_ice", "al%ice", "alice#2", "", LONG + "x", LONG + "y"]

FILTERS = [
    "tags.mlflow.user = 'alice'",
    "tags.mlflow.user = 'Alice'",
    "tags.mlflow.user = ''",
    "tags.mlflow.user = 'nobody'",
    "tags.`mlflow.user` = 'alice#2'",
    "tags.mlflow.user LIKE 'al%'",
    "tags.mlflow.user LIKE 'al_ice'",
    "tags.mlflow.user LIKE 'al%ice'",
    "tags.mlflow.user LIKE 'alice'",
    "tags.mlflow.user LIKE '%ice'",
    "tags.mlflow.user ILIKE 'ALICE%'",
    "tags.mlflow.user != 'alice'",
    f"tags.mlflow.user = '{LONG}x'",
    f"tags.mlflow.user LIKE '{LONG}%'",
    f"tags.mlflow.user LIKE '{LONG[:350]}%'",
    "tags.mlflow.user = 'alice' AND metrics.m > 2",
    "tags.mlflow.user LIKE 'al%' AND tags.team = 'a'",
    "tags.mlflow.user = 'bob' AND tags.mlflow.source.name LIKE 'train%'",
    "tags.`mlflow.source.name` LIKE 'train%'",
    "attributes.run_name = 'r03'",
    "attributes.run_name LIKE 'r1%'",
    "attributes.run_name IN ('r01', 'r05', 'nope')",
    "tags.mlflow.user IS NULL",
]


def _populate(store) -> str:
    eid = store.create_experiment("tags")
    for i in range(18):
        user = USERS[i % len(USERS)]
        tags = [RunTag("mlflow.user", user), RunTag("team", "a" if i % 2 else "b")]
        if i % 3 == 0:
            tags.append(RunTag("mlflow.source.name", f"train_{i}.py"))
        rid = store.create_run(eid, user, 1000 + i, tags, f"r{i:02d}").info.run_id
        store.log_metric(rid, Metric("m", float(i % 5), 1, 0))
        if i == 4:
            store.delete_run(rid)
    return eid


def _pages(store, eid, filter_string, view, size, order_by=None):
    pages, token = [], None
    while True:
        page = store.search_runs([eid], filter_string, view, size, order_by, token)
        pages.append([r.info.run_name for r in page])
        token = page.token
        if not token:
            return pages


@scenario()
def run_tag_filters(store):
    eid = _populate(store)
    out = {}
    for f in FILTERS:
        for view in (ViewType.ACTIVE_ONLY, ViewType.ALL, ViewType.DELETED_ONLY):
            out[f"{f} / {view}"] = harness.attempt(
                lambda f=f, view=view: [
                    r.info.run_name for r in store.search_runs([eid], f, view, 1000)
                ]
            )
    return out


@scenario()
def run_tag_filters_paged(store):
    eid = _populate(store)
    out = {}
    for f in (
        "tags.mlflow.user LIKE 'al%'",
        "tags.mlflow.user != 'x'",
        "attributes.run_name LIKE 'r%'",
    ):
        for order in (None, ["metrics.m DESC"], ["attributes.run_name ASC"]):
            out[f"{f} / {order}"] = _pages(store, eid, f, ViewType.ALL, 2, order)
    return out


@scenario()
def run_tags_changed_between_searches(store):
    eid = _populate(store)
    f = "tags.mlflow.user = 'alice'"
    before = [r.info.run_name for r in store.search_runs([eid], f, ViewType.ALL)]
    runs = {r.info.run_name: r.info.run_id for r in store.search_runs([eid], "", ViewType.ALL)}
    store.set_tag(runs["r00"], RunTag("mlflow.user", "carol"))  # leaves 'alice'
    store.set_tag(runs["r01"], RunTag("mlflow.user", "alice"))  # joins
    store.delete_tag(runs["r09"], "mlflow.user")  # leaves
    store.restore_run(runs["r04"])
    store.delete_run(runs["r02"])
    store.update_run_info(runs["r05"], RunStatus.FINISHED, 5000, "renamed")  # mlflow.runName
    store.log_batch(runs["r06"], [], [], [RunTag("mlflow.user", "alice"), RunTag("x", "y")])
    after = {
        g: [r.info.run_name for r in store.search_runs([eid], g, ViewType.ALL)]
        for g in (f, "tags.mlflow.user LIKE 'car%'", "attributes.run_name = 'renamed'",
                  "attributes.run_name = 'r05'")
    }  # fmt: skip
    first = store.search_runs([eid], "tags.mlflow.user LIKE 'a%'", ViewType.ALL, 1)
    store.set_tag(runs["r06"], RunTag("mlflow.user", "zed"))
    rest = store.search_runs(
        [eid], "tags.mlflow.user LIKE 'a%'", ViewType.ALL, 5, None, first.token
    )
    return before, after, [r.info.run_name for r in first], [r.info.run_name for r in rest]


@scenario()
def run_tag_filters_over_two_experiments(store):
    e1 = _populate(store)
    e2 = store.create_experiment("other")
    store.create_run(e2, "alice", 5, [RunTag("mlflow.user", "alice")], "other-run")
    return [r.info.run_name for r in store.search_runs([e1, e2], "tags.mlflow.user = 'alice'")]


@scenario()
def experiment_tag_filters(store):
    for i, user in enumerate(USERS):
        eid = store.create_experiment(
            f"exp{i}", tags=[ExperimentTag("mlflow.user", user), ExperimentTag("k", str(i % 2))]
        )
        if i == 2:
            store.delete_experiment(eid)
    ids = {e.name: e.experiment_id for e in store.search_experiments(ViewType.ALL)}
    store.set_experiment_tag(ids["exp1"], ExperimentTag("mlflow.user", "alice"))
    store.delete_experiment_tag(ids["exp0"], "mlflow.user")
    out = {}
    for f in [*FILTERS[:15], "tags.mlflow.user = 'alice' AND tags.k = '1'", "name LIKE 'exp%'"]:
        for view in (ViewType.ACTIVE_ONLY, ViewType.ALL):
            out[f"{f} / {view}"] = harness.attempt(
                lambda f=f, view=view: [
                    e.name for e in store.search_experiments(view, filter_string=f)
                ]
            )
    paged, token = [], None
    while True:
        page = store.search_experiments(
            ViewType.ALL, 2, "tags.mlflow.user LIKE 'al%'", page_token=token
        )
        paged.append([e.name for e in page])
        if not (token := page.token):
            break
    out["paged"] = paged
    return out
