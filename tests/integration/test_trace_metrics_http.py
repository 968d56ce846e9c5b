"""POST /ajax-api/3.0/mlflow/traces/metrics (the Traces tab and the experiment overview
charts) on a real `mlflow server` with this plugin answers what a SQLite-backed server
answers, status and body."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request

import pytest
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.differential_traces.builders import BASE_MS, span
from tests.mlflow_server import mlflow_server, mlflow_servers
from tests.sqlite_template import migrated_sqlite_uri

pytestmark = pytest.mark.slow
HOUR = 3600 * 1000
WINDOW = {"start_time_ms": BASE_MS - HOUR, "end_time_ms": BASE_MS + 48 * HOUR}


def _populate(store) -> str:
    exp = store.create_experiment("charts")
    for n in range(1, 13):
        at = n * 3 * HOUR
        usage = {"input_tokens": 5 * n, "output_tokens": n, "total_tokens": 6 * n}
        cost = {"input_cost": 0.01 * n, "output_cost": 0.02, "total_cost": 0.01 * n + 0.02}
        store.log_spans(
            exp,
            [
                span(n, 1, None, "agent", at, at + 50 * n, {"session.id": f"s{n % 4}"},
                     error=n % 5 == 0),
                span(n, 2, 1, "llm", at + 1, at + 20, {"mlflow.spanType": "LLM",
                     "mlflow.chat.tokenUsage": usage, "mlflow.llm.cost": cost,
                     "mlflow.llm.model": "gpt-4o" if n % 2 else "claude"}),
            ],
        )  # fmt: skip
        store.set_trace_tag(f"tr-{n:032x}", "mlflow.traceName", "odd" if n % 2 else "even")
    return exp


def _requests(exp: str) -> list[dict]:
    count = [{"aggregation_type": "COUNT"}]
    pcts = [{"aggregation_type": "PERCENTILE", "percentile_value": p} for p in (50, 90, 99)]
    return [
        # The Traces tab (4 of these per page load).
        {"experiment_ids": [exp], "view_type": "TRACES", "metric_name": "trace_count",
         "aggregations": count, **WINDOW},
        {"experiment_ids": [exp], "view_type": "TRACES", "metric_name": "trace_count",
         "aggregations": count},
        # The overview charts.
        {"experiment_ids": [exp], "view_type": "TRACES", "metric_name": "trace_count",
         "aggregations": count, "time_interval_seconds": 3600, "dimensions": ["trace_status"],
         **WINDOW},
        {"experiment_ids": [exp], "view_type": "TRACES", "metric_name": "latency",
         "aggregations": [{"aggregation_type": "AVG"}, *pcts], "time_interval_seconds": 21600,
         **WINDOW},
        {"experiment_ids": [exp], "view_type": "TRACES", "metric_name": "total_tokens",
         "aggregations": [{"aggregation_type": "SUM"}, {"aggregation_type": "AVG"}],
         "dimensions": ["trace_name"], "time_interval_seconds": 86400, **WINDOW},
        {"experiment_ids": [exp], "view_type": "TRACES", "metric_name": "session_count",
         "aggregations": count, **WINDOW},
        {"experiment_ids": [exp], "view_type": "TRACES", "metric_name": "trace_count",
         "aggregations": count, "filters": ["trace.status = 'ERROR'"], **WINDOW},
        {"experiment_ids": [exp], "view_type": "SPANS", "metric_name": "total_cost",
         "aggregations": [{"aggregation_type": "SUM"}], "dimensions": ["span_model_name"],
         "time_interval_seconds": 86400, **WINDOW},
        # Bad input.
        {"experiment_ids": [exp], "view_type": "TRACES", "metric_name": "nope",
         "aggregations": count},
        {"experiment_ids": [exp], "view_type": "TRACES", "metric_name": "trace_count",
         "aggregations": count, "time_interval_seconds": 60},
        {"experiment_ids": [exp], "view_type": "TRACES", "metric_name": "trace_count",
         "aggregations": count, "filters": ["trace.status"]},
    ]  # fmt: skip


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/ajax-api/3.0/mlflow/traces/metrics",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_metrics_endpoint_answers_as_a_sqlite_server(store_uri, tmp_path):
    sqlite_uri = migrated_sqlite_uri(tmp_path / "m.db")
    sql_exp = _populate(SqlAlchemyStore(sqlite_uri, str(tmp_path / "sql-artifacts")))
    ddb_exp = _populate(DynamoDBTrackingStore(store_uri, str(tmp_path / "ddb-artifacts")))
    # the two servers start side by side (the requests go to one, then the other)
    with mlflow_servers(
        mlflow_server(sqlite_uri, tmp_path / "sql"), mlflow_server(store_uri, tmp_path / "ddb")
    ) as (sql_url, ddb_url):
        expected = [_post(sql_url, body) for body in _requests(sql_exp)]
        actual = [_post(ddb_url, body) for body in _requests(ddb_exp)]
    assert [status for status, _ in expected] == [200] * 8 + [400] * 3
    assert expected[0][1]["data_points"][0]["values"] == {"COUNT": 12}
    for n, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert _within_sketch_bound(a, e), (n, a, e)


def _within_sketch_bound(actual: tuple[int, dict], expected: tuple[int, dict]) -> bool:
    """Equal, except PERCENTILE / MIN / MAX values, which the rollup cells' value sketches
    answer within 1 % (docs/trace-analytics.md, "Percentiles, MIN and MAX from cells"), and
    span cost sums, equal to 12 significant digits."""
    if actual[0] != expected[0] or set(actual[1]) != set(expected[1]):
        return False
    a_points, e_points = actual[1].get("data_points"), expected[1].get("data_points")
    if a_points is None or e_points is None:
        return actual == expected
    if len(a_points) != len(e_points):
        return False
    for a, e in zip(a_points, e_points, strict=True):
        if {k: v for k, v in a.items() if k != "values"} != {
            k: v for k, v in e.items() if k != "values"
        } or set(a["values"]) != set(e["values"]):
            return False
        # Span cost SUM / AVG from the cost cells: the exact sum rounded once, where SQLite
        # rounds at each addition (docs/trace-analytics.md, "Span cost per model from cells").
        cost = e.get("metric_name") in ("input_cost", "output_cost", "total_cost")
        for key, value in e["values"].items():
            sketched = key.startswith("P") or key in ("MIN", "MAX")
            if sketched:
                close = math.isclose(a["values"][key], value, rel_tol=0.01)
            elif cost:
                close = math.isclose(a["values"][key], value, rel_tol=1e-12)
            else:
                close = a["values"][key] == value
            if not close:
                return False
    return True
