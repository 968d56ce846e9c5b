"""Workspace isolation over HTTP, compared with MLflow's own SQL stores.

Two real `mlflow server --enable-workspaces` run for the module: one on this plugin, one on
SQLite. The same script creates workspaces team-a and team-b on both and the same names in
each (experiment "shared", runs, a registered model "shared-model" with a version and an
alias, logged models, traces, webhooks, an artifact), plus names only team-a has. Then,
from team-b, every read and write endpoint is tried with team-a's ids, A-only names and
page tokens issued in team-a. Each call is recorded as (method, path template, body
template) -> (HTTP status, error_code, a summary of the ids in a successful answer, mapped
back to labels such as "A.run"), and the two servers' records must be equal: the SQL
server is the reference, nothing is hand-written. The few calls answered differently on
purpose are listed in DIFFERENCES with the reason (and in docs/workspaces.md). Finally
team-a's data must read the same as before the attempts.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress

import pytest

from tests.mlflow_server import mlflow_server
from tests.sqlite_template import migrated_sqlite_uri

pytestmark = pytest.mark.slow

A, B = "team-a", "team-b"
ENV = {"MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true"}
EVENTS = [{"entity": "REGISTERED_MODEL", "action": "CREATED"}]


# ---- servers and HTTP -----------------------------------------------------------------
@pytest.fixture(scope="module")
def module_store_uri(dynamodb_local):
    """Like ``store_uri`` but for the whole module: the servers outlive one test."""
    import boto3

    table = f"t{uuid.uuid4().hex[:16]}"
    yield f"dynamodb://127.0.0.1:{dynamodb_local.port}/{table}"
    client = boto3.client(
        "dynamodb", endpoint_url=dynamodb_local.endpoint_url, region_name="us-east-1"
    )
    with suppress(client.exceptions.ResourceNotFoundException):
        client.delete_table(TableName=table)


@pytest.fixture(scope="module")
def servers(module_store_uri, tmp_path_factory):
    """{"dynamodb": url, "sqlite": url}, started side by side (each takes seconds)."""
    root = tmp_path_factory.mktemp("isolation")
    uris = {"dynamodb": module_store_uri, "sqlite": migrated_sqlite_uri(root / "m.db")}
    with ExitStack() as stack:
        managers = {
            name: mlflow_server(uri, root / name, ["--enable-workspaces"], ENV)
            for name, uri in uris.items()
        }
        with ThreadPoolExecutor(2) as pool:
            futures = {name: pool.submit(cm.__enter__) for name, cm in managers.items()}
        for name, future in futures.items():  # both done: stop whichever started
            if future.exception() is None:
                stack.push(managers[name].__exit__)
        yield {name: future.result() for name, future in futures.items()}


def http(url, method, path, body=None, workspace=None, *, raw=None, headers=None):
    """(status, parsed JSON or bytes). GET bodies go to the query string."""
    hdrs = dict(headers or {})
    if workspace:
        hdrs["X-MLFLOW-WORKSPACE"] = workspace
    data = raw
    if body is not None and method == "GET":
        path = f"{path}?{urllib.parse.urlencode(body, doseq=True)}"
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(f"{url}{path}", data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            status, payload = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, payload = err.code, err.read()
    try:
        return status, json.loads(payload) if payload else {}
    except ValueError:
        return status, payload


def ok(result, what):
    status, body = result
    assert status in (200, 201, 204), (what, status, body)
    return body


# ---- the script both servers run ------------------------------------------------------
def experiment_location(experiment_id):
    return {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}


def populate(url: str) -> dict[str, str]:
    """The same names in team-a and team-b, names only team-a has, and page tokens issued
    in team-a. Returns this server's ids by label ("A.run", "B.exp", "A.tok.runs", ...)."""
    ids: dict[str, str] = {}
    for ws in (A, B):
        ok(http(url, "POST", "/api/3.0/mlflow/workspaces", {"name": ws}), ws)
    # team-b's runs and traces are newer than team-a's: a page token of team-a then names
    # a position after all of team-b's items (no tie broken by random ids).
    for ws, p, later in ((A, "A", 0), (B, "B", 100)):

        def call(method, path, body=None, *, _ws=ws, **kw):
            return ok(http(url, method, path, body, _ws, **kw), (_ws, method, path, body))

        exp = call("POST", "/api/2.0/mlflow/experiments/create", {"name": "shared"})
        ids[f"{p}.exp"] = exp["experiment_id"]
        for n, label in ((1, "run"), (2, "run2")):
            run = call(
                "POST",
                "/api/2.0/mlflow/runs/create",
                {"experiment_id": ids[f"{p}.exp"], "run_name": f"r{n}", "start_time": later + n},
            )
            ids[f"{p}.{label}"] = run["run"]["info"]["run_id"]
            ids[f"{p}.{label}.artifact_uri"] = uri = run["run"]["info"]["artifact_uri"]
            ids[f"{p}.{label}.artifact_path"] = uri.removeprefix("mlflow-artifacts:/")
        call(
            "POST",
            "/api/2.0/mlflow/runs/log-batch",
            {
                "run_id": ids[f"{p}.run"],
                "metrics": [{"key": "m", "value": s, "timestamp": s, "step": s} for s in (0, 1)],
                "params": [{"key": "p", "value": "1"}],
                "tags": [{"key": "t", "value": "v"}],
            },
        )
        for label in ("lm", "lm2"):
            model = call(
                "POST",
                "/api/2.0/mlflow/logged-models",
                {"experiment_id": ids[f"{p}.exp"], "name": label, "source_run_id": ids[f"{p}.run"]},
            )["model"]["info"]
            ids[f"{p}.{label}"] = model["model_id"]
            ids[f"{p}.{label}.artifact_uri"] = model["artifact_uri"]
        call(
            "PATCH",
            f"/api/2.0/mlflow/logged-models/{ids[f'{p}.lm']}/tags",
            {"tags": [{"key": "t", "value": "v"}]},
        )
        for n, label in ((1, "trace"), (2, "trace2")):
            trace_hex = uuid.uuid4().hex
            start = (later + n) * 10**9
            span = otlp(trace_hex, "00000000000000a1", start)
            otel = {"x-mlflow-experiment-id": ids[f"{p}.exp"]}
            call("POST", "/v1/traces", span, headers=otel)
            ids[f"{p}.{label}"] = f"tr-{trace_hex}"
            ids[f"{p}.{label}.hex"] = trace_hex
            call("PATCH", f"/api/3.0/mlflow/traces/tr-{trace_hex}/tags", {"key": "t", "value": "v"})
        assessment = call(
            "POST",
            f"/api/3.0/mlflow/traces/{ids[f'{p}.trace']}/assessments",
            {
                "assessment": {
                    "assessment_name": "quality",
                    "trace_id": ids[f"{p}.trace"],
                    "source": {"source_type": "HUMAN", "source_id": "u"},
                    "feedback": {"value": True},
                }
            },
        )
        ids[f"{p}.assessment"] = assessment["assessment"]["assessment_id"]
        models = ["shared-model", "only-a"] if ws == A else ["shared-model"]
        for name in models:
            call("POST", "/api/2.0/mlflow/registered-models/create", {"name": name})
            call(
                "POST",
                "/api/2.0/mlflow/model-versions/create",
                {
                    "name": name,
                    "source": f"runs:/{ids[f'{p}.run']}/model",
                    "run_id": ids[f"{p}.run"],
                },
            )
            alias = {"name": name, "alias": "champion", "version": "1"}
            call("POST", "/api/2.0/mlflow/registered-models/alias", alias)
            call(
                "POST",
                "/api/2.0/mlflow/registered-models/set-tag",
                {"name": name, "key": "t", "value": "v"},
            )
            call(
                "POST",
                "/api/2.0/mlflow/model-versions/set-tag",
                {"name": name, "version": "1", "key": "t", "value": "v"},
            )
        if ws == A:
            ids["A.exp2"] = call(
                "POST", "/api/2.0/mlflow/experiments/create", {"name": "only-a-exp"}
            )["experiment_id"]
        for label in ("hook", "hook2"):
            hook = call(
                "POST",
                "/api/2.0/mlflow/webhooks",
                {"name": label, "url": "https://localhost/h", "events": EVENTS},
            )
            ids[f"{p}.{label}"] = hook["webhook"]["webhook_id"]
        call(
            "POST",
            f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={ids[f'{p}.run']}&path=f.txt",
            raw=b"hello",
            headers={"Content-Type": "application/octet-stream"},
        )

    def token(method, path, body):
        answer = ok(http(url, method, path, body, A), (method, path))
        assert answer.get("next_page_token"), (path, answer)
        return answer["next_page_token"]

    one = {"max_results": 1}
    ids["A.tok.runs"] = token(
        "POST", "/api/2.0/mlflow/runs/search", {"experiment_ids": [ids["A.exp"]], **one}
    )
    ids["A.tok.experiments"] = token("GET", "/api/2.0/mlflow/experiments/search", one)
    ids["A.tok.models"] = token("GET", "/api/2.0/mlflow/registered-models/search", one)
    ids["A.tok.versions"] = token("GET", "/api/2.0/mlflow/model-versions/search", one)
    ids["A.tok.traces"] = token(
        "POST",
        "/api/3.0/mlflow/traces/search",
        {"locations": [experiment_location(ids["A.exp"])], **one},
    )
    ids["A.tok.logged_models"] = token(
        "POST", "/api/2.0/mlflow/logged-models/search", {"experiment_ids": [ids["A.exp"]], **one}
    )
    ids["A.tok.webhooks"] = token("GET", "/api/2.0/mlflow/webhooks", one)
    ids["A.tok.history"] = token(
        "GET",
        "/api/2.0/mlflow/metrics/get-history",
        {"run_id": ids["A.run"], "metric_key": "m", **one},
    )
    return ids


# ---- the calls team-b tries -----------------------------------------------------------
def loc(label):
    return {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": label}}


def otlp(trace_hex: str, span_hex: str, start_ns: int) -> dict:
    """An OTLP/JSON export of one root span of one second."""
    span = {
        "traceId": trace_hex,
        "spanId": span_hex,
        "name": "root",
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + 10**9),
        "status": {"code": 1},
    }
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


MV = "/api/2.0/mlflow/model-versions"
RM = "/api/2.0/mlflow/registered-models"
RUNS = "/api/2.0/mlflow/runs"
EXPS = "/api/2.0/mlflow/experiments"
LMS = "/api/2.0/mlflow/logged-models"
T3 = "/api/3.0/mlflow/traces"
T2 = "/api/2.0/mlflow/traces"
HOOKS = "/api/2.0/mlflow/webhooks"
ONE_METRIC = {"key": "m", "value": 9, "timestamp": 9, "step": 9}
DATASET = {
    "dataset": {"name": "d", "digest": "x", "source_type": "local", "source": "{}"},
    "tags": [{"key": "mlflow.data.context", "value": "train"}],
}

_REF = re.compile(r"\$\{([^}]+)\}")


def render(template, ids):
    if isinstance(template, str):
        return _REF.sub(lambda m: ids[m.group(1)], template)
    if isinstance(template, dict):
        return {k: render(v, ids) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, ids) for v in template]
    return template


def key_of(call) -> tuple[str, str, str]:
    method, path, body = call
    shown = body.decode() if isinstance(body, bytes) else json.dumps(body, sort_keys=True)
    return method, path, shown


# The calls this store answers differently from MLflow's SQL store (docs/workspaces.md,
# "Isolation"); the test checks that they still differ.
METRIC_ON_A_MODEL = (
    "POST",
    f"{RUNS}/log-batch",
    {"run_id": "${B.run}", "metrics": [{**ONE_METRIC, "key": "mm", "model_id": "${A.lm}"}]},
)
RUNS_WITH_A_TOKEN = (
    "POST",
    f"{RUNS}/search",
    {"experiment_ids": ["${B.exp}"], "max_results": 1, "page_token": "${A.tok.runs}"},
)
TRACES_WITH_A_TOKEN = (
    "POST",
    f"{T3}/search",
    {"locations": [loc("${B.exp}")], "max_results": 1, "page_token": "${A.tok.traces}"},
)
MODELS_WITH_A_TOKEN = ("GET", f"{RM}/search", {"max_results": 1, "page_token": "${A.tok.models}"})
SPAN_INTO_A_TRACE = ("OTLP", "${B.exp}", otlp("${A.trace2.hex}", "00000000000000b2", 10**9))
TOKEN_REASON = (
    "a page token of ours is a position in the search's order, SQL's an offset: team-a's "
    "token names a position after all of team-b's (newer) items, so we answer an empty page "
    "where SQL answers team-b's item at that offset; neither returns a team-a item"
)
DIFFERENCES: dict[tuple[str, str, str], str] = {
    key_of(METRIC_ON_A_MODEL): (
        "deliberate: SQL adds team-b's metric to team-a's logged model (a write across "
        "workspaces); we refuse, as for any logged model that does not exist (BAD_REQUEST)"
    ),
    key_of(RUNS_WITH_A_TOKEN): TOKEN_REASON,
    key_of(TRACES_WITH_A_TOKEN): TOKEN_REASON,
    key_of(MODELS_WITH_A_TOKEN): (
        "a registered-model page token of ours holds the last name returned (name order), "
        "SQL's an offset: team-a's token resumes after that name among team-b's own models, "
        "SQL answers team-b's model at that offset; neither returns a team-a item"
    ),
    key_of(SPAN_INTO_A_TRACE): (
        "a span for team-a's trace id sent to team-b: SQL retries creating the trace row "
        "ten times, then drops the spans with a warning and answers 200; we answer "
        "RESOURCE_DOES_NOT_EXIST at once; neither writes into team-a's trace"
    ),
}

# (method, path template, body template); "${label}" is replaced by this server's id. The
# order matters: reads and updates first, deletions last, creations of A-only names in
# team-b at the very end.
CALLS: list[tuple] = [
    # experiments
    ("GET", f"{EXPS}/get", {"experiment_id": "${A.exp}"}),
    ("GET", f"{EXPS}/get-by-name", {"experiment_name": "only-a-exp"}),
    ("GET", f"{EXPS}/get-by-name", {"experiment_name": "shared"}),
    ("POST", f"{EXPS}/update", {"experiment_id": "${A.exp}", "new_name": "renamed"}),
    ("POST", f"{EXPS}/update", {"experiment_id": "${B.exp}", "new_name": "only-a-exp"}),
    ("POST", f"{EXPS}/update", {"experiment_id": "${B.exp}", "new_name": "shared"}),
    ("POST", f"{EXPS}/set-experiment-tag", {"experiment_id": "${A.exp}", "key": "x", "value": "y"}),
    ("POST", f"{EXPS}/delete-experiment-tag", {"experiment_id": "${A.exp}", "key": "x"}),
    ("GET", f"{EXPS}/search", {"filter": "name = 'only-a-exp'", "max_results": 10}),
    ("GET", f"{EXPS}/search", {"max_results": 10}),
    ("POST", f"{EXPS}/search", {"max_results": 10, "view_type": "ALL"}),
    ("GET", f"{EXPS}/search", {"max_results": 1, "page_token": "${A.tok.experiments}"}),
    # runs
    ("GET", f"{RUNS}/get", {"run_id": "${A.run}"}),
    ("POST", f"{RUNS}/update", {"run_id": "${A.run}", "status": "FAILED", "run_name": "x"}),
    ("POST", f"{RUNS}/log-metric", {"run_id": "${A.run}", **ONE_METRIC}),
    ("POST", f"{RUNS}/log-parameter", {"run_id": "${A.run}", "key": "p2", "value": "2"}),
    ("POST", f"{RUNS}/log-parameter", {"run_id": "${A.run}", "key": "p", "value": "changed"}),
    ("POST", f"{RUNS}/set-tag", {"run_id": "${A.run}", "key": "x", "value": "y"}),
    ("POST", f"{RUNS}/delete-tag", {"run_id": "${A.run}", "key": "t"}),
    (
        "POST",
        f"{RUNS}/log-batch",
        {"run_id": "${A.run}", "metrics": [ONE_METRIC], "tags": [{"key": "x", "value": "y"}]},
    ),
    ("POST", f"{RUNS}/log-inputs", {"run_id": "${A.run}", "datasets": [DATASET]}),
    ("POST", f"{RUNS}/log-inputs", {"run_id": "${B.run}", "models": [{"model_id": "${A.lm}"}]}),
    (
        "POST",
        f"{RUNS}/outputs",
        {"run_id": "${A.run}", "models": [{"model_id": "${B.lm}", "step": 0}]},
    ),
    (
        "POST",
        f"{RUNS}/outputs",
        {"run_id": "${B.run}", "models": [{"model_id": "${A.lm}", "step": 0}]},
    ),
    METRIC_ON_A_MODEL,
    ("POST", f"{RUNS}/create", {"experiment_id": "${A.exp}", "run_name": "intruder"}),
    ("POST", f"{RUNS}/search", {"experiment_ids": ["${A.exp}"]}),
    ("POST", f"{RUNS}/search", {"experiment_ids": ["${A.exp}", "${B.exp}"]}),
    ("POST", f"{RUNS}/search", {"experiment_ids": ["${B.exp}"], "filter": "params.p = '1'"}),
    (
        "POST",
        f"{RUNS}/search",
        {"experiment_ids": ["${A.exp}"], "max_results": 1, "page_token": "${A.tok.runs}"},
    ),
    RUNS_WITH_A_TOKEN,
    ("GET", "/api/2.0/mlflow/metrics/get-history", {"run_id": "${A.run}", "metric_key": "m"}),
    (
        "GET",
        "/api/2.0/mlflow/metrics/get-history",
        {
            "run_id": "${B.run}",
            "metric_key": "m",
            "max_results": 1,
            "page_token": "${A.tok.history}",
        },
    ),
    (
        "GET",
        "/api/2.0/mlflow/metrics/get-history-bulk-interval",
        {"run_ids": ["${A.run}"], "metric_key": "m"},
    ),
    (
        "GET",
        "/api/2.0/mlflow/metrics/get-history-bulk-interval",
        {"run_ids": ["${A.run}", "${B.run}"], "metric_key": "m"},
    ),
    (
        "GET",
        "/ajax-api/2.0/mlflow/metrics/get-history-bulk",
        {"run_id": ["${A.run}"], "metric_key": "m"},
    ),
    # artifacts
    ("GET", "/api/2.0/mlflow/artifacts/list", {"run_id": "${A.run}"}),
    ("GET", "/get-artifact", {"run_id": "${A.run}", "path": "f.txt"}),
    ("POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=${A.run}&path=g.txt", b"intruder"),
    ("GET", f"{LMS}/${{A.lm}}/artifacts/directories", None),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts", {"path": "${A.run.artifact_path}"}),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/${A.run.artifact_path}/f.txt", None),
    # traces
    ("GET", f"{T3}/${{A.trace}}", None),
    ("GET", f"{T3}/get", {"trace_id": "${A.trace}"}),
    ("GET", f"{T2}/${{A.trace}}/info", None),
    ("GET", f"{T3}/batchGet", {"trace_ids": ["${A.trace}", "${B.trace}"]}),
    ("POST", f"{T3}/batchGetInfos", {"trace_ids": ["${A.trace}", "${B.trace}"]}),
    ("PATCH", f"{T3}/${{A.trace}}/tags", {"key": "x", "value": "y"}),
    ("DELETE", f"{T3}/${{A.trace}}/tags", {"key": "t"}),
    ("PATCH", f"{T2}/${{A.trace}}/tags", {"key": "x", "value": "y"}),
    ("DELETE", f"{T2}/${{A.trace}}/tags", {"key": "t"}),
    ("POST", f"{T3}/search", {"locations": [loc("${A.exp}")]}),
    ("POST", f"{T3}/search", {"locations": [loc("${A.exp}"), loc("${B.exp}")]}),
    TRACES_WITH_A_TOKEN,
    ("GET", T2, {"experiment_ids": ["${A.exp}"]}),
    ("POST", f"{T2}/link-to-run", {"trace_ids": ["${B.trace}"], "run_id": "${A.run}"}),
    ("POST", f"{T2}/link-to-run", {"trace_ids": ["${A.trace}"], "run_id": "${B.run}"}),
    ("GET", f"{T3}/${{A.trace}}/assessments/${{A.assessment}}", None),
    (
        "PATCH",
        f"{T3}/${{A.trace}}/assessments/${{A.assessment}}",
        {
            "assessment": {
                "assessment_id": "${A.assessment}",
                "trace_id": "${A.trace}",
                "feedback": {"value": False},
            },
            "update_mask": "feedback",
        },
    ),
    (
        "POST",
        f"{T3}/${{A.trace}}/assessments",
        {
            "assessment": {
                "assessment_name": "intruder",
                "trace_id": "${A.trace}",
                "source": {"source_type": "HUMAN", "source_id": "b"},
                "feedback": {"value": True},
            },
        },
    ),
    ("GET", "/ajax-api/3.0/mlflow/get-trace-artifact", {"request_id": "${A.trace}"}),
    (
        "POST",
        T3,
        {
            "trace": {
                "trace_info": {
                    "trace_id": "${new.trace}",
                    "trace_location": loc("${A.exp}"),
                    "request_time": "2024-01-01T00:00:00Z",
                    "execution_duration": "1s",
                    "state": "OK",
                }
            }
        },
    ),
    (
        "POST",
        T3,
        {
            "trace": {
                "trace_info": {
                    "trace_id": "${A.trace2}",
                    "trace_location": loc("${B.exp}"),
                    "request_time": "2024-01-01T00:00:00Z",
                    "execution_duration": "1s",
                    "state": "OK",
                }
            }
        },
    ),
    ("OTLP", "${A.exp}", otlp("${new.hex}", "00000000000000b1", 10**9)),
    SPAN_INTO_A_TRACE,
    # logged models
    ("GET", f"{LMS}/${{A.lm}}", None),
    ("PATCH", f"{LMS}/${{A.lm}}/tags", {"tags": [{"key": "x", "value": "y"}]}),
    ("DELETE", f"{LMS}/${{A.lm}}/tags/t", None),
    (
        "POST",
        f"{LMS}/${{A.lm}}/params",
        {"model_id": "${A.lm}", "params": [{"key": "k", "value": "v"}]},
    ),
    ("PATCH", f"{LMS}/${{A.lm}}", {"model_id": "${A.lm}", "status": "LOGGED_MODEL_READY"}),
    ("POST", LMS, {"experiment_id": "${A.exp}", "name": "intruder"}),
    ("POST", LMS, {"experiment_id": "${B.exp}", "name": "x", "source_run_id": "${A.run}"}),
    ("POST", f"{LMS}/search", {"experiment_ids": ["${A.exp}"]}),
    ("POST", f"{LMS}/search", {"experiment_ids": ["${A.exp}", "${B.exp}"]}),
    (
        "POST",
        f"{LMS}/search",
        {"experiment_ids": ["${B.exp}"], "max_results": 1, "page_token": "${A.tok.logged_models}"},
    ),
    # registered models (A-only names; "shared-model" is team-b's own)
    ("GET", f"{RM}/get", {"name": "only-a"}),
    ("GET", f"{RM}/get", {"name": "shared-model"}),
    ("PATCH", f"{RM}/update", {"name": "only-a", "description": "x"}),
    ("POST", f"{RM}/set-tag", {"name": "only-a", "key": "x", "value": "y"}),
    ("DELETE", f"{RM}/delete-tag", {"name": "only-a", "key": "t"}),
    ("GET", f"{RM}/get-latest-versions", {"name": "only-a"}),
    ("POST", f"{RM}/get-latest-versions", {"name": "only-a", "stages": ["None"]}),
    ("POST", f"{RM}/alias", {"name": "only-a", "alias": "x", "version": "1"}),
    ("GET", f"{RM}/alias", {"name": "only-a", "alias": "champion"}),
    ("DELETE", f"{RM}/alias", {"name": "only-a", "alias": "champion"}),
    ("GET", f"{RM}/search", {"filter": "name = 'only-a'"}),
    ("GET", f"{RM}/search", {"max_results": 10}),
    MODELS_WITH_A_TOKEN,
    # model versions
    ("GET", f"{MV}/get", {"name": "only-a", "version": "1"}),
    ("PATCH", f"{MV}/update", {"name": "only-a", "version": "1", "description": "x"}),
    ("POST", f"{MV}/set-tag", {"name": "only-a", "version": "1", "key": "x", "value": "y"}),
    ("DELETE", f"{MV}/delete-tag", {"name": "only-a", "version": "1", "key": "t"}),
    (
        "POST",
        f"{MV}/transition-stage",
        {
            "name": "only-a",
            "version": "1",
            "stage": "Production",
            "archive_existing_versions": False,
        },
    ),
    ("GET", f"{MV}/get-download-uri", {"name": "only-a", "version": "1"}),
    ("GET", "/model-versions/get-artifact", {"name": "only-a", "version": "1", "path": "MLmodel"}),
    ("GET", f"{MV}/search", {"filter": "run_id = '${A.run}'"}),
    ("GET", f"{MV}/search", {"filter": "name = 'only-a'"}),
    ("GET", f"{MV}/search", {"max_results": 1, "page_token": "${A.tok.versions}"}),
    (
        "POST",
        f"{MV}/create",
        {"name": "only-a", "source": "runs:/${B.run}/model", "run_id": "${B.run}"},
    ),
    (
        "POST",
        f"{MV}/create",
        {"name": "shared-model", "source": "${A.run.artifact_uri}/model", "run_id": "${A.run}"},
    ),
    (
        "POST",
        f"{MV}/create",
        {"name": "shared-model", "source": "${A.lm.artifact_uri}", "model_id": "${A.lm}"},
    ),
    ("POST", f"{MV}/create", {"name": "shared-model", "source": "models:/only-a/1"}),
    # webhooks
    ("GET", f"{HOOKS}/${{A.hook}}", None),
    ("PATCH", f"{HOOKS}/${{A.hook}}", {"description": "x"}),
    ("POST", f"{HOOKS}/${{A.hook}}/test", {}),
    ("GET", HOOKS, {"max_results": 10}),
    ("GET", HOOKS, {"max_results": 1, "page_token": "${A.tok.webhooks}"}),
    # deletions and restores
    ("POST", f"{T3}/delete-traces", {"experiment_id": "${A.exp}", "max_timestamp_millis": 2**62}),
    ("POST", f"{T3}/delete-traces", {"experiment_id": "${B.exp}", "request_ids": ["${A.trace}"]}),
    ("POST", f"{T2}/delete-traces", {"experiment_id": "${A.exp}", "request_ids": ["${A.trace}"]}),
    ("DELETE", f"{T3}/${{A.trace}}/assessments/${{A.assessment}}", None),
    ("DELETE", f"{LMS}/${{A.lm2}}", None),
    ("DELETE", f"{HOOKS}/${{A.hook2}}", None),
    ("DELETE", f"{MV}/delete", {"name": "only-a", "version": "1"}),
    ("DELETE", f"{RM}/delete", {"name": "only-a"}),
    ("POST", f"{RUNS}/delete", {"run_id": "${A.run2}"}),
    ("POST", f"{RUNS}/restore", {"run_id": "${A.run2}"}),
    ("POST", f"{EXPS}/delete", {"experiment_id": "${A.exp2}"}),
    ("POST", f"{EXPS}/restore", {"experiment_id": "${A.exp2}"}),
    # team-b may use team-a's names for its own items
    ("POST", f"{RM}/create", {"name": "only-a"}),
    ("POST", f"{RM}/rename", {"name": "only-a", "new_name": "only-a-2"}),
    ("POST", f"{RM}/rename", {"name": "shared-model", "new_name": "only-a"}),
    ("POST", f"{EXPS}/create", {"name": "only-a-exp"}),
    ("GET", f"{EXPS}/get-by-name", {"experiment_name": "only-a-exp"}),
    ("POST", HOOKS, {"name": "hook", "url": "https://localhost/h", "events": EVENTS}),
]

ID_KEYS = {
    "experiment_id", "run_id", "run_uuid", "trace_id", "request_id", "model_id",
    "webhook_id", "source_run_id", "assessment_id",
}  # fmt: skip


def summary(body, ids):
    """What a successful answer names: its top-level fields (lists by length) and every
    id in it as a label ("A.run"; "new" for an id the script did not create), names
    verbatim. Timestamps and other values that differ between servers are left out."""
    if isinstance(body, bytes):
        return ["bytes", body.decode(errors="replace")[:100]]
    labels = {v: k for k, v in ids.items() if not k.startswith("A.tok") and "." in k}
    found = []

    def walk(value, key=None):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif key in ID_KEYS and value:
            found.append(f"{key}={labels.get(str(value), 'new')}")
        elif key == "name":
            found.append(f"name={value}")

    walk(body)
    shape = {
        k: len(v) if isinstance(v, list) else v if isinstance(v, int) else type(v).__name__
        for k, v in body.items()
    }
    return [shape, sorted(found)]


def attempt(url, call, ids) -> tuple[tuple, str]:
    """(status, error_code, summary) and, for the failure report only, the message."""
    method, path, body = call
    path, body = render(path, ids), render(body, ids)
    if method == "OTLP":
        status, answer = http(
            url,
            "POST",
            "/v1/traces",
            body,
            B,
            headers={"x-mlflow-experiment-id": path},
        )
    elif isinstance(body, bytes):
        status, answer = http(
            url, method, path, None, B, raw=body, headers={"Content-Type": "text/plain"}
        )
    else:
        status, answer = http(url, method, path, body, B)
    if status < 300:
        return (status, None, summary(answer, ids)), ""
    if isinstance(answer, dict):
        return (status, answer.get("error_code"), None), str(answer.get("message", answer))
    return (status, None, None), answer[:200].decode(errors="replace")


def snapshot(url, ids) -> dict:
    """Team-a's data as team-a reads it."""
    reads = {
        "run": ("GET", f"{RUNS}/get", {"run_id": ids["A.run"]}),
        "run2": ("GET", f"{RUNS}/get", {"run_id": ids["A.run2"]}),
        "history": (
            "GET",
            "/api/2.0/mlflow/metrics/get-history",
            {"run_id": ids["A.run"], "metric_key": "m"},
        ),
        "runs": ("POST", f"{RUNS}/search", {"experiment_ids": [ids["A.exp"]]}),
        "artifacts": ("GET", "/api/2.0/mlflow/artifacts/list", {"run_id": ids["A.run"]}),
        "file": ("GET", "/get-artifact", {"run_id": ids["A.run"], "path": "f.txt"}),
        "exp": ("GET", f"{EXPS}/get", {"experiment_id": ids["A.exp"]}),
        "exp2": ("GET", f"{EXPS}/get", {"experiment_id": ids["A.exp2"]}),
        "experiments": ("GET", f"{EXPS}/search", {"max_results": 10}),
        "shared-model": ("GET", f"{RM}/get", {"name": "shared-model"}),
        "only-a": ("GET", f"{RM}/get", {"name": "only-a"}),
        "models": ("GET", f"{RM}/search", {"max_results": 10}),
        "version": ("GET", f"{MV}/get", {"name": "only-a", "version": "1"}),
        "versions": ("GET", f"{MV}/search", {"max_results": 10}),
        "alias": ("GET", f"{RM}/alias", {"name": "only-a", "alias": "champion"}),
        "trace": ("GET", f"{T3}/{ids['A.trace']}", None),
        "trace2": ("GET", f"{T3}/{ids['A.trace2']}", None),
        "trace_data": ("GET", f"{T3}/get", {"trace_id": ids["A.trace"]}),
        "trace2_data": ("GET", f"{T3}/get", {"trace_id": ids["A.trace2"]}),
        "traces": ("POST", f"{T3}/search", {"locations": [loc(ids["A.exp"])]}),
        "assessment": ("GET", f"{T3}/{ids['A.trace']}/assessments/{ids['A.assessment']}", None),
        "lm": ("GET", f"{LMS}/{ids['A.lm']}", None),
        "lm2": ("GET", f"{LMS}/{ids['A.lm2']}", None),
        "logged_models": ("POST", f"{LMS}/search", {"experiment_ids": [ids["A.exp"]]}),
        "hook": ("GET", f"{HOOKS}/{ids['A.hook']}", None),
        "hooks": ("GET", HOOKS, {"max_results": 10}),
    }
    return {name: http(url, method, path, body, A) for name, (method, path, body) in reads.items()}


# ---- the module's one scenario, run once on both servers -------------------------------
@pytest.fixture(scope="module")
def scenario(servers):
    results = {}
    for name, url in servers.items():
        ids = populate(url)
        ids["new.trace"] = f"tr-{uuid.uuid4().hex}"
        ids["new.hex"] = uuid.uuid4().hex
        before = snapshot(url, ids)
        records, messages = [], []
        for call in CALLS:
            record, message = attempt(url, call, ids)
            records.append((key_of(call), record))
            messages.append(message)
        after = snapshot(url, ids)
        results[name] = {
            "ids": ids,
            "records": records,
            "messages": messages,
            "before": before,
            "after": after,
        }
    return results


def test_team_b_gets_what_the_sql_server_gives(scenario):
    ours, sql = scenario["dynamodb"], scenario["sqlite"]
    assert len(ours["records"]) == len(sql["records"]) == len(CALLS)
    differences = [
        f"{' '.join(key)}\n    dynamodb: {mine} {ours['messages'][n][:150]}"
        f"\n    sqlite:   {theirs} {sql['messages'][n][:150]}"
        for n, ((key, mine), (_, theirs)) in enumerate(
            zip(ours["records"], sql["records"], strict=True)
        )
        if mine != theirs and key not in DIFFERENCES
    ]
    assert not differences, "\n".join(differences)
    for (key, mine), (_, theirs) in zip(ours["records"], sql["records"], strict=True):
        if key in DIFFERENCES:
            assert mine != theirs, f"no longer a difference: {key}"


def test_no_answer_to_team_b_names_team_a_items(scenario):
    """A successful answer in team-b names no item of team-a but those team-b named itself
    (a logged model created with team-a's run as its source run echoes that id)."""
    leaks, asked = [], set()
    for key, record in scenario["dynamodb"]["records"]:
        asked |= set(_REF.findall(" ".join(key)))  # ids team-b was given, up to this call
        if record[2] is None or record[2][0] == "bytes":
            continue
        named = {item.split("=", 1)[1] for item in record[2][1]}
        leaks += [(key, label) for label in named if label.startswith("A.") and label not in asked]
    assert leaks == []


def test_team_a_data_unchanged(scenario):
    """Team-a reads the same before and after team-b's attempts, on our server."""
    ours = scenario["dynamodb"]
    after = {name: body for name, (_, body) in ours["after"].items()}
    assert {k: v[0] for k, v in ours["after"].items() if v[0] != 200} == {}
    assert {k for k in ours["before"] if ours["before"][k] != ours["after"][k]} == set()
    run = after["run"]["run"]["data"]
    assert {m["key"]: m["value"] for m in run["metrics"]} == {"m": 1.0}
    assert {p["key"]: p["value"] for p in run["params"]} == {"p": "1"}
    assert {t["key"] for t in run["tags"]} - {"mlflow.runName"} == {"t"}
    assert after["file"] == b"hello"
    assert after["only-a"]["registered_model"]["aliases"] == [{"alias": "champion", "version": "1"}]
    assert after["version"]["model_version"]["current_stage"] == "None"
    tags = after["trace"]["trace"]["trace_info"]["tags"]
    assert tags["t"] == "v" and "x" not in tags
    assert len(after["trace2_data"]["trace"]["spans"]) == 1
    assert after["lm"]["model"]["data"] == {} and after["hook"]["webhook"]["name"] == "hook"
    # The SQL store's one write across workspaces (METRIC_ON_A_MODEL): team-b's metric on
    # team-a's logged model.
    sql = scenario["sqlite"]
    changed = {k for k in sql["before"] if sql["before"][k] != sql["after"][k]}
    sql_model = sql["after"]["lm"][1]["model"]["data"]
    assert changed == {"lm", "logged_models"}
    assert [m["key"] for m in sql_model["metrics"]] == ["mm"]
