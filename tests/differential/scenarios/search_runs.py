"""search_runs scenarios: filters on metrics/params/tags/attributes/datasets, order_by,
view types, several experiments, pagination and bad input. Runs get distinct start times,
so the default order (start_time DESC, run_id ASC) never falls back to random run ids."""

from __future__ import annotations

import math
from functools import partial

from mlflow.entities import (
    Dataset,
    DatasetInput,
    InputTag,
    Metric,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)

from tests.compat import SQL_NAN_AS_ZERO
from tests.differential import harness
from tests.differential.harness import attempt

# Error messages match the SQL store's: compare them too.
add = partial(harness.add, messages=True)
scenario = partial(harness.scenario, messages=True)

# name, start, status, metrics {key: value}, params, tags
_RUNS = [
    (
        "alpha",
        1000,
        RunStatus.FINISHED,
        {"acc": 0.9, "loss": 0.3},
        {"lr": "0.1", "opt": "adam"},
        {"team": "ml", "stage": "dev"},
    ),
    ("beta", 2000, RunStatus.FAILED, {"acc": 0.7}, {"lr": "0.01"}, {"team": "ML"}),
    (
        "Gamma",
        3000,
        RunStatus.RUNNING,
        {"acc": 0.9, "loss": math.nan},
        {"lr": "0.1", "opt": "sgd"},
        {"stage": "prod"},
    ),
    ("delta_1", 4000, RunStatus.FINISHED, {"loss": -1.5}, {}, {"team": "data", "empty": ""}),
    ("epsilon", 5000, RunStatus.KILLED, {"acc": 1.0, "loss": 2.0}, {"opt": "Adam"}, {}),
]


def _populate(store, *, delete: str | None = "beta") -> tuple[str, dict[str, str]]:
    eid = store.create_experiment("search")
    ids = {}
    for name, start, status, metrics, params, tags in _RUNS:
        rid = store.create_run(eid, "user", start, [], name).info.run_id
        ids[name] = rid
        store.log_batch(
            rid,
            [Metric(k, v, start + 1, 0) for k, v in metrics.items()],
            [Param(k, v) for k, v in params.items()],
            [RunTag(k, v) for k, v in tags.items()],
        )
        store.update_run_info(
            rid, status, start + 500 if status != RunStatus.RUNNING else None, None
        )
    store.log_inputs(
        ids["alpha"],
        datasets=[
            DatasetInput(
                Dataset("train-set", "d1", "local", "src"),
                [InputTag("mlflow.data.context", "training")],
            )
        ],
    )
    store.log_inputs(ids["Gamma"], datasets=[DatasetInput(Dataset("eval-set", "d2", "local", "s"))])
    if delete:
        store.delete_run(ids[delete])
    return eid, ids


def _names(store, experiment_ids, **kwargs):
    page = store.search_runs(experiment_ids, **kwargs)
    return {"names": [r.info.run_name for r in page], "has_token": page.token is not None}


def _search(store, **kwargs):
    eid, _ = _populate(store)
    kwargs.setdefault("filter_string", "")
    kwargs.setdefault("run_view_type", ViewType.ACTIVE_ONLY)
    return _names(store, [eid], **kwargs)


@scenario()
def search_runs_full_entities(store):
    eid, _ = _populate(store)
    return store.search_runs([eid], "", ViewType.ALL)


for _view in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL):
    add(
        f"view_type_{ViewType.to_string(_view)}",
        lambda store, v=_view: _search(store, run_view_type=v),
    )

# Filters a NaN metric of the data can match (MLflow 3.17 fixed the SQL store's comparison).
NAN_SENSITIVE = {"metrics.loss <= 0"}
_FILTERS = {
    "metric_gt": "metrics.acc > 0.8",
    "metric_eq": "metrics.acc = 0.9",
    "metric_ne": "metrics.acc != 0.9",
    "metric_le_negative": "metrics.loss <= 0",
    "metric_missing_key": "metrics.nothing > 0",
    "metric_backticks": "metrics.`acc` >= 1",
    "param_eq": "params.lr = '0.1'",
    "param_ne": "params.lr != '0.1'",
    "param_like": "params.opt LIKE 'a%'",
    "param_ilike": "params.opt ILIKE 'a%'",
    "param_in": "params.opt IN ('sgd', 'Adam')",
    "param_not_in": "params.opt NOT IN ('sgd')",
    "tag_eq": "tags.team = 'ml'",
    "tag_ilike": "tags.team ILIKE 'ML'",
    "tag_like_case": "tags.team LIKE 'M%'",
    "tag_empty_value": "tags.empty = ''",
    "tag_ne": "tags.stage != 'dev'",
    "tag_in": "tags.stage IN ('dev', 'prod')",
    "run_name_eq": "attributes.run_name = 'alpha'",
    "run_name_like": "run_name LIKE '%a'",
    "run_name_ilike": "attributes.run_name ILIKE 'g%'",
    "run_name_tag": "tags.`mlflow.runName` = 'epsilon'",
    "status_eq": "attributes.status = 'FINISHED'",
    "status_ne": "status != 'FINISHED'",
    "status_in": "attributes.status IN ('KILLED', 'RUNNING')",
    "start_time_gt": "attributes.start_time > 2500",
    "start_time_le": "start_time <= 3000",
    "end_time_gt": "attributes.end_time > 1000",
    "user_id": "attributes.user_id = 'user'",
    "lifecycle_attribute": "attributes.lifecycle_stage = 'active'",
    "dataset_name": "datasets.name = 'train-set'",
    "dataset_digest_in": "datasets.digest IN ('d1', 'd2')",
    "dataset_context": "datasets.context = 'training'",
    "combined": "metrics.acc > 0.5 AND params.lr = '0.1' AND tags.team = 'ml'",
    "metric_and_status": "metrics.loss < 1 AND attributes.status = 'FINISHED'",
    "empty": "",
}
for _label, _filter in _FILTERS.items():
    add(
        f"filter_{_label}",
        lambda store, f=_filter: _search(store, filter_string=f, run_view_type=ViewType.ALL),
        reference_since=("3.17", SQL_NAN_AS_ZERO) if _filter in NAN_SENSITIVE else None,
    )


@scenario()
def filter_run_id_in(store):
    eid, ids = _populate(store)
    f = f"attributes.run_id IN ('{ids['alpha']}', '{ids['Gamma']}')"
    return _names(store, [eid], filter_string=f, run_view_type=ViewType.ALL)


@scenario()
def filter_run_id_eq(store):
    eid, ids = _populate(store)
    return _names(store, [eid], filter_string=f"attributes.run_id = '{ids['epsilon']}'")


_ORDERS = {
    "metric_desc": ["metrics.acc DESC"],
    "metric_asc": ["metrics.acc ASC"],
    "metric_with_nan": ["metrics.loss DESC"],
    "metric_with_nan_asc": ["metrics.loss"],
    "param_asc": ["params.lr ASC"],
    "param_desc": ["params.opt DESC"],
    "tag_asc": ["tags.team"],
    "start_time_asc": ["attributes.start_time ASC"],
    "end_time_desc": ["end_time DESC"],
    "run_name": ["attributes.run_name"],
    "status_then_name": ["attributes.status", "run_name DESC"],
    "metric_then_param": ["metrics.acc DESC", "params.lr ASC"],
}
for _label, _order in _ORDERS.items():
    add(
        f"order_{_label}",
        lambda store, o=_order: _search(store, order_by=o, run_view_type=ViewType.ALL),
    )


@scenario()
def pagination(store):
    eid, _ = _populate(store, delete=None)
    pages, token = [], None
    while True:
        page = store.search_runs([eid], "", ViewType.ALL, max_results=2, page_token=token)
        pages.append([r.info.run_name for r in page])
        token = page.token
        if not token:
            return pages


@scenario()
def pagination_with_order_and_filter(store):
    eid, _ = _populate(store, delete=None)
    pages, token = [], None
    while True:
        page = store.search_runs(
            [eid], "metrics.acc >= 0", ViewType.ALL, 1, ["metrics.acc DESC"], token
        )
        pages.append([r.info.run_name for r in page])
        token = page.token
        if not token:
            return pages


@scenario()
def several_experiments(store):
    e1, _ = _populate(store, delete=None)
    e2 = store.create_experiment("second")
    store.create_run(e2, "u", 2500, [], "other-exp")
    empty = store.create_experiment("empty")
    return [
        _names(store, [e1, e2], filter_string="", run_view_type=ViewType.ALL),
        _names(store, [e2, empty], filter_string="", run_view_type=ViewType.ALL),
    ]


@scenario()
def runs_of_deleted_experiment(store):
    eid, _ = _populate(store, delete=None)
    store.delete_experiment(eid)
    return [
        _names(store, [eid], filter_string="", run_view_type=v)
        for v in (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL)
    ]


@scenario()
def runs_of_restored_experiment(store):
    eid, _ = _populate(store)
    store.delete_experiment(eid)
    store.restore_experiment(eid)
    return _names(store, [eid], filter_string="", run_view_type=ViewType.ACTIVE_ONLY)


@scenario()
def empty_experiment_list(store):
    return _names(store, [], filter_string="", run_view_type=ViewType.ALL)


@scenario()
def missing_experiment(store):
    return attempt(lambda: _names(store, ["4040"], filter_string="", run_view_type=ViewType.ALL))


_BAD_FILTERS = {
    "garbage": "this is wrong",
    "unknown_entity": "foo.bar = 'x'",
    "metric_string_value": "metrics.acc = 'high'",
    "param_number_value": "params.lr = 0.1",
    "or": "params.lr = '0.1' OR params.lr = '0.01'",
    "bad_attribute": "attributes.color = 'red'",
    "start_time_string": "attributes.start_time = 'yesterday'",
    "metric_like": "metrics.acc LIKE '0.9'",
    "unclosed_quote": "params.lr = '0.1",
}
for _label, _filter in _BAD_FILTERS.items():
    add(
        f"bad_filter_{_label}",
        lambda store, f=_filter: attempt(
            lambda: _names(
                store, [store.create_experiment("e")], filter_string=f, run_view_type=ViewType.ALL
            )
        ),
    )

_BAD_ORDERS = {
    "unknown_attribute": ["attributes.color"],
    "bad_direction": ["metrics.acc SIDEWAYS"],
    "unknown_entity": ["foo.bar"],
    "empty_key": ["metrics."],
}
for _label, _order in _BAD_ORDERS.items():
    add(
        f"bad_order_{_label}",
        lambda store, o=_order: attempt(
            lambda: _names(
                store,
                [store.create_experiment("e")],
                filter_string="",
                run_view_type=ViewType.ALL,
                order_by=o,
            )
        ),
    )

for _label, _max in {"zero": 0, "negative": -1, "too_large": 50001, "none": None}.items():
    add(
        f"max_results_{_label}",
        lambda store, m=_max: attempt(
            lambda: _names(
                store,
                [store.create_experiment("e")],
                filter_string="",
                run_view_type=ViewType.ALL,
                max_results=m,
            )
        ),
    )


# Page tokens are opaque and differ between the stores, and so do the messages about bad ones.
@scenario(messages=False)
def bad_page_token(store):
    eid = store.create_experiment("e")
    return attempt(
        lambda: _names(store, [eid], filter_string="", run_view_type=ViewType.ALL, page_token="zz")
    )
