"""Training steps (issue #20, option D): running runs log step after step (through their
LIVE item here), some end midway, and searches ordered by a metric, filtered on it and
paged are taken between the steps; histories and latest values are compared too."""

from __future__ import annotations

import math

from mlflow.entities import Metric, RunStatus, ViewType

from tests.differential import harness

_RUNS = 9
_KEYS = ("loss", "acc")


def _value(run: int, step: int, key: str) -> float:
    if key == "acc" and run == 4 and step == 3:
        return math.nan
    if key == "loss" and run == 6 and step >= 2:
        return 1e300  # inf reads back as max double from SQL: a documented difference
    return ((run * 37 + step * 11 + (7 if key == "acc" else 0)) % 23) / 10


def _ordered(store, eid, order, filter_string="", page=3):
    names, token = [], None
    while True:
        runs = store.search_runs([eid], filter_string, ViewType.ALL, page, [order], token)
        names += [
            (r.info.run_name, {k: v for k, v in sorted(r.data.metrics.items())}) for r in runs
        ]
        token = runs.token
        if not token:
            return names


def _snapshot(store, eid):
    return {
        order + "|" + flt: _ordered(store, eid, order, flt)
        for order in ("metrics.loss ASC", "metrics.acc DESC", "metrics.loss DESC")
        for flt in ("", "metrics.acc > 0.8", "metrics.loss <= 1.5")
    }


@harness.scenario()
def ordered_searches_while_runs_step(store):
    eid = store.create_experiment("training")
    ids = [store.create_run(eid, "u", 1000 + i, [], f"run{i}").info.run_id for i in range(_RUNS)]
    seen = []
    for step in range(5):
        for i, rid in enumerate(ids):
            if i == 8 and step > 1:
                continue  # a run that stopped logging but stays RUNNING
            keys = _KEYS if i % 3 else _KEYS[:1]  # every third run logs loss only
            store.log_batch(
                rid,
                [Metric(k, _value(i, step, k), 10_000 + step, step) for k in keys],
                [],
                [],
            )
        if step == 2:
            store.update_run_info(ids[1], RunStatus.FINISHED, 20_000, None)
            store.update_run_info(ids[5], RunStatus.KILLED, 20_000, None)
        if step == 3:
            store.log_metric(ids[2], Metric("loss", 99.0, 5, 0))  # an older point
        seen.append(_snapshot(store, eid))
    histories = {
        f"run{i}/{k}": [
            (m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value)
            for m in store.get_metric_history(rid, k)
        ]
        for i, rid in enumerate(ids)
        for k in _KEYS
    }
    latest = {
        f"run{i}": sorted(store.get_run(rid).data.metrics.items()) for i, rid in enumerate(ids)
    }
    return {"snapshots": seen, "histories": histories, "latest": latest}
