"""DynamoDB misbehaving under the stores, injected at the wire (gateway/faults.py).

Three questions, for every fault kind:

- absorbed: with botocore's retries on (the default config), a workload under a steady fault
  rate finishes and every write it was told succeeded is there;
- surfaced: when the retries are spent, the caller gets an MlflowException with
  TEMPORARILY_UNAVAILABLE (503 over HTTP, which MLflow's client retries), never a botocore
  error (a 500);
- half-written: a sweep fails each request of each write operation in turn (no botocore
  retries, so the first failure surfaces); after every failure the table holds no
  half-written entity (table_invariants.py), and doing the operation again succeeds.
"""

from __future__ import annotations

import json
import os

import pytest
from boto3.dynamodb.conditions import Key
from mlflow.entities import Metric, Param, RunTag, TraceInfo, TraceLocation, TraceState
from mlflow.entities.model_registry import RegisteredModelTag
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.gateway.faults import FaultInjector
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.differential_traces.builders import span, tid
from tests.integration import table_invariants

# Figures for docs/reliability.md: printed at the end of the module with -s.
FIGURES: dict[str, int] = {}


def _count(name: str, n: int = 1) -> None:
    FIGURES[name] = FIGURES.get(name, 0) + n


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print("\nfault figures:", dict(sorted(FIGURES.items())))


def _stores(store_uri: str, monkeypatch, retries: int | None = None):
    if retries is not None:  # botocore's max_attempts counts the retries only
        monkeypatch.setenv("MLFLOW_DYNAMODB_MAX_ATTEMPTS", str(retries))
    tracking = DynamoDBTrackingStore(store_uri, "s3://b/a")
    registry = DynamoDBRegistryStore(store_uri)
    assert registry._conn is tracking._conn  # one client: one injector sees every request
    return tracking, registry, FaultInjector(tracking._conn.client)


# ---- a small workload of every write family ---------------------------------------------
def _big_span(trace: int, n: int):
    # ~600 KB of attributes: stored as a head item plus chunk items
    return span(trace, n, None, f"s{n}", 0, 5, {"blob": os.urandom(300_000).hex()})


def workload(t: DynamoDBTrackingStore, r: DynamoDBRegistryStore, n: int) -> dict:
    """Writes of every family; returns what was acknowledged, for ``verify``."""
    exp = t.create_experiment(f"exp-{n}")
    t.rename_experiment(exp, f"exp-{n}-renamed")
    run = t.create_run(exp, "u", 1, [RunTag("t", "v")], f"run-{n}").info.run_id
    metrics = [Metric("m", float(i), 1000 + i, i) for i in range(60)]
    params = [Param(f"p{i}", str(i)) for i in range(5)]
    t.log_batch(run, metrics, params, [RunTag("k", "v")])
    t.set_tag(run, RunTag("gone", "x"))
    t.delete_tag(run, "gone")
    model = f"model-{n}"
    r.create_registered_model(model, tags=[RegisteredModelTag("a", "b")])
    for i in range(3):
        r.create_model_version(model, f"s3://b/{n}/{i}", run_id=run)
    r.set_registered_model_alias(model, "champion", 2)
    r.delete_model_version(model, 3)
    trace = 1000 + n
    t.log_spans(exp, [_big_span(trace, 1), span(trace, 2, 1, "child", 1, 4)])
    return {"exp": exp, "run": run, "model": model, "trace": tid(trace)}


def verify(t, r, done: dict, n: int) -> None:
    assert t.get_experiment_by_name(f"exp-{n}-renamed").experiment_id == done["exp"]
    run = t.get_run(done["run"])
    assert run.data.params == {f"p{i}": str(i) for i in range(5)}
    assert run.data.tags["k"] == "v" and "gone" not in run.data.tags
    assert len(t.get_metric_history(done["run"], "m")) == 60
    assert sorted(int(v.version) for v in r.search_model_versions(f"name='{done['model']}'")) == [
        1,
        2,
    ]
    assert int(r.get_model_version_by_alias(done["model"], "champion").version) == 2
    trace = t.get_trace(done["trace"])
    assert len(trace.data.spans) == 2
    assert len(trace.data.spans[0].attributes["blob"]) == 600_000
    _count("items verified", 60 + 5 + 2 + 2 + 1 + 2)


def _assert_invariants(t, *, settled: bool = False) -> None:
    """``settled``: after a successful call, no span chunk is left unused either."""
    problems, items, unused_chunks = table_invariants.check(t._conn.gateway)
    assert problems == []
    if settled:
        assert unused_chunks == 0
    FIGURES["span chunks left unused by a failed call, before its retry (max)"] = max(
        FIGURES.get("span chunks left unused by a failed call, before its retry (max)", 0),
        unused_chunks,
    )
    _count("invariant checks")
    _count("items checked for invariants", items)


# ---- absorbed ----------------------------------------------------------------------------
ABSORBED = [
    # kind, fault pattern: fail `count` of every `every` matching requests
    # botocore backs off throttling from 1 s (other errors from 25 ms): fewer of them
    ("throughput_exceeded", 1, 15),
    ("throttling", 1, 15),
    ("internal_error", 2, 5),
    ("read_timeout", 2, 5),
    ("connect_timeout", 2, 5),
    ("unprocessed", 1, 2),
    ("transaction_conflict", 2, 4),
    # applied, answer lost, retried by botocore: a conditional write must see its own work
    ("lost_response", 1, 6),
]


@pytest.mark.parametrize(("kind", "count", "every"), ABSORBED, ids=[a[0] for a in ABSORBED])
def test_faults_are_absorbed_by_the_retries(store_uri, monkeypatch, kind, count, every):
    t, r, faults = _stores(store_uri, monkeypatch)
    faults.inject(kind, count, every=every)
    before = t._conn.stats.total_requests
    done = workload(t, r, 0)
    faults.clear()
    verify(t, r, done, 0)
    _assert_invariants(t)
    assert faults.injected[kind] > 0
    _count("faults injected", faults.total)
    _count("requests under faults", t._conn.stats.total_requests - before)


# ---- surfaced ----------------------------------------------------------------------------
SURFACED = [
    ("throughput_exceeded", None),
    ("throttling", None),
    ("internal_error", None),
    ("read_timeout", None),
    ("connect_timeout", None),
    ("unprocessed", ["BatchWriteItem"]),
    ("transaction_conflict", None),
]


@pytest.mark.parametrize(("kind", "operations"), SURFACED, ids=[s[0] for s in SURFACED])
def test_spent_retries_surface_as_temporarily_unavailable(store_uri, monkeypatch, kind, operations):
    t, r, faults = _stores(store_uri, monkeypatch, retries=1)
    exp = t.create_experiment("e")
    run = t.create_run(exp, "u", 1, [], "r").info.run_id
    calls = {
        # a transaction, a batch write, a plain write and a read
        "create_experiment": lambda: t.create_experiment("other"),
        "create_registered_model": lambda: r.create_registered_model("m"),
        "log_batch": lambda: t.log_batch(
            run, [Metric(f"m{i}", 1.0, 1, 0) for i in range(30)], [], []
        ),
        "set_tag": lambda: t.set_tag(run, RunTag("a", "b")),
        "get_run": lambda: t.get_run(run),
    }
    if kind == "transaction_conflict":
        # Optimistic writes re-read and retry a transaction lost to conflicts (up to 30
        # times, each transaction tried 6 times): create_experiment and log_batch back off
        # ~20 s before answering 503. create_registered_model gives up at once.
        calls = {"create_registered_model": calls["create_registered_model"]}
    surfaced = 0
    for name, call in calls.items():
        faults.inject(kind, 1, every=1, operations=operations)  # every request fails
        try:
            call()
            failed = False
        except MlflowException as exc:
            assert exc.error_code == "TEMPORARILY_UNAVAILABLE", (name, exc.message)
            assert exc.get_http_status_code() == 503
            surfaced += 1
            failed = True
        faults.clear()
        _assert_invariants(t)
        if failed:
            call()  # the client's retry, once DynamoDB is back
    assert surfaced >= (1 if kind in ("unprocessed", "transaction_conflict") else 3)
    _count("errors surfaced as 503", surfaced)
    _count("faults injected", faults.total)


# ---- half-written ------------------------------------------------------------------------
def _sweep(t, faults, kind: str, setup, act, *, tolerate=(), outcome=None) -> int:
    """Fail request k of ``act(setup(k))`` for k = 0, 1, ... until a run of it meets no
    fault; after each failure the invariants hold and ``act`` done again succeeds (or, with
    a lost response, finds its own work done: ``tolerate``), after which ``outcome(state)``
    (when given) checks what the call made. Returns the requests of ``act``."""
    k = 0
    while True:
        state = setup(k)
        fault = faults.inject(kind, 1, skip=k)
        try:
            act(state)
            failed = False
        except MlflowException as exc:
            assert exc.error_code == "TEMPORARILY_UNAVAILABLE", (k, exc.message)
            failed = True
        faults.clear()
        _count("operations run")
        if fault.injected == 0:
            _assert_invariants(t, settled=True)
            if outcome:
                outcome(state)
            return k
        _count("faults injected")
        _assert_invariants(t)
        if failed:
            try:
                act(state)
            except MlflowException as exc:
                assert exc.error_code in tolerate, (k, exc.message)
            _count("operations run")
            _assert_invariants(t, settled=True)
            if outcome:
                outcome(state)
        k += 1


def _exactly_the_trace(t, exp: str, logged) -> None:
    """The trace a failed-then-retried log_spans made is the one a clean call makes: its
    span with the same content, the same trace info (a reference trace logged once, ids
    aside), and in its partition only META, the span head and the chunks the head uses."""
    trace_id = logged.trace_id
    trace = t.get_trace(trace_id)
    assert [s.span_id for s in trace.data.spans] == [logged.span_id]
    assert trace.data.spans[0].attributes["blob"] == logged.attributes["blob"]
    number = int(trace_id.removeprefix("tr-"), 16)
    reference = span(number + 10_000, 1, None, "s1", 0, 5, {"blob": logged.attributes["blob"]})
    t.log_spans(exp, [reference])

    def info(tid_: str) -> str:
        return json.dumps(t.get_trace_info(tid_).to_dict(), sort_keys=True).replace(tid_, "ID")

    assert info(trace_id) == info(reference.trace_id)
    t.delete_traces(exp, trace_ids=[reference.trace_id])
    items = list(
        t._conn.gateway.query(Key("PK").eq(keys.trace_pk(trace_id)) & Key("SK").begins_with("SPAN"))
    )
    heads = [i for i in items if i["SK"].startswith(keys.TRACE_SPAN_PREFIX)]
    assert len(heads) == 1 and len(items) == int(heads[0]["chunks"])
    _count("retried log_spans checked against a clean one")


def _sweep_all(store_uri, monkeypatch, kind: str, tolerate=()) -> None:
    t, r, faults = _stores(store_uri, monkeypatch, retries=0)
    exp = t.create_experiment("base")
    r.create_registered_model("base-model")
    for i in range(2):
        r.create_model_version("base-model", f"s3://x/{i}")

    def fresh_run(k):
        return t.create_run(exp, "u", 1, [], f"r{k}").info.run_id

    def same(k):
        return k

    steps = {
        "create_experiment": (same, lambda k: t.create_experiment(f"e{k}")),
        "rename_experiment": (
            lambda k: (t.create_experiment(f"x{k}"), k),
            lambda s: t.rename_experiment(s[0], f"y{s[1]}"),
        ),
        "create_run": (same, lambda k: t.create_run(exp, "u", 1, [RunTag("t", "v")], f"c{k}")),
        "log_batch": (
            fresh_run,
            lambda run: t.log_batch(
                run,
                [Metric(f"m{i % 3}", float(i), 1, i) for i in range(40)],
                [Param("p", "v")],
                [RunTag("k", "v")],
            ),
        ),
        "set_delete_tag": (
            fresh_run,
            lambda run: (t.set_tag(run, RunTag("a", "1")), t.delete_tag(run, "a")),
        ),
        "delete_restore_run": (fresh_run, lambda run: (t.delete_run(run), t.restore_run(run))),
        "create_registered_model": (
            same,
            lambda k: r.create_registered_model(f"m{k}", tags=[RegisteredModelTag("a", "b")]),
        ),
        "rename_registered_model": (
            lambda k: (r.create_registered_model(f"n{k}").name, k),
            lambda s: r.rename_registered_model(s[0], f"n{s[1]}-renamed"),
        ),
        "create_model_version": (same, lambda k: r.create_model_version("base-model", f"s3://{k}")),
        "set_alias": (same, lambda k: r.set_registered_model_alias("base-model", "a", 1 + k % 2)),
        "delete_version": (
            lambda k: int(r.create_model_version("base-model", f"s3://z/{k}").version),
            lambda v: r.delete_model_version("base-model", v),
        ),
        # The retry sends the very spans again, as MLflow's client does.
        "log_spans": (lambda k: _big_span(5000 + k, 1), lambda s: t.log_spans(exp, [s])),
    }
    outcomes = {"log_spans": lambda s: _exactly_the_trace(t, exp, s)}
    for name, (setup, act) in steps.items():
        requests = _sweep(
            t, faults, kind, setup, act, tolerate=tolerate, outcome=outcomes.get(name)
        )
        assert requests > 0, name
        _count(f"requests swept ({kind})", requests)
    versions = r.search_model_versions("name='base-model'", max_results=1000)
    numbers = sorted(int(v.version) for v in versions)
    assert len(numbers) == len(set(numbers))
    _assert_invariants(t)


def test_every_request_of_every_write_failing_leaves_no_half_entity(store_uri, monkeypatch):
    _sweep_all(store_uri, monkeypatch, "internal_error")


def test_lost_responses_leave_no_half_entity(store_uri, monkeypatch):
    """The request is applied, its answer lost: a retried create may find its own work."""
    _sweep_all(
        store_uri,
        monkeypatch,
        "lost_response",
        # what a lost answer's retry finds: its create done, its rename done
        tolerate=("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"),
    )


def test_writes_whose_answer_was_lost_are_retried_as_their_own(store_uri, monkeypatch):
    """botocore retries a write applied but unanswered: a transaction carries botocore's
    ClientRequestToken (DynamoDB applies it once), and a conditional put that fails on the
    item it wrote is its own success (create_run, a conditional put before it wrote index
    entries in its transaction, raised RunIdTaken, a 500)."""
    t, _, faults = _stores(store_uri, monkeypatch)
    faults.inject("lost_response", 1, operations=["TransactWriteItems"])
    eid = t.create_experiment("x")  # name guard + META + id counter: one transaction
    faults.inject("lost_response", 1, operations=["TransactWriteItems"])
    run = t.create_run(eid, "u", 1, [], "r").info.run_id  # META + index entries: one transaction
    faults.inject("lost_response", 1, operations=["PutItem"])
    trace_id = tid(1)
    t.start_trace(  # trace META: one conditional put
        TraceInfo(
            trace_id=trace_id,
            trace_location=TraceLocation.from_experiment_id(eid),
            request_time=1000,
            state=TraceState.OK,
        )
    )
    assert faults.injected["lost_response"] == 3
    assert t.get_experiment_by_name("x").experiment_id == eid
    assert t.get_run(run).info.run_name == "r"
    assert t.get_trace_info(trace_id).request_time == 1000
    assert t.create_experiment("y") == str(int(eid) + 1)  # no id used up twice
    _assert_invariants(t)
