"""Parsing of search_runs filters/orders and page tokens: same errors as the SQL store."""

from __future__ import annotations

import base64
import json
import math

import pytest
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.search.runs.filter import (
    ATTRIBUTE,
    METRIC,
    parse_run_filter,
    sql_like,
)
from mlflow_dynamodbstore.search.runs.order import Desc, parse_run_order
from mlflow_dynamodbstore.search.runs.token import decode_page_token, encode_page_token
from mlflow_dynamodbstore.search.runs.view import MetricValue, RunView


def _view(**kw) -> RunView:
    base = dict(
        run_id="a" * 32,
        experiment_id="1",
        run_name="n",
        user_id="u",
        status="FINISHED",
        start_time=10,
        end_time=None,
        artifact_uri="s3://b/x",
        lifecycle_stage="active",
    )
    base.update(kw)
    return RunView(**base)


@pytest.mark.parametrize(
    "filter_string",
    [
        "metrics.acc LIKE '1'",
        "params.p > 'a'",
        "tags.t < 'a'",
        "attributes.start_time LIKE 1",
        "attributes.status > 'A'",
        "metrics.acc IS NULL",
        "attributes.status IN ('A')",
        "foo.bar = '1'",
        "attributes.nope = '1'",
        "metrics.acc = 'x'",
        "params.p = 1",
        "params.p = 'a' or params.p = 'b'",
        "datasets.nope = 'x'",
    ],
)
def test_bad_filters_are_invalid_parameter_value(filter_string):
    with pytest.raises(MlflowException) as info:
        parse_run_filter(filter_string)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_filter_clauses_are_classified_and_aliased():
    f = parse_run_filter("created > 5 and metrics.m <= 2 and attribute.`Run name` = 'x'")
    assert [(c.kind, c.key, c.comparator) for c in f.clauses] == [
        (ATTRIBUTE, "start_time", ">"),
        (METRIC, "m", "<="),
        (ATTRIBUTE, "run_name", "="),
    ]
    assert f.clauses[1].value == 2.0


def test_run_name_filter_reads_the_run_name_tag_as_sql_does():
    f = parse_run_filter("attributes.run_name = 'x'")
    assert not f.matches(_view(run_name="x"))
    assert f.matches(_view(run_name="y", tags={"mlflow.runName": "x"}))


def test_nan_and_inf_metrics():
    nan = _view(metrics={"m": MetricValue.of(math.nan)})
    inf = _view(metrics={"m": MetricValue.of(math.inf)})
    assert parse_run_filter("metrics.m != 1").matches(nan)
    assert not parse_run_filter("metrics.m = 0").matches(nan)
    assert not parse_run_filter("metrics.m >= -1e308").matches(nan)
    assert parse_run_filter("metrics.m = 1.7976931348623157e308").matches(inf)


def test_sqlite_like():
    assert sql_like("a\nb", "a_b") and sql_like("a\nb", "%b")
    assert not sql_like("ABC", "abc")
    assert sql_like("a.c", "a.c") and not sql_like("abc", "a.c")
    assert sql_like("50%", "50%") and sql_like("", "%")


@pytest.mark.parametrize(
    "order_by",
    [
        ["metrics.acc", "metrics.acc DESC"],
        ["start_time", "created DESC"],
        ["datasets.name"],
        ["attributes.nope"],
        ["metrics.acc sideways"],
        ["metrics.acc DESC ASC"],
    ],
)
def test_bad_orders_are_invalid_parameter_value(order_by):
    with pytest.raises(MlflowException) as info:
        parse_run_order(order_by)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_default_order_forms():
    assert parse_run_order(None).is_default
    assert parse_run_order(["attributes.start_time DESC"]).is_default
    assert not parse_run_order(["start_time ASC"]).is_default


def test_sort_key_puts_missing_values_last_both_ways():
    for direction in ("ASC", "DESC"):
        order = parse_run_order([f"metrics.m {direction}"])
        has = order.key(_view(metrics={"m": MetricValue.of(1.0)}))
        nan = order.key(_view(metrics={"m": MetricValue.of(math.nan)}))
        missing = order.key(_view())
        assert has < nan < missing
    assert Desc(2) < Desc(1) and Desc("b") < Desc("a")


def test_page_token_round_trip_and_errors():
    order = parse_run_order(["metrics.m DESC", "params.p"])
    view = _view(metrics={"m": MetricValue.of(2.5)}, params={"p": "x"})
    token = encode_page_token(order, order.token_key(view))
    assert order.key_from_token(decode_page_token(order, token)) == order.key(view)
    assert decode_page_token(order, None) is None
    other = parse_run_order(None)
    bad_tokens = [
        "not base64!!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(json.dumps({"offset": 5}).encode()).decode(),
        base64.urlsafe_b64encode(
            json.dumps({"v": 1, "o": order.fingerprint(), "k": [1, 2]}).encode()
        ).decode(),
    ]
    for bad in bad_tokens:
        with pytest.raises(MlflowException) as info:
            decode_page_token(order, bad)
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as info:
        decode_page_token(other, token)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def _token(order, raw) -> str:
    payload = {"v": 1, "o": order.fingerprint(), "k": raw}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    ("order_by", "raw"),
    [
        (["metrics.m"], [[0, "abc"], 5, "r"]),
        (["metrics.m"], [[7, 0], 5, "r"]),
        (["metrics.m"], [[0, True], 5, "r"]),
        (["metrics.m"], [[2, 3.5], 5, "r"]),
        (["metrics.m"], [[0, 1.0], "5", "r"]),
        (["metrics.m"], [[0, 1.0], 2**64, "r"]),
        (["start_time"], [[0, "x"], "r"]),
        (["start_time"], [[0, 1.5], "r"]),
        (["start_time"], [[2, 0], "r"]),
        (["params.p"], [[0, 5], 1, "r"]),
        (["params.p"], [[0, "a"], 1, 7]),
        (None, [1, 2, "r"]),
        (None, [1.5, "r"]),
    ],
)
def test_doctored_tokens_are_rejected_before_any_read(order_by, raw):
    order = parse_run_order(order_by)
    with pytest.raises(MlflowException) as info:
        decode_page_token(order, _token(order, raw))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    ("order_by", "raw"),
    [
        (["metrics.m"], [[0, 1.5], 5, "r"]),
        (["metrics.m"], [[2, 0], None, "r"]),
        (["start_time"], [[0, 12], "r"]),
        (["params.p", "attributes.end_time DESC"], [[0, "a"], [1, 0], 3, "r"]),
        (None, [3, "r"]),
    ],
)
def test_well_formed_tokens_are_accepted(order_by, raw):
    order = parse_run_order(order_by)
    assert decode_page_token(order, _token(order, raw)) == raw
