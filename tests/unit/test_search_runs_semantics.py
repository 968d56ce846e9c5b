"""The in-memory filter and order of search_runs against MLflow's SqlAlchemyStore on SQLite.

No DynamoDB here: the runs are written to SqlAlchemyStore, read back as Run entities, and our
evaluator/ordering (on views of those entities) must return what SQL returns for every filter
and order in tests/search_runs_data.py, including NULL/NaN placement and tie-breaks.
"""

from __future__ import annotations

import pytest
from mlflow.entities import LifecycleStage, ViewType
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from mlflow_dynamodbstore.search.runs.filter import parse_run_filter
from mlflow_dynamodbstore.search.runs.order import parse_run_order
from mlflow_dynamodbstore.search.runs.page import take_page
from mlflow_dynamodbstore.search.runs.token import decode_page_token, encode_page_token
from mlflow_dynamodbstore.search.runs.view import view_from_run
from tests.compat import SQL_NAN_AS_ZERO, skip_before
from tests.search_runs_data import FILTERS, NAN_SENSITIVE_FILTERS, ORDERS, populate
from tests.sqlite_template import migrated_sqlite_uri


@pytest.fixture(scope="module")
def sql(tmp_path_factory):
    path = tmp_path_factory.mktemp("sql")
    store = SqlAlchemyStore(migrated_sqlite_uri(path / "m.db"), str(path / "artifacts"))
    ids = populate(store)
    all_runs = store.search_runs(list(ids.values()), None, ViewType.ALL, max_results=50000)
    yield store, list(ids.values()), all_runs
    store.engine.dispose()


def in_memory(all_runs, filter_string, order_by, view_type, max_results=None, cursor=None):
    run_filter = parse_run_filter(filter_string)
    order = parse_run_order(order_by)
    stages = LifecycleStage.view_type_to_stages(view_type)
    views = [view_from_run(r) for r in all_runs if r.info.lifecycle_stage in stages]
    return take_page([views], order, run_filter.matches, cursor, max_results)


@pytest.mark.parametrize("filter_string", FILTERS)
@pytest.mark.parametrize("view_type", [ViewType.ACTIVE_ONLY, ViewType.ALL])
def test_filters_match_sql(sql, filter_string, view_type):
    if filter_string in NAN_SENSITIVE_FILTERS:
        skip_before("3.17", SQL_NAN_AS_ZERO)
    store, exp_ids, all_runs = sql
    expected = [r.info.run_id for r in store.search_runs(exp_ids, filter_string, view_type, 5000)]
    page, more = in_memory(all_runs, filter_string, None, view_type)
    assert [v.run_id for v in page] == expected
    assert not more


@pytest.mark.parametrize("order_by", ORDERS, ids=str)
@pytest.mark.parametrize("view_type", [ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY])
def test_orders_match_sql(sql, order_by, view_type):
    store, exp_ids, all_runs = sql
    sql_runs = store.search_runs(exp_ids, None, view_type, 5000, order_by=order_by)
    page, _ = in_memory(all_runs, None, order_by, view_type)
    assert [v.run_id for v in page] == [r.info.run_id for r in sql_runs]


@pytest.mark.parametrize("order_by", [None, ["metrics.acc DESC"], ["params.p", "tags.t DESC"]])
def test_keyset_pages_concatenate_to_the_sql_order(sql, order_by):
    store, exp_ids, all_runs = sql
    sql_runs = store.search_runs(exp_ids, None, ViewType.ALL, 5000, order_by)
    expected = [r.info.run_id for r in sql_runs]
    order = parse_run_order(order_by)
    got, token = [], None
    while True:
        cursor = decode_page_token(order, token)
        page, more = in_memory(
            all_runs,
            None,
            order_by,
            ViewType.ALL,
            max_results=4,
            cursor=order.key_from_token(cursor) if cursor else None,
        )
        got += [v.run_id for v in page]
        if not more:
            break
        token = encode_page_token(order, order.token_key(page[-1]))
    assert got == expected
