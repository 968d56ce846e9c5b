"""Logged models on DynamoDB Local: create/get/finalize/delete, tags, params, metrics linked
to models through log_batch/log_metric, run outputs and the MLflow 2 history tag; each
compared with SqlAlchemyStore on SQLite where the two can be compared."""

from __future__ import annotations

import json
import math

import pytest
from boto3.dynamodb.conditions import Key
from mlflow.entities import (
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    Metric,
)
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_LOGGED_MODELS

from mlflow_dynamodbstore.schema import keys


def _error(fn, *args, **kwargs) -> MlflowException:
    with pytest.raises(MlflowException) as info:
        fn(*args, **kwargs)
    return info.value


def _codes(stores, call) -> list[str]:
    """The error code each store raises for ``call(store)``."""
    return [_error(call, s).error_code for s in stores]


def _comparable(model) -> dict:
    """A model's fields without what differs between two stores (ids, times, locations)."""
    d = model.to_dictionary()
    for volatile in ("model_id", "creation_timestamp", "last_updated_timestamp", "source_run_id"):
        d.pop(volatile)
    d["artifact_location"] = d["artifact_location"].rsplit("/models/", 1)[0] != ""
    d["metrics"] = sorted(
        (m.key, m.value, m.timestamp, m.step, m.dataset_name, m.dataset_digest)
        for m in model.metrics or []
    )
    return d


def test_create_and_get(store, sql):
    made = []
    for s in (store, sql):
        exp = s.create_experiment("e")
        made.append(
            s.create_logged_model(
                exp,
                name="my-model",
                source_run_id=None,
                tags=[LoggedModelTag("t", "1")],
                params=[LoggedModelParameter("alpha", "0.5")],
                model_type="sklearn",
            )
        )
    ours, theirs = made
    assert _comparable(ours) == _comparable(theirs)
    assert ours.model_id.startswith("m-") and len(ours.model_id) == 34
    assert ours.status == LoggedModelStatus.PENDING
    assert ours.artifact_location == f"s3://bucket/artifacts/1/models/{ours.model_id}/artifacts"
    assert ours.creation_timestamp == ours.last_updated_timestamp > 0
    got = store.get_logged_model(ours.model_id)
    assert got.to_dictionary() == ours.to_dictionary()
    assert (got.tags, got.params, got.metrics) == ({"t": "1"}, {"alpha": "0.5"}, None)
    # one META item under the model's own key, listed by GSI4
    item = store.gateway.get_item(keys.logged_model_key(ours.model_id))
    assert item["GSI4PK"] == keys.logged_models_gsi4pk("1")


def test_random_name_and_default_experiment(store):
    model = store.create_logged_model("0")
    assert model.name and model.experiment_id == "0"
    assert store.get_logged_model(model.model_id).name == model.name


def test_create_errors_match_sql(store, sql):
    stores = [store, sql]
    for s in stores:
        s.create_experiment("e")
        s.create_experiment("gone")
        s.delete_experiment("2")
    assert (
        _codes(stores, lambda s: s.create_logged_model("1", name="a/b"))
        == ["INVALID_PARAMETER_VALUE"] * 2
    )
    assert (
        _codes(stores, lambda s: s.create_logged_model("1", name=""))
        == ["INVALID_PARAMETER_VALUE"] * 2
    )
    assert _codes(stores, lambda s: s.create_logged_model("999")) == ["RESOURCE_DOES_NOT_EXIST"] * 2
    assert _codes(stores, lambda s: s.create_logged_model("abc")) == ["INVALID_PARAMETER_VALUE"] * 2
    msgs = [_error(s.create_logged_model, "2").message for s in stores]
    assert (
        msgs[0]
        == msgs[1]
        == ("The experiment 2 must be in the 'active' state. Current state is deleted.")
    )
    dup_params = [LoggedModelParameter("p", "1"), LoggedModelParameter("p", "2")]
    assert (
        _codes(stores, lambda s: s.create_logged_model("1", params=dup_params))
        == ["BAD_REQUEST"] * 2
    )
    dup_tags = [LoggedModelTag("t", "1"), LoggedModelTag("t", "2")]
    assert (
        _codes(stores, lambda s: s.create_logged_model("1", tags=dup_tags)) == ["BAD_REQUEST"] * 2
    )
    # nothing half-created on our side
    assert store.search_logged_models(["1"]).to_list() == []


def test_get_missing_and_deleted(store, sql):
    stores = [store, sql]
    ids = []
    for s in stores:
        exp = s.create_experiment("e")
        ids.append(s.create_logged_model(exp, name="m").model_id)
    for s, model_id in zip(stores, ids, strict=True):
        err = _error(s.get_logged_model, "m-missing")
        assert (err.error_code, err.message) == (
            "RESOURCE_DOES_NOT_EXIST",
            "Logged model with ID 'm-missing' not found.",
        )
        s.delete_logged_model(model_id)
        assert _error(s.get_logged_model, model_id).error_code == "RESOURCE_DOES_NOT_EXIST"
        assert s.get_logged_model(model_id, allow_deleted=True).name == "m"
        # as the SQL store: a deleted model still takes tags and status changes
        s.set_logged_model_tags(model_id, [LoggedModelTag("k", "v")])
        assert s.finalize_logged_model(model_id, LoggedModelStatus.FAILED).status == (
            LoggedModelStatus.FAILED
        )
        assert s.search_logged_models(["1"]).to_list() == []
        for op in (s.delete_logged_model, s.get_logged_model):
            assert _error(op, "m-missing").error_code == "RESOURCE_DOES_NOT_EXIST"
    deleted = store.gateway.get_item(keys.logged_model_key(ids[0]))
    assert deleted["lifecycle_stage"] == "deleted"
    assert deleted["GSI4SK"].startswith(keys.logged_model_list_prefix("deleted"))


def test_finalize(store, sql):
    for s in (store, sql):
        exp = s.create_experiment("e")
        model = s.create_logged_model(exp)
        done = s.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
        assert done.status == LoggedModelStatus.READY
        assert done.last_updated_timestamp >= model.last_updated_timestamp
        assert s.get_logged_model(model.model_id).status == LoggedModelStatus.READY
        err = _error(s.finalize_logged_model, "m-nope", LoggedModelStatus.READY)
        assert err.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_tags(store, sql):
    results = []
    for s in (store, sql):
        exp = s.create_experiment("e")
        model_id = s.create_logged_model(exp, tags=[LoggedModelTag("a", "1")]).model_id
        s.set_logged_model_tags(
            model_id,
            [LoggedModelTag("a", "2"), LoggedModelTag("b", "x"), LoggedModelTag("b", "y")],
        )
        s.set_logged_model_tags(model_id, [LoggedModelTag(f"k{i}", "v" * 500) for i in range(120)])
        s.delete_logged_model_tag(model_id, "k7")
        err = _error(s.delete_logged_model_tag, model_id, "zz")
        assert (err.error_code, err.message) == (
            "RESOURCE_DOES_NOT_EXIST",
            f"No tag with key 'zz' found for model with ID '{model_id}'.",
        )
        missing = [
            _error(s.delete_logged_model_tag, "m-nope", "a"),
            _error(s.set_logged_model_tags, "m-nope", [LoggedModelTag("a", "1")]),
        ]
        assert [e.error_code for e in missing] == ["RESOURCE_DOES_NOT_EXIST"] * 2
        results.append(s.get_logged_model(model_id).tags)
    assert results[0] == results[1]
    assert results[0]["a"] == "2" and results[0]["b"] == "y" and "k7" not in results[0]
    assert len(results[0]) == 121


def test_tag_past_item_limit_is_bad_input(store):
    model_id = store.create_logged_model("0").model_id
    err = _error(store.set_logged_model_tags, model_id, [LoggedModelTag("big", "x" * 450_000)])
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert "big" not in store.get_logged_model(model_id).tags


def test_log_params(store, sql):
    results = []
    for s in (store, sql):
        exp = s.create_experiment("e")
        model_id = s.create_logged_model(exp, params=[LoggedModelParameter("a", "1")]).model_id
        s.log_logged_model_params(
            model_id, [LoggedModelParameter(f"p{i}", str(i)) for i in range(60)]
        )
        for params in (
            [LoggedModelParameter("a", "1")],  # even the same value: params are write-once
            [LoggedModelParameter("a", "2")],
            [LoggedModelParameter("n", "1"), LoggedModelParameter("n", "2")],
        ):
            assert _error(s.log_logged_model_params, model_id, params).error_code == "BAD_REQUEST"
        err = _error(s.log_logged_model_params, "m-nope", [LoggedModelParameter("x", "1")])
        assert err.error_code == "RESOURCE_DOES_NOT_EXIST"
        results.append(s.get_logged_model(model_id).params)
    assert results[0] == results[1] and len(results[0]) == 61


def _metric_scenario(s) -> str:
    exp = s.create_experiment("e")
    run_id = s.create_run(exp, "u", 0, [], "r").info.run_id
    model_id = s.create_logged_model(exp, name="m", source_run_id=run_id).model_id
    s.log_batch(
        run_id,
        [
            Metric("acc", 0.9, 10, 1, model_id=model_id, dataset_name="d", dataset_digest="x"),
            Metric("acc", 0.9, 10, 1, model_id=model_id, dataset_name="d", dataset_digest="x"),
            Metric("nan", math.nan, 11, 0, model_id=model_id),
            Metric("inf", math.inf, 12, 0, model_id=model_id),
            Metric("neg", -math.inf, 12, 0, model_id=model_id),
            Metric("plain", 1.0, 13, 0),
        ],
        [],
        [],
    )
    s.log_metric(run_id, Metric("loss", 0.25, 14, 2, model_id=model_id))
    # the same point again is accepted and changes nothing
    s.log_metric(run_id, Metric("loss", 0.25, 14, 2, model_id=model_id))
    return run_id, model_id


def test_metrics_linked_to_models(store, sql):
    results = []
    for s in (store, sql):
        run_id, model_id = _metric_scenario(s)
        model = s.get_logged_model(model_id)
        results.append(_comparable(model))
        assert {m.run_id for m in model.metrics} == {run_id}
        assert {m.model_id for m in model.metrics} == {model_id}
        run = s.get_run(run_id)
        assert set(run.data.metrics) == {"acc", "nan", "inf", "neg", "plain", "loss"}
        assert math.isnan(run.data.metrics["nan"])
    assert results[0] == results[1]
    values = {m[0]: m[1] for m in results[0]["metrics"]}
    assert values["nan"] == 0.0 and values["inf"] == 1.7976931348623157e308
    assert values["neg"] == -1.7976931348623157e308


def test_metric_errors_match_sql(store, sql):
    for s in (store, sql):
        run_id, model_id = _metric_scenario(s)
        # same (name, timestamp, step, run) with another value: the SQL primary key clashes
        clash = Metric("loss", 0.5, 14, 2, model_id=model_id)
        assert _error(s.log_batch, run_id, [clash], [], []).error_code == "BAD_REQUEST"
        assert _error(s.log_metric, run_id, clash).error_code == "BAD_REQUEST"
        unknown = Metric("x", 1.0, 1, 0, model_id="m-unknown")
        assert _error(s.log_batch, run_id, [unknown], [], []).error_code == "BAD_REQUEST"
        missing_run = Metric("x", 1.0, 1, 0, model_id=model_id)
        err = _error(s.log_batch, "0" * 32, [missing_run], [], [])
        assert err.error_code == "RESOURCE_DOES_NOT_EXIST"
        bad = Metric("x", "nope", 1, 0, model_id=model_id)
        assert _error(s.log_batch, run_id, [bad], [], []).error_code == "INVALID_PARAMETER_VALUE"
        deleted_run = s.create_run("1", "u", 0, [], "d").info.run_id
        s.delete_run(deleted_run)
        err = _error(s.log_metric, deleted_run, unknown)  # the run's state is checked first
        assert (err.error_code, err.message) == (
            "INVALID_PARAMETER_VALUE",
            f"The run {deleted_run} must be in the 'active' state. Current state is deleted.",
        )
        assert [m.value for m in s.get_logged_model(model_id).metrics if m.key == "loss"] == [0.25]


def test_outputs_and_history_tag(store, sql):
    from mlflow.models import Model

    for s in (store, sql):
        exp = s.create_experiment("e")
        run_id = s.create_run(exp, "u", 0, [], "r").info.run_id
        model = s.create_logged_model(exp, source_run_id=run_id)
        s.log_outputs(run_id, [LoggedModelOutput(model.model_id, 3)])
        outputs = s.get_run(run_id).outputs.model_outputs
        assert [(o.model_id, o.step) for o in outputs] == [(model.model_id, 3)]
        for path in ("one", "two"):
            s.record_logged_model(run_id, Model(artifact_path=path, run_id=run_id))
        history = json.loads(s.get_run(run_id).data.tags[MLFLOW_LOGGED_MODELS])
        assert [h["artifact_path"] for h in history] == ["one", "two"]
        found = s.search_logged_models([exp], filter_string=f"source_run_id = '{run_id}'")
        assert [m.model_id for m in found] == [model.model_id]


def test_request_counts(store):
    model_id = store.create_logged_model("0").model_id
    store.gateway.stats.reset()
    store.get_logged_model(model_id)
    assert (store.gateway.stats.total_requests, store.gateway.stats.requests("Query")) == (1, 1)
    store.gateway.stats.reset()
    store.set_logged_model_tags(model_id, [LoggedModelTag("a", "b"), LoggedModelTag("c", "d")])
    assert store.gateway.stats.total_requests == 1


def test_write_request_counts(store):
    stats = store.gateway.stats
    stats.reset()
    model_id = store.create_logged_model("0", tags=[LoggedModelTag("a", "b")]).model_id
    # META and its name's trigram postings in one transaction
    created = (stats.requests("GetItem"), stats.requests("TransactWriteItems"))
    assert (*created, stats.total_requests) == (1, 1, 2)
    stats.reset()
    store.finalize_logged_model(model_id, LoggedModelStatus.READY)
    assert stats.total_requests == stats.requests("UpdateItem") == 1  # ALL_NEW: no re-read
    run_id = store.create_run("0", "u", 0, [], "r").info.run_id
    metrics = [Metric(f"k{i}", float(i), 1, 0, model_id=model_id) for i in range(30)]
    store.log_batch(run_id, metrics, [], [])
    stats.reset()
    store.log_batch(run_id, [Metric("k0", 0.0, 1, 0, model_id=model_id)], [], [])
    # the model side: get_run (1 Query) + the models' META with their inline rows (1
    # BatchGetItem); the row exists already, so it writes nothing. The run side: a point no
    # newer than the stored one is refused by the step (1 TransactWriteItems) and then
    # planned against META merged with the run's LIVE item, which holds the stepped keys'
    # entries (1 GetItem: docs/access-patterns.md, option D)
    ops = (stats.requests("Query"), stats.requests("BatchGetItem"), stats.requests("GetItem"))
    assert ops == (1, 1, 1)
    assert stats.requests("UpdateItem") == 0
    stats.reset()
    store.log_batch(run_id, [Metric("new", 0.0, 1, 0, model_id=model_id)], [], [])
    assert stats.requests("UpdateItem") == 1  # appended to META's inline rows
    stats.reset()
    store.delete_logged_model(model_id)
    assert (stats.requests("GetItem"), stats.requests("UpdateItem"), stats.total_requests) == (
        1,
        1,
        2,
    )


def test_models_of_another_workspace_are_invisible(store, monkeypatch, store_uri):
    from mlflow.entities.workspace import Workspace
    from mlflow.utils.workspace_context import WorkspaceContext

    from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    for name in ("team-a", "team-b"):
        provider.create_workspace(Workspace(name=name))
    with WorkspaceContext("team-a"):
        exp = store.create_experiment("e")
        model_id = store.create_logged_model(exp, name="mine").model_id
        assert [m.name for m in store.search_logged_models([exp])] == ["mine"]
    with WorkspaceContext("team-b"):
        for call, args in (
            (store.get_logged_model, (model_id,)),
            (store.finalize_logged_model, (model_id, LoggedModelStatus.READY)),
            (store.delete_logged_model, (model_id,)),
            (store.set_logged_model_tags, (model_id, [LoggedModelTag("k", "v")])),
            (store.delete_logged_model_tag, (model_id, "k")),
            (store.log_logged_model_params, (model_id, [LoggedModelParameter("p", "1")])),
        ):
            assert _error(call, *args).error_code == "RESOURCE_DOES_NOT_EXIST"
        assert store.search_logged_models([exp]).to_list() == []
    with WorkspaceContext("team-a"):
        model = store.get_logged_model(model_id)
        assert (model.status, model.tags, model.params) == (LoggedModelStatus.PENDING, {}, {})


def test_param_race_has_one_winner(store):
    from concurrent.futures import ThreadPoolExecutor

    model_id = store.create_logged_model("0").model_id

    def log(value: str) -> str:
        try:
            store.log_logged_model_params(model_id, [LoggedModelParameter("p", value)])
            return "ok"
        except MlflowException as exc:
            return exc.error_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(log, [str(i) for i in range(8)]))
    assert sorted(outcomes) == ["BAD_REQUEST"] * 7 + ["ok"]
    assert len(store.get_logged_model(model_id).params) == 1


def test_metrics_past_the_inline_budget_spill_to_items(store):
    exp = store.create_experiment("e")
    run_id = store.create_run(exp, "u", 0, [], "r").info.run_id
    model_id = store.create_logged_model(exp, name="big").model_id
    small = store.create_logged_model(exp, name="small").model_id
    store.log_batch(run_id, [Metric("acc", 0.5, 1, 0, model_id=small)], [], [])
    batches = [
        [Metric(f"metric_{i:04d}", i / 10, 1, b, model_id=model_id) for i in range(1000)]
        for b in range(2)
    ]
    store.log_batch(run_id, batches[0][:10], [], [])  # inline
    store.log_batch(run_id, batches[0], [], [])  # 10 known rows + 990 new: past the budget
    store.log_batch(run_id, batches[1], [], [])
    meta = store.gateway.get_item(keys.logged_model_key(model_id))
    assert meta["metrics_spilled"] is True and len(meta["metrics"]) == 10
    model = store.get_logged_model(model_id)
    assert len(model.metrics) == 2000
    assert {(m.key, m.step) for m in model.metrics} == {
        (f"metric_{i:04d}", b) for i in range(1000) for b in range(2)
    }
    # spilled rows still take part in the primary-key rule, searches and orders
    clash = Metric("metric_0500", 9.0, 1, 1, model_id=model_id)
    assert _error(store.log_batch, run_id, [clash], [], []).error_code == "BAD_REQUEST"
    store.log_batch(run_id, [Metric("metric_0500", 50.0, 1, 1, model_id=model_id)], [], [])
    found = store.search_logged_models([exp], filter_string="metrics.metric_0999 > 99")
    assert [m.name for m in found] == ["big"]
    ordered = store.search_logged_models(
        [exp], order_by=[{"field_name": "metrics.acc", "ascending": True}]
    )
    assert [m.name for m in ordered] == ["small", "big"]
    assert len(ordered.to_list()[1].metrics) == 2000


def test_garbage_collection_hooks(store, sql):
    for s in (store, sql):
        exp = s.create_experiment("e")
        run_id = s.create_run(exp, "u", 0, [], "r").info.run_id
        kept = s.create_logged_model(exp).model_id
        gone = s.create_logged_model(exp).model_id
        s.log_batch(run_id, [Metric("m", 1.0, 1, 0, model_id=gone)], [], [])
        s.delete_logged_model(gone)
        assert s._get_deleted_logged_models() == [gone]
        assert s._get_deleted_logged_models(older_than=10**9) == []
        s._hard_delete_logged_model(gone)
        assert _error(s.get_logged_model, gone, allow_deleted=True).error_code == (
            "RESOURCE_DOES_NOT_EXIST"
        )
        assert _error(s._hard_delete_logged_model, gone).error_code == "RESOURCE_DOES_NOT_EXIST"
        assert s._get_deleted_logged_models() == []
        assert s.get_logged_model(kept).model_id == kept
    partition = store.gateway.query_page(Key("PK").eq(keys.logged_model_pk(gone)))[0]
    assert partition == []


def test_concurrent_metric_appends_keep_every_row(store):
    from concurrent.futures import ThreadPoolExecutor

    exp = store.create_experiment("e")
    model_id = store.create_logged_model(exp).model_id
    runs = [store.create_run(exp, "u", 0, [], f"r{i}").info.run_id for i in range(4)]

    def log(run_id: str) -> None:
        for step in range(5):
            store.log_metric(run_id, Metric("loss", step / 10, 1, step, model_id=model_id))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(log, runs))
    metrics = store.get_logged_model(model_id).metrics
    assert sorted((m.run_id, m.step) for m in metrics) == sorted(
        (r, s) for r in runs for s in range(5)
    )
