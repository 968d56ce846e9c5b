"""search_runs builds a run without input/output items or spilled values from the META item
it already read (no request); every other run's partition is read, so results always carry
what get_run shows."""

from __future__ import annotations

from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    LoggedModelInput,
    LoggedModelOutput,
    Metric,
    Param,
    ViewType,
)
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from mlflow_dynamodbstore.repositories.runs.changes import RunChange
from mlflow_dynamodbstore.repositories.runs.items import IO_ITEMS_FLAG
from mlflow_dynamodbstore.schema import keys


def _comparable(run) -> dict:
    """What a search result and get_run must agree on (search results, like the SQL
    store's, carry dataset inputs but not model inputs)."""
    return {
        "info": run.info.to_proto().SerializeToString(deterministic=True),
        "data": run.data.to_dictionary(),
        "datasets": [i.to_dictionary() for i in run.inputs.dataset_inputs],
        "outputs": [o.to_dictionary() for o in run.outputs.model_outputs],
    }


def test_only_runs_with_items_beyond_meta_cost_a_partition_read(store):
    exp = store.create_experiment("results")
    names = ["plain", "metrics", "dataset", "model-in", "model-out", "spilled", "legacy"]
    ids = {n: store.create_run(exp, "u", 1000 + i, [], n).info.run_id for i, n in enumerate(names)}
    store.log_batch(ids["metrics"], [Metric("m", 1.0, 1, 0)], [Param("p", "v")], [])
    dataset = Dataset("train", "d1", "local", '{"uri": "/x"}')
    store.log_inputs(
        ids["dataset"], [DatasetInput(dataset, [InputTag(MLFLOW_DATASET_CONTEXT, "t")])]
    )
    store.log_inputs(ids["model-in"], models=[LoggedModelInput("m-1")])
    store.log_outputs(ids["model-out"], [LoggedModelOutput("m-2", 3)])
    store.log_param(ids["spilled"], Param("long", "x" * 3000))  # over 1 KB: its own item
    # a run written before the flag existed has no attribute: its partition is read
    store.gateway.update_item(
        keys.run_key(ids["legacy"]), "REMOVE #uf", names={"#uf": IO_ITEMS_FLAG}
    )

    store.gateway.stats.reset()
    page = store.search_runs([exp], None, ViewType.ALL, 100)
    stats = store.gateway.stats.snapshot()
    # 1 GSI1 page + the partitions of dataset, model-in, model-out, spilled and legacy
    assert stats["Query"].requests == 1 + 5
    assert {r.info.run_name for r in page} == set(names)
    for run in page:
        assert _comparable(run) == _comparable(store.get_run(run.info.run_id)), run.info.run_name
    by_name = {r.info.run_name: r for r in page}
    assert [i.dataset.name for i in by_name["dataset"].inputs.dataset_inputs] == ["train"]
    assert [o.model_id for o in by_name["model-out"].outputs.model_outputs] == ["m-2"]
    assert by_name["spilled"].data.params == {"long": "x" * 3000}
    assert by_name["metrics"].data.metrics == {"m": 1.0}


def test_the_flag_is_set_once_and_survives_a_writer_holding_an_older_meta(store):
    exp = store.create_experiment("flag")
    run_id = store.create_run(exp, "u", 1, [], "r").info.run_id
    stale = store.runs.get_meta(run_id)
    assert stale[IO_ITEMS_FLAG] is False

    store.log_outputs(run_id, [LoggedModelOutput("m-1", 0)])
    store.gateway.stats.reset()
    store.log_outputs(run_id, [LoggedModelOutput("m-2", 0)])
    assert "UpdateItem" not in store.gateway.stats.snapshot()  # already set: no write

    # a writer that read META before the flag was set re-reads (the version moved) and
    # keeps it, instead of putting META back without it
    store.runs.commit(run_id, RunChange(tags={"t": "v"}), read=(stale, None))
    meta = store.runs.get_meta(run_id)
    assert meta[IO_ITEMS_FLAG] is True and meta["tags"]["t"] == "v"
    (found,) = store.search_runs([exp], None, ViewType.ALL, 10)
    assert sorted(o.model_id for o in found.outputs.model_outputs) == ["m-1", "m-2"]
