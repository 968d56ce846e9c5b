"""Scorers on DynamoDB Local: version numbers under concurrent registrations, request counts of
the common calls (docs/access-patterns.md, "Scorers"), the active online scorer listing,
limits and bad input that the SQL store does not answer with an MlflowException."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.repositories.scorers.repository import ExperimentInactive
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from tests.differential.scenarios.scorers import custom_scorer, judge


def test_concurrent_registrations_get_each_version_number_once(store_uri):
    """Several store instances stand in for several servers: the numbers are claimed through
    the table (conditional transactions on the scorer's head), never in process memory."""
    stores = [DynamoDBTrackingStore(store_uri, "s3://b/a") for _ in range(6)]
    eid = stores[0].create_experiment("race")

    def register(i: int):
        return stores[i % 6].register_scorer(eid, "s", custom_scorer(body=f"return {i}"))

    with ThreadPoolExecutor(max_workers=6) as pool:
        registered = list(pool.map(register, range(30)))

    assert sorted(v.scorer_version for v in registered) == list(range(1, 31))
    assert len({v.scorer_id for v in registered}) == 1
    listed = stores[0].list_scorer_versions(eid, "s")
    assert [v.scorer_version for v in listed] == list(range(1, 31))

    # every version holds what its registrant wrote: no write lost or swapped
    def bodies(versions):
        return {v.scorer_version: json.loads(v._serialized_scorer)["call_source"] for v in versions}

    assert bodies(registered) == bodies(listed)
    assert sorted(bodies(listed).values()) == sorted(f"return {i}" for i in range(30))
    assert stores[0].get_scorer(eid, "s").scorer_version == 30


def test_concurrent_first_registrations_create_one_scorer(store_uri):
    stores = [DynamoDBTrackingStore(store_uri, "s3://b/a") for _ in range(6)]
    eid = stores[0].create_experiment("first")
    with ThreadPoolExecutor(max_workers=6) as pool:
        registered = list(
            pool.map(lambda i: stores[i].register_scorer(eid, "new", custom_scorer()), range(6))
        )
    assert sorted(v.scorer_version for v in registered) == [1, 2, 3, 4, 5, 6]
    assert len({v.scorer_id for v in registered}) == 1


def test_concurrent_deletes_and_registrations_keep_latest_exact(store_uri):
    """Deleting the latest version copies the previous one into the head; racing with
    registrations and other deletes, the head always names the highest version left."""
    stores = [DynamoDBTrackingStore(store_uri, "s3://b/a") for _ in range(4)]
    eid = stores[0].create_experiment("churn")
    for i in range(10):
        stores[0].register_scorer(eid, "s", custom_scorer(body=f"return {i}"))

    def work(i: int):
        store = stores[i % 4]
        if i % 2:
            return store.register_scorer(eid, "s", custom_scorer(body=f"new {i}")).scorer_version
        try:
            store.delete_scorer(eid, "s", 10 - i // 2)
        except MlflowException as exc:
            return exc.error_code
        return None

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, range(12)))
    versions = stores[0].list_scorer_versions(eid, "s")
    latest = stores[0].get_scorer(eid, "s")
    assert latest.scorer_version == versions[-1].scorer_version
    assert latest._serialized_scorer == versions[-1]._serialized_scorer
    numbers = [v.scorer_version for v in versions]
    assert numbers == sorted(set(numbers))


def test_request_counts(store):
    stats = store.gateway.stats
    eid = store.create_experiment("counts")
    store.register_scorer(eid, "a", judge())

    stats.reset()
    store.register_scorer(eid, "a", judge())  # experiment, head, one transaction
    assert (stats.requests("GetItem"), stats.requests("TransactWriteItems")) == (2, 1)
    assert stats.total_requests == 3
    store.register_scorer(eid, "b", custom_scorer())

    stats.reset()
    store.get_scorer(eid, "a")  # experiment + head (it holds the latest version)
    assert stats.total_requests == stats.requests("GetItem") == 2
    stats.reset()
    store.get_scorer(eid, "a", 1)  # + the version item
    assert stats.total_requests == stats.requests("GetItem") == 3
    stats.reset()
    store.list_scorers(eid)  # experiment + one Query of the heads
    assert (stats.requests("GetItem"), stats.requests("Query"), stats.total_requests) == (1, 1, 2)
    others = [store.create_experiment(f"other {i}") for i in range(3)]
    stats.reset()
    store.list_scorers_across_experiments([eid, others[0]])  # a Query per experiment
    assert stats.total_requests == stats.requests("Query") == 2
    stats.reset()
    listed = store.list_scorers_across_experiments([eid, *others])  # the workspace listing
    assert stats.total_requests == stats.requests("Query") == 1
    assert [s.scorer_name for s in listed] == ["a", "b"]
    stats.reset()
    store.list_scorer_versions(eid, "a")
    assert (stats.requests("GetItem"), stats.requests("Query"), stats.total_requests) == (2, 1, 3)

    stats.reset()
    config = store.upsert_online_scoring_config(eid, "a", 0.0)
    assert (stats.requests("GetItem"), stats.requests("TransactWriteItems")) == (2, 1)
    assert stats.total_requests == 3
    stats.reset()
    store.get_online_scoring_configs([config.scorer_id, "unknown"])
    assert stats.total_requests == stats.requests("BatchGetItem") == 1

    stats.reset()
    assert store.get_active_online_scorers() == []  # one (empty) listing Query
    assert stats.total_requests == stats.requests("Query") == 1

    stats.reset()
    store.delete_scorer(eid, "a", 1)  # not the latest: one transaction
    assert (stats.requests("GetItem"), stats.requests("TransactWriteItems")) == (2, 1)
    assert stats.total_requests == 3
    stats.reset()
    store.delete_scorer(eid, "a")  # the partition read, one transaction, its bindings' read
    assert (stats.requests("GetItem"), stats.requests("Query")) == (2, 2)
    assert stats.requests("TransactWriteItems") == 1
    assert stats.total_requests == 5


def test_active_online_listing_reads_the_index_then_the_items(store):
    """A config with sample_rate > 0 is listed in ACTIVE_ONLINE_SCORERS; the repository
    confirms each listed config and its scorer with one consistent BatchGetItem. (The facade
    then keeps only gateway-model scorers: these are not.)"""
    eid = store.create_experiment("active")
    store.register_scorer(eid, "s", custom_scorer())
    store.delete_scorer(eid, "s", 1)  # no version: any rate is accepted, as in SQL
    config = store.upsert_online_scoring_config(eid, "s", 0.25, "trace.status = 'OK'")
    workspace = store._get_active_workspace()
    assert store.scorers.active_online(workspace) == []  # the scorer has no version yet

    store.register_scorer(eid, "s", custom_scorer(body="return 1"))
    stats = store.gateway.stats
    stats.reset()
    [(listed, head)] = store.scorers.active_online(workspace)
    assert (stats.requests("Query"), stats.requests("BatchGetItem")) == (1, 1)
    assert listed["online_scoring_config_id"] == config.online_scoring_config_id
    assert float(listed["sample_rate"]) == 0.25
    assert (head["scorer_name"], int(head["latest"])) == ("s", 1)
    assert store.get_active_online_scorers() == []  # not a gateway model

    store.upsert_online_scoring_config(eid, "s", 0.0)  # leaves the index
    assert store.scorers.active_online(workspace) == []
    store.delete_scorer(eid, "s", 1)
    store.upsert_online_scoring_config(eid, "s", 0.5)
    store.register_scorer(eid, "s", custom_scorer())
    assert len(store.scorers.active_online(workspace)) == 1
    store.delete_scorer(eid, "s")  # the config goes with the scorer
    assert store.scorers.active_online(workspace) == []
    assert store.get_online_scoring_configs([config.scorer_id]) == []


def test_more_versions_than_one_transaction_holds(store):
    eid = store.create_experiment("many")
    for i in range(101):
        store.register_scorer(eid, "s", custom_scorer(body=f"return {i}"))
    store.upsert_online_scoring_config(eid, "s", 0.0)
    sid = store.get_scorer(eid, "s").scorer_id
    store.delete_scorer(eid, "s")
    with pytest.raises(MlflowException, match="not found") as info:
        store.get_scorer(eid, "s")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert store.scorers.versions(sid) == []
    assert store.get_online_scoring_configs([sid]) == []
    assert store.register_scorer(eid, "s", custom_scorer()).scorer_version == 1


@pytest.mark.parametrize("serialized", ["not json", "[1, 2]", "12", None])
def test_serialized_scorer_that_is_not_a_json_object(store, serialized):
    """The SQL store fails here with a bare JSON/attribute error (a 500 through the server,
    whose handler checks JSON itself); this store answers INVALID_PARAMETER_VALUE."""
    eid = store.create_experiment("bad json")
    with pytest.raises(MlflowException) as info:
        store.register_scorer(eid, "s", serialized)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_scorer_too_large_for_an_item(store):
    eid = store.create_experiment("big")
    huge = custom_scorer(body=os.urandom(400_000).hex())  # incompressible, 800 KB
    with pytest.raises(MlflowException, match="too large") as info:
        store.register_scorer(eid, "s", huge)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    big = custom_scorer(body="x = 1\n" * 200_000)  # 1.2 MB that compresses well
    assert store.register_scorer(eid, "s", big).scorer_version == 1
    assert store.get_scorer(eid, "s")._serialized_scorer == big


def test_scorer_on_an_unknown_gateway_endpoint_is_refused(store):
    eid = store.create_experiment("gw")
    with pytest.raises(MlflowException, match="GatewayEndpoint not found") as info:
        store.register_scorer(eid, "g", judge(model="gateway:/my-endpoint"))
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    version = store.register_scorer(eid, "plain", judge())
    assert store.resolve_endpoint_in_scorer(version) is version


def test_upsert_racing_a_scorer_delete_leaves_no_config(store_uri):
    """Whichever of the two lands first, a deleted scorer keeps no online config (the SQL
    store's cascade): the delete's transaction always deletes the config item, and an upsert
    after it fails its check of the head."""
    upserter, deleter = (DynamoDBTrackingStore(store_uri, "s3://b/a") for _ in range(2))
    eid = upserter.create_experiment("race config")

    def upsert():
        try:
            upserter.upsert_online_scoring_config(eid, "s", 0.0)
        except MlflowException as exc:
            assert exc.error_code == "RESOURCE_DOES_NOT_EXIST"

    for _ in range(8):
        scorer_id = deleter.register_scorer(eid, "s", custom_scorer()).scorer_id
        with ThreadPoolExecutor(max_workers=2) as pool:
            done = [pool.submit(upsert), pool.submit(deleter.delete_scorer, eid, "s")]
            for future in done:
                future.result()
        assert deleter.get_online_scoring_configs([scorer_id]) == []


def test_registration_is_conditioned_on_the_experiment_still_being_active(store):
    """The facade checks the experiment first; the write checks it again in its transaction,
    so an experiment deleted in between gets no scorer (here the repository is called
    directly, as if the delete had landed between the two)."""
    eid = store.create_experiment("gone")
    store.delete_experiment(eid)
    with pytest.raises(ExperimentInactive):
        store.scorers.register(
            experiment_id=eid, name="s", workspace="default", serialized=custom_scorer(), now=1
        )
    assert store.scorers.head(eid, "s") is None
