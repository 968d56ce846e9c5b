"""search_logged_models on DynamoDB Local against SqlAlchemyStore on SQLite: one scenario in
both stores, then filters, datasets, orders and pages compared by model name."""

from __future__ import annotations

import itertools
import math
import time
import uuid

import pytest
from mlflow.entities import LoggedModelParameter, LoggedModelStatus, LoggedModelTag, Metric
from mlflow.exceptions import MlflowException
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.sqlite_template import migrated_sqlite_uri

# name, experiment, params, tags, model type, metrics (key, value, timestamp, step, dataset)
MODELS = [
    ("m0", "1", {"lr": "0.1", "opt": "adam"}, {"team": "a"}, "sk",
     [("acc", 0.8, 1, 0, ("d1", "x1")), ("acc", 0.9, 2, 0, ("d2", "y2")),
      ("loss", 0.3, 1, 0, None)]),
    ("m1", "1", {"lr": "0.2"}, {"team": "B"}, "sk", [("acc", 0.7, 1, 0, ("d1", "x1"))]),
    ("m2", "1", {}, {}, None, [("loss", 0.1, 1, 0, None)]),
    ("m3", "2", {"lr": "0.1"}, {"team": "a"}, "torch",
     [("acc", 0.95, 3, 0, None), ("nan", math.nan, 1, 0, None)]),
    ("gone", "2", {"lr": "0.1"}, {}, "sk", [("acc", 1.0, 1, 0, None)]),
    ("Model-Upper", "1", {"opt": "sgd"}, {"team": "b"}, "sk",
     [("acc", 0.1, 5, 0, ("d1", "x2")), ("acc", 0.6, 6, 0, ("d1", "x2")),
      ("acc", 0.2, 6, -1, None)]),
    ("m6", "2", {}, {"note": "100%"}, None, []),
]  # fmt: skip

FILTERS = [
    None,
    "name = 'm1'",
    "name != 'm1'",
    "name LIKE 'm%'",
    "name LIKE 'M%'",
    "name ILIKE 'm%'",
    "name IN ('m0', 'm2', 'nope')",
    "name NOT IN ('m0')",
    "model_type = 'sk'",
    "model_type != 'sk'",
    "status = '2'",
    "status = 'READY'",
    "status != 'READY'",
    "status IN ('1', 'x')",
    "status LIKE '2'",
    "experiment_id = '2'",
    "creation_time > 0",
    "creation_timestamp >= 0 AND last_updated_timestamp > 0",
    "params.lr = '0.1'",
    "params.lr != '0.1'",
    "params.lr LIKE '0.%'",
    "params.opt IN ('adam', 'x')",
    "params.opt NOT IN ('adam')",
    "tags.team = 'a'",
    "tags.team ILIKE 'b'",
    "tags.note LIKE '%\\%'",
    "metrics.acc > 0.75",
    "metrics.acc >= 0.9",
    "metrics.acc = 0.7",
    "metrics.acc != 0.7",
    "metrics.loss < 0.2",
    "metrics.nan = 0",
    "metrics.acc > 0.5 AND params.lr = '0.1'",
    "metrics.acc > 0.5 and tags.team = 'a' and name like 'm%'",
]
DATASETS = [
    None,
    [{"dataset_name": "d1"}],
    [{"dataset_name": "d1", "dataset_digest": "x1"}],
    [{"dataset_name": "d2", "dataset_digest": None}],
    [{"dataset_name": "d1", "dataset_digest": "x2"}, {"dataset_name": "d2"}],
]
ORDERS = [
    None,
    [{"field_name": "name"}],
    [{"field_name": "name", "ascending": False}],
    [{"field_name": "metrics.acc"}],
    [{"field_name": "metrics.acc", "ascending": False}],
    [{"field_name": "metrics.acc", "dataset_name": "d1"}],
    [{"field_name": "metrics.acc", "dataset_name": "d1", "dataset_digest": "x1"}],
    [{"field_name": "model_type"}, {"field_name": "name", "ascending": False}],
    [{"field_name": "creation_time", "ascending": True}],
    [{"field_name": "status", "ascending": False}, {"field_name": "name"}],
    [{"field_name": "metrics.loss", "ascending": False}, {"field_name": "metrics.acc"}],
]


def _populate(s) -> None:
    for exp in ("1", "2"):
        assert s.create_experiment(f"e{exp}") == exp
    runs = {exp: s.create_run(exp, "u", 0, [], "r").info.run_id for exp in ("1", "2")}
    for name, exp, params, tags, model_type, metrics in MODELS:
        time.sleep(0.003)  # distinct creation times keep the default order store-independent
        model = s.create_logged_model(
            exp,
            name=name,
            params=[LoggedModelParameter(k, v) for k, v in params.items()],
            tags=[LoggedModelTag(k, v) for k, v in tags.items()],
            model_type=model_type,
        )
        s.log_batch(
            runs[exp],
            [
                Metric(
                    key,
                    value,
                    ts,
                    step,
                    model_id=model.model_id,
                    dataset_name=ds and ds[0],
                    dataset_digest=ds and ds[1],
                )
                for key, value, ts, step, ds in metrics
            ],
            [],
            [],
        )
        if name in ("m1", "m3"):
            s.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
        if name == "gone":
            s.delete_logged_model(model.model_id)


@pytest.fixture(scope="module")
def stores(dynamodb_local, tmp_path_factory):
    """Both stores with the scenario, built once: the tests below only read."""
    table = f"t{uuid.uuid4().hex[:16]}"
    tmp_path = tmp_path_factory.mktemp("sql")
    ours = DynamoDBTrackingStore(
        f"dynamodb://127.0.0.1:{dynamodb_local.port}/{table}", "s3://bucket/artifacts"
    )
    sql = SqlAlchemyStore(migrated_sqlite_uri(tmp_path / "m.db"), str(tmp_path / "a"))
    for s in (ours, sql):
        _populate(s)
    yield ours, sql
    ours.gateway.client.delete_table(TableName=table)


def _all_pages(s, page_size, **kwargs) -> list[list[str]]:
    pages, token = [], None
    while True:
        page = s.search_logged_models(["1", "2"], max_results=page_size, page_token=token, **kwargs)
        pages.append([m.name for m in page])
        token = page.token
        if not token:
            return pages


def test_filters_datasets_and_orders_match_sql(stores):
    ours, sql = stores
    checked = 0
    for filter_string, datasets, order_by in itertools.product(FILTERS, DATASETS, ORDERS):
        args = {"filter_string": filter_string, "datasets": datasets, "order_by": order_by}
        expected = [m.name for m in sql.search_logged_models(["1", "2"], **args)]
        got = [m.name for m in ours.search_logged_models(["1", "2"], **args)]
        assert got == expected, args
        checked += bool(expected)
    assert checked > 200  # most combinations select something


def test_entities_match_sql(stores):
    ours, sql = stores

    def by_name(s):
        return {
            m.name: (
                m.experiment_id,
                m.model_type,
                m.status,
                m.tags,
                m.params,
                sorted(
                    (x.key, x.value, x.timestamp, x.step, x.dataset_name, x.dataset_digest)
                    for x in m.metrics or []
                ),
            )
            for m in s.search_logged_models(["1", "2"])
        }

    assert by_name(ours) == by_name(sql)
    assert len(by_name(ours)) == len(MODELS) - 1


@pytest.mark.parametrize("page_size", [1, 2, 4])
def test_pages_match_sql(stores, page_size):
    ours, sql = stores
    for args in (
        {},
        {"order_by": [{"field_name": "metrics.acc", "ascending": False}]},
        {"filter_string": "name LIKE 'm%'", "order_by": [{"field_name": "name"}]},
    ):
        expected = _all_pages(sql, page_size, **args)
        assert _all_pages(ours, page_size, **args) == expected
        assert sum(len(p) for p in expected) > page_size


def _code(fn, *args, **kwargs) -> str:
    with pytest.raises(MlflowException) as info:
        fn(*args, **kwargs)
    return info.value.error_code


@pytest.mark.parametrize(
    "kwargs",
    [
        {"filter_string": "name = 'a' OR name = 'b'"},
        {"filter_string": "metrics.acc LIKE 'x'"},
        {"filter_string": "params.lr > '1'"},
        {"filter_string": "foo.bar = 'x'"},
        {"datasets": [{"dataset_digest": "x"}]},
        {"order_by": [{"field_name": "foo"}]},
        {"order_by": [{"field_name": "params.lr"}]},
        {"page_token": "e30="},
        {"experiment_ids": ["abc"]},
    ],
)
def test_errors_match_sql(stores, kwargs):
    ours, sql = stores
    kwargs = {"experiment_ids": ["1", "2"], **kwargs}
    assert _code(ours.search_logged_models, **kwargs) == _code(sql.search_logged_models, **kwargs)
    assert _code(ours.search_logged_models, **kwargs) == "INVALID_PARAMETER_VALUE"


def test_bad_input_the_sql_store_fails_on_is_invalid_parameter(stores):
    ours, sql = stores
    # SQL: an AttributeError / binascii error surfacing as an internal error
    assert _code(sql.search_logged_models, ["1"], filter_string="foo = 'x'") == "INTERNAL_ERROR"
    for kwargs in (
        {"filter_string": "foo = 'x'"},
        {"filter_string": "creation_time > 'abc'"},
        {"filter_string": "metrics.acc > 'abc'"},
        {"page_token": "not base64!"},
        {"max_results": -1},
        {"order_by": [{"ascending": True}]},
    ):
        assert _code(ours.search_logged_models, ["1"], **kwargs) == "INVALID_PARAMETER_VALUE"
    page = ours.search_logged_models(["1"], max_results=1)
    other = {"filter_string": "name = 'm1'"}
    assert _code(ours.search_logged_models, ["1"], page_token=page.token, **other) == (
        "INVALID_PARAMETER_VALUE"
    )


def test_request_counts(stores):
    ours, _ = stores
    stats = ours.gateway.stats
    stats.reset()
    page = ours.search_logged_models(["1", "2"], max_results=2, filter_string="params.lr = '0.1'")
    assert [m.name for m in page] == ["m3", "m0"]
    # GSI4 Queries only (META items carry tags, params and metric rows): each walk starts
    # with the page and two more (4 items), experiment 1 has four models and another Query
    # tells it ended
    assert stats.total_requests == stats.requests("Query") == 3
    stats.reset()
    ours.search_logged_models(["1", "2"], filter_string="metrics.acc > 0.5")
    assert stats.total_requests == stats.requests("Query") == 2


def test_default_order_reads_only_the_page(store_uri):
    """In GSI4's order (the default, and the UI's creation time DESC) a page reads its models
    and one more, not the experiment's whole listing."""
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    exp = store.create_experiment("many")
    names = []
    for i in range(40):
        params = [LoggedModelParameter("p", "x" * 2000)]  # ~2 KB per META item
        names.append(store.create_logged_model(exp, name=f"n{i}", params=params).name)
        time.sleep(0.002)
    ui_order = [{"field_name": "creation_time", "ascending": False}]
    seen, token = [], None
    while True:
        page = store.search_logged_models([exp], max_results=5, order_by=ui_order, page_token=token)
        seen += [m.name for m in page]
        if not (token := page.token):
            break
    assert seen == names[::-1]
    stats = store.gateway.stats
    stats.reset()
    assert len(store.search_logged_models([exp], filter_string="params.p LIKE 'x%'")) == 40
    all_capacity = stats.read_capacity
    stats.reset()
    assert [m.name for m in store.search_logged_models([exp], max_results=5)] == names[:-6:-1]
    assert stats.requests("Query") == 1
    assert 0 < stats.read_capacity < all_capacity / 4  # 6 of 40 items
