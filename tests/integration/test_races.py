"""More races, several store instances (as several servers) on one table, threads released
together: rename vs create of one name, alias moves, 100 version creates on one model,
delete/restore of a run while metrics are logged to it, set_tag/delete_tag on one run.
After each, the table's invariants hold (table_invariants.py) and the outcome is one a
serial order of the same calls could give."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from mlflow.entities import Metric, RunTag
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.integration import table_invariants

THREADS = 8


def _together(fn, n: int = THREADS) -> list:
    """fn(i) on n threads released at once: results, or the MlflowException raised."""
    barrier = threading.Barrier(n)

    def call(i):
        barrier.wait()
        try:
            return fn(i)
        except MlflowException as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(call, range(n)))


def _tracking(store_uri, n=THREADS):
    return [DynamoDBTrackingStore(store_uri, "s3://b/a") for _ in range(n)]


def _registry(store_uri, n=THREADS):
    return [DynamoDBRegistryStore(store_uri) for _ in range(n)]


def _assert_invariants(store) -> None:
    problems, _, _ = table_invariants.check(store._conn.gateway)
    assert problems == []


def _codes(results) -> list[str]:
    return sorted(r.error_code for r in results if isinstance(r, MlflowException))


def test_rename_races_create_of_the_same_experiment_name(store_uri):
    stores = _tracking(store_uri)
    ids = [stores[0].create_experiment(f"own-{i}") for i in range(THREADS // 2)]

    def contend(i):
        if i % 2:
            return ("created", stores[i].create_experiment("wanted"))
        stores[i].rename_experiment(ids[i // 2], "wanted")
        return ("renamed", ids[i // 2])

    results = _together(contend)
    won = [r for r in results if isinstance(r, tuple)]
    assert len(won) == 1
    assert _codes(results) == ["RESOURCE_ALREADY_EXISTS"] * (THREADS - 1)
    winner = won[0][1]
    assert stores[0].get_experiment_by_name("wanted").experiment_id == winner
    names = [e.name for e in stores[0].search_experiments(max_results=1000)]
    assert names.count("wanted") == 1
    for i, eid in enumerate(ids):  # the losers kept their names
        assert stores[0].get_experiment(eid).name == ("wanted" if eid == winner else f"own-{i}")
    _assert_invariants(stores[0])


def test_rename_races_create_of_the_same_model_name(store_uri):
    stores = _registry(store_uri)
    for i in range(THREADS // 2):
        stores[0].create_registered_model(f"own-{i}")

    def contend(i):
        if i % 2:
            return stores[i].create_registered_model("wanted").name
        return stores[i].rename_registered_model(f"own-{i // 2}", "wanted").name

    results = _together(contend)
    assert [r for r in results if not isinstance(r, MlflowException)] == ["wanted"]
    assert _codes(results) == ["RESOURCE_ALREADY_EXISTS"] * (THREADS - 1)
    names = [m.name for m in stores[0].search_registered_models(max_results=100)]
    assert names.count("wanted") == 1 and len(names) == len(set(names))
    _assert_invariants(stores[0])


def test_concurrent_alias_moves_end_on_one_existing_version(store_uri):
    stores = _registry(store_uri)
    stores[0].create_registered_model("m")
    for i in range(4):
        stores[0].create_model_version("m", f"s3://{i}")
    final_moves = {}

    def move(i):
        version = 1
        for round_ in range(5):
            version = 1 + (i + round_) % 4
            stores[i].set_registered_model_alias("m", "champion", version)
        final_moves[i] = version

    assert [r for r in _together(move) if r is not None] == []
    aliased = stores[0].get_model_version_by_alias("m", "champion")
    assert int(aliased.version) in final_moves.values()  # the last move of some thread
    assert stores[0].get_registered_model("m").aliases == {"champion": int(aliased.version)}
    _assert_invariants(stores[0])


def test_100_concurrent_version_creates_number_1_to_100(store_uri):
    stores = _registry(store_uri, 20)  # 20 servers, each creating 5 versions
    stores[0].create_registered_model("m")

    def create(i):
        return [int(stores[i].create_model_version("m", f"s3://{i}/{j}").version) for j in range(5)]

    results = _together(create, 20)
    errors = [r for r in results if isinstance(r, MlflowException)]
    assert errors == []  # no "busy" error reaches a client
    numbers = sorted(n for r in results for n in r)
    assert numbers == list(range(1, 101))
    found = stores[0].search_model_versions("name='m'", max_results=200)
    assert sorted(int(v.version) for v in found) == list(range(1, 101))
    model_id = stores[0].models.get_id("default", "m")
    meta = stores[0].gateway.get_item(keys.registered_model_key(model_id))
    assert int(meta["next_version"]) == 100  # the counter holds no number no version has
    _assert_invariants(stores[0])
    assert int(stores[0].create_model_version("m", "s3://next").version) == 101


def test_delete_and_restore_while_metrics_are_logged(store_uri):
    stores = _tracking(store_uri, 5)
    run_id = stores[0].create_run("0", "u", 1, [], "r").info.run_id
    acknowledged: list[set] = [set() for _ in range(4)]

    def work(i):
        if i == 4:
            for _ in range(6):
                stores[i].delete_run(run_id)
                stores[i].restore_run(run_id)
            return None
        refused = 0
        for step in range(12):
            point = (float(i * 100 + step), 1000 + step, i * 100 + step)
            try:
                stores[i].log_batch(run_id, [Metric("m", *point)], [], [])
                acknowledged[i].add(point)
            except MlflowException as exc:
                # a deleted run takes no metrics: MLflow's own error for it
                assert exc.error_code == "INVALID_PARAMETER_VALUE", exc.message
                assert "must be in the 'active' state" in exc.message
                refused += 1
        return refused

    results = _together(work, 5)
    assert not [r for r in results if isinstance(r, MlflowException)]
    run = stores[0].get_run(run_id)
    assert run.info.lifecycle_stage == "active"
    history = {(m.value, m.timestamp, m.step) for m in stores[0].get_metric_history(run_id, "m")}
    expected = set().union(*acknowledged)
    assert history == expected  # every acknowledged point kept, none of the refused ones
    if expected:
        top = max(expected, key=lambda p: (p[2], p[1], p[0]))
        assert run.data.metrics["m"] == top[0]
    _assert_invariants(stores[0])


def test_concurrent_set_and_delete_tag_end_in_a_serial_state(store_uri):
    stores = _tracking(store_uri)
    run_id = stores[0].create_run("0", "u", 1, [], "r").info.run_id
    last_shared: dict[int, str | None] = {}

    def work(i):
        own = f"own{i}"
        for round_ in range(6):
            value = f"{i}-{round_}"
            stores[i].set_tag(run_id, RunTag(own, value))
            stores[i].set_tag(run_id, RunTag("shared", value))
            last_shared[i] = value
            if round_ % 3 == 1:
                stores[i].delete_tag(run_id, own)
                try:
                    stores[i].delete_tag(run_id, "shared")
                    last_shared[i] = None
                except MlflowException as exc:  # another thread deleted it first
                    assert exc.error_code == "RESOURCE_DOES_NOT_EXIST"

    assert [r for r in _together(work) if r is not None] == []
    tags = stores[0].get_run(run_id).data.tags
    for i in range(THREADS):  # each thread's own key: its last operation (a set)
        assert tags[f"own{i}"] == f"{i}-5"
    # the shared key: the last operation of some thread, as in any serial order
    assert tags.get("shared") in set(last_shared.values())
    _assert_invariants(stores[0])
