"""``mlflow gc``'s store calls (lifecycle.md): which runs count as deleted, hard-deleting
runs and experiments, and what the store shows afterwards."""

from __future__ import annotations

from mlflow.entities import ViewType

from tests.differential.harness import attempt
from tests.differential.scenarios._experiment_helpers import _exp, _search, scenario
from tests.differential.scenarios._run_helpers import _metric, _run


def _names_of_deleted_runs(store) -> list[str]:
    return sorted(store.get_run(r).info.run_name for r in store._get_deleted_runs())


@scenario()
def deleted_runs_follow_run_and_experiment_lifecycle(store):
    live, doomed = _exp(store, "live"), _exp(store, "doomed")
    _run(store, live, 1000, "kept")
    gone = _run(store, live, 1001, "gone")
    back = _run(store, live, 1002, "back")
    _run(store, doomed, 1003, "in-doomed")
    # deleted on its own first: restoring the experiment brings it back too (SQL marks
    # every run of the experiment active)
    store.delete_run(_run(store, doomed, 1004, "deleted-first"))
    store.delete_run(gone)
    store.delete_run(back)
    store.restore_run(back)
    store.delete_experiment(doomed)
    deleted = _names_of_deleted_runs(store)
    store.restore_experiment(doomed)
    after_restore = _names_of_deleted_runs(store)
    return {"deleted": deleted, "after_restore": after_restore}


@scenario()
def hard_delete_run_and_experiment(store):
    live, doomed = _exp(store, "live"), _exp(store, "doomed")
    kept = _run(store, live, 1000, "kept")
    store.log_metric(kept, _metric("m", 1.0))
    gone = _run(store, live, 1001, "gone")
    store.log_metric(gone, _metric("m", 2.0))
    doomed_run = _run(store, doomed, 1002, "doomed-run")
    store.log_metric(doomed_run, _metric("m", 3.0))
    store.delete_run(gone)
    store.delete_experiment(doomed)
    active_refused = attempt(lambda: store._hard_delete_experiment(live))
    store._hard_delete_run(gone)
    store._hard_delete_run(doomed_run)
    store._hard_delete_experiment(doomed)
    return {
        "active_refused": active_refused,
        "run_gone": attempt(lambda: store.get_run(gone)),
        "experiment_gone": attempt(lambda: store.get_experiment(doomed)),
        "by_name": store.get_experiment_by_name("doomed"),
        "all": _search(store, view_type=ViewType.ALL),
        "runs": [r.info.run_name for r in store.search_runs([live], "", ViewType.ALL)],
        "kept_metrics": store.get_run(kept).data.metrics,
        "history": store.get_metric_history(kept, "m"),
        "name_free_again": store.get_experiment(_exp(store, "doomed")).name,
        "again": attempt(lambda: store._hard_delete_experiment(doomed)),
    }
