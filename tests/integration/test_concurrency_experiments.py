"""Races on experiment names against DynamoDB Local: uniqueness is held by conditional
transactions, so exactly one of N concurrent writers of a name wins."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

from boto3.dynamodb.conditions import Key
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

WRITERS = 8


def _race(fn, arguments: list) -> list:
    """Run fn(arg) for each arg on its own thread, all released at once; return the
    results, with MlflowException error codes in place of raised errors."""
    barrier = threading.Barrier(len(arguments))

    def run(arg):
        barrier.wait()
        try:
            return ("ok", fn(arg))
        except MlflowException as exc:
            return ("error", exc.error_code)

    with ThreadPoolExecutor(len(arguments)) as pool:
        return list(pool.map(run, arguments))


def _stores(store_uri: str, n: int) -> list[DynamoDBTrackingStore]:
    return [DynamoDBTrackingStore(store_uri, "s3://b/a") for _ in range(n)]


def _name_guards(store) -> dict[str, str]:
    items = store.gateway.query(
        Key("PK").eq(keys.workspace_pk("default")) & Key("SK").begins_with("EXPNAME#")
    )
    return {i["SK"].removeprefix("EXPNAME#"): i["experiment_id"] for i in items}


def test_concurrent_creates_of_one_name(store_uri):
    stores = _stores(store_uri, WRITERS)
    results = _race(lambda s: s.create_experiment("contested"), stores)
    winners = [r for kind, r in results if kind == "ok"]
    assert len(winners) == 1
    assert sorted(r for kind, r in results if kind == "error") == ["RESOURCE_ALREADY_EXISTS"] * (
        WRITERS - 1
    )
    store = stores[0]
    assert store.get_experiment_by_name("contested").experiment_id == winners[0]
    assert [e.name for e in store.search_experiments()].count("contested") == 1
    # a lost name uses up no id
    assert store.create_experiment("next") == str(int(winners[0]) + 1)


def test_concurrent_creates_of_different_names_get_gap_free_ids(store_uri):
    stores = _stores(store_uri, WRITERS)
    results = _race(lambda i: stores[i].create_experiment(f"e{i}"), list(range(WRITERS)))
    assert [kind for kind, _ in results] == ["ok"] * WRITERS
    ids = sorted(int(r) for _, r in results)
    assert ids == list(range(1, WRITERS + 1))
    for i, (_, experiment_id) in enumerate(results):
        assert stores[0].get_experiment(experiment_id).name == f"e{i}"


def test_concurrent_renames_to_one_name(store_uri):
    stores = _stores(store_uri, WRITERS)
    ids = [stores[0].create_experiment(f"start-{i}") for i in range(WRITERS)]
    results = _race(lambda i: stores[i].rename_experiment(ids[i], "target"), list(range(WRITERS)))
    won = [i for i, (kind, _) in enumerate(results) if kind == "ok"]
    assert len(won) == 1
    assert sorted(r for kind, r in results if kind == "error") == ["RESOURCE_ALREADY_EXISTS"] * (
        WRITERS - 1
    )
    store = stores[0]
    winner = ids[won[0]]
    assert store.get_experiment_by_name("target").experiment_id == winner
    expected = {"Default": "0", "target": winner}
    expected.update({f"start-{i}": ids[i] for i in range(WRITERS) if i != won[0]})
    assert _name_guards(store) == expected
    assert {store.get_experiment(e).name for e in ids} == set(expected) - {"Default"}


def test_concurrent_renames_of_one_experiment(store_uri):
    """Every rename re-reads and retries on a lost race: one name remains, and its guard
    is the only one pointing at the experiment."""
    stores = _stores(store_uri, WRITERS)
    eid = stores[0].create_experiment("origin")
    results = _race(lambda i: stores[i].rename_experiment(eid, f"name-{i}"), list(range(WRITERS)))
    assert all(kind == "ok" for kind, _ in results)
    final = stores[0].get_experiment(eid).name
    guards = _name_guards(stores[0])
    assert {n for n, e in guards.items() if e == eid} == {final}


def _create_in_process(store_uri: str, name: str, barrier, results) -> None:
    """Run in a child process: its own store, client and connection, as another server."""
    store = DynamoDBTrackingStore(store_uri, "s3://b/a")
    barrier.wait()
    try:
        results.put(("ok", store.create_experiment(name)))
    except MlflowException as exc:
        results.put(("error", exc.error_code))


def test_concurrent_creates_from_processes(store_uri):
    """Eight processes (separate clients, as separate servers) race for one name."""
    DynamoDBTrackingStore(store_uri, "s3://b/a")  # provision and seed the table first
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [
        ctx.Process(target=_create_in_process, args=(store_uri, "by-process", barrier, results))
        for _ in range(WRITERS)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sorted(kind for kind, _ in outcomes) == ["error"] * (WRITERS - 1) + ["ok"]
    assert {code for kind, code in outcomes if kind == "error"} == {"RESOURCE_ALREADY_EXISTS"}
    winner = next(eid for kind, eid in outcomes if kind == "ok")
    store = DynamoDBTrackingStore(store_uri, "s3://b/a")
    assert store.get_experiment_by_name("by-process").experiment_id == winner
