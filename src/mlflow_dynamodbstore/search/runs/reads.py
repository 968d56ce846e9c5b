"""The DynamoDB reads of search_runs: experiment scope, GSI1 run walks, GSI2 metric-rank
walks, META batch reads and run inputs. Keys come from schema.keys; requests go through the
table gateway.

Walks read lazily, one Query page at a time, so a search stops reading as soon as it has its
page. The first page asks for about as many items as the search needs and later pages grow
geometrically, so an unfiltered page costs one Query per experiment while a selective filter
still gets through a large experiment in few requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import ConditionBase, Key

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.schema import indexes, keys
from mlflow_dynamodbstore.schema.metric_rank_keys import LIVE_SK, live_key

Item = dict[str, Any]

MAX_PAGE_LIMIT = 1000  # items per Query once a walk has grown (1 MB caps it anyway)


def read_experiments(gateway: TableGateway, experiment_ids: list[str]) -> dict:
    """{experiment id: META item} of the ids that exist (one BatchGetItem per 100 ids);
    through the store's workspace-scoped gateway, other workspaces' are invisible, as in
    the SQL store."""
    items = gateway.batch_get([keys.experiment_key(e) for e in dict.fromkeys(experiment_ids)])
    return {i["experiment_id"]: i for i in items}


def walk(
    gateway: TableGateway,
    condition: ConditionBase,
    *,
    index: str,
    forward: bool,
    first_limit: int | None,
) -> Iterator[list[Item]]:
    """Pages of one Query, lazily; ``first_limit`` None reads full (1 MB) pages."""
    limit = first_limit
    start_key = None
    while True:
        items, start_key = gateway.query_page(
            condition, index=index, forward=forward, limit=limit, start_key=start_key
        )
        if items:
            yield items
        if not start_key:
            return
        if limit is not None:
            limit = max(limit, min(limit * 2, MAX_PAGE_LIMIT))  # grow, never shrink


def run_list_condition(
    experiment_id: str, *, lower: str | None = None, upper: str | None = None
) -> ConditionBase:
    """RUNS_BY_START_TIME condition on an experiment's runs, ``lower <= sort key <= upper``
    (either may be None; bounds come from search/runs/bounds.py)."""
    return indexes.RUNS_BY_START_TIME.key_condition(
        keys.runs_gsi1pk(experiment_id), lower=lower, upper=upper
    )


def metric_rank_condition(
    rank_pk: str, *, lower: str | None = None, upper: str | None = None
) -> ConditionBase:
    """RUNS_BY_METRIC condition on one partition (a shard, search/runs/ranks.py) of an
    experiment's ranking by one metric: ``lower <= sort key <= upper`` (either may be None)."""
    return indexes.RUNS_BY_METRIC.key_condition(rank_pk, lower=lower, upper=upper)


def metric_rank_prefix_condition(rank_pk: str, prefix: str) -> ConditionBase:
    return indexes.RUNS_BY_METRIC.key_condition(rank_pk, prefix=prefix)


def after_prefix(prefix: str) -> str:
    """A bound just above every key starting with ``prefix``: the prefix with its last
    character raised by one (no real key equals it)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def read_metas(gateway: TableGateway, run_ids: list[str]) -> dict[str, Item]:
    """{run id: META item} by BatchGetItem (100 per request); missing runs are absent."""
    if not run_ids:
        return {}
    return {i["run_id"]: i for i in gateway.batch_get([keys.run_key(r) for r in run_ids])}


def read_metas_with_live(
    gateway: TableGateway, run_ids: list[str]
) -> tuple[dict[str, Item], dict[str, Item]]:
    """({run id: META}, {run id: LIVE}) in the same BatchGetItem requests (50 runs per
    request): a ranked page's runs are mostly running ones, whose latest values LIVE holds
    (repositories/runs/live.py)."""
    if not run_ids:
        return {}, {}
    wanted = [k for r in run_ids for k in (keys.run_key(r), live_key(r))]
    metas, lives = {}, {}
    for item in gateway.batch_get(wanted):
        (lives if item["SK"] == LIVE_SK else metas)[item["run_id"]] = item
    return metas, lives


def read_lives(gateway: TableGateway, run_ids: list[str]) -> dict[str, Item]:
    """{run id: LIVE item} of the runs that have one (BatchGetItem, 100 per request)."""
    if not run_ids:
        return {}
    return {i["run_id"]: i for i in gateway.batch_get([live_key(r) for r in run_ids])}


def read_run_partition(gateway: TableGateway, run_id: str) -> list[Item]:
    """All items of a run partition (META, dataset inputs, model outputs, spilled values):
    one Query, more pages only past 1 MB."""
    return list(gateway.query(Key("PK").eq(keys.run_pk(run_id))))


def read_dataset_summaries(gateway: TableGateway, experiment_id: str) -> list[Item]:
    """The distinct (name, digest, context) of the datasets logged to an experiment's runs
    (written by log_inputs): one Query, bounded by the experiment's distinct datasets."""
    return list(gateway.query(Key("PK").eq(keys.dataset_summaries_pk(experiment_id))))
