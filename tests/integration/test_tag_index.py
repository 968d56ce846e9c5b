"""The tag index on DynamoDB Local: entries written with the tag, searches narrowed by them
(request counts), values beyond key limits, readiness (an incomplete index is not used)."""

from __future__ import annotations

import pytest
from mlflow.entities import RunTag, ViewType

from mlflow_dynamodbstore.repositories.tag_index import TABLE_SCOPE, TagIndexState
from mlflow_dynamodbstore.schema import tag_index_keys


def _requests(store) -> dict[str, int]:
    return {op: s.requests for op, s in store.gateway.stats.snapshot().items()}


def _runs(store, exp, n=30, every=10):
    ids = []
    for i in range(n):
        user = "alice" if i % every == 0 else "bob"
        run = store.create_run(
            exp,
            user_id=user,
            start_time=1000 + i,
            tags=[RunTag("mlflow.user", user), RunTag("team", "t")],
            run_name=f"r{i:02d}",
        )
        ids.append(run.info.run_id)
    return ids


def _search(store, exp, filter_string):
    return store.search_runs([exp], filter_string, ViewType.ALL)


def _names(runs) -> list[str]:
    return [r.info.run_name for r in runs]


def test_create_run_writes_entries_for_indexed_tags_only(store):
    exp = store.create_experiment("x")
    store.gateway.stats.reset()
    run = store.create_run(
        exp, user_id="u", start_time=1, tags=[RunTag("mlflow.user", "u"), RunTag("team", "t")],
        run_name="n",
    )  # fmt: skip
    # META and the entries (mlflow.user, mlflow.runName) in one transaction: still 1 write
    ops = _requests(store)
    assert ops.get("TransactWriteItems") == 1 and "PutItem" not in ops
    rid = run.info.run_id
    assert store.gateway.get_item(tag_index_keys.run_entry_key(rid, "mlflow.user"))["key"] == (
        "mlflow.user"
    )
    assert store.gateway.get_item(tag_index_keys.run_entry_key(rid, "team")) is None

    store.set_tag(rid, RunTag("mlflow.user", "v"))
    entry = store.gateway.get_item(tag_index_keys.run_entry_key(rid, "mlflow.user"))
    assert entry["GSI2SK"].startswith("v#")
    store.gateway.stats.reset()
    store.delete_tag(rid, "mlflow.user")
    assert _requests(store).get("TransactWriteItems") == 1
    assert store.gateway.get_item(tag_index_keys.run_entry_key(rid, "mlflow.user")) is None


def test_an_indexed_equality_reads_only_the_matching_runs(store):
    exp = store.create_experiment("x")
    _runs(store, exp)
    store.gateway.stats.reset()
    found = store.search_runs([exp], "tags.mlflow.user = 'alice'", ViewType.ACTIVE_ONLY)
    assert _names(found) == ["r20", "r10", "r00"]
    # experiment META, the state item, one GSI2 Query, one BatchGetItem of the 3 runs and
    # one of their LIVE items (option D: every run has one, docs/access-patterns.md)
    assert _requests(store) == {"BatchGetItem": 3, "GetItem": 1, "Query": 1}


def test_indexed_reads_grow_with_matches_not_runs(store):
    exp = store.create_experiment("x")
    _runs(store, exp, n=120, every=60)
    store.gateway.stats.reset()
    assert len(store.search_runs([exp], "tags.team = 't'", ViewType.ACTIVE_ONLY)) == 120
    unindexed_reads = store.gateway.stats.read_capacity
    store.gateway.stats.reset()
    found = store.search_runs([exp], "tags.mlflow.user = 'alice'", ViewType.ACTIVE_ONLY)
    assert _names(found) == ["r60", "r00"]
    # the state (1 consistent GetItem), experiment META, 1 Query of 2 entries, 2 runs and
    # their LIVE items (0.5 each; option D: every run has one, docs/access-patterns.md)
    assert store.gateway.stats.read_capacity <= 4 < unindexed_reads / 2


def test_prefix_like_and_run_name(store):
    exp = store.create_experiment("x")
    _runs(store, exp)
    got = store.search_runs([exp], "tags.mlflow.user LIKE 'ali%'", ViewType.ACTIVE_ONLY)
    assert _names(got) == ["r20", "r10", "r00"]
    got = store.search_runs([exp], "attributes.run_name LIKE 'r1%'", ViewType.ACTIVE_ONLY)
    assert _names(got) == [f"r{i}" for i in range(19, 9, -1)]
    got = store.search_runs([exp], "attributes.run_name = 'r07'", ViewType.ACTIVE_ONLY)
    assert _names(got) == ["r07"]


def test_values_beyond_the_key_limit_are_cut_in_the_key_and_verified(store):
    exp = store.create_experiment("x")
    long_a = "é" * 400 + "a"  # 801 bytes: cut in the key
    long_b = "é" * 400 + "b"
    for i, value in enumerate([long_a, long_b, "short"]):
        store.create_run(exp, user_id="u", start_time=i, tags=[RunTag("mlflow.note", value)],
                         run_name=f"v{i}")  # fmt: skip
    assert _names(_search(store, exp, f"tags.mlflow.note = '{long_b}'")) == ["v1"]
    assert _names(_search(store, exp, f"tags.mlflow.note LIKE '{long_a[:350]}%'")) == [
        "v1",
        "v0",
    ]
    assert _names(_search(store, exp, "tags.mlflow.note = 'short'")) == ["v2"]


def test_an_incomplete_index_is_not_trusted(store):
    """Runs written before a glob was complete may lack entries: without the state's word
    the search walks the listing (and still finds them)."""
    exp = store.create_experiment("x")
    _runs(store, exp, n=5, every=1)
    TagIndexState(store._conn.gateway).unmark(TABLE_SCOPE, ["mlflow.*"])
    store.gateway.stats.reset()
    assert len(_search(store, exp, "tags.mlflow.user = 'alice'")) == 5
    assert "BatchGetItem" in _requests(store) and _requests(store)["Query"] >= 1


@pytest.mark.parametrize("view", [ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL])
def test_deleted_runs_follow_the_view_type(store, view):
    exp = store.create_experiment("x")
    ids = _runs(store, exp)
    store.delete_run(ids[10])
    got = _names(store.search_runs([exp], "tags.mlflow.user = 'alice'", view))
    expected = {
        ViewType.ACTIVE_ONLY: ["r20", "r00"],
        ViewType.DELETED_ONLY: ["r10"],
        ViewType.ALL: ["r20", "r10", "r00"],
    }[view]
    assert got == expected


def test_experiment_tags_are_indexed_and_searched_through_the_index(store):
    from mlflow.entities import ExperimentTag

    for i in range(12):
        store.create_experiment(
            f"e{i:02d}", tags=[ExperimentTag("mlflow.user", "alice" if i % 6 == 0 else "bob")]
        )
    store.gateway.stats.reset()
    found = store.search_experiments(filter_string="tags.mlflow.user = 'alice'")
    assert [e.name for e in found] == ["e06", "e00"]
    # the state item, one GSI2 Query, one BatchGetItem of the two experiments
    assert _requests(store) == {"GetItem": 1, "Query": 1, "BatchGetItem": 1}

    exp = found[0].experiment_id
    store.gateway.stats.reset()
    store.set_experiment_tag(exp, ExperimentTag("mlflow.user", "carol"))
    assert _requests(store) == {"TransactWriteItems": 1}  # the tag and its entry
    store.gateway.stats.reset()
    store.set_experiment_tag(exp, ExperimentTag("team", "x"))
    assert _requests(store) == {"UpdateItem": 1}  # not indexed: as before
    assert [
        e.name for e in store.search_experiments(filter_string="tags.mlflow.user = 'carol'")
    ] == ["e06"]
    store.gateway.stats.reset()
    store.delete_experiment_tag(exp, "mlflow.user")
    assert _requests(store) == {"UpdateItem": 1, "DeleteItem": 1}
    assert store.search_experiments(filter_string="tags.mlflow.user LIKE 'car%'") == []
