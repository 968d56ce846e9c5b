"""POST /ajax-api/3.0/mlflow/traces/calculate-filter-correlation on a real `mlflow server`
with this plugin answers what a SQLite-backed server answers (status and body), good input
and bad."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.differential_traces.builders import BASE_MS, span, tid
from tests.mlflow_server import mlflow_server, mlflow_servers
from tests.sqlite_template import migrated_sqlite_uri

pytestmark = pytest.mark.slow
HOUR = 3600 * 1000
PATH = "/ajax-api/3.0/mlflow/traces/calculate-filter-correlation"


def _populate(store) -> str:
    exp = store.create_experiment("correlation")
    for n in range(1, 13):
        at = n * 3 * HOUR
        store.log_spans(
            exp,
            [
                span(n, 1, None, "agent", at, at + 50 * n, {"session.id": f"s{n % 4}"},
                     error=n % 5 == 0),
                span(n, 2, 1, "llm" if n % 3 else "tool", at + 1, at + 20),
            ],
        )  # fmt: skip
        store.set_trace_tag(tid(n), "mlflow.traceName", "odd" if n % 2 else "even")
        store.set_trace_tag(tid(n), "team", "x" if n % 3 else "y")
    return exp


def _requests(exp: str) -> list[dict]:
    window = f"timestamp_ms >= {BASE_MS + 6 * HOUR} and timestamp_ms < {BASE_MS + 30 * HOUR}"
    return [
        {"experiment_ids": [exp], "filter_string1": "trace.status = 'ERROR'",
         "filter_string2": "name = 'odd'"},
        {"experiment_ids": [exp], "filter_string1": "tags.team = 'y'",
         "filter_string2": "span.name = 'tool'", "base_filter": window},
        {"experiment_ids": [exp], "filter_string1": "execution_time_ms > 300",
         "filter_string2": "metadata.`mlflow.trace.session` = 's1'", "base_filter": window},
        # No match at all: NPMI is undefined (NaN).
        {"experiment_ids": [exp], "filter_string1": "name = 'none'",
         "filter_string2": "name = 'odd'"},
        # Bad input.
        {"experiment_ids": [exp], "filter_string1": "status = ", "filter_string2": "status = 'OK'"},
        {"experiment_ids": ["abc"], "filter_string1": "status = 'OK'",
         "filter_string2": "status = 'OK'"},
        {"experiment_ids": [exp], "filter_string1": "status = 'OK'"},
        {"filter_string1": "status = 'OK'", "filter_string2": "status = 'OK'"},
    ]  # fmt: skip


def _post(url: str, body: dict) -> tuple[int, object]:
    request = urllib.request.Request(
        f"{url}{PATH}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            text = resp.read().decode()
            return resp.status, json.loads(text) if text.strip()[:1] == "{" else text
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_correlation_endpoint_answers_as_a_sqlite_server(store_uri, tmp_path):
    sqlite_uri = migrated_sqlite_uri(tmp_path / "m.db")
    sql_exp = _populate(SqlAlchemyStore(sqlite_uri, str(tmp_path / "sql-artifacts")))
    ddb_exp = _populate(DynamoDBTrackingStore(store_uri, str(tmp_path / "ddb-artifacts")))
    # the two servers start side by side (the requests go to one, then the other)
    with mlflow_servers(
        mlflow_server(sqlite_uri, tmp_path / "sql"), mlflow_server(store_uri, tmp_path / "ddb")
    ) as (sql_url, ddb_url):
        expected = [_post(sql_url, body) for body in _requests(sql_exp)]
        actual = [_post(ddb_url, body) for body in _requests(ddb_exp)]
    assert [status for status, _ in expected] == [200] * 4 + [400] * 4, expected
    assert expected[0][1]["total_count"] == 12
    for n, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert a == e, (n, a, e)
