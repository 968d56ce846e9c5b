"""The Run entities of a search page.

Dataset inputs and model outputs are not in META, so a returned run whose META says it has
such items (or predates that flag, see ``runs_items.IO_ITEMS_FLAG``) costs one Query of
its partition (``RUN#<id>``: META, spilled params/tags, inputs, outputs). A run without
them and without spilled values is built from the META the search already read: no
request. Unlike ``RunRepository.get_partition`` (get_run's strongly consistent read) the
partition read is eventually consistent — half the read units, and no staler than the
index walk that found the run — and a partition already read for a ``datasets.`` filter is
reused. The partitions are read concurrently (boto3 clients are thread-safe), so a page
costs a few round trips of latency.
"""

from __future__ import annotations

from typing import Any

from mlflow.entities import Run, RunInputs

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.gateway.table_gateway import map_side_by_side
from mlflow_dynamodbstore.repositories.runs.entities import to_run
from mlflow_dynamodbstore.repositories.runs.items import IO_ITEMS_FLAG, apply_spilled, is_spilled
from mlflow_dynamodbstore.repositories.runs.live import has_live, is_live_item, merge_live
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.search.runs.reads import read_run_partition
from mlflow_dynamodbstore.search.runs.view import RunView

Item = dict[str, Any]
_READERS = 8  # concurrent partition reads per page
_SPILL_PREFIXES = (keys.PARAM_PREFIX, keys.RUN_TAG_PREFIX)


def result_runs(
    gateway: TableGateway,
    views: list[RunView],
    experiments: dict[str, Item],
    partitions: dict[str, list[Item]],
) -> list[Run]:
    """The runs of ``views`` (whose ``source`` is the META read), in order; runs gone since
    they were listed are left out."""

    def one(view: RunView) -> Run | None:
        items = partitions.get(view.run_id)
        if items is None:
            items = [view.source] if _meta_suffices(view.source) else None
        if items is None:
            items = read_run_partition(gateway, view.run_id)
        return _to_search_run(gateway, items, experiments)

    runs = map_side_by_side(one, views, _READERS)
    return [run for run in runs if run is not None]


def _meta_suffices(meta: Item | None) -> bool:
    """Whether META alone is the whole run: no input/output items (the flag is False, not
    absent) and no spilled value left to fetch."""
    if not meta or meta.get(IO_ITEMS_FLAG) is not False:
        return False
    return not any(
        is_spilled(value)
        for name in ("params", "tags", "metrics")
        for value in meta.get(name, {}).values()
    )


def _to_search_run(
    gateway: TableGateway, items: list[Item], experiments: dict[str, Item]
) -> Run | None:
    meta = next((i for i in items if i["SK"] == keys.META), None)
    if meta is None:
        return None  # deleted for good (mlflow gc) since it was listed
    live = next((i for i in items if is_live_item(i)), None)
    if live is not None and has_live(meta):
        meta = merge_live(meta, live)  # a partition read: LIVE came with it
    spilled = [i for i in items if i["SK"].startswith(_SPILL_PREFIXES)]
    others = [
        i
        for i in items
        if i["SK"] != keys.META and not is_live_item(i) and not i["SK"].startswith(_SPILL_PREFIXES)
    ]
    # metrics spilled out of a full META live in their LATEST items, outside the partition
    spilled_metrics = [
        keys.metric_latest_key(meta["run_id"], k)
        for k, v in meta.get("metrics", {}).items()
        if is_spilled(v)
    ]
    if spilled_metrics:
        spilled += gateway.batch_get(spilled_metrics)
    run = to_run(apply_spilled(meta, spilled), experiments.get(str(meta["experiment_id"])), others)
    # search results carry dataset inputs and model outputs, as the SQL store's do
    return Run(run.info, run.data, RunInputs(dataset_inputs=run.inputs.dataset_inputs), run.outputs)
