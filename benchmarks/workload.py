"""The fixed, deterministic MLflow workload the benchmark drives through the store APIs.

Each phase is a function ``(tracking_store, registry_store, state) -> None``; the same
phases run against MLflow's SqlAlchemyStore on SQLite and against the DynamoDB store.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlflow.entities import Metric, Param, RunTag, ViewType

PARAMS_PER_RUN = 30
TAGS_PER_RUN = 10
METRIC_KEYS = 10
STEPS = 50
SEARCH_EXPERIMENTS = 30
MODEL_VERSIONS = 30
DELETED_RUNS = 5
PAGE_SIZE = 7
T0 = 1_700_000_000_000


@dataclass
class State:
    runs: int
    experiment_id: str = ""
    step_experiment_id: str = ""
    run_ids: list[str] = field(default_factory=list)
    step_run_ids: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(42))
    results: dict[str, Any] = field(default_factory=dict)


def _metric_value(rng: random.Random) -> float:
    return round(rng.random(), 6)


def create_runs(tracking, _registry, state: State) -> None:
    """create experiment + N runs (and a second experiment for per-step logging)"""
    state.experiment_id = tracking.create_experiment("bench")
    state.step_experiment_id = tracking.create_experiment("bench-steps")
    for i in range(state.runs):
        for exp, ids in (
            (state.experiment_id, state.run_ids),
            (state.step_experiment_id, state.step_run_ids),
        ):
            run = tracking.create_run(exp, "bench-user", T0 + i * 1000, [], f"run-{i:04d}")
            ids.append(run.info.run_id)


def log_batch_per_run(tracking, _registry, state: State) -> None:
    """30 params, 10 tags, 10 metric keys x 50 steps per run, one log_batch per run"""
    rng = random.Random(1)
    for i, run_id in enumerate(state.run_ids):
        params = [Param(f"p{k}", f"v{(i + k) % 3}") for k in range(PARAMS_PER_RUN)]
        tags = [RunTag(f"t{k}", f"tag-{i}-{k}") for k in range(TAGS_PER_RUN)]
        metrics = [
            Metric(f"m{k}", _metric_value(rng), T0 + s, s)
            for s in range(STEPS)
            for k in range(METRIC_KEYS)
        ]
        tracking.log_batch(run_id, metrics=metrics, params=params, tags=tags)


def log_batch_per_step(tracking, _registry, state: State) -> None:
    """the same data, one log_batch per training step (params and tags at step 0)"""
    rng = random.Random(1)
    for i, run_id in enumerate(state.step_run_ids):
        for s in range(STEPS):
            params = [Param(f"p{k}", f"v{(i + k) % 3}") for k in range(PARAMS_PER_RUN)]
            tags = [RunTag(f"t{k}", f"tag-{i}-{k}") for k in range(TAGS_PER_RUN)]
            metrics = [Metric(f"m{k}", _metric_value(rng), T0 + s, s) for k in range(METRIC_KEYS)]
            tracking.log_batch(
                run_id,
                metrics=metrics,
                params=params if s == 0 else [],
                tags=tags if s == 0 else [],
            )


def get_runs(tracking, _registry, state: State) -> None:
    """get_run of each run"""
    for run_id in state.run_ids:
        tracking.get_run(run_id)


def metric_histories(tracking, _registry, state: State) -> None:
    """get_metric_history of each key of each run"""
    total = 0
    for run_id in state.run_ids:
        for k in range(METRIC_KEYS):
            total += len(tracking.get_metric_history(run_id, f"m{k}"))
    state.results["history_points"] = total


def search_by_metric(tracking, _registry, state: State) -> None:
    """search_runs metrics.m0 > 0.5 and params.p0 = 'v0' order by metrics.m0 DESC"""
    runs = tracking.search_runs(
        [state.experiment_id],
        "metrics.m0 > 0.5 and params.p0 = 'v0'",
        ViewType.ACTIVE_ONLY,
        max_results=1000,
        order_by=["metrics.m0 DESC"],
    )
    state.results["search_by_metric"] = len(runs)


def search_page_by_metric(tracking, _registry, state: State) -> None:
    """one page: max_results=50 ordered by metrics.m1 DESC"""
    runs = tracking.search_runs(
        [state.experiment_id],
        "",
        ViewType.ACTIVE_ONLY,
        max_results=50,
        order_by=["metrics.m1 DESC"],
    )
    state.results["search_page_by_metric"] = len(runs)


def search_step_runs_by_metric(tracking, _registry, state: State) -> None:
    """one page: max_results=20 of the per-step runs ordered by metrics.m0 DESC (their
    latest values were logged step by step: on DynamoDB, in their LIVE items)"""
    runs = tracking.search_runs(
        [state.step_experiment_id],
        "",
        ViewType.ACTIVE_ONLY,
        max_results=20,
        order_by=["metrics.m0 DESC"],
    )
    state.results["search_step_runs_by_metric"] = [r.data.metrics["m0"] for r in runs]


def page_through_runs(tracking, _registry, state: State) -> None:
    """page through all runs 7 at a time (default order)"""
    token, seen = None, 0
    while True:
        page = tracking.search_runs(
            [state.experiment_id], "", ViewType.ACTIVE_ONLY, max_results=PAGE_SIZE, page_token=token
        )
        seen += len(page)
        token = page.token
        if not token:
            break
    state.results["paged_runs"] = seen


def create_experiments(tracking, _registry, state: State) -> None:
    """create 30 more experiments"""
    for i in range(SEARCH_EXPERIMENTS):
        tracking.create_experiment(f"search-exp-{i:02d}-{'odd' if i % 2 else 'even'}")


def search_experiments_like(tracking, _registry, state: State) -> None:
    """search_experiments name LIKE '%odd%' over 30 experiments"""
    found = tracking.search_experiments(filter_string="name LIKE '%odd%'", max_results=1000)
    state.results["experiments_like"] = len(found)


def model_versions(tracking, registry, state: State) -> None:
    """30 model versions + alias + searches"""
    registry.create_registered_model("bench-model")
    for i in range(MODEL_VERSIONS):
        run_id = state.run_ids[i % len(state.run_ids)]
        registry.create_model_version("bench-model", f"runs:/{run_id}/model", run_id=run_id)
    registry.set_registered_model_alias("bench-model", "champion", "7")
    registry.get_model_version_by_alias("bench-model", "champion")
    versions = registry.search_model_versions("name = 'bench-model'", max_results=1000)
    models = registry.search_registered_models("name LIKE 'bench%'")
    state.results["model_versions"] = len(versions)
    state.results["registered_models"] = len(models)


def delete_restore_runs(tracking, _registry, state: State) -> None:
    """delete and restore 5 runs"""
    for run_id in state.run_ids[:DELETED_RUNS]:
        tracking.delete_run(run_id)
    for run_id in state.run_ids[:DELETED_RUNS]:
        tracking.restore_run(run_id)


PHASES: list[tuple[str, Callable[..., None]]] = [
    ("create_runs", create_runs),
    ("log_batch_per_run", log_batch_per_run),
    ("log_batch_per_step", log_batch_per_step),
    ("get_run", get_runs),
    ("get_metric_history", metric_histories),
    ("search_runs_by_metric", search_by_metric),
    ("search_runs_page_by_metric", search_page_by_metric),
    ("search_step_runs_by_metric", search_step_runs_by_metric),
    ("page_runs_by_7", page_through_runs),
    ("create_30_experiments", create_experiments),
    ("search_experiments_like", search_experiments_like),
    ("model_versions", model_versions),
    ("delete_restore_5_runs", delete_restore_runs),
]
