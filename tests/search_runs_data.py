"""One deterministic set of runs, and the filters/orders search_runs tests replay on it.

Written through any tracking store (MLflow's SqlAlchemyStore or ours), so the same data can
be searched on both and the answers compared by run name.
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from unittest import mock

from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    Metric,
    Param,
    RunStatus,
    RunTag,
)
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

PARAM_VALUES = ["1", "10", "9", "a", "A", "abc", "ABC", "a%c", "a_c", "x\ny", "é", "É", ""]
METRIC_VALUES = [0.0, -1.5, 1.0, 2.0, 2.0, 10.0, math.nan, math.inf, -math.inf, 1e-300, 3.25]
STATUSES = [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.RUNNING, RunStatus.KILLED]
USERS = ["alice", "Bob", "carol"]
BASE_TIME = 1_700_000_000_000


def run_uuid(run_name: str) -> uuid.UUID:
    """The run id both stores give a run of this name: equal ids make ties (broken by run
    id) comparable across stores."""
    return uuid.UUID(hashlib.md5(run_name.encode()).hexdigest())


def populate(store, experiment_names=("search-a", "search-b"), runs_per_experiment=18, seed=7):
    """Create experiments and runs with ties, NULLs, NaN/inf, odd strings and datasets.

    Returns {experiment name: experiment id}. Run names are unique (``r<exp>-<n>``) and run
    ids are derived from them (``run_uuid``), so they are the same in every store."""
    rng = random.Random(seed)
    ids = {}
    for e, name in enumerate(experiment_names):
        exp_id = store.create_experiment(name)
        ids[name] = exp_id
        for n in range(runs_per_experiment):
            run_name = f"r{e}-{n:02d}"
            # few distinct start times: many ties broken by run id
            start_time = BASE_TIME + rng.choice([0, 0, 1, 2, 3, 5, 8]) * 1000
            with mock.patch("uuid.uuid4", return_value=run_uuid(run_name)):
                run = store.create_run(
                    experiment_id=exp_id,
                    user_id=rng.choice(USERS),
                    start_time=start_time,
                    tags=[],
                    run_name=run_name,
                )
            run_id = run.info.run_id
            metrics = []
            for key in ("acc", "loss"):
                if rng.random() < 0.8:
                    metrics.append(Metric(key, rng.choice(METRIC_VALUES), start_time, 0))
            params = []
            for key in ("p", "q"):
                if rng.random() < 0.75:
                    params.append(Param(key, rng.choice(PARAM_VALUES)))
            tags = []
            if rng.random() < 0.7:
                tags.append(RunTag("t", rng.choice(PARAM_VALUES)))
            if rng.random() < 0.5:
                tags.append(RunTag("group", rng.choice(["g1", "g2", "G1"])))
            store.log_batch(run_id, metrics=metrics, params=params, tags=tags)
            if rng.random() < 0.5:
                contexts = [None, "train", "eval", "Train"]
                inputs = []
                for d in rng.sample(["ds-a", "ds-b", "DS_c"], rng.choice([1, 2])):
                    context = rng.choice(contexts)
                    tags_ = [InputTag(MLFLOW_DATASET_CONTEXT, context)] if context else []
                    dataset = Dataset(d, f"dig-{d[-1]}", "local", "file:///tmp")
                    inputs.append(DatasetInput(dataset, tags_))
                store.log_inputs(run_id, datasets=inputs)
            status = rng.choice(STATUSES)
            if status != RunStatus.RUNNING:
                store.update_run_info(run_id, status, start_time + rng.choice([5, 50]), None)
            if rng.random() < 0.15:
                store.delete_run(run_id)
    return ids


# Filters whose result depends on how NaN metrics compare (MLflow 3.17 fixed the SQL store's).
NAN_SENSITIVE_FILTERS = frozenset(
    {
        "metrics.acc <= 1e-300",
        "metrics.loss != 0 and metrics.acc != 1",
    }
)

FILTERS = [
    None,
    "",
    "metrics.acc > 1",
    "metrics.acc >= 2",
    "metrics.acc = 2",
    "metrics.acc != 2",
    "metrics.acc < 0",
    "metrics.acc <= 1e-300",
    "metrics.acc > 1e308",
    "metrics.acc = 1.7976931348623157e308",
    "metrics.loss != 0 and metrics.acc != 1",
    "params.p = '1'",
    "params.p != 'a'",
    "params.p LIKE 'a%'",
    "params.p LIKE 'a_c'",
    "params.p ILIKE 'a%'",
    "params.p ILIKE '%é%'",
    "params.p LIKE 'x%'",
    "params.p LIKE 'x_y'",
    "params.p = ''",
    "params.q IS NULL",
    "params.q IS NOT NULL",
    "tags.t IS NULL and params.p IS NOT NULL",
    "tags.group = 'g1'",
    "tags.group ILIKE 'g1'",
    "tags.`group` LIKE 'G%'",
    "attributes.status = 'FINISHED'",
    "attributes.status != 'FINISHED'",
    "attributes.status LIKE 'F%'",
    "attributes.user_id = 'Bob'",
    "attributes.user_id ILIKE 'b%'",
    "attributes.run_name = 'r0-03'",
    "attributes.run_name LIKE 'r1-%'",
    "run_name ILIKE 'R0-1%'",
    "attributes.start_time > 1700000002000",
    "attributes.start_time <= 1700000001000",
    "attributes.created = 1700000000000",
    "attributes.end_time > 1700000002010",
    "attributes.end_time != 1",
    "attributes.artifact_uri LIKE '%artifacts%'",
    "datasets.name = 'ds-a'",
    "datasets.name != 'ds-a'",
    "datasets.name IN ('ds-b', 'DS_c')",
    "datasets.name NOT IN ('ds-a')",
    "datasets.digest LIKE 'dig-%'",
    "datasets.context = 'train'",
    "datasets.context ILIKE 'train'",
    "datasets.context != 'eval'",
    "datasets.name = 'ds-a' and datasets.context = 'eval'",
    "metrics.acc > 0 and params.p != '' and attributes.status != 'KILLED'",
]

ORDERS = [
    None,
    ["attributes.start_time DESC"],
    ["attributes.start_time ASC"],
    ["start_time"],
    ["metrics.acc"],
    ["metrics.acc DESC"],
    ["metrics.loss ASC", "metrics.acc DESC"],
    ["metrics.acc DESC", "params.p"],
    ["params.p"],
    ["params.p DESC", "tags.t"],
    ["tags.group DESC"],
    ["attributes.end_time"],
    ["attributes.end_time DESC"],
    ["attributes.status", "attributes.start_time ASC"],
    ["attributes.run_name DESC"],
    ["attributes.user_id", "metrics.acc"],
    ["attributes.run_id"],
    ["created DESC"],
]
