"""Metric history beyond get_metric_history: bulk reads, max step, sampled intervals (what
the UI's charts call), and the dataset summaries of an experiment (the UI's dataset list)."""

from __future__ import annotations

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric

from tests.differential.harness import attempt, scenario

MISSING_RUN = "fedcba9876543210fedcba9876543210"


def _runs_with_history(store, n_runs: int = 2, points: int = 30) -> list[str]:
    eid = store.create_experiment("history")
    ids = []
    for r in range(n_runs):
        rid = store.create_run(eid, "u", 1000 + r, [], f"run{r}").info.run_id
        store.log_batch(
            rid,
            [Metric("loss", float((i * 7) % 11) + r, 100 + i, i // 2) for i in range(points)],
            [],
            [],
        )
        ids.append(rid)
    return ids


def _by_run(store, metrics) -> dict[str, list]:
    """Group points by run name, keeping their order: the stores order runs by run id,
    and run ids are random."""
    grouped: dict[str, list] = {}
    for m in metrics:
        name = store.get_run(m.run_id).info.run_name
        grouped.setdefault(name, []).append((m.key, m.step, m.timestamp, m.value))
    return grouped


@scenario()
def history_bulk(store):
    ids = _runs_with_history(store)
    return [
        _by_run(store, store.get_metric_history_bulk(ids, "loss", 100)),
        len(store.get_metric_history_bulk(ids, "loss", 7)),
    ]


@scenario()
def history_bulk_unknown_key(store):
    return store.get_metric_history_bulk(_runs_with_history(store), "nothing", 10)


@scenario()
def max_step(store):
    rid = _runs_with_history(store, 1)[0]
    return [store.get_max_step_for_metric(rid, "loss"), store.get_max_step_for_metric(rid, "x")]


@scenario()
def interval_from_steps(store):
    rid = _runs_with_history(store, 1)[0]
    return [
        store.get_metric_history_bulk_interval_from_steps(rid, "loss", [0, 3, 7, 99], 100),
        store.get_metric_history_bulk_interval_from_steps(rid, "loss", [1, 2, 3], 3),
    ]


for _label, _args in {
    "all_points": (100, None, None),
    "sampled_5": (5, None, None),
    "sampled_1": (1, None, None),
    "step_window": (4, 3, 9),
    "empty_window": (10, 500, 600),
}.items():

    def _interval(store, args=_args):
        ids = _runs_with_history(store, 2, 40)
        return store.get_metric_history_bulk_interval(ids, "loss", *args)

    scenario(f"interval_{_label}")(_interval)


@scenario()
def interval_half_open_window(store):
    ids = _runs_with_history(store, 1)
    return attempt(lambda: store.get_metric_history_bulk_interval(ids, "loss", 5, 2, None))


@scenario()
def interval_missing_run(store):
    return attempt(
        lambda: store.get_metric_history_bulk_interval([MISSING_RUN], "loss", 5, None, None)
    )


@scenario()
def interval_many_points_one_step(store):
    eid = store.create_experiment("flat")
    rid = store.create_run(eid, "u", 1, [], "flat").info.run_id
    store.log_batch(rid, [Metric("m", float(i), 1000 + i, 0) for i in range(60)], [], [])
    return store.get_metric_history_bulk_interval([rid], "m", 6, None, None)


@scenario()
def dataset_summaries(store):
    e1 = store.create_experiment("d1")
    e2 = store.create_experiment("d2")
    for eid, start, names in ((e1, 1, ["a", "b"]), (e2, 2, ["a"])):
        rid = store.create_run(eid, "u", start, [], f"r{start}").info.run_id
        store.log_inputs(
            rid,
            datasets=[
                DatasetInput(
                    Dataset(n, f"dig-{n}", "local", "src"),
                    [InputTag("mlflow.data.context", "training" if n == "a" else "eval")],
                )
                for n in names
            ],
        )
    return sorted(
        (
            {
                "experiment_id": d.experiment_id,
                "name": d.name,
                "digest": d.digest,
                "context": d.context,
            }
            for d in store._search_datasets([e1, e2])
        ),
        key=lambda d: (d["experiment_id"], d["name"]),
    )
