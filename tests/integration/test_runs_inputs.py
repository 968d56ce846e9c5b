"""Run inputs (datasets, models) and outputs on DynamoDB Local, compared with
SqlAlchemyStore where it is cheap."""

from __future__ import annotations

import pytest
from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
)
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_LOGGED_MODELS


def _dataset(name: str, digest: str = "d1", **extra) -> Dataset:
    fields = {"source_type": "local", "source": '{"uri": "/x"}', "schema": None, "profile": None}
    return Dataset(name=name, digest=digest, **{**fields, **extra})


def _summary(run):
    return [
        (
            i.dataset.name,
            i.dataset.digest,
            i.dataset.source_type,
            i.dataset.source,
            i.dataset.schema,
            i.dataset.profile,
            sorted((t.key, t.value) for t in i.tags),
        )
        for i in run.inputs.dataset_inputs
    ]


def test_dataset_inputs_match_sql(store, sql):
    inputs = [
        DatasetInput(
            _dataset("train", schema='{"cols": ["a"]}', profile='{"rows": 3}'),
            [InputTag(MLFLOW_DATASET_CONTEXT, "training"), InputTag("k", "v")],
        ),
        DatasetInput(_dataset("eval", "d2"), [InputTag(MLFLOW_DATASET_CONTEXT, "eval")]),
        # same (name, digest) again in one call: the first one wins
        DatasetInput(_dataset("train"), [InputTag("other", "x")]),
    ]
    again = [
        DatasetInput(_dataset("train"), [InputTag("late", "tag")]),  # already an input
        DatasetInput(_dataset("test", "d3"), []),
    ]
    results = []
    for s in (store, sql):
        run_id = s.create_run("0", "u", 1, [], "r").info.run_id
        s.log_inputs(run_id, inputs)
        s.log_inputs(run_id, again)
        results.append(sorted(_summary(s.get_run(run_id))))
    assert results[0] == results[1]
    assert len(results[0]) == 3


def test_model_inputs_and_outputs(store, sql):
    results = []
    for s in (store, sql):
        run_id = s.create_run("0", "u", 1, [], "r").info.run_id
        s.log_inputs(run_id, datasets=None, models=[LoggedModelInput("m-1")])
        s.log_outputs(run_id, [LoggedModelOutput("m-2", 3), LoggedModelOutput("m-3", 0)])
        run = s.get_run(run_id)
        results.append(
            (
                [m.model_id for m in run.inputs.model_inputs],
                sorted((m.model_id, m.step) for m in run.outputs.model_outputs),
            )
        )
    assert results[0] == results[1] == (["m-1"], [("m-2", 3), ("m-3", 0)])


def test_large_dataset_round_trips(store):
    """Schema/profile far over DynamoDB's 400 KB item limit are stored in parts."""
    schema = '{"cols": [' + ",".join(f'"c{i}"' for i in range(90_000)) + "]}"
    profile = "p" * 500_000
    run_id = store.create_run("0", "u", 1, [], "r").info.run_id
    store.log_inputs(run_id, [DatasetInput(_dataset("wide", schema=schema, profile=profile))])
    (got,) = store.get_run(run_id).inputs.dataset_inputs
    assert (got.dataset.schema, got.dataset.profile) == (schema, profile)


def test_log_inputs_errors(store):
    run_id = store.create_run("0", "u", 1, [], "r").info.run_id
    with pytest.raises(MlflowException) as info:
        store.log_inputs("f" * 32, [DatasetInput(_dataset("x"))])
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as info:
        store.log_inputs(run_id, [DatasetInput(_dataset("x" * 501))])
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(TypeError):
        store.log_inputs(run_id, "not a list")
    store.delete_run(run_id)
    with pytest.raises(MlflowException) as info:
        store.log_inputs(run_id, [DatasetInput(_dataset("x"))])
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as info:
        store.log_outputs(run_id, [LoggedModelOutput("m", 1)])
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_record_logged_model(store, sql):
    tags = []
    for s in (store, sql):
        run_id = s.create_run("0", "u", 1, [], "r").info.run_id
        for path in ("model", "other"):
            s.record_logged_model(run_id, Model(artifact_path=path, run_id=run_id))
        tags.append(s.get_run(run_id).data.tags[MLFLOW_LOGGED_MODELS])
    assert all('"artifact_path": "other"' in t and '"artifact_path": "model"' in t for t in tags)
    with pytest.raises(TypeError):
        store.record_logged_model(run_id, "not a model")


def test_search_datasets_matches_sql(store, sql):
    def scenario(s):
        exps = [s.create_experiment(f"ds-{i}") for i in range(2)]
        for exp in exps:
            for context in ("training", "eval", None):
                run_id = s.create_run(exp, "u", 1, [], "r").info.run_id
                tags = [InputTag(MLFLOW_DATASET_CONTEXT, context)] if context else []
                s.log_inputs(run_id, [DatasetInput(_dataset("train"), tags)])
                s.log_inputs(run_id, [DatasetInput(_dataset(f"only-{exp}", "d9"), tags)])
        found = s._search_datasets([*exps, "0"])
        return sorted(
            (
                exps.index(d.experiment_id),
                d.name.replace(exps[1], "E1").replace(exps[0], "E0"),
                d.digest,
                d.context or "",
            )
            for d in found
        )

    ours, theirs = scenario(store), scenario(sql)
    assert ours == theirs and len(ours) == 12
    with pytest.raises(MlflowException) as info:
        store._search_datasets(["not-a-number"])
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
