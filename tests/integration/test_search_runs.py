"""search_runs on DynamoDB Local against MLflow's SqlAlchemyStore on SQLite.

The same runs (same names and ids, see tests/search_runs_data.py) are written through both
stores; every filter and order must return the same runs in the same order, page after
page, and bad input must fail with the same error codes.
"""

from __future__ import annotations

import contextlib
import uuid

import boto3
import pytest
from mlflow.entities import Metric, ViewType
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.search_runs_data import BASE_TIME, FILTERS, ORDERS, populate
from tests.sqlite_template import migrated_sqlite_uri


@contextlib.contextmanager
def _module_table(dynamodb_local):
    """A table for a whole module (populating one per test would dominate the run time)."""
    name = f"t{uuid.uuid4().hex[:16]}"
    try:
        yield f"dynamodb://127.0.0.1:{dynamodb_local.port}/{name}"
    finally:
        client = boto3.client(
            "dynamodb", endpoint_url=dynamodb_local.endpoint_url, region_name="us-east-1"
        )
        with contextlib.suppress(client.exceptions.ResourceNotFoundException):
            client.delete_table(TableName=name)


@pytest.fixture(scope="module")
def stores(dynamodb_local, tmp_path_factory):
    path = tmp_path_factory.mktemp("search-runs")
    sql = SqlAlchemyStore(migrated_sqlite_uri(path / "m.db"), str(path / "artifacts"))
    with _module_table(dynamodb_local) as uri:
        ddb = DynamoDBTrackingStore(uri, str(path / "artifacts"))
        sql_ids = populate(sql)
        ddb_ids = populate(ddb)
        assert sql_ids == ddb_ids
        yield sql, ddb, list(ddb_ids.values())
    sql.engine.dispose()


def _ids(runs) -> list[str]:
    return [r.info.run_id for r in runs]


def _all_pages(store, exp_ids, filter_string, view_type, order_by, max_results):
    pages, token = [], None
    while True:
        page = store.search_runs(
            exp_ids, filter_string, view_type, max_results, order_by, page_token=token
        )
        pages.append(_ids(page))
        token = page.token
        if not token:
            return pages
        assert len(pages) < 100


@pytest.mark.parametrize("filter_string", FILTERS)
def test_filters(stores, filter_string):
    sql, ddb, exp_ids = stores
    for view_type in (ViewType.ACTIVE_ONLY, ViewType.ALL):
        expected = _ids(sql.search_runs(exp_ids, filter_string, view_type, 1000))
        assert _ids(ddb.search_runs(exp_ids, filter_string, view_type, 1000)) == expected


@pytest.mark.parametrize("order_by", ORDERS, ids=str)
def test_orders_and_pages(stores, order_by):
    sql, ddb, exp_ids = stores
    for view_type in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL):
        expected = _ids(sql.search_runs(exp_ids, None, view_type, 1000, order_by))
        assert _ids(ddb.search_runs(exp_ids, None, view_type, 1000, order_by)) == expected
    # pages of 7: the same page boundaries as SQL, and the same "is there more" answer
    sql_pages = _all_pages(sql, exp_ids, None, ViewType.ALL, order_by, 7)
    assert _all_pages(ddb, exp_ids, None, ViewType.ALL, order_by, 7) == sql_pages


@pytest.mark.parametrize(
    ("filter_string", "order_by"),
    [
        ("metrics.acc > 0", ["metrics.acc DESC"]),
        ("params.p != 'a'", ["metrics.loss"]),
        ("datasets.context = 'train'", ["metrics.acc"]),
        ("attributes.status != 'RUNNING'", ["attributes.start_time ASC"]),
        ("tags.t IS NOT NULL", None),
        ("params.p LIKE '%'", ["params.q DESC", "metrics.acc"]),
    ],
)
def test_filtered_orders_in_pages(stores, filter_string, order_by):
    sql, ddb, exp_ids = stores
    for size in (1, 4):
        expected = _all_pages(sql, exp_ids, filter_string, ViewType.ACTIVE_ONLY, order_by, size)
        got = _all_pages(ddb, exp_ids, filter_string, ViewType.ACTIVE_ONLY, order_by, size)
        assert got == expected


METRIC_RANGE_FILTERS = [
    "metrics.acc > 1",
    "metrics.acc >= 2 and metrics.acc <= 10",
    "metrics.acc = 2",
    "metrics.acc != 2",
    "metrics.acc > 5 and metrics.acc < 1",
    "metrics.acc <= 1.7976931348623157e308",
    "metrics.acc >= -1.7976931348623157e308",
    "metrics.acc < 1e999",
    "metrics.acc > 1e308",
    "metrics.acc < -1e308",
    "metrics.loss > 0",
]


@pytest.mark.parametrize("filter_string", METRIC_RANGE_FILTERS)
def test_metric_filters_bound_the_metric_walk(stores, filter_string):
    sql, ddb, exp_ids = stores
    for order_by in (["metrics.acc"], ["metrics.acc DESC"], ["metrics.acc DESC", "params.p"]):
        expected = _all_pages(sql, exp_ids, filter_string, ViewType.ALL, order_by, 3)
        assert _all_pages(ddb, exp_ids, filter_string, ViewType.ALL, order_by, 3) == expected


START_TIME_FILTERS = [
    "attributes.start_time >= 1700000003000",
    "attributes.start_time > 1700000002999.5 and attributes.start_time < 1700000008000",
    "created = 1700000005000",
    "attributes.start_time <= 1700000001000",
    "attributes.start_time > 1700000009000",
    "attributes.start_time < -1e25",
    "attributes.start_time > 1e25",
    "attributes.start_time < 1e25",
    "attributes.start_time > 1700000002000 and attributes.start_time < 1700000001000",
]


@pytest.mark.parametrize("filter_string", START_TIME_FILTERS)
def test_start_time_filters_bound_the_run_walks(stores, filter_string):
    sql, ddb, exp_ids = stores
    for order_by in (None, ["start_time ASC"], ["metrics.acc"], ["params.p DESC"]):
        expected = _all_pages(sql, exp_ids, filter_string, ViewType.ALL, order_by, 4)
        assert _all_pages(ddb, exp_ids, filter_string, ViewType.ALL, order_by, 4) == expected


def test_start_times_beyond_64_bits_match_nothing_instead_of_failing(stores):
    _, ddb, exp_ids = stores  # SQLite raises OverflowError (a 500) on these
    for f in ("start_time > 99999999999999999999999", "start_time < -99999999999999999999999"):
        assert list(ddb.search_runs(exp_ids, f, ViewType.ALL, 10)) == []


def test_one_experiment_and_unknown_ones(stores):
    sql, ddb, exp_ids = stores
    for ids in ([exp_ids[1]], [exp_ids[0], "424242"], ["424242"], []):
        for order_by in (None, ["metrics.acc"]):
            expected = _ids(sql.search_runs(ids, None, ViewType.ALL, 1000, order_by))
            assert _ids(ddb.search_runs(ids, None, ViewType.ALL, 1000, order_by)) == expected


def test_run_ids_in_and_not_in(stores):
    sql, ddb, exp_ids = stores
    all_ids = _ids(sql.search_runs(exp_ids, None, ViewType.ALL, 1000))
    some = all_ids[::5]
    listed = ", ".join(f"'{r}'" for r in [*some, "f" * 32, "x" * 300])
    for f in (
        f"attributes.run_id IN ({listed})",
        f"run_id NOT IN ({listed})",
        f"run_id = '{all_ids[3]}'",
        f"run_id = '{all_ids[3]}' and run_id IN ({listed})",
        f"run_id IN ({listed}) and metrics.acc > 0",
        f"run_id IN ({listed}) and run_id != '{some[0]}'",
    ):
        for order_by in (None, ["metrics.acc DESC"], ["params.p"]):
            expected = _all_pages(sql, exp_ids, f, ViewType.ACTIVE_ONLY, order_by, 2)
            assert _all_pages(ddb, exp_ids, f, ViewType.ACTIVE_ONLY, order_by, 2) == expected
    # a listed run of an experiment that is not searched stays out
    f = f"run_id IN ({listed})"
    assert _ids(ddb.search_runs(exp_ids[:1], f, ViewType.ALL, 100)) == _ids(
        sql.search_runs(exp_ids[:1], f, ViewType.ALL, 100)
    )


def test_returned_runs_are_the_same_entities(stores):
    sql, ddb, exp_ids = stores
    expected = sql.search_runs(exp_ids, None, ViewType.ALL, 1000)
    got = ddb.search_runs(exp_ids, None, ViewType.ALL, 1000)
    assert len(got) == len(expected) > 0
    for a, b in zip(got, expected, strict=True):
        assert (a.info.run_name, a.info.status, a.info.start_time, a.info.end_time) == (
            b.info.run_name,
            b.info.status,
            b.info.start_time,
            b.info.end_time,
        )
        assert (a.info.user_id, a.info.lifecycle_stage) == (b.info.user_id, b.info.lifecycle_stage)
        assert a.data.params == b.data.params and a.data.tags == b.data.tags
        assert a.data.metrics.keys() == b.data.metrics.keys()
        datasets = [
            (d.dataset.name, d.dataset.digest, sorted((t.key, t.value) for t in d.tags))
            for d in a.inputs.dataset_inputs
        ]
        assert sorted(datasets) == sorted(
            (d.dataset.name, d.dataset.digest, sorted((t.key, t.value) for t in d.tags))
            for d in b.inputs.dataset_inputs
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_results": 0}, "max_results"),
        ({"max_results": 50001}, "max_results"),
        ({"filter_string": "metrics.acc LIKE 1"}, None),
        ({"filter_string": "params.p > 'a'"}, "Invalid comparator"),
        ({"filter_string": "foo.bar = 1"}, "Invalid entity type"),
        ({"filter_string": "params.p = 'a' OR params.p = 'b'"}, None),
        ({"filter_string": "attributes.status IN ('A')"}, None),
        ({"order_by": ["datasets.name"]}, "Invalid identifier type"),
        ({"order_by": ["metrics.acc sideways"]}, None),
        ({"order_by": ["attributes.nope"]}, "Invalid attribute key"),
        ({"page_token": "garbage"}, "Invalid page token"),
        ({"experiment_ids": ["not-a-number"]}, "Invalid experiment ID"),
    ],
)
def test_bad_input_fails_as_in_sql(stores, kwargs, message):
    sql, ddb, exp_ids = stores
    call = {
        "experiment_ids": exp_ids,
        "filter_string": None,
        "run_view_type": ViewType.ALL,
        "max_results": 10,
        "order_by": None,
        "page_token": None,
        **kwargs,
    }
    errors = []
    for store in (sql, ddb):
        with pytest.raises(MlflowException) as info:
            store.search_runs(**call)
        errors.append(info.value)
    assert errors[1].error_code == errors[0].error_code == "INVALID_PARAMETER_VALUE"
    if message:
        assert message in errors[1].message and message in errors[0].message


def test_duplicate_order_by_is_a_client_error(stores):
    _, ddb, exp_ids = stores
    with pytest.raises(MlflowException, match="duplicate fields") as info:
        ddb.search_runs(exp_ids, None, ViewType.ALL, 10, ["metrics.acc", "metrics.acc DESC"])
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"  # SQL: an untyped 500


def test_max_results_none_returns_everything(stores):
    sql, ddb, exp_ids = stores
    expected = sql.search_runs(exp_ids, None, ViewType.ALL, None, ["params.p"])
    got = ddb.search_runs(exp_ids, None, ViewType.ALL, None, ["params.p"])
    assert _ids(got) == _ids(expected) and got.token is None


# ---- a fresh table per test from here on --------------------------------------------------
@pytest.fixture
def ddb(store_uri, tmp_path):
    return DynamoDBTrackingStore(store_uri, str(tmp_path / "artifacts"))


def _run(store, exp_id, name, start, metrics=None):
    run = store.create_run(exp_id, "u", BASE_TIME + start, [], name)
    if metrics:
        store.log_batch(run.info.run_id, [Metric(k, v, 0, 0) for k, v in metrics.items()], [], [])
    return run.info.run_id


@pytest.mark.parametrize("order_by", [None, ["metrics.m DESC"], ["params.p"]])
def test_runs_added_between_pages_neither_repeat_nor_skip(ddb, order_by):
    exp = ddb.create_experiment("growing")
    for i in range(10):
        _run(ddb, exp, f"old-{i}", i, {"m": float(i)})
    first = ddb.search_runs([exp], None, ViewType.ALL, 4, order_by)
    # new runs land before and after the cursor in every order
    _run(ddb, exp, "new-late", 100, {"m": 100.0})
    _run(ddb, exp, "new-early", -100, {"m": -100.0})
    seen = [r.info.run_name for r in first]
    token = first.token
    while token:
        page = ddb.search_runs([exp], None, ViewType.ALL, 4, order_by, page_token=token)
        seen += [r.info.run_name for r in page]
        token = page.token
    old = [n for n in seen if n.startswith("old")]
    assert sorted(old) == sorted(f"old-{i}" for i in range(10)) and len(set(seen)) == len(seen)


def test_runs_of_a_deleted_experiment_are_deleted(ddb, tmp_path):
    sql = SqlAlchemyStore(migrated_sqlite_uri(tmp_path / "m.db"), str(tmp_path / "artifacts"))
    results = []
    for store in (sql, ddb):
        kept, gone = store.create_experiment("kept"), store.create_experiment("gone")
        for exp in (kept, gone):
            for i in range(3):
                _run(store, exp, f"{exp}-{i}", i, {"m": float(i)})
        store.delete_experiment(gone)
        results.append(
            [
                sorted(
                    r.info.run_name
                    for r in store.search_runs([kept, gone], None, view, 100, order_by)
                )
                for view in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL)
                for order_by in (None, ["metrics.m"])
            ]
        )
    sql.engine.dispose()
    assert results[0] == results[1]


# ---- request counts of the fast paths ---------------------------------------------------------
def _fill(store, exp, count, metric=True):
    for i in range(count):
        _run(store, exp, f"run-{i}", i, {"m": float(i % 97)} if metric else None)


def _requests(store, *args, **kwargs):
    store.gateway.stats.reset()
    page = store.search_runs(*args, **kwargs)
    return page, store.gateway.stats.snapshot()


def test_default_order_page_reads_one_query_per_experiment(ddb):
    exps = [ddb.create_experiment(f"e{i}") for i in range(2)]
    for exp in exps:
        _fill(ddb, exp, 40, metric=False)
    page, stats = _requests(ddb, exps, None, ViewType.ACTIVE_ONLY, 10)
    assert len(page) == 10 and page.token
    # the experiments, and each GSI1 page's runs' LIVE items (runs created since option D
    # have one)
    assert stats["BatchGetItem"].requests == 1 + 2
    # one GSI1 page each; runs without inputs/outputs are built from the META already read
    assert stats["Query"].requests == 2


def test_a_recent_start_time_filter_reads_only_recent_runs(ddb):
    exp = ddb.create_experiment("recent")
    _fill(ddb, exp, 120, metric=False)
    for order_by in (None, ["params.p"]):
        page, stats = _requests(
            ddb, [exp], f"attributes.start_time >= {BASE_TIME + 117}", ViewType.ALL, 50, order_by
        )
        assert [r.info.run_name for r in page][:1] == ["run-119"] and len(page) == 3
        assert stats["Query"].requests == 1  # the bounded GSI1 page
        assert stats["Query"].read_capacity < 5


def test_listed_run_ids_are_read_directly(ddb):
    exp = ddb.create_experiment("listed")
    _fill(ddb, exp, 150, metric=False)
    wanted = [r.info.run_id for r in ddb.search_runs([exp], None, ViewType.ALL, 1000)][::30]
    listed = ", ".join(f"'{r}'" for r in wanted)
    page, stats = _requests(ddb, [exp], f"run_id IN ({listed})", ViewType.ALL, 50, ["params.p"])
    assert sorted(r.info.run_id for r in page) == sorted(wanted)
    # the experiment, the listed runs, their LIVE items
    assert stats["BatchGetItem"].requests == 3
    assert "Query" not in stats  # the runs' META items are the results


def test_dataset_filters_skip_experiments_without_such_datasets(ddb):
    from mlflow.entities import Dataset, DatasetInput, InputTag

    with_ds, without = ddb.create_experiment("with"), ddb.create_experiment("without")
    _fill(ddb, without, 30, metric=False)
    run_id = _run(ddb, with_ds, "has-ds", 0)
    dataset = Dataset("train-set", "d1", "local", "file:///x")
    ddb.log_inputs(run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", "train")])])
    page, stats = _requests(
        ddb, [with_ds, without], "datasets.name = 'train-set'", ViewType.ALL, 10
    )
    assert [r.info.run_name for r in page] == ["has-ds"]
    # experiments, 1 summary Query each, the one run of "with" and its partition (read for
    # its inputs and reused for the result); "without" is never walked
    assert stats["BatchGetItem"].requests == 2  # + the runs' LIVE items
    assert stats["Query"].requests == 2 + 1 + 1
    page, stats = _requests(ddb, [with_ds, without], "datasets.context = 'eval'", ViewType.ALL, 10)
    assert list(page) == [] and stats["Query"].requests == 2


def test_metric_order_page_cost_does_not_grow_with_the_experiment(ddb):
    small, large = ddb.create_experiment("small"), ddb.create_experiment("large")
    _fill(ddb, small, 60)
    _fill(ddb, large, 600)
    costs = []
    for exp in (small, large):
        page, stats = _requests(ddb, [exp], None, ViewType.ACTIVE_ONLY, 50, ["metrics.m DESC"])
        assert len(page) == 50 and page.token
        costs.append(sum(op.requests for op in stats.values()))
        values = [r.data.metrics["m"] for r in page]
        assert values == sorted(values, reverse=True)
    assert costs[1] <= 2 * costs[0]


# ---- random combinations of filters, orders, views and page sizes -------------------------
CLAUSE_POOL = [
    "metrics.acc > 0",
    "metrics.acc <= 2",
    "metrics.acc != 1",
    "metrics.loss < 5",
    "params.p != 'a'",
    "params.p LIKE '%a%'",
    "params.q IS NULL",
    "tags.t IS NOT NULL",
    "tags.group ILIKE 'g%'",
    "attributes.status != 'RUNNING'",
    "attributes.start_time >= 1700000002000",
    "attributes.end_time > 1700000000010",
    "datasets.name != 'ds-b'",
    "attributes.user_id != 'carol'",
]
ORDER_POOL = [
    "metrics.acc",
    "metrics.acc DESC",
    "metrics.loss DESC",
    "params.p",
    "params.q DESC",
    "tags.t",
    "attributes.start_time",
    "attributes.start_time DESC",
    "attributes.end_time DESC",
    "attributes.status",
    "attributes.run_name",
]


@pytest.mark.parametrize("seed", range(24))
def test_random_searches_page_like_sql(stores, seed):
    import random

    rng = random.Random(seed)
    sql, ddb, exp_ids = stores
    filter_string = " and ".join(rng.sample(CLAUSE_POOL, rng.choice([0, 1, 1, 2, 3])))
    keys_ = rng.sample(ORDER_POOL, rng.choice([0, 1, 1, 2]))
    # one key per column: the same column twice is a duplicate order_by (an error)
    order_by = list({k.split()[0]: k for k in keys_}.values()) or None
    view = rng.choice([ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL])
    ids = rng.choice([exp_ids, exp_ids[:1], exp_ids[::-1]])
    size = rng.choice([1, 2, 3, 5, 8, 50])
    expected = _all_pages(sql, ids, filter_string, view, order_by, size)
    assert _all_pages(ddb, ids, filter_string, view, order_by, size) == expected, (
        filter_string,
        order_by,
        view,
        size,
    )
