"""Helpers shared by the run scenario modules. Times passed to the stores are small explicit
numbers (compared as they are); every run of a scenario gets its own start time, so no
order depends on random run ids."""

from __future__ import annotations

from functools import partial

from mlflow.entities import Dataset, Metric

from tests.differential import harness

# Error messages match the SQL store's (run ids normalised): compare them too.
add = partial(harness.add, messages=True)
scenario = partial(harness.scenario, messages=True)

MISSING_RUN = "0123456789abcdef0123456789abcdef"


def _experiment(store, name: str = "runs") -> str:
    return store.create_experiment(name)


def _run(store, experiment_id: str, start_time: int = 1000, name: str = "r", tags=()) -> str:
    run = store.create_run(experiment_id, "user", start_time, list(tags), name)
    return run.info.run_id


def _fresh_run(store) -> str:
    return _run(store, _experiment(store))


def _metric(key: str, value: float, timestamp: int = 10, step: int = 0) -> Metric:
    return Metric(key, value, timestamp, step)


def _dataset(name: str = "ds", digest: str = "abc123", **extra) -> Dataset:
    return Dataset(
        name=name,
        digest=digest,
        source_type="local",
        source='{"uri": "/data"}',
        **extra,
    )
